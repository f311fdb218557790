"""Moving blobs: chunked uploads that resume where the registry says, downloads that resume with Range.

An upload opens a session (``POST``), sends the blob in chunks (``PATCH`` with
``Content-Range``), and closes it with the digest (``PUT ?digest=``). When a
chunk fails half-way (a reset connection, a 5xx), the client asks the session
how much it holds (``GET``, answered with ``Range: 0-N``) and goes on from
N + 1, so a dropped connection costs at most one chunk. A session the registry
forgot starts over. Downloads stream into their destination, hashing on the
way; a broken stream resumes with ``Range: bytes=N-``. A big blob comes as
several ranges at once (:mod:`modeloci.registry.ranges`), unless the registry
ignores ``Range``. Memory stays at one buffer per stream, whatever the blob's
size.

Neither side is taken on trust. An upload hashes the bytes it reads from the
local file as it sends them, and refuses a blob that does not match its digest
before the closing ``PUT`` (so the registry is never the only guard). A
download hashes what it writes and refuses a mismatch, a body longer or shorter
than the descriptor, or a range other than the one asked for. Both give up when
the registry's answers stop moving the transfer on (``limits.stalls`` in a
row) or it takes longer than ``limits.transfer_seconds``.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import threading
from collections.abc import Callable, Iterator

import httpx

from modeloci.blobs.engine import BlobSource, Cancelled
from modeloci.errors import ArchiveError, ModelociError
from modeloci.oci.digest import Digest
from modeloci.registry import ranges
from modeloci.registry.client import RegistryClient, RegistryError, _push
from modeloci.registry.limits import Watch
from modeloci.registry.ranges import write_at

# A PATCH's size. Distribution does work of its own for every PATCH (it saves its hash state): measured on 2 cores,
# a 1 GiB upload in 32 MiB chunks took 1.3-1.4 x the registry's floor (one monolithic PUT), in 256 MiB ones about
# 1.05 x (see bench/REGISTRY.md). A broken chunk costs at most this much again; memory is one READ buffer anyway.
CHUNK = 256 << 20
READ = 1 << 20
Progress = Callable[[int], None]
_CONTENT_RANGE = re.compile(r"bytes (\d+)-")


def _noop(n: int) -> None:
    pass


def upload(client: RegistryClient, repository: str, source: BlobSource, digest: Digest, *,
           chunk: int = CHUNK, progress: Progress = _noop, cancel: threading.Event | None = None) -> None:
    """Upload the blob ``source`` holds as ``digest`` into ``repository``."""
    cancel = cancel or threading.Event()
    what = f"uploading {digest}"
    watch = client.watch(what, source.size, verb="took")
    hashed = _Hashed(source)
    location = start_upload(client, repository)
    offset = reported = 0  # reported: the most bytes ever acknowledged, so a restarted upload is not counted twice
    failures = 0
    while offset < source.size:
        if cancel.is_set():
            raise Cancelled
        watch.check_time(offset)
        end = min(source.size, offset + chunk)
        try:
            response = _patch(client, location, hashed, offset, end)
        except (httpx.TransportError, RegistryError) as exc:
            if isinstance(exc, httpx.TransportError):
                client.fail_fast(exc)  # refused, TLS: no retry mends it
            failures += 1
            if failures >= client.retry.attempts:
                raise RegistryError(f"{what}: gave up after {failures} failed chunks: "
                                    f"{client.redact(str(exc))}") from exc
            client.sleep(client.retry.delay(failures - 1))
            location, offset = _resume(client, repository, location, hashed.done)
            watch.restart(offset)
            continue
        location = client.location(response.headers.get("Location", location), location)
        offset = _received(response, end)
        if offset > end:
            raise RegistryError(f"{what}: the registry says it holds {offset} bytes, more than the {end} sent")
        watch.moved(offset)
        if offset > reported:
            progress(offset - reported)
            reported = offset
    hashed.check(digest, lambda: _abandon(client, repository, location))
    separator = "&" if "?" in location else "?"
    finish(client, repository, f"{location}{separator}digest={digest}", digest, source.size)


class _Hashed:
    """The blob's bytes as they are read for sending, each hashed once and in order: ``done`` bytes so far.

    Whatever is sent again (a retried chunk, an upload started over) is read again but not hashed again."""

    def __init__(self, source: BlobSource) -> None:
        self.source = source
        self.hasher = hashlib.sha256()
        self.done = 0

    def read(self, start: int, end: int) -> Iterator[bytes]:
        position = start
        for piece in _read(self.source, start, end):
            if position <= self.done < position + len(piece):
                self.hasher.update(piece[self.done - position:])
                self.done = position + len(piece)
            position += len(piece)
            yield piece

    def check(self, digest: Digest, abandon: Callable[[], None]) -> None:
        """Refuse, before the closing PUT completes the upload, bytes that are not the blob's."""
        if self.done == self.source.size and Digest(self.hasher.hexdigest()) == digest:
            return
        abandon()
        raise ArchiveError(f"blob {digest} in {self.source.label} does not match its digest: refusing to push it",
                           hint="the model's files changed or were damaged after it was made; `modeloci verify` "
                                "names every blob that does not match")


