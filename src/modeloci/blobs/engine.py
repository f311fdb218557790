"""Moving blob bytes at the speed of the machine: hash once, copy in the kernel, use every core.

Each blob is a byte range of a file (a weight file, or a member of a base
archive). Its bytes are read once in user space, for SHA-256, while the
kernel copies the same range into the output with ``copy_file_range`` (no
user-space copy at all; on filesystems that share extents this is a reflink).
Both run on a thread pool: ``hashlib`` and the copy syscalls release the GIL,
so blobs are hashed and copied on all cores at once, in bounded memory (one
buffer per hashing thread). Results come back in input order, so output never
depends on scheduling.

A file that changes while it is read (its size, mtime or ctime moves) fails the
build rather than producing a digest that does not match the copied bytes.

A blob may also *wrap* its byte range: fixed bytes before (``head``) and after
(``tail``) it, as a tar layer wraps the one file it holds (a modelcar's). The
blob's bytes are then written as head, the range copied by the kernel, tail;
and one read of the range feeds two hashes at once, on two threads: the
blob's (head, range, tail) and the range's own (the file's digest).
"""

from __future__ import annotations

import errno
import hashlib
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TypeVar

from modeloci.errors import BuildError, describe_os_error
from modeloci.oci.digest import Digest
from modeloci.progress import Advance, no_progress

CHUNK = 1 << 20
# Each copy_file_range call moves at most this much, so a cancelled build stops within a fraction of a second.
_COPY_CHUNK = 64 << 20


