"""Deterministic tar headers, whose size does not depend on the entry's name.

Every header is fixed: USTAR, the given mtime, uid/gid 0, empty user and group
names, mode 0644 for files and 0755 for folders. Since a header's length
depends only on the file's size, a writer can place a blob's bytes before it
knows the blob's name (its digest) and write the header afterwards. Files of
8 GiB and more get a PAX ``size`` record, since USTAR's size field stops at
8 GiB - 1.

:func:`entry_headers` writes the same fixed headers for the members of a tar
*layer* (a modelcar's ``models/<path>``), with the mode the caller gives and a
PAX ``path`` record for a name longer than USTAR's 100 bytes; :func:`tar_end`
is what follows the last member's data. The same name, size, mode and mtime
give the same bytes on every machine.
"""

from __future__ import annotations

BLOCK = 512
USTAR_MAX_SIZE = 8**11 - 1
_PAX_NAME = "././@PaxHeader"


def _octal(value: int, width: int) -> bytes:
    return b"%0*o\0" % (width - 1, value)


def ustar_header(name: str, *, size: int, mtime: int, typeflag: bytes = b"0", mode: int = 0o644) -> bytes:
    """One 512-byte USTAR header with fixed ownership fields."""
    encoded = name.encode("utf-8")
    if len(encoded) > 100:
        raise ValueError(f"tar entry name longer than 100 bytes: {name!r}")
    fields = [
        encoded.ljust(100, b"\0"),
        _octal(mode, 8),
        _octal(0, 8),  # uid
        _octal(0, 8),  # gid
        _octal(size if size <= USTAR_MAX_SIZE else 0, 12),
        _octal(mtime, 12),
        b" " * 8,  # checksum, computed below over the header with spaces here
        typeflag,
        b"\0" * 100,  # linkname
        b"ustar\x0000",
        b"\0" * 32,  # uname
        b"\0" * 32,  # gname
        _octal(0, 8),  # devmajor
        _octal(0, 8),  # devminor
        b"\0" * 155,  # prefix
        b"\0" * 12,
    ]
    header = bytearray(b"".join(fields))
    assert len(header) == BLOCK
    header[148:156] = b"%06o\0 " % sum(header)
    return bytes(header)


def pax_size_header(size: int, mtime: int) -> bytes:
    """A PAX extended header (with its data) carrying only ``size``."""
    return _pax_header([("size", str(size))], mtime)


def _pax_record(key: str, value: str) -> bytes:
    """One PAX record, ``"<length> <key>=<value>\\n"``, whose length counts its own digits."""
    body = f" {key}={value}\n".encode()
    length = len(body)
    while len(b"%d" % length + body) != length:
        length = len(b"%d" % length + body)
    return b"%d" % length + body


def _pax_header(records: list[tuple[str, str]], mtime: int) -> bytes:
    data = b"".join(_pax_record(key, value) for key, value in records)
    return ustar_header(_PAX_NAME, size=len(data), mtime=mtime, typeflag=b"x") + _pad(data)


def _pad(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % BLOCK)


def file_headers(name: str, size: int, mtime: int) -> bytes:
    """The header block(s) for a regular file of ``size`` bytes."""
    pax = pax_size_header(size, mtime) if size > USTAR_MAX_SIZE else b""
    return pax + ustar_header(name, size=size, mtime=mtime)


def _short_name(name: str) -> str:
    """The USTAR name of a member whose PAX ``path`` record holds its whole name: its first 100 bytes (readers
    take the record's)."""
    return name.encode("utf-8")[:100].decode("utf-8", "ignore")


def entry_headers(name: str, *, size: int, mtime: int, mode: int, folder: bool = False) -> bytes:
    """The header block(s) of a member of a tar layer: a file of ``size`` bytes, or a folder (``name`` ending in
    ``/``). A name over 100 bytes, or a size USTAR cannot hold, goes into a PAX record (path first)."""
    records: list[tuple[str, str]] = []
    if len(name.encode("utf-8")) > 100:
        records.append(("path", name))
    if size > USTAR_MAX_SIZE:
        records.append(("size", str(size)))
    pax = _pax_header(records, mtime) if records else b""
    short = _short_name(name) if len(name.encode("utf-8")) > 100 else name
    return pax + ustar_header(short, size=0 if folder else size, mtime=mtime, typeflag=b"5" if folder else b"0",
                              mode=mode)


def padding(size: int) -> bytes:
    """The zeros that fill a member's data of ``size`` bytes up to its last 512-byte block."""
    return b"\0" * (-size % BLOCK)


def tar_end() -> bytes:
    """The two zero blocks that end a tar (as Go's archive/tar ends one: no padding to a 10 KiB record)."""
    return b"\0" * (2 * BLOCK)