def _abandon(client: RegistryClient, repository: str, location: str) -> None:
    """Cancel an upload session (one attempt; the registry forgets it anyway in time)."""
    with contextlib.suppress(httpx.HTTPError, ModelociError):
        client._authorised("DELETE", location, _push(repository), {}, None).close()


def finish(client: RegistryClient, repository: str, url: str, digest: Digest, size: int,
           body: Callable[[], bytes] | None = None) -> None:
    """The closing ``PUT ?digest=``. A PUT whose answer was lost may have completed the upload: its retry then
    finds no session (404 BLOB_UPLOAD_UNKNOWN), so a refusal is checked against the blob itself."""
    headers = {"Content-Type": "application/octet-stream"} if body is not None else None
    try:
        client.send("PUT", url, scope=_push(repository), headers=headers, body=body, ok=(201, 204))
    except RegistryError as exc:
        if exc.status != 404 or client.blob_size(repository, digest) != size:
            raise


def start_upload(client: RegistryClient, repository: str) -> str:
    """Open an upload session: the checked URL its ``Location`` names."""
    url = f"/v2/{repository}/blobs/uploads/"
    response = client.send("POST", url, scope=_push(repository), ok=(202,))
    location = response.headers.get("Location")
    if not location:
        raise RegistryError(f"the registry opened an upload to {repository} without saying where")
    return client.location(location, client.url(url))



def _patch(client: RegistryClient, location: str, hashed: _Hashed, start: int, end: int) -> httpx.Response:
    """Send bytes [start, end) of the blob: one attempt, no retry (the caller resumes)."""
    headers = {"Content-Type": "application/octet-stream", "Content-Range": f"{start}-{end - 1}",
               "Content-Length": str(end - start)}
    response = client._authorised("PATCH", location, _push_scope(location), headers,
                                  lambda: hashed.read(start, end))
    if response.status_code != 202:
        raise RegistryError(client._describe(response, "PATCH", location), status=response.status_code)
    response.close()
    return response


def _push_scope(location: str) -> str:
    path = location.split("/v2/", 1)[-1].split("/blobs/uploads", 1)[0]
    return _push(path)


def _received(response: httpx.Response, fallback: int) -> int:
    """The next offset to send, from the ``Range: 0-N`` the registry returns."""
    value = response.headers.get("Range", "")
    if value.startswith("0-"):
        try:
            return int(value[2:]) + 1
        except ValueError:
            pass
    return fallback


def _resume(client: RegistryClient, repository: str, location: str, sent: int) -> tuple[str, int]:
    """Where an interrupted upload stands; a forgotten session starts over (so does one claiming more bytes
    than were ever sent)."""
    try:
        response = client.send("GET", location, scope=_push(repository), ok=(204, 404))
    except RegistryError:
        return start_upload(client, repository), 0
    received = _received(response, 0)
    if response.status_code == 404 or received <= 1 or received > sent:
        # distribution answers `Range: 0-0` for a session holding 0 bytes and for one holding 1: going on at
        # offset 1 would drop the blob's first byte, so an upload that got no further starts over.
        return start_upload(client, repository), 0
    return client.location(response.headers.get("Location", location), location), received


def _read(source: BlobSource, start: int, end: int) -> Iterator[bytes]:
    """Bytes [start, end) of the blob, in bounded pieces."""
    fd = os.open(source.path, os.O_RDONLY)
    try:
        position = source.offset + start
        stop = source.offset + end
        while position < stop:
            data = os.pread(fd, min(READ, stop - position), position)
            if not data:
                raise RegistryError(f"reading {source.label}: the file shrank during the upload")
            yield data
            position += len(data)
    finally:
        os.close(fd)


