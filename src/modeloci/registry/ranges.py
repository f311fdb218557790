"""Parallel ranged downloads: one big blob fetched as several HTTP ``Range`` requests at once, checked as one digest.

A blob of at least ``limits.parallel_from`` bytes is cut into pieces of ``limits.range_piece`` bytes
(:func:`plan`), handed out in order to a few streams (one per piece, at most ``limits.range_streams``). Each
stream writes what it receives with ``pwrite`` at the piece's offset, and asks for the next piece when it is done.
A piece cut short (a reset, a body that ends early) is asked for again from where it stopped, on its own: the
other pieces go on, and no byte is fetched twice. Small blobs stay one request (:mod:`modeloci.registry.transfer`).

The first piece is asked for alone, before the others: a registry that ignores ``Range`` answers it ``200`` with
the whole blob, and :func:`fetch` hands that answer back to be read as one stream, so nothing is fetched twice.
A ``206`` with any other range than the one asked for (another start, end or total size), a body longer than its
range, or a ``200`` to a later piece (the registry honoured ``Range`` once, then not) is refused.

The blob is hashed once, in order, by the calling thread, which follows the contiguous prefix of what the streams
have written and reads it back from the file. Bytes just written are served from the page cache (a memory copy),
so this costs less than hashing the file again after the download, which would add a full pass at the end: here
the hashing overlaps the download, and at the end only the pieces still in flight are left to hash. (Hashing in
each stream is not possible: SHA-256 cannot join the hashes of parts.) Memory stays at one buffer per stream and
one for the hash, whatever the blob's size.

Bounds: each piece gets ``retry.attempts`` broken streams; the blob gives up when ``limits.stalls`` failed
answers in a row brought no new byte, or after ``limits.transfer_seconds``.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from modeloci.blobs.engine import Cancelled
from modeloci.errors import BuildError, describe_os_error
from modeloci.oci.digest import Digest
from modeloci.registry.client import RegistryClient, RegistryError
from modeloci.registry.limits import Limits, Watch

READ = 1 << 20  # the hash reads back this much at a time
WAIT = 0.1  # seconds the hashing thread sleeps between looks at a cancel it was not woken for
Progress = Callable[[int], None]
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)$")


@dataclass
class Piece:
    """Bytes [start, end) of the blob; ``done`` of them written, in order, from ``start``."""

    start: int
    end: int
    done: int = 0
    failures: int = 0

    @property
    def position(self) -> int:
        return self.start + self.done

    @property
    def finished(self) -> bool:
        return self.position >= self.end

    def asked(self) -> str:
        return f"bytes {self.position}-{self.end - 1}"


def plan(size: int, limits: Limits) -> list[Piece]:
    """The pieces to fetch a blob of ``size`` bytes in, or none: a small blob is one request."""
    if size < limits.parallel_from or limits.range_streams < 2 or not 0 < limits.range_piece < size:
        return []
    return [Piece(start, min(size, start + limits.range_piece)) for start in range(0, size, limits.range_piece)]


def readable(fd: int) -> int | None:
    """A new descriptor that reads what is written to ``fd`` (the caller closes it): a duplicate of ``fd`` when it
    was opened for reading too, else the same file opened again read-only (Linux's ``/proc/self/fd``); None if
    neither works, and the blob then comes as one stream, hashed as it arrives."""
    if fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE == os.O_RDWR:
        return os.dup(fd)
    try:
        return os.open(f"/proc/self/fd/{fd}", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None


def write_at(fd: int, data: bytes, offset: int, digest: Digest) -> None:
    """All of ``data`` at ``offset`` of ``fd``."""
    view = memoryview(data)
    while view:
        try:
            n = os.pwrite(fd, view, offset)
        except OSError as exc:
            raise BuildError(f"writing blob {digest}: {describe_os_error(exc)}") from exc
        view, offset = view[n:], offset + n


@dataclass(frozen=True)
class Target:
    """Where a blob goes: written to ``fd`` at ``offset``, read back through ``reader``."""

    fd: int
    offset: int
    reader: int


def fetch(client: RegistryClient, repository: str, digest: Digest, size: int, target: Target, pieces: list[Piece],
          *, progress: Progress, cancel: threading.Event, watch: Watch) -> Digest | httpx.Response:
    """Fetch the blob in ``pieces``, several at once; its digest, checked. If the registry ignores ``Range``, its
    unread ``200`` answer to the first request instead: the caller reads it as one stream."""
    job = _Job(client, repository, digest, size, target, pieces, progress, cancel, watch)
    first = job.open(pieces[0])
    if first.status_code == 200:
        return first
    job.check(first, pieces[0])
    streams = [threading.Thread(target=job.run, args=(pieces[0], first), name=f"range-{digest.hex[:8]}-0")]
    for n in range(1, min(client.limits.range_streams, len(pieces))):
        streams.append(threading.Thread(target=job.run, args=(job.take(), None), name=f"range-{digest.hex[:8]}-{n}"))
    for stream in streams:
        stream.start()
    try:
        found = job.hash_all()
    finally:
        job.stop.set()
        for stream in streams:  # joined before returning, even after a failure: no late write to the fd
            stream.join()
    if found != digest:
        raise RegistryError(f"blob {digest} from {client.registry} does not match its digest (got {found}, "
                            f"{size} bytes)")
    return found


class _Job:
    """One blob's pieces, the streams fetching them, and the thread hashing what they wrote."""

    def __init__(self, client: RegistryClient, repository: str, digest: Digest, size: int, target: Target,
                 pieces: list[Piece], progress: Progress, cancel: threading.Event, watch: Watch) -> None:
        self.client, self.repository, self.digest, self.size = client, repository, digest, size
        self.target, self.pieces, self.progress, self.cancel, self.watch = target, pieces, progress, cancel, watch
        self.named = f"blob {digest} from {client.registry}"
        self.lock = threading.Condition()
        self.stop = threading.Event()  # set when the blob is done or has failed: streams end at their next read
        self.error: BaseException | None = None
        self.next = 1  # the next piece to hand out (the first is the probe's)
        self.prefix = 0  # the first piece not yet finished: everything before it is written
        self.received = 0  # bytes written, all pieces (none is written twice)

    def take(self) -> Piece | None:
        with self.lock:
            if self.error is not None or self.next >= len(self.pieces):
                return None
            self.next += 1
            return self.pieces[self.next - 1]

    def open(self, piece: Piece) -> httpx.Response:
        return self.client.send("GET", f"/v2/{self.repository}/blobs/{self.digest}",
                                scope=f"repository:{self.repository}:pull",
                                headers={"Range": f"bytes={piece.position}-{piece.end - 1}"},
                                ok=(200, 206, 416), stream=True)

    def check(self, response: httpx.Response, piece: Piece) -> None:
        """Refuse (closing it) an answer that is not exactly the range asked for."""
        found = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
        if response.status_code == 206 and found is not None and int(found[1]) == piece.position \
                and int(found[2]) == piece.end - 1 and found[3] in ("*", str(self.size)):
            length = response.headers.get("Content-Length", "")
            if not (length.isdigit() and int(length) > piece.end - piece.position):
                return
            # A body announced longer than the range it claims: refused before a byte of it is read (read, the
            # surplus might arrive only after the blob is complete and verified, and go unnoticed).
            response.close()
            raise RegistryError(f"{self.named}: the registry sent more than the range asked for "
                                f"(bytes {piece.start}-{piece.end - 1})")
        response.close()
        if response.status_code == 416:
            raise RegistryError(f"{self.named} is shorter than its descriptor's {self.size} bytes (asked for "
                                f"{piece.asked()})")
        if response.status_code == 200:
            raise RegistryError(f"{self.named}: the registry sent the whole blob when asked for {piece.asked()}, "
                                "after it had sent a range", hint="the registry is inconsistent; try again later")
        raise RegistryError(f"{self.named}: the registry sent a range other than the one asked for "
                            f"({piece.asked()})")

    def run(self, piece: Piece | None, response: httpx.Response | None) -> None:
        """A stream: ``piece`` (its first answer ``response``, if already asked for), then each next one."""
        try:
            while piece is not None:
                self._piece(piece, response)
                piece, response = self.take(), None
        except BaseException as exc:  # handed to the hashing thread, which raises it
            if response is not None:
                response.close()
            with self.lock:
                self.error = self.error or exc
                self.stop.set()
                self.lock.notify_all()

    def _piece(self, piece: Piece, response: httpx.Response | None) -> None:
        while not piece.finished:
            with self.lock:
                self.watch.check_time(self.received)
            try:
                if response is None:
                    response = self.open(piece)
                    self.check(response, piece)
                self._receive(piece, response)
            except httpx.TransportError as exc:
                self.client.fail_fast(exc)
                piece.failures += 1
                if piece.failures >= self.client.retry.attempts:
                    raise RegistryError(f"downloading {self.digest}: gave up after {piece.failures} broken streams "
                                        f"of {piece.asked()}: {self.client.redact(str(exc))}") from exc
                self.client.sleep(self.client.retry.delay(piece.failures - 1))
            response = None
            if not piece.finished:  # broken, or ended early: asked for again from where it stopped
                with self.lock:
                    self.watch.moved(self.received)

    def _receive(self, piece: Piece, response: httpx.Response) -> None:
        """Write the answer's body at the piece's place as it arrives (a stream broken later keeps what came)."""
        try:
            for data in response.iter_bytes():
                if self.stop.is_set() or self.cancel.is_set():
                    raise Cancelled
                if piece.position + len(data) > piece.end:
                    raise RegistryError(f"{self.named}: the registry sent more than the range asked for "
                                        f"(bytes {piece.start}-{piece.end - 1})")
                write_at(self.target.fd, data, self.target.offset + piece.position, self.digest)
                with self.lock:
                    piece.done += len(data)
                    self.received += len(data)
                    self.watch.check_time(self.received)
                    self.lock.notify_all()
                self.progress(len(data))
        finally:
            response.close()

    def _ready(self) -> int:
        """How far the blob is written without a gap (under the lock)."""
        while self.prefix < len(self.pieces) and self.pieces[self.prefix].finished:
            self.prefix += 1
        return self.size if self.prefix == len(self.pieces) else self.pieces[self.prefix].position

    def hash_all(self) -> Digest:
        """Hash the blob in order, each byte once it and all before it are written; a stream's failure is raised."""
        hasher = hashlib.sha256()
        hashed = 0
        while hashed < self.size:
            with self.lock:
                while (ready := self._ready()) <= hashed and self.error is None and not self.cancel.is_set():
                    self.lock.wait(WAIT)
                if self.error is not None:
                    raise self.error
            if self.cancel.is_set():
                raise Cancelled
            while hashed < ready:
                data = self._read_back(hashed, min(READ, ready - hashed))
                hasher.update(data)
                hashed += len(data)
        return Digest(hasher.hexdigest())

    def _read_back(self, position: int, length: int) -> bytes:
        try:
            data = os.pread(self.target.reader, length, self.target.offset + position)
        except OSError as exc:
            raise BuildError(f"reading back blob {self.digest}: {describe_os_error(exc)}") from exc
        if not data:
            raise BuildError(f"reading back blob {self.digest}: the file is shorter than was written")
        return data
