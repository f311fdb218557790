"""``convert NAME --format F -t NAME2`` inside the store, and ``--layout DIR`` inside a layout folder: Docker's format
and ModelPack share every blob, so only a config and a manifest are written; a blob the destination does not hold
as its own file, at its size, is copied and hashed as a build does."""

from __future__ import annotations

import json
import os
import tarfile
from pathlib import Path

import pytest

from modeloci.blobs import engine
from modeloci.blobs.uptodate import identity
from tests.archive_tools import copy_example


@pytest.fixture
def stored(cli, tmp_path: Path) -> Path:
    """tiny:1 in the store; the store's blobs folder."""
    modelfile = copy_example("single-gguf", tmp_path)
    assert cli("build", "-f", str(modelfile), "-t", "tiny:1").code == 0
    return Path(os.environ["MODELOCI_HOME"]) / "blobs" / "sha256"


def _blobs(folder: Path) -> dict[str, object]:
    return {p.name: identity(p) for p in folder.iterdir() if not p.name.startswith(".")}


def _converted(cli, *args: str) -> dict:
    result = cli("convert", *args, "--json")
    assert result.code == 0, result.stderr
    return json.loads(result.stdout)


def test_a_conversion_in_the_store_writes_only_a_config_and_a_manifest(cli, stored: Path) -> None:
    before = _blobs(stored)
    document = _converted(cli, "tiny:1", "--format", "modelpack", "-t", "tiny:mp")
    after = _blobs(stored)
    assert {k: v for k, v in after.items() if k in before} == before  # not one blob rewritten
    new = set(after) - set(before)
    assert new == {document["manifest"]["digest"].removeprefix("sha256:"),
                   document["config"]["digest"].removeprefix("sha256:")}
    assert (document["output"], document["size"], document["reference"]) == (str(stored.parent.parent), None,
                                                                             "tiny:mp")
    assert {layer["digest"].removeprefix("sha256:") for layer in document["layers"]} <= set(before)
    assert cli("verify", "tiny:mp").code == 0
    assert json.loads(cli("inspect", "tiny:mp", "--json").stdout)["format"] == "modelpack"