class _Received:
    """A download's state: bytes written so far, and their hash."""

    def __init__(self) -> None:
        self.hasher = hashlib.sha256()
        self.done = 0

    def restart(self) -> None:
        self.hasher, self.done = hashlib.sha256(), 0


def download(client: RegistryClient, repository: str, digest: Digest, size: int, fd: int, offset: int, *,
             progress: Progress = _noop, cancel: threading.Event | None = None) -> Digest:
    """Stream a blob to ``offset`` of ``fd``, hashing it; resumes a broken stream; checks the digest. A big blob
    comes as several ranges at once (:mod:`modeloci.registry.ranges`), unless the registry ignores ``Range``."""
    cancel = cancel or threading.Event()
    watch = client.watch(f"downloading {digest}", size, verb="sent")
    first = _ranged(client, repository, digest, size, fd, offset, progress, cancel, watch)
    if isinstance(first, Digest):
        return first
    state = _Received()
    reported = failures = 0  # reported: the most bytes ever received, so bytes fetched again are not counted twice

    def advance(n: int) -> None:
        nonlocal reported
        if state.done > reported:
            progress(state.done - reported)
            reported = state.done

    while True:
        watch.check_time(state.done)
        try:
            _receive(client, repository, digest, size, (fd, offset), state, advance, cancel, watch, first)
        except httpx.TransportError as exc:
            failures += 1
            if failures >= client.retry.attempts:
                raise RegistryError(f"downloading {digest}: gave up after {failures} broken streams: "
                                    f"{client.redact(str(exc))}") from exc
            client.sleep(client.retry.delay(failures - 1))
        first = None
        if state.done >= size:
            break
        watch.moved(state.done)
    found = Digest(state.hasher.hexdigest())
    if found != digest:
        raise RegistryError(f"blob {digest} from {client.registry} does not match its digest (got {found}, "
                            f"{state.done} bytes)")
    return found


def _ranged(client: RegistryClient, repository: str, digest: Digest, size: int, fd: int, offset: int,
            progress: Progress, cancel: threading.Event, watch: Watch) -> Digest | httpx.Response | None:
    """A big blob fetched in parallel ranges: its digest; or the whole-blob answer of a registry that ignores
    ``Range``, to read as one stream; or None for a blob that comes as one stream anyway."""
    pieces = ranges.plan(size, client.limits)
    reader = ranges.readable(fd) if pieces else None
    if reader is None:
        return None
    try:
        return ranges.fetch(client, repository, digest, size, ranges.Target(fd, offset, reader), pieces,
                            progress=progress, cancel=cancel, watch=watch)
    finally:
        os.close(reader)


def _receive(client: RegistryClient, repository: str, digest: Digest, size: int, where: tuple[int, int],
             state: _Received, advance: Progress, cancel: threading.Event, watch: Watch,
             answer: httpx.Response | None = None) -> None:
    """One GET from ``state.done`` on (or ``answer``, one already made from 0), written at ``where`` (fd, offset)
    as it arrives."""
    named = f"blob {digest} from {client.registry}"
    headers = {"Range": f"bytes={state.done}-"} if state.done else {}
    response = answer if answer is not None else client.send(
        "GET", f"/v2/{repository}/blobs/{digest}", scope=f"repository:{repository}:pull", headers=headers,
        ok=(200, 206, 416), stream=True)
    try:
        if response.status_code == 416:
            raise RegistryError(f"{named} is shorter than its descriptor's {size} bytes ({state.done} received)")
        if response.status_code == 200 and state.done:  # the server ignored Range: start over
            state.restart()
        elif response.status_code == 206 and _range_start(response) != state.done:
            raise RegistryError(f"{named}: the registry sent a range other than the one asked for "
                                f"(bytes {state.done}-)")
        for data in response.iter_bytes():  # as it arrives: a stream broken later keeps what came
            if cancel.is_set():
                raise Cancelled
            if state.done + len(data) > size:
                raise RegistryError(f"{named} is longer than its descriptor's {size} bytes")
            write_at(where[0], data, where[1] + state.done, digest)
            state.hasher.update(data)
            state.done += len(data)
            advance(len(data))
            watch.check_time(state.done)
    finally:
        response.close()


def _range_start(response: httpx.Response) -> int | None:
    found = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
    return int(found.group(1)) if found else None

