"""The same Modelfile and inputs give the same archive bytes, whatever the machine state."""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

import pytest
from syrupy.extensions.single_file import SingleFileSnapshotExtension

from tests.archive_tools import EXAMPLE_NAMES, Archive, build_example


def _disturb(folder: Path) -> None:
    """Give every input file other mtimes, permissions and (as root) another owner."""
    for i, path in enumerate(sorted(folder.rglob("*"))):
        if path.is_file():
            os.chmod(path, 0o600)
            os.utime(path, (1_700_000_000 + i, 1_700_000_000 + i))
            if os.geteuid() == 0:
                os.chown(path, 4321, 4321)


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_copies_in_different_places_with_different_metadata_build_identical_archives(tmp_path: Path, name: str) -> None:
    old_umask = os.umask(0o022)
    try:
        first, _ = build_example(name, tmp_path / "a")
        os.umask(0o077)
        second, _ = build_example(name, tmp_path / "b" / "somewhere" / "else", prepare=_disturb)
    finally:
        os.umask(old_umask)
    assert first.read_bytes() == second.read_bytes()
    # The disturbance really happened: the second copy's inputs differ on disk.
    weights = sorted(p for p in (tmp_path / "b").rglob("*") if p.suffix in (".gguf", ".safetensors"))[0]
    assert weights.stat().st_mode & 0o777 == 0o600


def test_source_date_epoch_sets_created_and_every_timestamp(tmp_path: Path) -> None:
    epoch = 1_750_000_000  # 2025-06-15T15:06:40Z
    output, _ = build_example("single-gguf", tmp_path, created=epoch)
    archive = Archive.read(output)
    assert archive.config["descriptor"] == {"created": "2025-06-15T15:06:40Z"}
    for layer in archive.manifest["layers"]:
        assert '"mtime":"2025-06-15T15:06:40Z"' in layer["annotations"]["org.cncf.model.file.metadata+json"]
    with tarfile.open(output) as tar:
        assert {m.mtime for m in tar.getmembers()} == {epoch}


def test_building_twice_in_one_place_gives_the_same_bytes(tmp_path: Path) -> None:
    first, _ = build_example("sharded-vision", tmp_path / "one", output=tmp_path / "x.tar")
    data = first.read_bytes()
    again, _ = build_example("sharded-vision", tmp_path / "two", output=tmp_path / "x.tar")
    assert again.read_bytes() == data


def test_the_single_gguf_example_archive_is_byte_for_byte_the_golden_one(tmp_path: Path, snapshot) -> None:
    """Every byte pinned, not only digests: tar header magic and version, field padding, entry order, JSON
    spacing. A change here changes what every user's CI produces; review the golden file's diff as code
    (``pytest --snapshot-update`` rewrites it; ``tests/__snapshots__/test_reproducible/``)."""
    archive, _ = build_example("single-gguf", tmp_path, reference="tiny-llama:f32")
    data = archive.read_bytes()
    with tarfile.open(archive) as tar:
        first = tar.getmembers()[0]
    assert first.name == "blobs" and data[257:265] == b"ustar\x0000"  # POSIX ustar, as OCI tools expect
    assert data == snapshot(extension_class=SingleFileSnapshotExtension)
