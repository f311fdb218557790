"""A modelcar is outside input: a model layer must hold one regular file at models/<its path>, and the file
digest its annotation claims must be the file's. verify names each attack; unpack refuses it and writes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from modeloci import api
from modeloci.errors import ModelociError
from tests.modelcar.hostile import built_layout, replace_layer, tar_members

GGUF = "tiny-llama-F32.gguf"


def _attack(tmp_path: Path, blob: bytes | None = None, annotations: dict[str, str] | None = None) -> tuple[Path, str]:
    """The built modelcar with its first layer replaced; the layout and that layer's digest."""
    layout = built_layout(tmp_path)
    manifest = replace_layer(layout, 0, blob, annotations)
    return layout, manifest["layers"][0]["digest"]


def _refused(tmp_path: Path, attacked: tuple[Path, str], *problems: str) -> None:
    """verify names each problem of layer 1; unpack refuses with all of them and leaves no output."""
    layout, digest = attacked
    report = api.verify(layout)
    assert [p.message for p in report.problems if p.severity == "error"] == [
        f"layer 1 ({GGUF}): {problem}" for problem in problems]
    with pytest.raises(ModelociError) as refused:
        api.unpack(layout, tmp_path / "out")
    assert refused.value.message == f"refusing to unpack: layer {digest} ({GGUF}): " + "; ".join(problems)
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".modeloci")] == []


def test_a_modelcar_layer_holding_two_files_is_refused(tmp_path: Path) -> None:
    blob = tar_members(("models/", None, "dir"), (f"models/{GGUF}", b"GGUF", "file"),
                       ("models/extra.bin", b"smuggled", "file"))
    _refused(tmp_path, _attack(tmp_path, blob),
             f"it holds `models/extra.bin` besides `models/{GGUF}`; a modelcar layer holds one file")


def test_a_modelcar_layer_holding_a_link_is_refused(tmp_path: Path) -> None:
    blob = tar_members(("models/", None, "dir"), (f"models/{GGUF}", b"/etc/shadow", "symlink"))
    _refused(tmp_path, _attack(tmp_path, blob), f"tar member `models/{GGUF}` is a symlink (to `/etc/shadow`)")


def test_a_modelcar_layer_writing_outside_models_is_refused(tmp_path: Path) -> None:
    blob = tar_members(("etc/", None, "dir"), ("etc/cron.d/evil", b"* * * * * root sh", "file"),
                       (f"models/{GGUF}", b"GGUF", "file"))
    _refused(tmp_path, _attack(tmp_path, blob),
             f"it holds `etc/cron.d/evil` besides `models/{GGUF}`; a modelcar layer holds one file",
             f"it makes the folder `etc`, which is not on the way to `models/{GGUF}`")


def test_a_modelcar_layer_climbing_out_with_dotdot_is_refused(tmp_path: Path) -> None:
    blob = tar_members((f"models/../../{GGUF}", b"GGUF", "file"))
    _refused(tmp_path, _attack(tmp_path, blob),
             f"tar member `models/../../{GGUF}` leaves the archive's folder through `..`")


def test_a_file_digest_annotation_that_lies_is_refused(tmp_path: Path) -> None:
    lie = "sha256:" + "0" * 64
    layout, _ = _attack(tmp_path, annotations={"org.modeloci.file.digest": lie})
    report = api.verify(layout)
    assert [p.message for p in report.problems if p.severity == "error"] == [
        f"layer 1 ({GGUF}): its annotation says the file's digest is {lie}, but the file it holds is "
        f"sha256:{_gguf_digest(tmp_path)}"]
    with pytest.raises(ModelociError) as refused:
        api.unpack(layout, tmp_path / "out")
    assert refused.value.message == f"reading model/{GGUF}: content does not match its digest {lie}"
    assert not (tmp_path / "out").exists()


def _gguf_digest(tmp_path: Path) -> str:
    import hashlib

    return hashlib.sha256((tmp_path / "single-gguf" / GGUF).read_bytes()).hexdigest()


def test_a_history_entry_naming_a_path_outside_models_is_refused(tmp_path: Path) -> None:
    """A modelcar whose layer annotations a copy dropped is read by its config's history: a path there is held
    to the same rules (never written outside the destination)."""
    import json

    from tests.modelcar.hostile import _blob, _put

    layout = built_layout(tmp_path)
    replace_layer(layout, 0, drop=("org.cncf.model.filepath", "org.cncf.model.file.metadata+json",
                                   "org.modeloci.file.digest", "org.modeloci.role"))
    index = json.loads((layout / "index.json").read_text())
    manifest = json.loads(_blob(layout, index["manifests"][0]["digest"]).read_text())
    config = json.loads(_blob(layout, manifest["config"]["digest"]).read_text())
    config["history"][0]["created_by"] = "modeloci: /models/../../escaped.gguf"
    data = json.dumps(config).encode()
    manifest["config"] |= {"digest": _put(layout, data), "size": len(data)}
    data = json.dumps(manifest).encode()
    index["manifests"][0] |= {"digest": _put(layout, data), "size": len(data)}
    (layout / "index.json").write_text(json.dumps(index))
    errors = [p.message for p in api.verify(layout).problems if p.severity == "error"]
    assert errors == ["layer 1 (../../escaped.gguf): its path `../../escaped.gguf` is not a relative path inside "
                      "the model"]
    with pytest.raises(ModelociError) as refused:
        api.unpack(layout, tmp_path / "out" / "deep")
    assert refused.value.message == (f"refusing to unpack: layer {manifest['layers'][0]['digest']} "
                                     "(../../escaped.gguf): its path `../../escaped.gguf` is not a relative path "
                                     "inside the model")
    assert not (tmp_path / "out").exists() and not (tmp_path / "escaped.gguf").exists()
