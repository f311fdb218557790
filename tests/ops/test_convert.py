"""``modeloci convert``: blobs carried by digest, fields kept or named in warnings, round trips exact."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modeloci import api
from modeloci.blobs import sinks
from modeloci.ops.convert import convert
from tests.archive_tools import Archive, build_example
from tests.compiler.test_hf_folders import hf_folder


@pytest.mark.parametrize("name", ["single-gguf", "hf-safetensors", "sharded-vision"])
def test_docker_to_modelpack_to_docker_keeps_every_blob_and_field(tmp_path: Path, name: str) -> None:
    docker_tar, _ = build_example(name, tmp_path / "src", created=1_750_000_000, reference="ai/x:1")
    mp = convert(docker_tar, "modelpack", tmp_path / "mp.tar")
    back = convert(tmp_path / "mp.tar", "docker", tmp_path / "back.tar")
    original, middle = Archive.read(docker_tar), Archive.read(tmp_path / "mp.tar")
    digests = [layer["digest"] for layer in original.manifest["layers"]]
    assert [layer["digest"] for layer in middle.manifest["layers"]] == digests
    assert middle.config["descriptor"]["createdAt"] == "2025-06-15T15:06:40Z"
    assert middle.index["manifests"][0]["annotations"] == {"org.opencontainers.image.ref.name": "ai/x:1"}
    assert any("metadata map is not kept" in w for w in mp.warnings)
    assert back.warnings == []
    back_config = Archive.read(tmp_path / "back.tar").config["config"]
    lost_context = original.config["config"].get("context_size") != back_config.get("context_size")
    if name == "sharded-vision":  # CONFIG context_size=1024 overrides the GGUF's 2048: ModelPack cannot hold it
        assert lost_context and any("context_size 1024 is not kept" in w for w in mp.warnings)
    else:
        assert (tmp_path / "back.tar").read_bytes() == docker_tar.read_bytes()


def test_conversion_checks_each_blob_once_while_copying_it(tmp_path: Path, monkeypatch) -> None:
    """The source archive may lie about its blobs (it once was trusted and copied unchecked): each blob is
    hashed once, against the digest it is stored under, while it is copied."""
    docker_tar, _ = build_example("single-gguf", tmp_path / "src")
    hashed: list[str | None] = []
    real = sinks.hash_range

    def spy(source, *args, **kwargs):
        hashed.append(str(source.expected) if source.expected else None)
        return real(source, *args, **kwargs)

    monkeypatch.setattr(sinks, "hash_range", spy)
    result = convert(docker_tar, "modelpack", tmp_path / "mp.tar")
    assert sorted(hashed) == sorted(str(d.digest) for d in result.result.layers)  # type: ignore[type-var]


def test_modelpack_descriptor_fields_become_labels(tmp_path: Path) -> None:
    build_example("single-gguf", tmp_path / "src")
    src = tmp_path / "src" / "single-gguf"
    api.build(src / "Modelfile", tmp_path / "mp.tar", format="modelpack")
    back = convert(tmp_path / "mp.tar", "docker", tmp_path / "d.tar")
    labels = Archive.read(tmp_path / "d.tar").manifest["annotations"]
    assert labels["org.opencontainers.image.description"] == "Tiny Llama, a few-KB GGUF for trying modeloci"
    assert labels["org.opencontainers.image.licenses"] == "MIT"
    assert back.warnings == []


def test_cli_convert_reports_warnings_and_json(tmp_path: Path, cli) -> None:
    # CONFIG context_size=1024 where the weights say 2048 (a context size the weights say comes back from them)
    docker_tar, _ = build_example("sharded-vision", tmp_path / "src")
    result = cli("convert", str(docker_tar), "--format", "cncf", "-o", str(tmp_path / "mp.tar"), "--json")
    assert result.code == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["from"], report["to"]) == ("docker", "modelpack")
    assert "warning: context_size 1024 is not kept: ModelPack has no field for it" in result.stderr
    bad = cli("convert", str(tmp_path / "nope.tar"), "--format", "docker", "-o", str(tmp_path / "x.tar"))
    assert bad.code == 2 and "Traceback" not in bad.stderr


def test_converting_a_non_model_is_a_clear_error(tmp_path: Path, cli) -> None:
    (tmp_path / "x.tar").write_bytes(b"not a tar at all" * 100)
    result = cli("convert", str(tmp_path / "x.tar"), "--format", "docker", "-o", str(tmp_path / "y.tar"))
    assert result.code == 1 and "not a readable tar archive" in result.stderr and "Traceback" not in result.stderr


def test_from_a_modelpack_base_builds_what_a_docker_base_builds(tmp_path: Path) -> None:
    via_docker, _ = build_example("rebase", tmp_path / "a")
    modelfile = tmp_path / "b" / "rebase" / "Modelfile"
    build_example("rebase", tmp_path / "b")  # lays out the folders
    api.build(tmp_path / "b" / "single-gguf" / "Modelfile", modelfile.parent / "base.tar", format="modelpack")
    api.build(modelfile, tmp_path / "via-mp.tar")
    assert (tmp_path / "via-mp.tar").read_bytes() == via_docker.read_bytes()


def test_converting_a_folder_model_types_its_files_as_a_modelpack_build_does(tmp_path: Path) -> None:
    """A Hugging Face folder's code and documents are `code` and `doc` in ModelPack: converted from Docker's
    format they once all became `weight.config`."""
    hf_folder(tmp_path)
    (tmp_path / "Modelfile").write_text("FROM scratch\nWEIGHTS qwen\n")
    api.build(tmp_path / "Modelfile", tmp_path / "docker.tar")
    api.build(tmp_path / "Modelfile", tmp_path / "built.tar", format="modelpack")
    convert(tmp_path / "docker.tar", "modelpack", tmp_path / "converted.tar")

    def types(path: Path) -> dict[str, str]:
        return {layer["annotations"]["org.cncf.model.filepath"]: layer["mediaType"]
                for layer in Archive.read(path).manifest["layers"]}

    assert types(tmp_path / "converted.tar") == types(tmp_path / "built.tar")
    assert types(tmp_path / "converted.tar")["modeling_qwen2.py"] == "application/vnd.cncf.model.code.v1.raw"
