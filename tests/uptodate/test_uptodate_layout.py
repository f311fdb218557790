"""A rebuild into a layout folder whose index.json modeloci wrote, listing the model, with every blob in at its size,
writes nothing; a missing or cut blob, an index.json rewritten since, or a changed flag defeats the check."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from modeloci.blobs.uptodate import identity
from tests.archive_tools import copy_example

UP_TO_DATE = " is up to date: nothing written\n"


@pytest.fixture
def modelfile(tmp_path: Path) -> Path:
    return copy_example("single-gguf", tmp_path)


def _build(cli, modelfile: Path, folder: Path, *extra: str):
    result = cli("build", "-f", str(modelfile), "--layout", str(folder), *extra)
    assert result.code == 0, result.stderr
    return result


def _files(folder: Path) -> dict[str, object]:
    return {str(p.relative_to(folder)): identity(p) for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_rebuild_of_an_unchanged_layout_writes_nothing(cli, modelfile: Path, tmp_path: Path) -> None:
    folder = tmp_path / "layout"
    first = _build(cli, modelfile, folder, "-t", "tiny:1")
    files = _files(folder)
    again = _build(cli, modelfile, folder, "-t", "tiny:1")
    assert again.stderr == f"{folder}{UP_TO_DATE}"
    assert again.stdout == first.stdout
    assert _files(folder) == files


def test_a_layout_missing_a_blob_is_rebuilt(cli, modelfile: Path, tmp_path: Path) -> None:
    folder = tmp_path / "layout"
    document = json.loads(_build(cli, modelfile, folder, "--json").stdout)
    blob = folder / "blobs" / "sha256" / document["layers"][0]["digest"].removeprefix("sha256:")
    blob.unlink()
    assert UP_TO_DATE not in _build(cli, modelfile, folder).stderr
    assert blob.stat().st_size == document["layers"][0]["size"]


def test_a_layout_blob_cut_short_is_rebuilt(cli, modelfile: Path, tmp_path: Path) -> None:
    folder = tmp_path / "layout"
    document = json.loads(_build(cli, modelfile, folder, "--json").stdout)
    blob = folder / "blobs" / "sha256" / document["config"]["digest"].removeprefix("sha256:")
    data = blob.read_bytes()
    os.truncate(blob, len(data) - 1)
    assert UP_TO_DATE not in _build(cli, modelfile, folder).stderr


def test_a_layout_whose_index_was_rewritten_since_is_rebuilt(cli, modelfile: Path, tmp_path: Path) -> None:
    folder = tmp_path / "layout"
    _build(cli, modelfile, folder, "-t", "tiny:1")
    index = folder / "index.json"
    doc = json.loads(index.read_bytes())
    doc["manifests"] = []  # another program dropped the model from the index
    index.write_text(json.dumps(doc), encoding="utf-8")
    assert UP_TO_DATE not in _build(cli, modelfile, folder, "-t", "tiny:1").stderr
    listed = json.loads(index.read_bytes())["manifests"]
    assert [m["annotations"]["org.opencontainers.image.ref.name"] for m in listed] == ["tiny:1"]


def test_a_layout_built_with_link_after_a_copy_is_rebuilt(cli, modelfile: Path, tmp_path: Path) -> None:
    folder = tmp_path / "layout"
    _build(cli, modelfile, folder)
    assert UP_TO_DATE not in _build(cli, modelfile, folder, "--link").stderr
    assert _build(cli, modelfile, folder, "--link").stderr == f"{folder}{UP_TO_DATE}"


def test_a_layout_rebuilt_with_no_cache_is_rebuilt(cli, modelfile: Path, tmp_path: Path) -> None:
    folder = tmp_path / "layout"
    _build(cli, modelfile, folder)
    written = identity(folder / "index.json")
    assert UP_TO_DATE not in _build(cli, modelfile, folder, "--no-cache").stderr
    assert identity(folder / "index.json") != written


def test_a_layout_index_another_build_wrote_before_the_record_was_taken_is_rebuilt(cli, modelfile: Path,
                                                                                  tmp_path: Path) -> None:
    """Two builds into one layout: the other one's index.json (without this model) lands between this build's
    commit and its record, so the record names a file this build did not write. The index must list the model."""
    folder = tmp_path / "layout"
    _build(cli, modelfile, folder, "-t", "tiny:1")
    index = folder / "index.json"
    (record,) = [p for p in (Path(os.environ["XDG_CACHE_HOME"]) / "modeloci" / "outputs").rglob("*") if p.is_file()]
    doc = json.loads(index.read_bytes())
    doc["manifests"] = []
    index.write_text(json.dumps(doc), encoding="utf-8")
    taken = identity(index)
    assert taken is not None
    magic, key, _, described = record.read_text(encoding="ascii").split(" ")
    record.write_text(" ".join((magic, key, taken.text(), described)), encoding="ascii")
    assert UP_TO_DATE not in _build(cli, modelfile, folder, "-t", "tiny:1").stderr
    assert len(json.loads(index.read_bytes())["manifests"]) == 1
