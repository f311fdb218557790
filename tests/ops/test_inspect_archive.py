"""``modeloci inspect`` of archives and layouts: the summary comes from the manifest and config alone.

The same model as our tar, as a layout folder, as a Docker Model Runner load
tar and as ModelPack is summarised with the same reference, digests, sizes,
layer roles and config fields. Damaging layer bytes changes nothing in the
summary (inspect never reads a layer), while verify notices.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

import modeloci
from modeloci import api
from modeloci.errors import ArchiveError
from modeloci.ops.inspect import ArtifactReport, inspect_artifact, is_artifact
from modeloci.ops.verify import verify
from tests.archive_tools import EXAMPLES, Archive, build_example, copy_example
from tests.ops.test_verify import REFERENCE, blob_name, dmr_tar, flip_bit, member, sha256

EXAMPLE = EXAMPLES / "sharded-vision"
FILES = ("tiny-vision-00001-of-00002.gguf", "tiny-vision-00002-of-00002.gguf", "LICENSE.txt",
         "mmproj-tiny-vision-F16.gguf")


def _layer(media_type: str, role: str, name: str) -> dict[str, object]:
    data = (EXAMPLE / name).read_bytes()
    return {"media_type": media_type, "role": role, "path": name, "size": len(data), "digest": sha256(data)}


DOCKER_LAYERS = [
    _layer("application/vnd.docker.ai.gguf.v3", "weights", FILES[0]),
    _layer("application/vnd.docker.ai.gguf.v3", "weights", FILES[1]),
    _layer("application/vnd.docker.ai.license", "license", FILES[2]),
    _layer("application/vnd.docker.ai.mmproj", "mmproj", FILES[3]),
]
MODELPACK_LAYERS = [
    _layer("application/vnd.cncf.model.weight.v1.raw", "weights", FILES[0]),
    _layer("application/vnd.cncf.model.weight.v1.raw", "weights", FILES[1]),
    _layer("application/vnd.cncf.model.doc.v1.raw", "license", FILES[2]),
    _layer("application/vnd.cncf.model.weight.v1.raw", "mmproj", FILES[3]),
]
DOCKER_CONFIG = {"format": "gguf", "context_size": 1024, "size": "320B", "architecture": "llama", "parameters": "152",
                 "quantization": "MOSTLY_F16"}
MODELPACK_CONFIG = {"format": "gguf", "context_size": None, "size": "1.47KiB", "architecture": "llama",
                    "parameters": "0.2K", "quantization": None}
LABELS = {"org.opencontainers.image.title": "Tiny Vision"}


def expected_summary(archive: Path, source: Path, *, fmt: str = "docker", reference: str | None = REFERENCE) -> dict:
    """The summary inspect must give, computed from the archive with tarfile and from the example's files."""
    a = Archive.read(archive)
    m = a.manifest
    size = len(a.manifest_bytes) + m["config"]["size"] + sum(layer["size"] for layer in m["layers"])
    return {
        "source": str(source),
        "reference": reference,
        "format": fmt,
        "manifest_digest": "sha256:" + hashlib.sha256(a.manifest_bytes).hexdigest(),
        "config_media_type": m["config"]["mediaType"],
        "size": size,
        "layers": DOCKER_LAYERS if fmt == "docker" else MODELPACK_LAYERS,
        "config": DOCKER_CONFIG if fmt == "docker" else MODELPACK_CONFIG,
        "labels": LABELS,
        "created": a.config.get("descriptor", {}).get("created") or a.config.get("descriptor", {}).get("createdAt"),
        "referrers": [],  # none here; tests/test_referrers.py inspects models that have some
    }


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("inspect")
    docker, _ = build_example("sharded-vision", root / "docker", reference=REFERENCE)
    modelpack, _ = build_example("sharded-vision", root / "modelpack", format="modelpack", reference=REFERENCE)
    api.build(copy_example("sharded-vision", root / "layout-src"), layout=root / "layout", reference=REFERENCE)
    return {
        "docker": docker,
        "modelpack": modelpack,
        "layout": root / "layout",
        "dmr": dmr_tar(docker, root / "dmr.tar"),
        "dmr-strict": dmr_tar(docker, root / "dmr-strict.tar", keep_manifest_blob=False),
    }


