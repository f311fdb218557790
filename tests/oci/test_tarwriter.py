"""Tar headers and the archive sink: fixed headers, content-named entries, PAX for huge files."""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

from modeloci.blobs.engine import BlobSource, FileState
from modeloci.blobs.sinks import ArchiveSink
from modeloci.oci.digest import Digest
from modeloci.oci.tarwriter import USTAR_MAX_SIZE, file_headers, ustar_header


def _source(path: Path, data: bytes) -> BlobSource:
    path.write_bytes(data)
    return BlobSource(path, 0, len(data), path.name, FileState.from_stat(os.stat(path)))


def _read(path: Path) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(path) as tar:
        return {m.name: m for m in tar.getmembers()}


def test_headers_are_fixed_and_readable(tmp_path: Path) -> None:
    out = tmp_path / "a.tar"
    with out.open("w+b") as f:
        sink = ArchiveSink(f.fileno(), mtime=1234)
        sink.put_bytes(b"{}")
    with tarfile.open(out) as reader:
        members = reader.getmembers()
        assert [(m.name, m.type, m.mode, m.uid, m.gid, m.uname, m.gname, m.mtime) for m in members] == [
            ("blobs", tarfile.DIRTYPE, 0o755, 0, 0, "", "", 1234),
            ("blobs/sha256", tarfile.DIRTYPE, 0o755, 0, 0, "", "", 1234),
            (Digest.of(b"{}").blob_path, tarfile.REGTYPE, 0o644, 0, 0, "", "", 1234),
        ]


def test_layers_are_named_after_their_digest_and_duplicates_stored_once(tmp_path: Path) -> None:
    a = _source(tmp_path / "a", b"weights" * 1000)
    b = _source(tmp_path / "b", b"license")
    c = _source(tmp_path / "c", b"weights" * 1000)  # same bytes as a: found only once hashed
    out = tmp_path / "out.tar"
    with out.open("w+b") as f:
        sink = ArchiveSink(f.fileno())
        digests = sink.put_layers([a, b, c], [None, None, None])
        sink.commit(_descriptor(), b"{}", ref_name=None)
    assert digests == [Digest.of(b"weights" * 1000), Digest.of(b"license"), Digest.of(b"weights" * 1000)]
    with tarfile.open(out) as tar:
        names = tar.getnames()
        assert names.count(digests[0].blob_path) == 1
        assert tar.extractfile(digests[1].blob_path).read() == b"license"  # type: ignore[union-attr]
        assert tar.extractfile(digests[0].blob_path).read() == b"weights" * 1000  # type: ignore[union-attr]
    assert out.stat().st_size == sink.end


def test_known_duplicates_are_not_copied(tmp_path: Path) -> None:
    a = _source(tmp_path / "a", b"x" * 5000)
    digest = Digest.of(b"x" * 5000)
    out = tmp_path / "out.tar"
    with out.open("w+b") as f:
        sink = ArchiveSink(f.fileno())
        assert sink.put_layers([a, a], [digest, digest]) == [digest, digest]
        end = sink.end
    assert end == 1024 + 512 + 5120


def _descriptor():
    from modeloci.oci.manifest import Descriptor

    return Descriptor("application/vnd.oci.image.manifest.v1+json", Digest.of(b"{}"), 2)


def test_files_of_8_gib_and_more_get_a_pax_size_record(tmp_path: Path) -> None:
    size = USTAR_MAX_SIZE + 1
    headers = file_headers("blobs/sha256/" + "a" * 64, size, 0)
    assert len(headers) == 3 * 512  # PAX header, PAX data, USTAR header
    path = tmp_path / "huge.tar"
    with path.open("wb") as f:
        f.write(headers)
        f.seek(len(headers) + size + (-size % 512))  # sparse: no data is really written
        f.write(b"\0" * 1024)
    with tarfile.open(path) as reader:
        (member,) = reader.getmembers()
        assert member.name == "blobs/sha256/" + "a" * 64 and member.size == size


def test_ustar_header_is_exactly_one_block_with_valid_checksum() -> None:
    header = ustar_header("x", size=5, mtime=0)
    assert len(header) == 512
    stored = int(header[148:154], 8)
    assert stored == sum(header[:148]) + 8 * 32 + sum(header[156:])


def test_header_size_does_not_depend_on_the_name() -> None:
    assert len(file_headers("blobs/sha256/" + "0" * 64, 10, 0)) == len(file_headers("blobs/sha256/" + "f" * 64, 10, 0))
