"""Layers that hold a tar of their files: ModelPack's ``.tar`` and ``.tar+gzip`` (modctl writes ``.tar``).

A raw layer is its file; a tar layer holds files named inside the tar, which
its readers (modctl, Docker Model Runner) extract relative to the model's
folder. Three operations, each in bounded memory:

* :func:`list_members` reads the member headers and says what is unsafe,
  without writing anything (an uncompressed tar by seeking from header to
  header, a gzip one by streaming), so that ``unpack`` can refuse before a
  byte is written and ``verify`` can report it;
* :func:`extract` streams a gzip layer once, checking its digest while it
  writes each member (and hashes each member for the report); an
  uncompressed tar's members are byte ranges of the layer, which ``unpack``
  copies in the kernel like raw layers, while another thread checks the layer;
* :func:`uncompressed_digest` is a gzip layer's diffID (the digest of the tar
  inside), which ``verify`` compares with the config's.

``tar+zstd`` needs a codec the standard library lacks; it is named as such.

A gzip layer may inflate to at most :data:`MAX_INFLATE_RATIO` times its own
size (plus 16 MiB): beyond that it is refused as a decompression bomb before
the bytes are inflated, by the member headers when listing and by counting
when hashing. 4 MiB of zeros inflate to 4 GiB, which took 90 s to verify;
model files compress little (weights about 1.1:1, tokenizers and configs
about 5:1). ``--max-inflate-ratio 0`` lifts the bound.
"""

from __future__ import annotations

import hashlib
import io
import os
import sys
import tarfile
import threading
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Literal, Protocol

from modeloci.blobs.engine import BlobSource, Cancelled, check_unchanged, open_unchanged
from modeloci.errors import ArchiveError
from modeloci.formats import MAX_INFLATE_RATIO
from modeloci.formats.artifact import Packing
from modeloci.oci.digest import Digest
from modeloci.oci.safety import safe_relative, tar_problems

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

__all__ = ["MAX_INFLATE_RATIO", "Extracted", "Member", "extract", "inflate_limit", "list_members",
           "uncompressed_digest"]

_CHUNK = 1 << 20
_INFLATE_SLACK = 16 << 20  # small layers (a config, a tokenizer) may compress better than the ratio
# An uncompressed tar is listed by seeking over the data.
_LISTING: dict[Packing, Literal["r:", "r|gz"]] = {"tar": "r:", "tar+gzip": "r|gz"}


@dataclass(frozen=True, slots=True)
class Member:
    """A regular file in a tar layer: its clean relative path, its size, and where its bytes start in the
    layer (an uncompressed tar's; None in a compressed one, which is only read as a stream)."""

    path: str
    size: int
    offset: int | None = None
    name: str | None = None  # its name in the tar, when it is written elsewhere (a modelcar's file, at its path)


@dataclass(frozen=True, slots=True)
class Extracted:
    path: str
    digest: Digest
    size: int


class _Hasher(Protocol):
    def update(self, data: memoryview, /) -> None: ...


class _Window(io.RawIOBase):
    """``size`` bytes at ``offset`` of an open file, read-only; hashes what it reads when given a hasher
    (then it must be read straight through, so it does not seek)."""

    def __init__(self, fd: int, offset: int, size: int, hasher: _Hasher | None = None) -> None:
        self._fd, self._offset, self._size, self._hasher = fd, offset, size, hasher
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return self._hasher is None

    def read(self, size: int = -1, /) -> bytes:
        data = super().read(size)
        assert data is not None  # only a non-blocking stream reads None, and a file window blocks
        return data

    def readinto(self, buffer: WriteableBuffer, /) -> int:
        view = memoryview(buffer).cast("B")
        want = min(len(view), self._size - self._position)
        if want <= 0:
            return 0
        n = os.preadv(self._fd, [view[:want]], self._offset + self._position)
        if self._hasher is not None:
            self._hasher.update(view[:n])
        self._position += n
        return n

    def seek(self, position: int, whence: int = io.SEEK_SET) -> int:
        if self._hasher is not None:
            raise io.UnsupportedOperation("a hashing window reads straight through")
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        self._position = max(0, base + position)
        return self._position

    def tell(self) -> int:
        return self._position

    def drain(self) -> None:
        """Read the rest (a tar's closing blocks, a gzip trailer) so that the hash covers the whole layer."""
        buffer = bytearray(_CHUNK)
        while self.readinto(buffer):
            pass


def inflate_limit(size: int, ratio: int) -> int | None:
    """How many bytes a gzip layer of ``size`` bytes may inflate to (None: no bound, ``ratio`` 0)."""
    return None if ratio <= 0 else ratio * size + _INFLATE_SLACK


def _bomb(size: int, ratio: int) -> str:
    return (f"it inflates to more than {ratio} times its {size} bytes: refused as a likely decompression bomb "
            "(`--max-inflate-ratio 0` reads it anyway)")


