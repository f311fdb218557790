"""`verify` of a multi-platform modelcar (an index of an image per platform): every platform's manifest and config
and every blob checked (each once), a problem named with its platform, and `load` of one refused clearly."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from tests.modelcar.helpers import EPOCH, single_gguf
from tests.modelcar.images import write_index


def _layout(tmp_path: Path, cli) -> Path:
    modelfile = single_gguf(tmp_path)
    write_index(modelfile.parent / "base")
    modelfile.write_text(modelfile.read_text().replace("FROM scratch", "FROM base"))
    layout = tmp_path / "car"
    built = cli("build", "-f", str(modelfile), "--format", "modelcar", "--layout", str(layout), "--created",
                str(EPOCH), "-t", "multi:1")
    assert built.code == 0, built.stderr
    return layout


def _blob(layout: Path, digest: str) -> Path:
    return layout / "blobs" / "sha256" / digest.split(":")[1]


def _manifests(layout: Path) -> tuple[list[dict], str]:
    top = json.loads((layout / "index.json").read_text())["manifests"][0]["digest"]
    return [json.loads(_blob(layout, m["digest"]).read_bytes())
            for m in json.loads(_blob(layout, top).read_bytes())["manifests"]], top


def test_verify_checks_every_platform_and_every_blob_once(tmp_path: Path, cli) -> None:
    layout = _layout(tmp_path, cli)
    manifests, top = _manifests(layout)
    report = json.loads(cli("verify", str(layout), "--json").stdout)
    blobs = {layer["digest"]: layer["size"] for m in manifests for layer in m["layers"]}
    assert report == {"source": str(layout), "format": "modelcar", "manifest_digest": top,
                      "blobs_checked": len(blobs), "bytes_checked": sum(blobs.values()), "problems": [], "ok": True}
    assert len(blobs) == 1 + 2 + 3  # the bases' shared bin/sh layer, each platform's motd layer, the model's three


def test_a_damaged_layer_of_one_platform_is_named_with_its_platform(tmp_path: Path, cli) -> None:
    layout = _layout(tmp_path, cli)
    manifests, _ = _manifests(layout)
    arm_only = manifests[1]["layers"][1]["digest"]  # the arm64 base's own gzip layer
    blob = _blob(layout, arm_only)
    data = bytearray(blob.read_bytes())
    data[-1] ^= 1
    blob.write_bytes(bytes(data))
    failed = cli("verify", str(layout), "--json")
    assert failed.code == 1
    errors = [p["message"] for p in json.loads(failed.stdout)["problems"] if p["severity"] == "error"]
    assert f"linux/arm64/v8: layer 2 blob {arm_only} does not match its digest: its content is " \
           f"sha256:{hashlib.sha256(bytes(data)).hexdigest()}" in errors
    assert all(e.startswith("linux/arm64/v8: ") for e in errors), errors


def test_a_missing_platform_manifest_is_an_error_naming_the_platform(tmp_path: Path, cli) -> None:
    layout = _layout(tmp_path, cli)
    top = json.loads((layout / "index.json").read_text())["manifests"][0]["digest"]
    arm = json.loads(_blob(layout, top).read_bytes())["manifests"][1]["digest"]
    _blob(layout, arm).unlink()
    failed = cli("verify", str(layout), "--json")
    assert failed.code == 1
    errors = [p["message"] for p in json.loads(failed.stdout)["problems"] if p["severity"] == "error"]
    assert errors == [f"the linux/arm64/v8 manifest blob {arm} is missing"]


def test_load_of_a_multi_platform_modelcar_is_refused_naming_its_platforms(tmp_path: Path, cli) -> None:
    layout = _layout(tmp_path, cli)
    refused = cli("load", str(layout))
    assert refused.code == 1
    assert refused.stderr == (
        "error: it is a multi-platform image, an index of 2 platforms (linux/amd64, linux/arm64/v8)\n"
        "help: copy one platform out of it, as `skopeo --override-arch ARCH copy oci-archive:PATH oci:DIR:TAG` "
        "(`oci:PATH` for a folder)\n")
    assert "multi" not in cli("ls").stdout
