"""Hostile modelcars made by the tests: a built modelcar layout whose model layer is replaced by another tar (or
whose annotations lie), with the manifest, config and index made to agree again, as an attacker would."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path
from typing import Any

from modeloci import api
from tests.modelcar.helpers import EPOCH, single_gguf


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def built_layout(tmp_path: Path) -> Path:
    """A modelcar of the single-gguf example, as a layout folder."""
    layout = tmp_path / "layout"
    api.build(single_gguf(tmp_path), layout=layout, format="modelcar", created=EPOCH, reference="tiny:car")
    return layout


def _blob(layout: Path, digest: str) -> Path:
    return layout / "blobs" / "sha256" / digest[7:]


def _put(layout: Path, data: bytes) -> str:
    digest = _sha(data)
    _blob(layout, digest).write_bytes(data)
    return digest


def tar_members(*members: tuple[str, bytes | None, str]) -> bytes:
    """A tar of ``(name, data, kind)``: kind ``file``, ``dir`` or ``symlink`` (data is then the target)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data, kind in members:
            info = tarfile.TarInfo(name)
            if kind == "dir":
                info.type, info.mode = tarfile.DIRTYPE, 0o555
                tar.addfile(info)
            elif kind == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, (data or b"").decode()
                tar.addfile(info)
            else:
                info.size, info.mode = len(data or b""), 0o444
                tar.addfile(info, io.BytesIO(data or b""))
    return out.getvalue()


def replace_layer(layout: Path, number: int, blob: bytes | None = None,
                  annotations: dict[str, str] | None = None, drop: tuple[str, ...] = ()) -> dict[str, Any]:
    """Layer ``number`` (from 0) of the layout's model replaced by ``blob`` and/or given ``annotations`` (merged)
    and/or without the annotations ``drop`` names, its digest, size and diff_id made to agree; the new manifest."""
    index = json.loads((layout / "index.json").read_text())
    manifest = json.loads(_blob(layout, index["manifests"][0]["digest"]).read_text())
    config = json.loads(_blob(layout, manifest["config"]["digest"]).read_text())
    layer = manifest["layers"][number]
    if blob is not None:
        layer["digest"], layer["size"] = _put(layout, blob), len(blob)
        config["rootfs"]["diff_ids"][number] = layer["digest"]
    layer["annotations"] = {k: v for k, v in {**layer["annotations"], **(annotations or {})}.items() if k not in drop}
    config_bytes = json.dumps(config).encode()
    manifest["config"] = {**manifest["config"], "digest": _put(layout, config_bytes), "size": len(config_bytes)}
    data = json.dumps(manifest).encode()
    index["manifests"][0] = {**index["manifests"][0], "digest": _put(layout, data), "size": len(data)}
    (layout / "index.json").write_text(json.dumps(index))
    for name in {p.name for p in (layout / "blobs" / "sha256").iterdir()} - _used(layout, index):
        (layout / "blobs" / "sha256" / name).unlink()
    return manifest


def _used(layout: Path, index: dict[str, Any]) -> set[str]:
    manifest = json.loads(_blob(layout, index["manifests"][0]["digest"]).read_text())
    return {d["digest"][7:] for d in (index["manifests"][0], manifest["config"], *manifest["layers"])}