def test_cli_inspect_json_of_our_archive(built: dict[str, Path], cli) -> None:
    archive = built["docker"]
    result = cli("inspect", str(archive), "--json")
    assert result.code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary == expected_summary(archive, archive)
    # the values a reader checks by eye, pinned once
    assert summary["config_media_type"] == "application/vnd.docker.ai.model.config.v0.1+json"
    assert summary["size"] == 2318 + 1141 + 1056 + 448 + 1077 + 576 == 6616  # manifest, config, 4 layers
    assert summary["manifest_digest"] == Archive.read(archive).index["manifests"][0]["digest"]


@pytest.mark.parametrize(("kind", "fmt", "reference"), [
    ("docker", "docker", REFERENCE),
    ("layout", "docker", REFERENCE),
    ("modelpack", "modelpack", REFERENCE),
    ("dmr", "docker", None),
    ("dmr-strict", "docker", None),
])
def test_api_inspect_every_kind_of_source(built: dict[str, Path], kind: str, fmt: str, reference: str | None) -> None:
    source = built[kind]
    archive = built["modelpack" if fmt == "modelpack" else "docker"]
    report = modeloci.inspect(source)
    assert isinstance(report, ArtifactReport)
    assert report.model_dump(mode="json") == expected_summary(archive, source, fmt=fmt, reference=reference)
    assert modeloci.inspect(str(source)).model_dump() == report.model_dump()
    assert is_artifact(source)


def test_modelpack_summary_values(built: dict[str, Path]) -> None:
    report = inspect_artifact(built["modelpack"])
    assert report.config_media_type == "application/vnd.cncf.model.config.v1+json"
    assert [layer.role for layer in report.layers] == ["weights", "weights", "license", "mmproj"]
    assert report.config["parameters"] == "0.2K" and report.config["context_size"] is None
    docker = inspect_artifact(built["docker"])
    assert [layer.digest for layer in report.layers] == [layer.digest for layer in docker.layers]
    assert report.manifest_digest != docker.manifest_digest


def test_cli_inspect_text_output(built: dict[str, Path], cli) -> None:
    archive = built["docker"]
    result = cli("inspect", str(archive))
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    digest = Archive.read(archive).index["manifests"][0]["digest"]
    assert lines[0] == f"{archive}: docker model {REFERENCE}"
    assert lines[1] == f"digest:       {digest}"
    assert lines[2] == "config:       application/vnd.docker.ai.model.config.v0.1+json"
    assert "context_size: 1024" in lines
    assert lines[-1] == "label: org.opencontainers.image.title=Tiny Vision"
    for name in FILES:
        assert any(name in line for line in lines), name


def test_an_archive_under_any_name_is_recognised_by_its_tar_header(built: dict[str, Path], tmp_path: Path, cli) -> None:
    renamed = tmp_path / "model.oci"
    shutil.copyfile(built["docker"], renamed)
    assert is_artifact(renamed)
    summary = json.loads(cli("inspect", str(renamed), "--json").stdout)
    assert summary == expected_summary(built["docker"], renamed)


# --- inspect reads no layer blob -------------------------------------------------------------------------------


