"""A deterministic tar writer whose file entries can be named after their content.

Every header is fixed: USTAR, the given mtime, uid/gid 0, empty user and group
names, mode 0644 for files and 0755 for folders. A blob's name is its digest,
known only once its bytes have passed through; instead of reading the file
twice, :meth:`TarWriter.begin_file` writes a header with a placeholder name of
the same length, the bytes are streamed (and hashed by the caller), and
:meth:`TarWriter.end_file` seeks back and rewrites the header with the real
name and checksum. Files of 8 GiB and more get a PAX ``size`` record, since
USTAR's size field stops at 8 GiB - 1.
"""

from __future__ import annotations

from typing import BinaryIO

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
    record = f" size={size}\n"
    length = len(record)
    while len(f"{length}{record}") != length:
        length = len(f"{length}{record}")
    data = f"{length}{record}".encode("ascii")
    return ustar_header(_PAX_NAME, size=len(data), mtime=mtime, typeflag=b"x") + _pad(data)


def _pad(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % BLOCK)


def file_headers(name: str, size: int, mtime: int) -> bytes:
    """The header block(s) for a regular file of ``size`` bytes."""
    pax = pax_size_header(size, mtime) if size > USTAR_MAX_SIZE else b""
    return pax + ustar_header(name, size=size, mtime=mtime)


class TarWriter:
    """Writes tar entries to a seekable binary file; the caller owns the file."""

    def __init__(self, out: BinaryIO, *, mtime: int = 0) -> None:
        self.out = out
        self.mtime = mtime

    def add_dir(self, name: str) -> None:
        self.out.write(ustar_header(name.rstrip("/") + "/", size=0, mtime=self.mtime, typeflag=b"5", mode=0o755))

    def add_bytes(self, name: str, data: bytes) -> None:
        self.out.write(file_headers(name, len(data), self.mtime))
        self.out.write(_pad(data))

    def begin_file(self, placeholder: str, size: int) -> int:
        """Write headers under a placeholder name; returns the entry's offset."""
        offset = self.out.tell()
        self.out.write(file_headers(placeholder, size, self.mtime))
        return offset

    def end_file(self, offset: int, name: str, size: int) -> None:
        """Pad the data just written, then rename the entry that starts at ``offset``."""
        self.out.write(b"\0" * (-size % BLOCK))
        end = self.out.tell()
        self.out.seek(offset)
        self.out.write(file_headers(name, size, self.mtime))
        self.out.seek(end)

    def discard_from(self, offset: int) -> None:
        """Drop everything written from ``offset`` on (an entry that turned out to be a duplicate)."""
        self.out.seek(offset)
        self.out.truncate()

    def close(self) -> None:
        self.out.write(b"\0" * (2 * BLOCK))