def test_a_conversion_in_the_store_reads_no_layer(cli, stored: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a layer was read")

    for name in ("copy_range", "hash_range", "hash_wrapped"):
        monkeypatch.setattr(f"modeloci.blobs.sinks.{name}", refuse, raising=False)
        monkeypatch.setattr(engine, name, refuse)
    _converted(cli, "tiny:1", "--format", "modelpack", "-t", "tiny:mp")


def test_a_store_blob_of_the_wrong_size_is_not_taken_as_held(cli, stored: Path) -> None:
    layers = json.loads(cli("inspect", "tiny:1", "--json").stdout)["layers"]
    biggest = max(layers, key=lambda layer: layer["size"])
    blob = stored / biggest["digest"].removeprefix("sha256:")
    os.truncate(blob, biggest["size"] - 1)
    result = cli("convert", "tiny:1", "--format", "modelpack", "-t", "tiny:mp")
    assert result.code == 1
    assert result.stderr == (f"error: blob {biggest['digest']} is {biggest['size'] - 1} bytes; the manifest says "
                             f"{biggest['size']}\n")
    assert "tiny:mp" not in cli("ls").stdout


def test_an_archive_converted_into_the_store_has_its_blobs_hashed_though_the_store_holds_them(
        cli, stored: Path, tmp_path: Path) -> None:
    """The store holds the true blob; the archive's copy lies. What enters the store from elsewhere is checked."""
    archive = tmp_path / "tiny.tar"
    assert cli("save", "tiny:1", "-o", str(archive)).code == 0
    data = bytearray(archive.read_bytes())
    at = data.index(b"GGUF") + 64  # inside the weights' layer
    data[at] ^= 0xFF
    archive.write_bytes(bytes(data))
    weights = next(layer for layer in json.loads(cli("inspect", "tiny:1", "--json").stdout)["layers"]
                   if layer["path"] == "tiny-llama-F32.gguf")
    result = cli("convert", str(archive), "--format", "modelpack", "-t", "tiny:mp")
    assert result.code == 1
    assert result.stderr == (f"error: reading tiny-llama-F32.gguf of `{archive}`: content does not match its digest "
                             f"{weights['digest']}\nhelp: it was damaged or changed after it was written; "
                             "`modeloci verify` names every such blob\n")
    assert "tiny:mp" not in cli("ls").stdout


def test_a_layout_converted_into_the_store_has_its_blobs_hashed_though_the_store_holds_them_at_their_size(
        cli, stored: Path, tmp_path: Path) -> None:
    """A layout folder's blob is a whole file (offset 0) of the true blob's size: only being the store's own file
    (its device and inode), not its name or size, lets a blob in unread."""
    folder = tmp_path / "lying-layout"
    assert cli("save", "tiny:1", "-o", str(tmp_path / "tiny.tar")).code == 0
    folder.mkdir()
    with tarfile.open(tmp_path / "tiny.tar") as tar:
        tar.extractall(folder, filter="data")
    weights = next(layer for layer in json.loads(cli("inspect", "tiny:1", "--json").stdout)["layers"]
                   if layer["path"] == "tiny-llama-F32.gguf")
    blob = folder / "blobs" / "sha256" / weights["digest"].removeprefix("sha256:")
    data = bytearray(blob.read_bytes())
    data[64] ^= 0xFF  # the same size as the store's true blob
    blob.write_bytes(bytes(data))
    result = cli("convert", str(folder), "--format", "modelpack", "-t", "tiny:mp")
    assert result.code == 1
    assert "content does not match its digest " + weights["digest"] in result.stderr
    assert "tiny:mp" not in cli("ls").stdout


def test_a_conversion_inside_a_layout_folder_shares_its_blobs(cli, tmp_path: Path) -> None:
    modelfile = copy_example("single-gguf", tmp_path)
    folder = tmp_path / "layout"
    assert cli("build", "-f", str(modelfile), "--layout", str(folder), "-t", "tiny:1").code == 0
    blobs = folder / "blobs" / "sha256"
    before = _blobs(blobs)
    document = _converted(cli, f"{folder}:tiny:1", "--format", "modelpack", "--layout", str(folder), "-t", "tiny:mp")
    after = _blobs(blobs)
    assert {k: v for k, v in after.items() if k in before} == before
    assert len(set(after) - set(before)) == 2
    names = [m["annotations"]["org.opencontainers.image.ref.name"]
             for m in json.loads((folder / "index.json").read_bytes())["manifests"]]
    assert names == ["tiny:1", "tiny:mp"]
    assert document["output"] == str(folder)
    assert cli("verify", f"{folder}:tiny:mp").code == 0
    assert cli("verify", f"{folder}:tiny:1").code == 0


def test_a_modelcar_made_in_the_store_streams_its_new_tar_layers_in(cli, stored: Path) -> None:
    before = _blobs(stored)
    document = _converted(cli, "tiny:1", "--format", "modelcar", "-t", "tiny:car")
    assert {k: v for k, v in _blobs(stored).items() if k in before} == before
    assert all(layer["digest"].removeprefix("sha256:") not in before for layer in document["layers"])
    assert cli("verify", "tiny:car").code == 0


def test_a_conversion_into_the_store_needs_a_name(cli, stored: Path) -> None:
    result = cli("convert", "tiny:1", "--format", "modelpack")
    assert result.code == 2
    assert result.stderr.endswith("error: a model converted into the store needs a name\n"
                                  "help: name it with `-t NAME[:TAG]`, or write an archive with `-o OUT.tar`\n")


def test_a_conversion_with_two_outputs_is_refused(cli, stored: Path, tmp_path: Path) -> None:
    result = cli("convert", "tiny:1", "--format", "modelpack", "-o", str(tmp_path / "a.tar"), "--layout",
                 str(tmp_path / "l"), "-t", "x:1")
    assert result.code == 2
    assert result.stderr.endswith("error: give one output: -o OUT.tar or --layout DIR\nhelp: write an archive with "
                                  "`-o model.tar`, or into a layout folder with `--layout DIR`\n")
    assert not (tmp_path / "a.tar").exists() and not (tmp_path / "l").exists()