def test_inspect_does_not_read_layers_in_an_archive(built: dict[str, Path], tmp_path: Path, cli) -> None:
    """Every layer blob damaged (a bit flipped in each): the summary is unchanged, verify fails on all four."""
    archive = built["docker"]
    layers = [layer["digest"] for layer in Archive.read(archive).manifest["layers"]]
    damaged = archive
    for i, digest in enumerate(layers):
        damaged = flip_bit(damaged, tmp_path / f"damaged-{i}.tar", blob_name(digest), at=i * 17)
    assert inspect_artifact(damaged).model_dump(mode="json") == expected_summary(archive, damaged)
    result = cli("inspect", str(damaged), "--json")
    assert result.code == 0 and json.loads(result.stdout) == expected_summary(archive, damaged)
    report = verify(damaged)
    assert not report.ok
    assert [p.message.split(" does not match")[0] for p in report.problems] == [
        f"layer {i} blob {digest}" for i, digest in enumerate(layers, 1)]


def test_inspect_does_not_read_layers_in_a_layout(built: dict[str, Path], tmp_path: Path) -> None:
    """A weight blob truncated and the others deleted: still the same summary; verify names each one."""
    folder = tmp_path / "layout"
    shutil.copytree(built["layout"], folder)
    layers = [layer["digest"] for layer in DOCKER_LAYERS]
    first = folder / blob_name(layers[0])  # type: ignore[arg-type]
    first.write_bytes(first.read_bytes()[:10])
    for digest in layers[1:]:
        (folder / blob_name(digest)).unlink()  # type: ignore[arg-type]
    assert inspect_artifact(folder).model_dump(mode="json") == expected_summary(built["docker"], folder)
    assert [p.message for p in verify(folder).problems] == [
        f"layer 1 blob {layers[0]} is 10 bytes; the manifest says {DOCKER_LAYERS[0]['size']}",
        *(f"layer {i} blob {digest} is missing" for i, digest in enumerate(layers[1:], 2)),
    ]


def test_inspect_does_read_and_check_the_config(built: dict[str, Path], tmp_path: Path, cli) -> None:
    """The config is what the summary is made of: a damaged config is an error, not a wrong summary."""
    archive = built["docker"]
    config = Archive.read(archive).manifest["config"]["digest"]
    damaged = flip_bit(archive, tmp_path / "config.tar", blob_name(config), at=3)
    with pytest.raises(ArchiveError) as caught:
        inspect_artifact(damaged)
    assert caught.value.message == f"blob {config} does not match its digest"
    result = cli("inspect", str(damaged))
    assert result.code == 1
    assert result.stderr == f"error: blob {config} does not match its digest\n"


# --- errors ----------------------------------------------------------------------------------------------------


def test_inspect_of_a_truncated_archive_is_a_clear_error(built: dict[str, Path], tmp_path: Path, cli) -> None:
    archive = built["docker"]
    first_layer = Archive.read(archive).manifest["layers"][0]["digest"]
    cut = tmp_path / "cut.tar"
    cut.write_bytes(archive.read_bytes()[: member(archive, blob_name(first_layer)).offset_data + 10])
    result = cli("inspect", str(cut))
    assert result.code == 1
    assert result.stderr.startswith("error: ") and "Traceback" not in result.stderr
    assert "internal error" not in result.stderr


def test_inspect_of_a_tar_name_that_is_not_a_tar_says_so(tmp_path: Path, cli) -> None:
    broken = tmp_path / "broken.tar"
    broken.write_bytes(b"this is not a tar archive\n" * 40)
    result = cli("inspect", str(broken))
    assert result.code != 0 and "Traceback" not in result.stderr
    assert "archive" in result.stderr.replace(str(broken), "BROKEN")  # e.g. "not a readable tar archive"


def test_inspect_json_says_when_the_model_was_created_or_null(tmp_path: Path, cli) -> None:
    dated, _ = build_example("single-gguf", tmp_path / "dated", created=1_750_000_000)
    undated, _ = build_example("single-gguf", tmp_path / "undated")
    assert json.loads(cli("inspect", str(dated), "--json").stdout)["created"] == "2025-06-15T15:06:40Z"
    assert json.loads(cli("inspect", str(undated), "--json").stdout)["created"] is None
    assert ["created:", "unknown"] in [line.split() for line in cli("inspect", str(undated)).stdout.splitlines()]
