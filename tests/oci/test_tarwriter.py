"""The tar writer: fixed headers, content-named entries patched in place, PAX for huge files."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

from modeloci.oci.archive import OciArchiveWriter
from modeloci.oci.digest import Digest
from modeloci.oci.tarwriter import USTAR_MAX_SIZE, TarWriter, file_headers, ustar_header


def test_headers_are_fixed_and_readable() -> None:
    out = io.BytesIO()
    tar = TarWriter(out, mtime=1234)
    tar.add_dir("blobs")
    tar.add_bytes("index.json", b"{}")
    tar.close()
    with tarfile.open(fileobj=io.BytesIO(out.getvalue())) as reader:
        members = reader.getmembers()
        assert [(m.name, m.type, m.mode, m.uid, m.gid, m.uname, m.gname, m.mtime) for m in members] == [
            ("blobs", tarfile.DIRTYPE, 0o755, 0, 0, "", "", 1234),
            ("index.json", tarfile.REGTYPE, 0o644, 0, 0, "", "", 1234),
        ]
        assert reader.extractfile(members[1]).read() == b"{}"  # type: ignore[union-attr]
    assert len(out.getvalue()) == 512 * 5  # dir header, file header, one data block, two end blocks


def test_a_blob_is_renamed_after_its_digest_once_streamed() -> None:
    out = io.BytesIO()
    writer = OciArchiveWriter(out)
    digest = writer.put_stream(io.BytesIO(b"weights" * 100), 700, label="w.gguf")
    assert digest == Digest.of(b"weights" * 100)
    header = out.getvalue()[1024:1536]
    assert header[:77].decode() == digest.blob_path
    # The patched checksum is right: tarfile verifies it when reading.
    with tarfile.open(fileobj=io.BytesIO(out.getvalue() + b"\0" * 1024)) as reader:
        member = reader.getmember(digest.blob_path)
        assert reader.extractfile(member).read() == b"weights" * 100  # type: ignore[union-attr]


def test_duplicate_content_is_stored_once() -> None:
    out = io.BytesIO()
    writer = OciArchiveWriter(out)
    first = writer.put_stream(io.BytesIO(b"same"), 4, label="a")
    size_after_first = len(out.getvalue())
    second = writer.put_stream(io.BytesIO(b"same"), 4, label="b")
    assert first == second
    assert len(out.getvalue()) == size_after_first
    assert writer.put_bytes(b"same") == first
    assert len(out.getvalue()) == size_after_first


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
