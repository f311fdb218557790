"""Push and pull through faults: a fault-injecting proxy in front of a real registry (distribution 2.8).

* A connection reset in the middle of a blob upload: distribution cannot resume a session once bytes of the broken
  PATCH got through (the session's signed offset no longer matches, GET answers 404), so the client starts a new
  upload; with no byte through, or a 503, the session is intact and the client goes on from the offset the
  registry reports (``Range: 0-N``), except that ``0-0`` is ambiguous (0 or 1 byte held) and starts over.
* 503 on blob HEAD, PATCH and PUT, on the manifest PUT and on pull's GETs: retried, and the push or pull succeeds.
* The answer to a final ``PUT ?digest=`` lost: the upload did complete; the retried PUT's 404 is checked against the
  blob (HEAD) instead of failing the push.
* A download cut short: the pull resumes with ``Range: bytes=N-`` and writes the same bytes.
* A slow registry (every blob request held): each blob still goes up once, at most ``PARALLEL`` at a time.
* A fault that never stops: a clean error, exit 1, and the previous output (archive, layout, store tag) as it was.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from modeloci.blobs.engine import BlobSource, FileState
from modeloci.oci.digest import Digest
from modeloci.ops.remote import PARALLEL
from modeloci.registry.client import RegistryClient
from modeloci.registry.transfer import upload
from tests.archive_tools import copy_example
from tests.registry.helpers import (
    UPLOADS,
    CuttingProxy,
    MiB,
    assert_clean_failure,
    big_model,
    blob_of,
    blobs_of,
    build,
    digest_in,
    layers_of,
    partial_files,
    uploaded_digests,
)

CHECK = "faults:check"  # the name of the models built here, so that a pull named alike is the same archive


@pytest.fixture
def cutting_proxy() -> Iterator[Callable[[Any], CuttingProxy]]:
    started: list[CuttingProxy] = []

    def make(target: Any) -> CuttingProxy:
        started.append(CuttingProxy(target.host).start())
        return started[-1]

    yield make
    for p in started:
        p.stop()


def push_ok(cli, source: Path, ref: str, *extra: str) -> str:
    result = cli(*extra, "push", str(source), ref)
    assert result.code == 0, result.stderr
    return digest_in(result.stdout)


def assert_pulls_back(cli, registry, repo: str, built: Path, tmp_path: Path) -> None:
    """Pulled straight from the registry (no proxy), the model is byte for byte the archive built (named CHECK)."""
    out = tmp_path / "check.tar"
    result = cli("pull", f"{registry.host}/{repo}:v1", "-o", str(out), "-t", CHECK)
    assert result.code == 0, result.stderr
    assert out.read_bytes() == built.read_bytes()


# ----------------------------------------------------------------------------------------------------------------
# Uploads
# ----------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("nbytes", "status_after"), [(100, 404), (0, 204)])
def test_reset_during_a_patch_starts_a_new_upload(registry, proxy, repo_name, cli, tmp_path, nbytes, status_after):
    """Every blob here is over 100 bytes, so whichever PATCH takes the reset is cut in its middle (100) or before
    its first byte (0); either way the registry's session can't go on, and a new POST starts the blob again."""
    p = proxy(registry)
    built, digest = build(cli, tmp_path, tag=CHECK)
    p.reset_after(nbytes, method="PATCH")
    assert push_ok(cli, built, f"{p.host}/{repo_name}:v1") == digest

    log = p.requests
    broken = [r for r in log if r.fault == "reset"]
    assert len(broken) == 1 and broken[0].body_bytes == nbytes
    session = [(r.method, r.status) for r in log if r.path == broken[0].path]
    assert session == [("PATCH", None), ("GET", status_after)]  # the session is given up after its status
    assert sum(1 for r in log if r.method == "POST") == len(blobs_of(built)) + 1  # one new session
    assert sorted(uploaded_digests(log)) == sorted(blobs_of(built))  # each blob completed once, by its digest
    assert_pulls_back(cli, registry, repo_name, built, tmp_path)


def _chunked_upload(registry, proxy, repo: str, tmp_path: Path,
                    fault: Callable[[Any], None]) -> tuple[list, bytes, int]:
    """Upload a 1 MiB blob in 256 KiB chunks through a proxy; ``fault(proxy)`` is armed once the first chunk is
    acknowledged. Returns the proxy's log, the bytes the registry then holds for the digest, and the bytes the
    upload reported to its progress callback."""
    data = hashlib.sha256(b"seed").digest() * (MiB // 32)
    path = tmp_path / "blob"
    path.write_bytes(data)
    digest = Digest.of(data)
    p = proxy(registry)
    client = RegistryClient(p.host, use_stored_credentials=False)
    armed: list[int] = []

    def progress(n: int) -> None:
        if not armed:
            fault(p)
        armed.append(n)

    source = BlobSource(path, 0, len(data), "blob", FileState.from_stat(path.stat()), digest)
    try:
        upload(client, repo, source, digest, chunk=256 << 10, progress=progress)
        response = client.send("GET", f"http://{registry.host}/v2/{repo}/blobs/{digest}", scope="", ok=(200,))
    finally:
        client.close()
    return p.requests, response.content, sum(armed)


@pytest.mark.parametrize("fault", ["503", "reset-before-body"])
def test_an_upload_goes_on_where_the_registry_stands(registry, proxy, repo_name, tmp_path: Path, fault: str) -> None:
    """No byte of the failed chunk reached the registry: the same session goes on at the acknowledged offset, so
    the first chunk is not sent again."""
    arm = {"503": lambda p: p.fail(503, method="PATCH"), "reset-before-body": lambda p: p.reset_after(0)}[fault]
    log, stored, reported = _chunked_upload(registry, proxy, repo_name, tmp_path, arm)
    assert stored == (tmp_path / "blob").read_bytes() and reported == len(stored)
    assert [r.method for r in log if r.path.endswith(UPLOADS)] == ["POST"]
    status = [r for r in log if r.method == "GET" and UPLOADS in r.path]
    assert [r.status for r in status] == [204]
    delivered = sum(r.body_bytes for r in log if r.method == "PATCH" and r.status == 202)
    assert delivered == len(stored)  # every byte sent once


def test_an_upload_cut_after_its_first_chunk_starts_over(registry, proxy, repo_name, tmp_path: Path) -> None:
    log, stored, reported = _chunked_upload(registry, proxy, repo_name, tmp_path, lambda p: p.reset_after(1000))
    assert stored == (tmp_path / "blob").read_bytes()
    assert reported == len(stored)  # the bytes sent again after the restart are not counted twice
    assert [r.method for r in log if r.path.endswith(UPLOADS)] == ["POST", "POST"]
    assert [r.status for r in log if r.method == "GET" and UPLOADS in r.path] == [404]


@pytest.mark.parametrize(("method", "where"), [
    ("HEAD", "/blobs/sha256:"), ("POST", UPLOADS), ("PATCH", UPLOADS), ("PUT", UPLOADS), ("PUT", "/manifests/")])
def test_503_is_retried(registry, proxy, repo_name, cli, tmp_path: Path, method: str, where: str) -> None:
    p = proxy(registry)
    built, digest = build(cli, tmp_path, tag=CHECK)
    p.fail(503, times=2, method=method, path_contains=where)
    assert push_ok(cli, built, f"{p.host}/{repo_name}:v1") == digest
    failed = [r for r in p.requests if r.fault == "fail"]
    assert len(failed) == 2 and all(r.method == method and where in r.path for r in failed)
    assert sorted(uploaded_digests(p.requests)) == sorted(blobs_of(built))
    assert_pulls_back(cli, registry, repo_name, built, tmp_path)


def test_a_lost_answer_to_the_final_put_is_not_a_failure(registry, proxy, repo_name, cli, tmp_path: Path) -> None:
    p = proxy(registry)
    built, digest = build(cli, tmp_path, tag=CHECK)
    p.reset_after(1 << 20, method="PUT", path_contains=UPLOADS)  # the request goes through; its answer is lost
    assert push_ok(cli, built, f"{p.host}/{repo_name}:v1") == digest
    lost = next(i for i, r in enumerate(p.requests) if r.fault == "reset")
    retried = [r for r in p.requests[lost + 1:] if r.path == p.requests[lost].path]
    assert [(r.method, r.status) for r in retried] == [("PUT", 404)]
    assert_pulls_back(cli, registry, repo_name, built, tmp_path)


def test_build_push_survives_a_lost_answer_to_the_config_put(registry, proxy, repo_name, cli, tmp_path) -> None:
    """build --push sends its config in one PUT with a body: its lost answer is survived too."""
    p = proxy(registry)
    base, _ = build(cli, tmp_path)
    push_ok(cli, base, f"{registry.host}/{repo_name}:base")
    modelfile = copy_example("single-gguf", tmp_path / "variant")
    modelfile.write_text(modelfile.read_text().replace("context_size=2048", "context_size=4096"))
    p.reset_after(1 << 20, method="PUT", path_contains=UPLOADS)
    mark = registry.mark()
    pushed = cli("build", "-f", str(modelfile), "--push", f"{p.host}/{repo_name}:v2")
    assert pushed.code == 0, pushed.stderr
    config = [r for r in p.requests if r.method == "PUT" and UPLOADS in r.path]
    assert [(r.body_bytes > 0, r.status) for r in config] == [(True, None), (True, 404)]
    assert len(uploaded_digests(registry.requests(mark))) == 1  # the first PUT did store the config


# ----------------------------------------------------------------------------------------------------------------
# Downloads
# ----------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["/manifests/", "/blobs/sha256:"])
def test_503_on_pull_is_retried(registry, proxy, repo_name, cli, tmp_path: Path, where: str) -> None:
    p = proxy(registry)
    built, _ = build(cli, tmp_path, tag=CHECK)
    push_ok(cli, built, f"{registry.host}/{repo_name}:v1")
    p.fail(503, times=2, method="GET", path_contains=where)
    pulled = cli("pull", f"{p.host}/{repo_name}:v1", "-t", CHECK, "-o", str(tmp_path / "pulled.tar"))
    assert pulled.code == 0, pulled.stderr
    failed = [r for r in p.requests if r.fault == "fail"]
    assert len(failed) == 2 and all(r.method == "GET" and where in r.path for r in failed)
    assert (tmp_path / "pulled.tar").read_bytes() == built.read_bytes()


@pytest.mark.parametrize("output", ["-o", "--layout"])
def test_a_download_cut_short_resumes_with_range(registry, cutting_proxy, repo_name, cli, tmp_path, output) -> None:
    p = cutting_proxy(registry)
    ref = f"{p.host}/{repo_name}:v1"
    built, digest = build(cli, tmp_path, modelfile=big_model(tmp_path / "big"), tag=ref)
    push_ok(cli, built, f"{registry.host}/{repo_name}:v1")
    weights = max(layers_of(built).items(), key=lambda item: item[1])
    assert weights[1] > 2 * MiB
    p.cut(weights[0], MiB + MiB // 2)

    where = tmp_path / ("pulled.tar" if output == "-o" else "pulled")
    pulled = cli("pull", ref, output, str(where))
    assert pulled.code == 0, pulled.stderr
    assert digest_in(pulled.stdout) == digest
    gets = [r for r in p.requests if r.method == "GET" and r.path.endswith(weights[0])]
    assert [r.cut for r in gets] == [True, False] and gets[0].range is None
    resumed_at = int(gets[1].range.removeprefix("bytes=").removesuffix("-"))
    assert 0 < resumed_at <= gets[0].sent and gets[1].status == 206
    assert gets[1].sent == weights[1] - resumed_at
    if output == "-o":
        assert where.read_bytes() == built.read_bytes()
    else:
        assert (where / "blobs" / "sha256" / weights[0].split(":")[1]).read_bytes() == blob_of(built, weights[0])


# ----------------------------------------------------------------------------------------------------------------
# A slow registry
# ----------------------------------------------------------------------------------------------------------------


def _most_at_once(requests: list[Any]) -> int:
    """The most of ``requests`` in flight at one moment (from the proxy's start times and durations)."""
    events = sorted([(r.started, 1) for r in requests] + [(r.started + r.duration, -1) for r in requests])
    most = now = 0
    for _, step in events:  # at equal times an end (-1) sorts before a start: touching is not overlapping
        now += step
        most = max(most, now)
    return most


def test_a_slow_registry_gets_each_blob_once_a_few_at_a_time(registry, proxy, repo_name, cli, tmp_path) -> None:
    """Every blob request held 0.3 s: the push still sends each blob once, several at a time but never more than
    the limit, and the pull through the same slow proxy gets the same bytes."""
    p = proxy(registry)
    built, digest = build(cli, tmp_path, "hf-safetensors", tag=CHECK)
    blobs = blobs_of(built)
    assert len(blobs) > PARALLEL  # enough blobs for the limit to bind
    p.delay(0.3, times=len(blobs), method="HEAD", path_contains="/blobs/")
    p.delay(0.3, times=len(blobs), method="PUT", path_contains=UPLOADS)
    assert push_ok(cli, built, f"{p.host}/{repo_name}:v1") == digest
    log = p.requests
    assert sorted(uploaded_digests(log)) == sorted(blobs)  # each blob completed once
    assert sum(1 for r in log if r.method == "POST") == len(blobs)  # and no upload begun twice
    heads = [r for r in log if r.method == "HEAD" and r.delayed]
    assert len(heads) == len(blobs) and 2 <= _most_at_once(heads) <= PARALLEL

    p.delay(0.3, times=len(blobs), method="GET", path_contains="/blobs/")
    pulled = cli("pull", f"{p.host}/{repo_name}:v1", "-t", CHECK, "-o", str(tmp_path / "pulled.tar"))
    assert pulled.code == 0, pulled.stderr
    assert (tmp_path / "pulled.tar").read_bytes() == built.read_bytes()
    gets = [r for r in p.requests if r.method == "GET" and r.delayed]
    assert len(gets) == len(blobs) and 2 <= _most_at_once(gets) <= PARALLEL


# ----------------------------------------------------------------------------------------------------------------
# Faults that never stop
# ----------------------------------------------------------------------------------------------------------------


def test_a_pull_that_keeps_failing_leaves_the_previous_outputs(registry, proxy, repo_name, cli, tmp_path) -> None:
    p = proxy(registry)
    ref = f"{p.host}/{repo_name}:v1"
    first, _ = build(cli, tmp_path, tag=ref)
    push_ok(cli, first, ref)
    outputs = [("-o", str(tmp_path / "out.tar")), ("--layout", str(tmp_path / "layout")), ()]
    for where in outputs:
        assert cli("pull", ref, *where).code == 0
    before = {path: path.read_bytes() for path in (tmp_path / "out.tar", tmp_path / "layout" / "index.json")}
    stored = cli("ls").stdout

    second, _ = build(cli, tmp_path, "sharded-vision", tag=ref, out="second.tar")
    push_ok(cli, second, ref)
    new = sorted(set(layers_of(second)) - set(layers_of(first)))[0]  # not in the layout nor the store yet
    p.fail(503, times=100, method="GET", path_contains=new)
    for where in (*outputs, ("--layout", str(tmp_path / "fresh")), ("-o", str(tmp_path / "fresh.tar"))):
        stderr = assert_clean_failure(cli("pull", ref, *where))
        assert "gave up" in stderr and "503" in stderr
    assert not (tmp_path / "fresh.tar").exists() and not (tmp_path / "fresh" / "index.json").exists()
    assert {path: path.read_bytes() for path in before} == before
    assert cli("ls").stdout == stored
    assert partial_files(tmp_path) == [] and partial_files(Path(os.environ["MODELOCI_HOME"])) == []


def test_a_push_that_keeps_failing_leaves_no_tag(registry, proxy, repo_name, cli, tmp_path) -> None:
    p = proxy(registry)
    built, _ = build(cli, tmp_path)
    p.fail(503, times=100, method="PUT", path_contains="/manifests/")
    stderr = assert_clean_failure(cli("push", str(built), f"{p.host}/{repo_name}:v1"))
    assert "gave up" in stderr and "503" in stderr
    missing = cli("pull", f"{registry.host}/{repo_name}:v1", "-o", str(tmp_path / "out.tar"))
    assert "manifest unknown" in assert_clean_failure(missing).lower()