@dataclass(frozen=True, slots=True)
class FileState:
    """What must not change while a file is read: a snapshot of its stat."""

    dev: int
    ino: int
    size: int
    mtime_ns: int
    ctime_ns: int

    @classmethod
    def of(cls, fd: int) -> FileState:
        return cls.from_stat(os.fstat(fd))

    @classmethod
    def from_stat(cls, st: os.stat_result) -> FileState:
        return cls(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


@dataclass(frozen=True, slots=True)
class BlobSource:
    """``size`` bytes at ``offset`` in ``path``.

    ``state`` is the file as it was when the build looked at it: reading a file
    in any other state fails, so a digest found for that state (in the cache)
    always matches the bytes copied. ``expected`` is the digest the bytes must
    have, when known (blobs of a base archive).
    """

    path: Path
    offset: int
    size: int
    label: str
    state: FileState
    expected: Digest | None = None
    head: bytes = b""
    tail: bytes = b""
    # A wrapped source's range digest as the digest cache knows it (a build of the same file in another format):
    # then only the blob is hashed.
    cached_range: Digest | None = None

    @property
    def blob_size(self) -> int:
        """The blob's size: the range's, with what wraps it (``size`` is the range's alone)."""
        return len(self.head) + self.size + len(self.tail)

    @property
    def wrapped(self) -> bool:
        """Whether fixed bytes wrap the range; ``expected`` is then the range's digest, not the blob's."""
        return bool(self.head or self.tail)


def workers() -> int:
    """Threads for hashing and copying: one per core, at least two so copy and hash overlap."""
    return max(2, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 2)


class Cancelled(Exception):
    """A task stopped because another one failed or the build was interrupted."""


T = TypeVar("T")


def run_ordered(tasks: Sequence[Callable[[threading.Event], T]], *, threads: int | None = None) -> list[T]:
    """Run tasks on a thread pool; results in task order.

    Each task gets an event it checks between chunks: on the first failure,
    or an interrupt (Ctrl-C) of the main thread, the event is set, pending
    tasks are dropped and running ones stop at their next chunk, so a failed
    build of a 100 GB model stops in moments, not after copying the rest.
    """
    if not tasks:
        return []
    cancel = threading.Event()
    futures: list[Future[T]] = []
    pool = ThreadPoolExecutor(max_workers=min(threads or workers(), len(tasks)), thread_name_prefix="modeloci")
    try:
        futures += [pool.submit(task, cancel) for task in tasks]
        for future in as_completed(futures):
            if future.exception() is not None:
                cancel.set()
                break
    except BaseException:
        cancel.set()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    failures = [e for f in futures if not f.cancelled() and (e := f.exception()) is not None]
    first = next((e for e in failures if not isinstance(e, Cancelled)), failures[0] if failures else None)
    if first is not None:
        raise first
    return [f.result() for f in futures]


def open_unchanged(source: BlobSource) -> tuple[int, FileState]:
    """The source's file, opened for reading (a descriptor and its state); BuildError if it changed since the
    build looked at it. (Not :func:`modeloci.sources.open_source`, which opens a model as a layout.)"""
    try:
        fd = os.open(source.path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise BuildError(f"reading {source.label}: {describe_os_error(exc)}", path=source.label) from exc
    state = FileState.of(fd)
    if state != source.state:
        os.close(fd)
        raise BuildError(f"reading {source.label}: the file changed since the build looked at it", path=source.label,
                         hint="do not change input files during a build")
    return fd, state


def check_unchanged(fd: int, before: FileState, label: str) -> None:
    if FileState.of(fd) != before:
        raise BuildError(f"reading {label}: the file changed while it was being read", path=label,
                         hint="do not change input files during a build")


def hash_range(source: BlobSource, cancel: threading.Event | None = None, progress: Advance = no_progress) -> Digest:
    """SHA-256 of the source's byte range, read once through a reusable buffer; ``progress`` gets bytes read.
    A wrapped source's is its blob's (head, range, tail), the range checked against ``expected``."""
    if source.wrapped:
        return hash_wrapped(source, cancel, progress)[0]
    digest = Digest(_read_through(source, hashlib.sha256(), CHUNK, cancel, progress).hexdigest())
    _check_expected(source, digest)
    return digest


def _read_through(source: BlobSource, hasher: hashlib._Hash, chunk: int, cancel: threading.Event | None,
                  progress: Advance) -> hashlib._Hash:
    """``hasher`` fed the source's byte range, read once in ``chunk``-sized pieces; the file must not change."""
    fd, state = open_unchanged(source)
    try:
        view = memoryview(bytearray(min(chunk, max(source.size, 1))))
        position, end = source.offset, source.offset + source.size
        while position < end:
            if cancel is not None and cancel.is_set():
                raise Cancelled
            n = read_at(fd, view[: min(len(view), end - position)], position, source.label)
            hasher.update(view[:n])
            position += n
            progress(n)
        check_unchanged(fd, state, source.label)
    finally:
        os.close(fd)
    return hasher


def _check_expected(source: BlobSource, found: Digest) -> None:
    """BuildError when the range's digest is not the one the source expects."""
    if source.expected is not None and found != source.expected:
        raise BuildError(f"reading {source.label}: content does not match its digest {source.expected}",
                         path=source.label, hint="it was damaged or changed after it was written; "
                                                 "`modeloci verify` names every such blob")


def copy_range(source: BlobSource, out_fd: int, out_offset: int, cancel: threading.Event | None = None,
               progress: Advance = no_progress) -> None:
    """Copy the source's blob to ``out_offset`` of ``out_fd``: its head, its byte range (in the kernel when it
    can), its tail; ``progress`` gets bytes written."""
    fd, state = open_unchanged(source)
    cancel = cancel or threading.Event()
    start = out_offset + len(source.head)
    try:
        _write_all(out_fd, source.head, out_offset)
        try:
            _kernel_copy(fd, out_fd, source.offset, start, source.size, cancel, progress)
        except _NoKernelCopy:
            _user_copy(fd, out_fd, source.offset, start, source.size, cancel, progress)
        _write_all(out_fd, source.tail, start + source.size)
        progress(len(source.head) + len(source.tail))
        check_unchanged(fd, state, source.label)
    except OSError as exc:
        raise BuildError(f"writing layer {source.label}: {describe_os_error(exc)}", path=source.label) from exc
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:
        n = os.pwrite(fd, view, offset)
        view, offset = view[n:], offset + n


def hash_wrapped(source: BlobSource, cancel: threading.Event | None = None,
                 progress: Advance = no_progress) -> tuple[Digest, Digest]:
    """The digests of a wrapped source's blob (head, range, tail) and of its range alone, from one read of the
    range: each chunk read is hashed for the range on this thread while a helper thread hashes it for the blob,
    so the two hashes take about the time of one where two cores are free. The range must match ``expected``."""
    if source.cached_range is not None:
        return _hash_blob(source, cancel, progress), source.cached_range
    blob, inner = hashlib.sha256(source.head), hashlib.sha256()
    fd, state = open_unchanged(source)
    helper = ThreadPoolExecutor(max_workers=1, thread_name_prefix="modeloci-hash")
    buffers = [bytearray(min(_WRAPPED_CHUNK, max(source.size, 1))) for _ in range(2)]
    pending: list[Future[None] | None] = [None, None]
    try:
        position, end, turn = source.offset, source.offset + source.size, 0
        while position < end:
            if cancel is not None and cancel.is_set():
                raise Cancelled
            waiting = pending[turn]
            if waiting is not None:
                waiting.result()  # the helper is done with this buffer
            view = memoryview(buffers[turn])
            n = read_at(fd, view[: min(len(view), end - position)], position, source.label)
            pending[turn] = helper.submit(blob.update, view[:n])
            inner.update(view[:n])
            position, turn = position + n, 1 - turn
            progress(n)
        for waiting in pending:
            if waiting is not None:
                waiting.result()
        check_unchanged(fd, state, source.label)
    finally:
        helper.shutdown(wait=True)
        os.close(fd)
    blob.update(source.tail)
    found = Digest(inner.hexdigest())
    _check_expected(source, found)
    return Digest(blob.hexdigest()), found


def _hash_blob(source: BlobSource, cancel: threading.Event | None, progress: Advance) -> Digest:
    """The digest of a wrapped source's blob alone (head, range, tail), on this thread."""
    blob = _read_through(source, hashlib.sha256(source.head), _WRAPPED_CHUNK, cancel, progress)
    blob.update(source.tail)
    return Digest(blob.hexdigest())


# A larger chunk than plain hashing reads: each one costs a hand-over to the helper thread.
_WRAPPED_CHUNK = 4 << 20


def read_at(fd: int, view: memoryview, position: int, label: str) -> int:
    """Read into ``view`` at ``position`` of ``fd`` (the file named ``label``): the bytes read, at least one;
    BuildError on a read error or on the end of the file (it shrank while it was read)."""
    try:
        n = os.preadv(fd, [view], position)
    except OSError as exc:
        raise BuildError(f"reading {label}: {describe_os_error(exc)}", path=label) from exc
    if n == 0:
        raise BuildError(f"reading {label}: the file shrank while it was being read", path=label,
                         hint="do not change input files during a build")
    return n


def plain(source: BlobSource) -> BlobSource:
    """The source's byte range alone, without what wraps it (a wrapped source's ``expected`` is the range's)."""
    return replace(source, head=b"", tail=b"")


class _NoKernelCopy(Exception):
    """copy_file_range is not available between these files; fall back to read/write."""


def _kernel_copy(src: int, dst: int, src_offset: int, dst_offset: int, size: int, cancel: threading.Event,
                 progress: Advance) -> None:
    copy = getattr(os, "copy_file_range", None)
    if copy is None:
        raise _NoKernelCopy
    done = 0
    while done < size:
        if cancel.is_set():
            raise Cancelled
        try:
            n = copy(src, dst, min(size - done, _COPY_CHUNK), src_offset + done, dst_offset + done)
        except OSError as exc:
            if done == 0 and exc.errno in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.EPERM):
                raise _NoKernelCopy from exc
            raise
        if n == 0:
            raise OSError(errno.EIO, "the file shrank while it was being copied")
        done += n
        progress(n)


def _user_copy(src: int, dst: int, src_offset: int, dst_offset: int, size: int, cancel: threading.Event,
               progress: Advance) -> None:
    buffer = bytearray(min(CHUNK, max(size, 1)))
    view = memoryview(buffer)
    done = 0
    while done < size:
        if cancel.is_set():
            raise Cancelled
        n = os.preadv(src, [view[: min(len(buffer), size - done)]], src_offset + done)
        if n == 0:
            raise OSError(errno.EIO, "the file shrank while it was being copied")
        written = 0
        while written < n:
            written += os.pwrite(dst, view[written:n], dst_offset + done + written)
        done += n
        progress(n)


def move_range(fd: int, src_offset: int, dst_offset: int, size: int) -> None:
    """Move bytes to a lower offset of the same file (compacting out a duplicate blob)."""
    assert dst_offset <= src_offset
    buffer = bytearray(CHUNK)
    view = memoryview(buffer)
    done = 0
    while done < size:
        n = os.preadv(fd, [view[: min(CHUNK, size - done)]], src_offset + done)
        os.pwrite(fd, view[:n], dst_offset + done)
        done += n
