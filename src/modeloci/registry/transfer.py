"""Moving blobs: chunked uploads that resume where the registry says, downloads that resume with Range.

An upload opens a session (``POST``), sends the blob in chunks (``PATCH`` with
``Content-Range``), and closes it with the digest (``PUT ?digest=``). When a
chunk fails half-way (a reset connection, a 5xx), the client asks the session
how much it holds (``GET``, answered with ``Range: 0-N``) and goes on from
N + 1, so a dropped connection costs at most one chunk. A session the registry
forgot starts over. Downloads stream into their destination, hashing on the
way; a broken stream resumes with ``Range: bytes=N-``. Memory stays at one
buffer per transfer, whatever the blob's size.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Iterator

import httpx

from modeloci.builder.engine import BlobSource, Cancelled
from modeloci.oci.digest import Digest
from modeloci.registry.client import RegistryClient, RegistryError, _push

CHUNK = 32 << 20
READ = 1 << 20
Progress = Callable[[int], None]


def _noop(n: int) -> None:
    pass


def upload(client: RegistryClient, repository: str, source: BlobSource, digest: Digest, *,
           chunk: int = CHUNK, progress: Progress = _noop, cancel: threading.Event | None = None) -> None:
    """Upload the blob ``source`` holds as ``digest`` into ``repository``."""
    cancel = cancel or threading.Event()
    location = _start(client, repository)
    offset = reported = 0  # reported: the most bytes ever acknowledged, so a restarted upload is not counted twice
    failures = 0
    while offset < source.size:
        if cancel.is_set():
            raise Cancelled
        end = min(source.size, offset + chunk)
        try:
            response = _patch(client, location, source, offset, end)
        except (httpx.TransportError, RegistryError) as exc:
            failures += 1
            if failures >= client.retry.attempts:
                raise RegistryError(f"uploading {digest}: gave up after {failures} failed chunks: {exc}") from exc
            client.sleep(client.retry.delay(failures - 1))
            location, offset = _resume(client, repository, location)
            continue
        location = client.url(response.headers.get("Location", location))
        offset = _received(response, end)
        if offset > reported:
            progress(offset - reported)
            reported = offset
    separator = "&" if "?" in location else "?"
    finish(client, repository, f"{location}{separator}digest={digest}", digest, source.size)


def finish(client: RegistryClient, repository: str, url: str, digest: Digest, size: int,
           body: Callable[[], bytes] | None = None) -> None:
    """The closing ``PUT ?digest=``. A PUT whose answer was lost may have completed the upload: its retry then
    finds no session (404 BLOB_UPLOAD_UNKNOWN), so a refusal is checked against the blob itself."""
    headers = {"Content-Type": "application/octet-stream"} if body is not None else None
    try:
        client.send("PUT", url, scope=_push(repository), headers=headers, body=body, ok=(201, 204)).close()
    except RegistryError as exc:
        if exc.status != 404 or client.blob_size(repository, digest) != size:
            raise


def _start(client: RegistryClient, repository: str) -> str:
    response = client.send("POST", f"/v2/{repository}/blobs/uploads/", scope=_push(repository), ok=(202,))
    response.close()
    location = response.headers.get("Location")
    if not location:
        raise RegistryError(f"the registry opened an upload to {repository} without saying where")
    return client.url(location)


def _patch(client: RegistryClient, location: str, source: BlobSource, start: int, end: int) -> httpx.Response:
    """Send bytes [start, end) of the blob: one attempt, no retry (the caller resumes)."""
    headers = {"Content-Type": "application/octet-stream", "Content-Range": f"{start}-{end - 1}",
               "Content-Length": str(end - start)}
    response = client._authorised("PATCH", client.url(location), _push_scope(location), headers,
                                  lambda: _read(source, start, end), False)
    if response.status_code != 202:
        try:
            raise RegistryError(client._describe(response, "PATCH", location), status=response.status_code)
        finally:
            response.close()
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


def _resume(client: RegistryClient, repository: str, location: str) -> tuple[str, int]:
    """Where an interrupted upload stands; a forgotten session starts over."""
    try:
        response = client.send("GET", location, scope=_push(repository), ok=(204, 404))
    except RegistryError:
        return _start(client, repository), 0
    response.close()
    received = _received(response, 0)
    if response.status_code == 404 or received <= 1:
        # distribution answers `Range: 0-0` for a session holding 0 bytes and for one holding 1: going on at
        # offset 1 would drop the blob's first byte, so an upload that got no further starts over.
        return _start(client, repository), 0
    return client.url(response.headers.get("Location", location)), received


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


def download(client: RegistryClient, repository: str, digest: Digest, size: int, fd: int, offset: int, *,
             progress: Progress = _noop, cancel: threading.Event | None = None) -> Digest:
    """Stream a blob to ``offset`` of ``fd``, hashing it; resumes a broken stream; checks the digest."""
    cancel = cancel or threading.Event()
    hasher = hashlib.sha256()
    done = reported = 0  # reported: the most bytes ever received, so bytes fetched again are not counted twice
    failures = 0
    while done < size or size == 0:
        headers = {"Range": f"bytes={done}-"} if done else {}
        try:
            response = client.send("GET", f"/v2/{repository}/blobs/{digest}", scope=f"repository:{repository}:pull",
                                   headers=headers, ok=(200, 206), stream=True)
            if done and response.status_code == 200:  # the server ignored Range: start over
                hasher, done = hashlib.sha256(), 0
            try:
                for data in response.iter_bytes(READ):
                    if cancel.is_set():
                        raise Cancelled
                    if done + len(data) > size:
                        raise RegistryError(f"blob {digest} is longer than its descriptor's {size} bytes")
                    _write_all(fd, data, offset + done)
                    hasher.update(data)
                    done += len(data)
                    if done > reported:
                        progress(done - reported)
                        reported = done
            finally:
                response.close()
            if size == 0 or done >= size:
                break
        except httpx.TransportError as exc:
            failures += 1
            if failures >= client.retry.attempts:
                raise RegistryError(f"downloading {digest}: gave up after {failures} broken streams: {exc}") from exc
            client.sleep(client.retry.delay(failures - 1))
    found = Digest(hasher.hexdigest())
    if done != size or found != digest:
        raise RegistryError(f"blob {digest} from the registry does not match its digest (got {found}, {done} bytes)")
    return found


def _write_all(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:
        n = os.pwrite(fd, view, offset)
        view, offset = view[n:], offset + n
