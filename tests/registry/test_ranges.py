"""Parallel ranged downloads against a real registry (distribution 2.8), through a proxy that breaks ranges.

A blob over the (lowered) threshold comes as several ``Range`` requests at once, written where they belong and
verified as one digest; a range cut short resumes alone, from where it stopped; a registry that ignores ``Range``
still serves the blob, in one stream; wrong bytes, another range than asked, a body longer than its range or a
registry that honours ``Range`` once and then not are refused, and a pull refused so leaves no output.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

import modeloci.registry.client as client_module
from modeloci.blobs.engine import BlobSource, Cancelled, FileState
from modeloci.oci.digest import Digest
from modeloci.registry.auth import Credentials
from modeloci.registry.client import RegistryClient, RegistryError, RetryPolicy
from modeloci.registry.limits import Limits
from modeloci.registry.transfer import download, upload
from tests.registry.helpers import assert_clean_failure, big_model, build, error_lines, layers_of, partial_files

from .servers.ranged import RangeProxy

KiB, MiB = 1 << 10, 1 << 20
PIECE = 512 * KiB
SMALL = Limits(parallel_from=MiB, range_piece=PIECE, range_streams=4)
SIZE = 3 * MiB  # six pieces of 512 KiB, four streams
FAST = RetryPolicy(first_delay=0.0)
PIECES = [f"bytes={start}-{start + PIECE - 1}" for start in range(0, SIZE, PIECE)]


@pytest.fixture
def range_proxy() -> Iterator[list[RangeProxy]]:
    started: list[RangeProxy] = []
    yield started
    for p in started:
        p.stop()


def proxy_for(started: list[RangeProxy], registry, mode: str = "honest", **kwargs) -> RangeProxy:
    started.append(RangeProxy(registry.host, mode, **kwargs).start())
    return started[-1]


def pushed(registry, repo: str, tmp_path: Path) -> tuple[bytes, Digest]:
    """A blob of SIZE bytes (no two pieces alike) uploaded into ``repo``."""
    data = b"".join(hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(SIZE // 32))
    path = tmp_path / "blob"
    path.write_bytes(data)
    digest = Digest.of(data)
    client = RegistryClient(registry.host, use_stored_credentials=False)
    try:
        upload(client, repo, BlobSource(path, 0, len(data), "blob", FileState.from_stat(path.stat()), digest), digest)
    finally:
        client.close()
    return data, digest


def fetched(host: str, repo: str, digest: Digest, size: int, out: Path, *, flags: int = os.O_WRONLY, offset: int = 0,
            limits: Limits = SMALL, retry: RetryPolicy = FAST) -> tuple[Digest, int]:
    """``download`` into ``out`` (opened with ``flags``, as the callers open theirs); the digest and the bytes
    reported to progress."""
    client = RegistryClient(host, use_stored_credentials=False, limits=limits, retry=retry, sleep=lambda _: None)
    reported: list[int] = []
    fd = os.open(out, flags | os.O_CREAT, 0o600)
    try:
        return download(client, repo, digest, size, fd, offset, progress=reported.append), sum(reported)
    finally:
        os.close(fd)
        client.close()


@pytest.mark.parametrize(("flags", "offset"), [(os.O_WRONLY, 0), (os.O_RDWR, 0), (os.O_WRONLY, 1000)])
def test_a_big_blob_comes_in_parallel_ranges_verified_as_one_digest(registry, range_proxy, repo_name, tmp_path,
                                                                    flags, offset) -> None:
    """Opened write-only (as a fetch into a folder opens it) or read-write, at offset 0 or inside a file (an
    archive's member): each piece asked for once, several at once, and the bytes land where they belong."""
    data, digest = pushed(registry, repo_name, tmp_path)
    p = proxy_for(range_proxy, registry, hold=0.05)
    out = tmp_path / "out"
    out.write_bytes(b"x" * offset)
    assert fetched(p.host, repo_name, digest, SIZE, out, flags=flags, offset=offset) == (digest, SIZE)
    assert out.read_bytes() == b"x" * offset + data
    assert p.ranges(str(digest)) == PIECES
    assert {r.status for r in p.requests} == {206}
    assert 1 < p.most_at_once <= 4


def test_a_blob_under_the_threshold_is_one_request(registry, range_proxy, repo_name, tmp_path) -> None:
    data, digest = pushed(registry, repo_name, tmp_path)
    p = proxy_for(range_proxy, registry)
    out = tmp_path / "out"
    limits = Limits(parallel_from=SIZE + 1, range_piece=PIECE, range_streams=4)
    assert fetched(p.host, repo_name, digest, SIZE, out, limits=limits) == (digest, SIZE)
    assert out.read_bytes() == data
    assert p.ranges(str(digest)) == [None] and [r.status for r in p.requests] == [200]


@pytest.mark.parametrize("mode", ["cut", "reset"])
def test_a_range_broken_midway_resumes_alone_from_where_it_stopped(registry, range_proxy, repo_name, tmp_path,
                                                                    mode) -> None:
    """The third piece's answer stops after 100 KiB (a clean close, or a reset): only that piece is asked for
    again, from the byte it stopped at (a reset may lose what was in flight: from no earlier than the piece's
    start), and progress counts every byte once."""
    data, digest = pushed(registry, repo_name, tmp_path)
    cut = 100 * KiB
    p = proxy_for(range_proxy, registry, mode, at=2 * PIECE, nbytes=cut)
    out = tmp_path / "out"
    assert fetched(p.host, repo_name, digest, SIZE, out) == (digest, SIZE)
    assert out.read_bytes() == data
    asked = p.ranges(str(digest))
    again = [r for r in asked if r not in PIECES]
    assert [r for r in asked if r in PIECES] == PIECES and len(again) == 1
    resumed = int(again[0].removeprefix("bytes=").split("-")[0])
    assert again[0] == f"bytes={resumed}-{3 * PIECE - 1}"
    assert (resumed == 2 * PIECE + cut) if mode == "cut" else (2 * PIECE <= resumed <= 2 * PIECE + cut)


def test_a_range_that_keeps_breaking_gives_up(registry, range_proxy, repo_name, tmp_path) -> None:
    _, digest = pushed(registry, repo_name, tmp_path)
    p = proxy_for(range_proxy, registry, "cut", at=2 * PIECE, nbytes=0, times=100)
    with pytest.raises(RegistryError) as caught:
        fetched(p.host, repo_name, digest, SIZE, tmp_path / "out", retry=RetryPolicy(attempts=3, first_delay=0.0))
    assert str(caught.value).startswith(f"downloading {digest}: gave up after 3 broken streams of bytes "
                                        f"{2 * PIECE}-{3 * PIECE - 1}: "), caught.value
    assert p.ranges(str(digest)).count(PIECES[2]) == 3


def test_a_registry_that_ignores_range_gets_the_blob_in_one_stream(registry, range_proxy, repo_name,
                                                                   tmp_path) -> None:
    """The first piece's request is answered 200, the whole blob: that one answer is read to the end, nothing
    fetched twice."""
    data, digest = pushed(registry, repo_name, tmp_path)
    p = proxy_for(range_proxy, registry, "ignore")
    out = tmp_path / "out"
    assert fetched(p.host, repo_name, digest, SIZE, out) == (digest, SIZE)
    assert out.read_bytes() == data
    assert [(r.range, r.status, r.sent) for r in p.requests] == [(PIECES[0], 200, SIZE)]


def test_a_registry_that_honours_range_once_then_not_is_refused(registry, range_proxy, repo_name, tmp_path) -> None:
    _, digest = pushed(registry, repo_name, tmp_path)
    p = proxy_for(range_proxy, registry, "ignore-later")
    with pytest.raises(RegistryError) as caught:
        fetched(p.host, repo_name, digest, SIZE, tmp_path / "out")
    asked = "|".join(re.escape(r.replace("=", " ")) for r in PIECES[1:])
    assert re.fullmatch(rf"blob {digest} from {re.escape(p.host)}: the registry sent the whole blob when asked for "
                        rf"({asked}), after it had sent a range", str(caught.value)), caught.value


def test_wrong_bytes_in_one_range_fail_the_one_digest(registry, range_proxy, repo_name, tmp_path) -> None:
    data, digest = pushed(registry, repo_name, tmp_path)
    p = proxy_for(range_proxy, registry, "corrupt", at=2 * PIECE)
    with pytest.raises(RegistryError) as caught:
        fetched(p.host, repo_name, digest, SIZE, tmp_path / "out")
    damaged = bytearray(data)
    damaged[2 * PIECE] ^= 0xFF
    assert str(caught.value) == (f"blob {digest} from {p.host} does not match its digest "
                                 f"(got {Digest.of(bytes(damaged))}, {SIZE} bytes)")


@pytest.mark.parametrize("at", [0, 2 * PIECE])
def test_a_206_with_another_range_than_asked_is_refused(registry, range_proxy, repo_name, tmp_path, at) -> None:
    """The first piece (asked for alone) or a later one, answered with a range that starts a byte later."""
    _, digest = pushed(registry, repo_name, tmp_path)
    p = proxy_for(range_proxy, registry, "shift", at=at)
    with pytest.raises(RegistryError) as caught:
        fetched(p.host, repo_name, digest, SIZE, tmp_path / "out")
    assert str(caught.value) == (f"blob {digest} from {p.host}: the registry sent a range other than the one asked "
                                 f"for (bytes {at}-{at + PIECE - 1})")


def test_a_range_body_longer_than_its_range_is_refused(registry, range_proxy, repo_name, tmp_path) -> None:
    """The answer claims the range asked for but carries 1000 bytes more: not one is written past the range."""
    _, digest = pushed(registry, repo_name, tmp_path)
    p = proxy_for(range_proxy, registry, "overlong", at=2 * PIECE, nbytes=1000)
    with pytest.raises(RegistryError) as caught:
        fetched(p.host, repo_name, digest, SIZE, tmp_path / "out")
    assert str(caught.value) == (f"blob {digest} from {p.host}: the registry sent more than the range asked for "
                                 f"(bytes {2 * PIECE}-{3 * PIECE - 1})")


class _SmallLimits(RegistryClient):
    """The CLI's client, with the ranged-download threshold lowered."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **{**kwargs, "limits": SMALL})


@pytest.mark.parametrize("output", ["-o", "--layout"])
def test_a_pull_with_wrong_bytes_in_one_range_leaves_no_output(registry, range_proxy, repo_name, cli, tmp_path,
                                                               monkeypatch, output) -> None:
    p = proxy_for(range_proxy, registry, "corrupt", at=PIECE)
    ref = f"{p.host}/{repo_name}:v1"
    built, _ = build(cli, tmp_path, modelfile=big_model(tmp_path / "big"), tag=ref)
    weights = max(layers_of(built).items(), key=lambda item: item[1])
    assert weights[1] > 2 * PIECE
    assert cli("push", str(built), f"{registry.host}/{repo_name}:v1").code == 0
    monkeypatch.setattr(client_module, "RegistryClient", _SmallLimits)
    where = tmp_path / "out" / ("pulled.tar" if output == "-o" else "pulled")
    pulled = cli("pull", ref, output, str(where))
    stderr = assert_clean_failure(pulled)
    assert error_lines(stderr)[0].startswith(f"error: blob {weights[0]} from {p.host} does not match its digest "
                                             f"(got sha256:"), stderr
    if output == "-o":
        assert not where.exists()
    else:  # as a pull that fails leaves a new layout: no index, and no blob of the refused digest
        assert not (where / "index.json").exists()
        assert not (where / "blobs" / "sha256" / weights[0].split(":")[1]).exists()
    assert partial_files(tmp_path / "out") == []
    assert len([r for r in p.requests if r.range is not None]) > 1


def test_a_blob_larger_than_an_answer_read_into_memory_is_found_by_head(registry, repo_name, tmp_path) -> None:
    """HEAD of a blob answers with the blob's Content-Length and no body: not an answer too large to read (which
    made a push of a model whose blobs over 4 MiB were already there fail)."""
    _, digest = pushed(registry, repo_name, tmp_path)
    client = RegistryClient(registry.host, use_stored_credentials=False, limits=Limits(body=MiB))
    try:
        assert client.blob_size(repo_name, digest) == SIZE
    finally:
        client.close()


@pytest.fixture
def redirecting() -> Iterator[tuple[str, bytes, list[dict[str, str]], list[dict[str, str]]]]:
    """A registry that wants Basic auth and redirects blob GETs to a storage host (another origin) that serves
    ranges; the registry's host, the blob, and the headers each of them saw."""
    data = b"".join(hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(SIZE // 32))
    at_registry: list[dict[str, str]] = []
    at_storage: list[dict[str, str]] = []

    class Storage(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            at_storage.append(dict(self.headers))
            found = re.fullmatch(r"bytes=(\d+)-(\d+)", self.headers.get("Range", ""))
            start, end = (int(found[1]), int(found[2])) if found else (0, len(data) - 1)
            self.send_response(206 if found else 200)
            if found:
                self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
            self.send_header("Content-Length", str(end + 1 - start))
            self.end_headers()
            self.wfile.write(data[start:end + 1])

        def log_message(self, *args: object) -> None:
            pass

    storage = ThreadingHTTPServer(("127.0.0.1", 0), Storage)

    class Registry(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            at_registry.append(dict(self.headers))
            if "Authorization" not in self.headers:
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="registry"')
            else:
                self.send_response(307)
                self.send_header("Location", f"http://127.0.0.1:{storage.server_address[1]}/blob?signed=1")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    registry = ThreadingHTTPServer(("127.0.0.1", 0), Registry)
    for server in (storage, registry):
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield f"127.0.0.1:{registry.server_address[1]}", data, at_registry, at_storage
    for server in (storage, registry):
        server.shutdown()
        server.server_close()


def test_ranges_redirected_to_a_storage_host_carry_no_credentials(redirecting, tmp_path) -> None:
    """Each range is redirected to storage on another origin: every one reaches it, with its Range and without
    the registry's credentials."""
    host, data, at_registry, at_storage = redirecting
    digest = Digest.of(data)
    client = RegistryClient(host, credentials=Credentials("alice", "s3cret-never-leaves"),
                            use_stored_credentials=False, limits=SMALL)
    fd = os.open(tmp_path / "out", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        assert download(client, "team/model", digest, SIZE, fd, 0) == digest
    finally:
        os.close(fd)
        client.close()
    assert (tmp_path / "out").read_bytes() == data
    assert sorted((h["Range"] for h in at_storage), key=lambda r: int(r[6:].split("-")[0])) == PIECES
    assert not any("Authorization" in h or "authorization" in h for h in at_storage)
    assert sum("Authorization" in h for h in at_registry) == len(PIECES)


def test_a_cancelled_download_stops_every_stream_before_it_returns(registry, range_proxy, repo_name,
                                                                   tmp_path) -> None:
    """Cancelled (another blob failed, or ^C) while its ranges are in flight: the streams stop at their next read
    and ask for no further piece, and it raises Cancelled only once no stream is left that could still write into
    the file the caller is about to close and delete."""
    _, digest = pushed(registry, repo_name, tmp_path)
    p = proxy_for(range_proxy, registry, hold=0.3)
    cancel = threading.Event()
    timer = threading.Timer(0.5, cancel.set)
    timer.start()
    client = RegistryClient(p.host, use_stored_credentials=False, limits=SMALL)
    fd = os.open(tmp_path / "out", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        with pytest.raises(Cancelled):
            download(client, repo_name, digest, SIZE, fd, 0, cancel=cancel)
        assert [t.name for t in threading.enumerate() if t.name.startswith(f"range-{digest.hex[:8]}-")] == []
        assert len(p.ranges(str(digest))) < len(PIECES)  # the streams stopped: no piece asked for after it
    finally:
        timer.cancel()
        os.close(fd)
        client.close()


def test_a_ranged_download_keeps_to_the_time_limit_for_one_blob(registry, range_proxy, repo_name, tmp_path) -> None:
    _, digest = pushed(registry, repo_name, tmp_path)
    ticks = iter(range(0, 1 << 30, 1))  # each look at the clock: one second later
    client = RegistryClient(registry.host, use_stored_credentials=False, clock=lambda: float(next(ticks)),
                            limits=Limits(parallel_from=MiB, range_piece=PIECE, range_streams=4, transfer_seconds=40))
    fd = os.open(tmp_path / "out", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        with pytest.raises(RegistryError) as caught:
            download(client, repo_name, digest, SIZE, fd, 0)
    finally:
        os.close(fd)
        client.close()
    assert re.fullmatch(rf"downloading {digest}: gave up after 40 s, the time limit for one blob \(\d+ of {SIZE} "
                        r"bytes received\)", str(caught.value)), caught.value


def test_a_range_that_never_moves_on_ends_in_a_stall_not_a_loop(registry, range_proxy, repo_name, tmp_path) -> None:
    """The last piece's answers are cut before their first byte, again and again: with retries to spare, the
    blob gives up once ``limits.stalls`` failed answers in a row brought no new byte."""
    _, digest = pushed(registry, repo_name, tmp_path)
    p = proxy_for(range_proxy, registry, "cut", at=5 * PIECE, nbytes=0, times=1000)
    limits = Limits(parallel_from=MiB, range_piece=PIECE, range_streams=4, stalls=3)
    with pytest.raises(RegistryError) as caught:
        fetched(p.host, repo_name, digest, SIZE, tmp_path / "out", limits=limits,
                retry=RetryPolicy(attempts=50, first_delay=0.0))
    assert re.fullmatch(rf"downloading {digest}: the registry sent no new bytes in 3 answers in a row \(\d+ of "
                        rf"{SIZE} bytes received\)", str(caught.value)), caught.value
    assert p.ranges(str(digest)).count(PIECES[5]) < 50
