"""A modelcar layer's tar, laid out before any byte is read: Python's tarfile reads it back as written, and its
bytes depend only on the file's path, bytes and mtime."""

from __future__ import annotations

import io
import tarfile

from modeloci.formats import modelcar
from modeloci.oci.tarwriter import entry_headers, padding, tar_end


def _layer(filepath: str, data: bytes, mtime: int) -> bytes:
    return modelcar.layer_head(filepath, len(data), mtime) + data + modelcar.layer_tail(len(data))


def test_a_member_name_over_100_bytes_is_read_back_whole_by_python_s_tarfile() -> None:
    name = "models/" + "/".join(["folder-" + "x" * 40] * 3) + "/weights.gguf"
    assert len(name.encode()) > 100
    data = b"GGUF" * 100
    blob = entry_headers(name, size=len(data), mtime=7, mode=0o444) + data + padding(len(data)) + tar_end()
    with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
        (member,) = tar.getmembers()
        assert (member.name, member.size, member.mode, member.mtime) == (name, len(data), 0o444, 7)
        assert (member.uid, member.gid, member.uname, member.gname) == (0, 0, "", "")
        extracted = tar.extractfile(member)
        assert extracted is not None and extracted.read() == data


def test_a_layer_holds_the_folders_on_the_way_then_the_file_with_fixed_metadata() -> None:
    data = b"tokenizer bytes"
    blob = _layer("tokenizer/en/vocab.json", data, 1700000000)
    assert len(blob) == modelcar.layer_size("tokenizer/en/vocab.json", len(data), 1700000000)
    with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
        found = [(m.name, m.type, m.mode, m.uid, m.gid, m.mtime) for m in tar.getmembers()]
    assert found == [("models", tarfile.DIRTYPE, 0o555, 0, 0, 1700000000),
                     ("models/tokenizer", tarfile.DIRTYPE, 0o555, 0, 0, 1700000000),
                     ("models/tokenizer/en", tarfile.DIRTYPE, 0o555, 0, 0, 1700000000),
                     ("models/tokenizer/en/vocab.json", tarfile.REGTYPE, 0o444, 0, 0, 1700000000)]


def test_layer_bytes_depend_only_on_path_bytes_and_mtime() -> None:
    base = _layer("model.gguf", b"abc", 0)
    assert _layer("model.gguf", b"abc", 0) == base
    assert _layer("other.gguf", b"abc", 0) != base
    assert _layer("model.gguf", b"abd", 0) != base
    assert _layer("model.gguf", b"abc", 1) != base
    assert len(base) % 512 == 0 and base.endswith(b"\0" * 1024)


def test_a_file_of_8_gib_and_more_gets_its_size_in_a_pax_record() -> None:
    """USTAR's size field stops at 8 GiB - 1; a bigger weights file's size goes into a PAX record, read back as is
    (only the headers are read: the file's bytes would follow)."""
    size = (8 << 30) + 12345
    head = modelcar.layer_head("big/model.gguf", size, 0)
    with tarfile.open(fileobj=io.BytesIO(head), mode="r:") as tar:
        folders = [tar.next(), tar.next()]
        member = tar.next()
    assert [f.name for f in folders if f is not None] == ["models", "models/big"]
    assert member is not None and (member.name, member.size, member.mode) == ("models/big/model.gguf", size, 0o444)
    assert modelcar.layer_size("big/model.gguf", size, 0) == len(head) + size + (-size % 512) + 1024