def list_members(source: BlobSource, packing: Packing, *, max_ratio: int = MAX_INFLATE_RATIO,
                 folders: list[str] | None = None) -> tuple[list[Member], list[str]]:
    """The regular files of a tar layer, and its problems (unreadable, unsafe names, links, special files, a
    gzip layer that inflates more than ``max_ratio`` times its size). ``folders``, when given, gets the clean
    paths of its folder members."""
    if packing not in _LISTING:
        return [], [f"a {packing} layer, which modeloci cannot read (Python's standard library has no zstd)"]
    limit = inflate_limit(source.size, max_ratio) if packing == "tar+gzip" else None
    fd, _ = open_unchanged(source)
    try:
        with tarfile.open(fileobj=_Window(fd, source.offset, source.size), mode=_LISTING[packing]) as tar:
            infos = _headers(tar, limit)
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        return [], [f"not a readable {packing}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"]
    except _Bomb:
        return [], [_bomb(source.size, max_ratio)]
    finally:
        os.close(fd)
    # An uncompressed tar's members must lie inside the layer; a gzip stream's end is only known by reading it.
    unsafe = tar_problems(infos, source.size if packing == "tar" else sys.maxsize)
    problems = [f"tar member {u.message}" for u in unsafe]
    flagged = {u.where for u in unsafe}
    members = []
    if folders is not None:
        folders += [clean for info in infos if info.isdir() and info.name not in flagged
                    and (clean := safe_relative(info.name.removeprefix("./").rstrip("/") or ".")) is not None]
    for info in infos:
        if not info.isreg() or info.name in flagged:
            continue
        clean = safe_relative(info.name.removeprefix("./"))
        if clean is None:
            problems.append(f"tar member `{info.name}` has a path no folder can hold")
        else:
            members.append(Member(clean, info.size, info.offset_data if packing == "tar" else None))
    return members, problems


class _Bomb(Exception):
    """A gzip layer inflating past its bound."""


def _headers(tar: tarfile.TarFile, limit: int | None) -> list[tarfile.TarInfo]:
    """Every member header. Each is checked against ``limit`` before the stream moves past its data, which a
    gzip stream can only do by inflating it: a member claiming gigabytes is refused at its header."""
    infos = []
    while (info := tar.next()) is not None:
        if limit is not None and info.offset_data + info.size > limit:
            raise _Bomb
        infos.append(info)
    return infos


def extract(source: BlobSource, targets: dict[str, Path], cancel: threading.Event | None = None) -> list[Extracted]:
    """Write the members of the gzip tar layer ``source`` to ``targets`` (clean member path -> new file), reading
    the layer once and checking it against ``source.expected``; members not in ``targets`` are refused.
    (An uncompressed tar's members are byte ranges, which ``unpack`` copies without this stream.)"""
    fd, state = open_unchanged(source)
    hasher = hashlib.sha256()
    window = _Window(fd, source.offset, source.size, hasher)
    out: list[Extracted] = []
    try:
        try:
            with tarfile.open(fileobj=window, mode="r|gz") as tar:
                for info in tar:
                    if not info.isreg():
                        continue
                    clean = safe_relative(info.name.removeprefix("./"))
                    target = targets.get(clean) if clean is not None else None
                    if clean is None or target is None:
                        raise ArchiveError(f"refusing to unpack: tar member `{info.name}` of {source.label} "
                                           "was not there when the layer was checked")
                    stream = tar.extractfile(info)
                    assert stream is not None  # a regular file
                    out.append(_write_member(stream, clean, target, info.size, cancel))
        except (tarfile.TarError, EOFError, zlib.error) as exc:
            raise ArchiveError(f"refusing to unpack: {source.label} is not a readable tar+gzip: {exc}") from exc
        window.drain()
        check_unchanged(fd, state, source.label)
    finally:
        os.close(fd)
    found = Digest(hasher.hexdigest())
    if source.expected is not None and found != source.expected:
        raise ArchiveError(f"refusing to unpack: {source.label} does not match its digest "
                           f"{source.expected}: its content is {found}")
    return out


def _write_member(stream: IO[bytes], path: str, target: Path, size: int, cancel: threading.Event | None) -> Extracted:
    hasher = hashlib.sha256()
    written = 0
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        while data := stream.read(_CHUNK):
            if cancel is not None and cancel.is_set():
                raise Cancelled
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            hasher.update(data)
            written += len(data)
    finally:
        os.close(fd)
    if written != size:
        raise ArchiveError(f"refusing to unpack: tar member `{path}` holds {written} bytes; its header says {size}")
    return Extracted(path, Digest(hasher.hexdigest()), written)


def uncompressed_digest(source: BlobSource, cancel: threading.Event | None = None, *,
                        max_ratio: int = MAX_INFLATE_RATIO) -> Digest:
    """The digest of the tar inside a gzip layer (its diffID), streamed; concatenated gzip members are joined.
    ArchiveError once more than ``max_ratio`` times the layer's size came out."""
    fd, state = open_unchanged(source)
    hasher = hashlib.sha256()
    limit, inflated = inflate_limit(source.size, max_ratio), 0
    try:
        window = _Window(fd, source.offset, source.size)
        inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
        inside = False  # in the middle of a gzip member
        while data := window.read(_CHUNK):
            if cancel is not None and cancel.is_set():
                raise Cancelled
            while data:
                while True:  # inflate in bounded pieces: a small gzip may stand for terabytes
                    out = inflate.decompress(data, _CHUNK)
                    inflated += len(out)
                    if limit is not None and inflated > limit:
                        raise ArchiveError(f"{source.label}: {_bomb(source.size, max_ratio)}")
                    hasher.update(out)
                    data = inflate.unconsumed_tail
                    if inflate.eof or (not data and len(out) < _CHUNK):
                        break
                inside = not inflate.eof
                data = inflate.unused_data if inflate.eof else b""
                if inflate.eof:
                    inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
        if inside:
            raise ArchiveError(f"{source.label}: not a readable gzip stream: it is cut short")
        check_unchanged(fd, state, source.label)
    except zlib.error as exc:
        raise ArchiveError(f"{source.label}: not a readable gzip stream: {exc}") from exc
    finally:
        os.close(fd)
    return Digest(hasher.hexdigest())
