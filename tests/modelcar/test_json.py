"""``--json`` of a modelcar: plan, build, inspect, verify (and --rebuild), unpack, convert, load and ls print documents
the strict models (tests/workflow/schemas.py) and the published schemas (docs/json) accept, with the modelcar's own
fields: a layer's ``file_size`` and ``diff_id``, and an image config for a plan's ``config``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from tests.conftest import REPO
from tests.modelcar.images import write_image
from tests.workflow.schemas import (
    BuildOutput,
    ConvertOutput,
    ImageConfigJson,
    InspectArtifactOutput,
    LoadOutput,
    LsOutput,
    PlanOutput,
    RebuildOutput,
    UnpackOutput,
    VerifyAnyOutput,
    VerifyOutput,
)
from tests.workflow.test_json import one_document, sha256

FILES = ["tiny-llama-F32.gguf", "LICENSE", "chat_template.jinja"]


def _published(name: str, document: Any) -> None:
    """``document`` is valid for docs/json/NAME.schema.json, which refuses it with a key added."""
    jsonschema = pytest.importorskip("jsonschema", reason="jsonschema is a test dependency")
    schema = json.loads((REPO / "docs" / "json" / f"{name}.schema.json").read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(schema)
    assert [e.message for e in validator.iter_errors(document)] == [], name
    if isinstance(document, dict):
        assert not validator.is_valid({**document, "extra": 1}), name


def _checked(result, model, name: str, code: int = 0):
    found = one_document(result, model, code)
    _published(name, json.loads(result.stdout))
    return found


@pytest.fixture
def single(tmp_path: Path) -> Path:
    from tests.modelcar.helpers import single_gguf
    return single_gguf(tmp_path)


def test_a_modelcar_plan_gives_each_tar_s_size_and_its_file_s_and_an_image_config(single: Path, cli) -> None:
    result = cli("plan", "-f", str(single), "--format", "modelcar", "--json")
    plan = _checked(result, PlanOutput, "plan")
    assert (plan.format, plan.config_media_type, plan.base) == (
        "modelcar", "application/vnd.oci.image.config.v1+json", None)
    assert [(layer.filepath, layer.file_size, layer.media_type) for layer in plan.layers] == [
        (name, (single.parent / name).stat().st_size, "application/vnd.oci.image.layer.v1.tar") for name in FILES]
    assert all(layer.size > layer.file_size for layer in plan.layers if layer.file_size is not None)
    assert isinstance(plan.config, ImageConfigJson)
    assert (plan.config.architecture, plan.config.os) == ("amd64", "linux")
    assert plan.config.config.Labels["org.cncf.model.architecture"] == "llama"
    assert "file_size" not in json.loads(cli("plan", "-f", str(single), "--json").stdout)["layers"][0]


def test_a_modelcar_plan_on_a_container_image_gives_its_layers_diff_ids_and_its_config(single: Path, cli) -> None:
    write_image(single.parent / "base")
    single.write_text(single.read_text().replace("FROM scratch", "FROM base"))
    plan = _checked(cli("plan", "-f", str(single), "--format", "modelcar", "--json"), PlanOutput, "plan")
    assert plan.base is not None and (plan.base.format, plan.base.ref_name) == ("modelcar", "base:1")
    image = plan.layers[:2]
    assert [(layer.filepath, layer.source.kind, layer.file_size) for layer in image] == [("", "base", None)] * 2
    assert image[0].diff_id is None  # uncompressed: its digest is its diff_id
    assert image[1].diff_id is not None and image[1].media_type.endswith("tar+gzip")
    assert isinstance(plan.config, ImageConfigJson)
    assert (plan.config.config.Entrypoint, plan.config.config.Env) == (["/bin/sh", "-c"],
                                                                       ["PATH=/bin", "MODEL_DIR=/models"])
    assert plan.config.history is not None and [h.created_by for h in plan.config.history] == [
        "ADD sh /bin/sh", "ENV PATH=/bin", "ADD motd /etc/motd"]


def test_a_modelcar_s_build_inspect_verify_unpack_load_and_ls_documents(single: Path, tmp_path: Path, cli) -> None:
    archive = tmp_path / "car.tar"
    built = _checked(cli("build", "-f", str(single), "--format", "modelcar", "-o", str(archive), "-q", "--json"),
                     BuildOutput, "build")
    assert (built.size, built.config.mediaType) == (archive.stat().st_size, "application/vnd.oci.image.config.v1+json")
    assert [layer.path for layer in built.layers] == FILES

    shown = _checked(cli("inspect", str(archive), "--json"), InspectArtifactOutput, "inspect")
    assert (shown.format, shown.manifest_digest) == ("modelcar", built.digest)
    assert [(layer.path, layer.digest) for layer in shown.layers] == [(d.path, d.digest) for d in built.layers]
    assert (shown.config.format, shown.config.architecture, shown.config.context_size) == ("gguf", "llama", 2048)

    checked = _checked(cli("verify", str(archive), "--json"), VerifyAnyOutput, "verify").root
    assert isinstance(checked, VerifyOutput)
    assert (checked.ok, checked.format, checked.manifest_digest) == (True, "modelcar", built.digest)

    out = tmp_path / "files"
    unpacked = _checked(cli("unpack", str(archive), "-o", str(out), "--layout", "files", "--json"),
                        UnpackOutput, "unpack")
    assert (unpacked.format, sorted(f.path for f in unpacked.files)) == ("modelcar", sorted(FILES))
    assert all(f.digest == sha256(out / f.path) for f in unpacked.files)

    loaded = _checked(cli("load", str(archive), "-t", "tiny:car", "--json"), LoadOutput, "load")
    assert (loaded.format, loaded.digest) == ("modelcar", built.digest)
    rows = _checked(cli("ls", "--json"), LsOutput, "ls").root
    assert [(row.reference, row.format, row.architecture) for row in rows] == [("tiny:car", "modelcar", "llama")]


def test_a_modelcar_s_rebuild_document(single: Path, tmp_path: Path, cli) -> None:
    archive = tmp_path / "car.tar"
    built = one_document(cli("build", "-f", str(single), "--format", "modelcar", "-o", str(archive), "-q", "--json"),
                         BuildOutput)
    rebuilt = _checked(cli("verify", "--rebuild", "-f", str(single), str(archive), "--json"), VerifyAnyOutput,
                       "verify").root
    assert isinstance(rebuilt, RebuildOutput)
    assert (rebuilt.format, rebuilt.reproduced, rebuilt.rebuilt) == ("modelcar", True, built.digest)


def test_a_modelcar_converts_both_ways_with_its_format_named(single: Path, tmp_path: Path, cli) -> None:
    built = one_document(cli("build", "-f", str(single), "-o", str(tmp_path / "d.tar"), "-q", "--json"), BuildOutput)
    there = _checked(cli("convert", str(tmp_path / "d.tar"), "--format", "modelcar", "-o", str(tmp_path / "c.tar"),
                         "--json"), ConvertOutput, "convert")
    assert (there.from_, there.to) == ("docker", "modelcar")
    back = _checked(cli("convert", str(tmp_path / "c.tar"), "--format", "docker", "-o", str(tmp_path / "b.tar"),
                        "--json"), ConvertOutput, "convert")
    assert (back.from_, back.to) == ("modelcar", "docker")
    assert [layer.digest for layer in back.layers] == [layer.digest for layer in built.layers]


def test_the_modelcar_contract_bites(single: Path, cli) -> None:
    """A layer's file_size written as null, or a Docker config in a modelcar plan, is refused."""
    document = json.loads(cli("plan", "-f", str(single), "--format", "modelcar", "--json").stdout)
    nulled = {**document, "layers": [{**document["layers"][0], "file_size": None}, *document["layers"][1:]]}
    with pytest.raises(ValidationError, match=r"fields are null instead of absent: \['file_size'\]"):
        PlanOutput.model_validate(nulled)
    with pytest.raises(ValidationError, match="a modelcar plan needs a ImageConfigJson config"):
        PlanOutput.model_validate({**document, "config": {"format": "gguf", "architecture": "llama"}})
