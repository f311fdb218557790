"""Tests of the registry fixtures themselves, with plain httpx and skopeo (not modeloci's client).

What distribution 2.8.2 does after a connection reset in the middle of an upload (observed here, and what the
client has to cope with; see test_reset_* below):

* The registry keeps every byte of a truncated PATCH it received: they are appended to the upload's data file
  (``_uploads/<uuid>/data``) and the PATCH is logged with status 500 ("client disconnected").
* But upload URLs carry a signed ``_state`` with the offset the registry had when it issued them, and every
  request on an upload checks that offset against the data size ("upload resumed at wrong offest: N != M" in its
  log).  After a partial PATCH, the only URL the client has (the one from the last *answered* request) names
  the old offset, so GET/PATCH/PUT on it answer **404 BLOB_UPLOAD_INVALID**, for good: the session cannot be
  resumed, and the client has to start a new upload (POST) from the start.  (The registry tries to cancel the
  upload but fails, so the orphaned data stays until the upload purger runs.)
* If no byte of the broken request reached the registry (reset before the body), the session is intact: GET on
  the last Location answers 204 with ``Range: 0-<N-1>`` (N = bytes received so far, inclusive end) and a new
  ``Location``; a PATCH with ``Content-Range: N-<end>`` continues it and the PUT ``?digest=`` completes it.
  Right after the POST, the Range is ``0-0`` although no byte was received.
* If the body got through and only the response was lost, the request took effect: e.g. a lost response to
  the final PUT still leaves the blob in the registry (HEAD 200).

Also: httpx's ``params=`` *replaces* the query string of the URL it is given, which drops ``_state`` from an
upload URL (404 BLOB_UPLOAD_INVALID); add ``digest`` with ``URL.copy_merge_params`` instead.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import threading
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

httpx = pytest.importorskip("httpx")

from .servers import (  # noqa: E402 - after importorskip
    FaultProxy,
    RegistryServer,
    ServerError,
    TokenServer,
    find_registry_binary,
    iter_pieces,
    port_is_open,
)

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
MiB = 1024 * 1024
TIMEOUT = httpx.Timeout(20.0)


# ----------------------------------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------------------------------


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def pattern(size: int, seed: int = 0) -> bytes:
    """Deterministic, not-too-compressible bytes."""
    block = hashlib.sha256(str(seed).encode()).digest() * 2048  # 64 KiB
    return (block * (size // len(block) + 1))[:size]


def absolute(base: str, location: str) -> str:
    return str(httpx.URL(base).join(location))


def with_digest(url: str, digest: str) -> httpx.URL:
    """The upload URL with ``digest`` added to (not replacing) its query, which holds ``_state``."""
    return httpx.URL(url).copy_merge_params({"digest": digest})


def push_blob(client: httpx.Client, base: str, repo: str, data: bytes) -> str:
    """Monolithic upload (POST, then PUT ?digest= with the body); returns the digest."""
    digest = sha256(data)
    r = client.post(f"{base}/v2/{repo}/blobs/uploads/")
    assert r.status_code == 202, r.text
    r = client.put(
        with_digest(absolute(base, r.headers["Location"]), digest),
        content=data,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert r.status_code == 201, r.text
    assert r.headers["Docker-Content-Digest"] == digest
    return digest


def make_manifest(config: bytes, layer: bytes) -> bytes:
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": sha256(config), "size": len(config)},
            "layers": [{"mediaType": OCI_LAYER, "digest": sha256(layer), "size": len(layer)}],
        },
        separators=(",", ":"),
    ).encode()


def push_image(client: httpx.Client, base: str, repo: str, tag: str = "1") -> bytes:
    config, layer = b'{"architecture":"amd64","os":"linux"}', pattern(1000, seed=7)
    push_blob(client, base, repo, config)
    push_blob(client, base, repo, layer)
    manifest = make_manifest(config, layer)
    r = client.put(f"{base}/v2/{repo}/manifests/{tag}", content=manifest, headers={"Content-Type": OCI_MANIFEST})
    assert r.status_code == 201, r.text
    return manifest


def make_oci_layout(root: Path, tag: str = "1") -> Path:
    """A one-layer OCI image layout, written by hand (gzip and tar with fixed times: reproducible)."""
    blobs = root / "blobs" / "sha256"
    blobs.mkdir(parents=True)

    def put(data: bytes) -> str:
        digest = sha256(data)
        (blobs / digest.split(":")[1]).write_bytes(data)
        return digest

    content = b"hello from modeloci's registry fixtures\n"
    tar_buf = io.BytesIO()
    with tarfile.open(fileobj=tar_buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("hello.txt")
        info.size, info.mtime, info.mode = len(content), 0, 0o644
        tar.addfile(info, io.BytesIO(content))
    layer_tar = tar_buf.getvalue()
    layer = gzip.compress(layer_tar, mtime=0)
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [sha256(layer_tar)]},
            "config": {},
        }
    ).encode()
    put(layer)
    put(config)
    manifest = make_manifest(config, layer)
    manifest_digest = put(manifest)
    (root / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (root / "index.json").write_text(
        json.dumps(
            {
                "schemaVersion": 2,
                "manifests": [
                    {
                        "mediaType": OCI_MANIFEST,
                        "digest": manifest_digest,
                        "size": len(manifest),
                        "annotations": {"org.opencontainers.image.ref.name": tag},
                    }
                ],
            }
        )
    )
    return root


@pytest.fixture
def skopeo(tmp_path: Path):
    """Run skopeo with a home of its own (no auth files or config from the machine), bounded in time."""
    binary = shutil.which("skopeo")
    if binary is None:
        if os.environ.get("MODELOCI_REQUIRE_TOOLS"):
            pytest.fail("skopeo is not installed (MODELOCI_REQUIRE_TOOLS is set)", pytrace=False)
        pytest.skip("skopeo is not installed")
    home = tmp_path / "skopeo-home"
    (home / "run").mkdir(parents=True)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "XDG_RUNTIME_DIR": str(home / "run"),
        "XDG_CONFIG_HOME": str(home / "config"),
        "REGISTRY_AUTH_FILE": str(home / "auth.json"),
    }

    def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [binary, "--insecure-policy", "--command-timeout", "50s", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    return run


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=TIMEOUT) as c:
        yield c


def bearer_challenge(header: str) -> dict[str, str]:
    scheme, _, params = header.partition(" ")
    assert scheme == "Bearer", header
    out = {}
    for part in params.split('",'):
        key, _, value = part.partition("=")
        out[key.strip()] = value.strip().strip('"')
    return out


def parse_scope(scope: str) -> tuple[str, str, set[str]]:
    typ, rest = scope.split(":", 1)
    name, actions = rest.rsplit(":", 1)
    return typ, name, set(actions.split(","))


# ----------------------------------------------------------------------------------------------------------------
# registry
# ----------------------------------------------------------------------------------------------------------------


def test_registry_answers_v2(registry: RegistryServer, client: httpx.Client, tmp_path_factory: Any) -> None:
    assert registry.host.startswith("127.0.0.1:") and registry.url == f"http://{registry.host}"
    assert registry.root.is_dir() and str(tmp_path_factory.getbasetemp()) in str(registry.root)
    r = client.get(f"{registry.url}/v2/")
    assert r.status_code == 200
    assert r.headers["Docker-Distribution-Api-Version"] == "registry/2.0"
    assert ("GET", "/v2/", 200) in registry.requests()  # LoggedRequest compares as (method, path, status)
    assert registry.log_path.is_file()
    assert any(e.get("msg") == "response completed" for e in registry.log_entries())


def test_blob_and_manifest_round_trip(registry: RegistryServer, client: httpx.Client, repo_name: str) -> None:
    base = registry.url
    mark = registry.mark()
    manifest = push_image(client, base, repo_name, "1")

    r = client.get(f"{base}/v2/{repo_name}/manifests/1", headers={"Accept": OCI_MANIFEST})
    assert r.status_code == 200
    assert r.content == manifest
    assert r.headers["Docker-Content-Digest"] == sha256(manifest)
    assert r.headers["Content-Type"] == OCI_MANIFEST
    assert client.get(f"{base}/v2/{repo_name}/tags/list").json() == {"name": repo_name, "tags": ["1"]}

    seen = registry.requests(since=mark)
    calls = [(q.method, q.path, q.status) for q in seen]
    assert calls.count(("POST", f"/v2/{repo_name}/blobs/uploads/", 202)) == 2
    puts = [q for q in seen if q.method == "PUT" and "/blobs/uploads/" in q.path]
    assert [q.status for q in puts] == [201, 201] and all("digest=sha256%3A" in q.query for q in puts)
    assert ("PUT", f"/v2/{repo_name}/manifests/1", 201) in calls
    assert ("GET", f"/v2/{repo_name}/manifests/1", 200) in calls
    assert (registry.root / "docker/registry/v2/repositories" / repo_name / "_manifests/tags/1").is_dir()


def test_skopeo_copy_to_registry(registry: RegistryServer, skopeo: Any, tmp_path: Path, client: httpx.Client) -> None:
    layout = make_oci_layout(tmp_path / "layout")
    res = skopeo("copy", "--retry-times", "0", "--dest-tls-verify=false", f"oci:{layout}:1",
                 f"docker://{registry.host}/test/img:1")
    assert res.returncode == 0, res.stderr
    assert client.get(f"{registry.url}/v2/test/img/tags/list").json() == {"name": "test/img", "tags": ["1"]}
    assert any(q.method == "PUT" and q.path == "/v2/test/img/manifests/1" and q.status == 201
               for q in registry.requests())


def test_skopeo_copy_to_auth_registry(
    auth_registry: RegistryServer, skopeo: Any, tmp_path: Path, client: httpx.Client
) -> None:
    assert auth_registry.username == "alice" and auth_registry.password
    r = client.get(f"{auth_registry.url}/v2/")
    assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Basic ")
    assert client.get(f"{auth_registry.url}/v2/", auth=("alice", "wrong")).status_code == 401
    creds = (auth_registry.username, auth_registry.password)
    assert client.get(f"{auth_registry.url}/v2/", auth=creds).status_code == 200

    layout = make_oci_layout(tmp_path / "layout")
    dest = f"docker://{auth_registry.host}/test/img:1"
    res = skopeo("copy", "--retry-times", "0", "--dest-tls-verify=false", "--dest-no-creds", f"oci:{layout}:1", dest)
    assert res.returncode != 0
    assert "authentication required" in res.stderr or "unauthorized" in res.stderr.lower(), res.stderr

    res = skopeo("copy", "--retry-times", "0", "--dest-tls-verify=false",
                 "--dest-creds", f"{creds[0]}:{creds[1]}", f"oci:{layout}:1", dest)
    assert res.returncode == 0, res.stderr
    r = client.get(f"{auth_registry.url}/v2/test/img/tags/list", auth=creds)
    assert r.json() == {"name": "test/img", "tags": ["1"]}
    # 401s are in the access log too (the registry's JSON log has no status for them).
    assert any(q.status == 401 and q.path.startswith("/v2/test/img/") for q in auth_registry.requests())


# ----------------------------------------------------------------------------------------------------------------
# token auth
# ----------------------------------------------------------------------------------------------------------------


def test_token_server_flow(token_registry: Any, client: httpx.Client, repo_name: str) -> None:
    reg = token_registry
    assert (reg.username, reg.password) == ("bob", "hunter2")
    assert reg.realm.startswith("http://127.0.0.1:") and reg.realm.endswith("/token")
    before = len(reg.token_requests)

    # Anonymous: a 401 challenge naming the realm, service and scope.
    r = client.get(f"{reg.url}/v2/{repo_name}/tags/list")
    assert r.status_code == 401
    challenge = bearer_challenge(r.headers["WWW-Authenticate"])
    assert challenge == {"realm": reg.realm, "service": reg.service, "scope": f"repository:{repo_name}:pull"}

    # Wrong credentials: 401 from the token server, no token.
    r = client.get(reg.realm, params={"service": reg.service, "scope": f"repository:{repo_name}:pull,push"},
                   auth=(reg.username, "nope"))
    assert r.status_code == 401 and "token" not in r.json()

    # bob may push.
    r = client.post(f"{reg.url}/v2/{repo_name}/blobs/uploads/")
    assert r.status_code == 401
    push_scope = bearer_challenge(r.headers["WWW-Authenticate"])["scope"]
    # The registry lists the actions in no fixed order ("pull,push" or "push,pull": a Go map).
    assert parse_scope(push_scope) == ("repository", repo_name, {"pull", "push"})
    r = client.get(reg.realm, params={"service": reg.service, "scope": push_scope}, auth=(reg.username, reg.password))
    assert r.status_code == 200
    body = r.json()
    assert body["token"] == body["access_token"] and body["expires_in"] > 0
    with httpx.Client(timeout=TIMEOUT, headers={"Authorization": f"Bearer {body['token']}"}) as bob:
        push_image(bob, reg.url, repo_name, "1")

    # An anonymous token lists tags (after the 401 challenge above) but cannot push.
    r = client.get(reg.realm, params={"service": reg.service, "scope": challenge["scope"]})
    anon = r.json()["token"]
    r = client.get(f"{reg.url}/v2/{repo_name}/tags/list", headers={"Authorization": f"Bearer {anon}"})
    assert r.status_code == 200 and r.json()["tags"] == ["1"]
    r = client.get(reg.realm, params={"service": reg.service, "scope": push_scope})
    anon_push = r.json()["token"]
    r = client.post(f"{reg.url}/v2/{repo_name}/blobs/uploads/", headers={"Authorization": f"Bearer {anon_push}"})
    assert r.status_code == 401
    assert 'error="insufficient_scope"' in r.headers["WWW-Authenticate"]

    seen = [(t.scope, t.username, t.status) for t in reg.token_requests[before:]]
    assert seen == [
        (f"repository:{repo_name}:pull,push", "bob", 401),
        (push_scope, "bob", 200),
        (f"repository:{repo_name}:pull", None, 200),
        (push_scope, None, 200),
    ]
    assert reg.token_requests[-1].granted == ({"type": "repository", "name": repo_name, "actions": ["pull"]},)
    assert set(reg.token_requests[-3].granted[0]["actions"]) == {"pull", "push"}


def test_token_header_modes_and_untrusted_key(
    token_registry: Any, client: httpx.Client, repo_name: str, tmp_path: Path
) -> None:
    """distribution 2.8 finds the signing key from ``x5c`` (verified up to rootcertbundle) or from ``kid``
    (the libtrust key ID of a rootcertbundle certificate's key); a key it does not trust is refused."""
    reg, server = token_registry, token_registry.token_server
    scope = f"repository:{repo_name}:pull,push"

    def upload_status(token: str) -> int:
        r = client.post(f"{reg.url}/v2/{repo_name}/blobs/uploads/", headers={"Authorization": f"Bearer {token}"})
        return r.status_code

    try:
        for mode in ("x5c", "kid"):
            server.header_mode = mode
            r = client.get(reg.realm, params={"service": reg.service, "scope": scope},
                           auth=(reg.username, reg.password))
            assert upload_status(r.json()["token"]) == 202, mode
    finally:
        server.header_mode = "x5c"

    stranger = TokenServer(tmp_path / "stranger")  # same issuer and service, another key: not in the bundle
    stranger._make_key_and_cert()
    now = int(time.time())
    claims = {"iss": reg.issuer, "sub": "bob", "aud": reg.service, "exp": now + 60, "nbf": now - 10, "iat": now,
              "jti": "x", "access": [{"type": "repository", "name": repo_name, "actions": ["pull", "push"]}]}
    for mode in ("x5c", "kid"):
        stranger.header_mode = mode
        assert upload_status(stranger.sign(claims)) == 401, mode


def test_skopeo_copy_to_token_registry(token_registry: Any, skopeo: Any, tmp_path: Path) -> None:
    reg = token_registry
    before = len(reg.token_requests)
    layout = make_oci_layout(tmp_path / "layout")
    res = skopeo("copy", "--retry-times", "0", "--dest-tls-verify=false",
                 "--dest-creds", f"{reg.username}:{reg.password}", f"oci:{layout}:1", f"docker://{reg.host}/test/tok:1")
    assert res.returncode == 0, res.stderr
    asked = reg.token_requests[before:]
    assert asked and all(t.username == "bob" and t.status == 200 for t in asked)
    assert any("repository:test/tok:" in t.scope and "push" in t.scope for t in asked)


# ----------------------------------------------------------------------------------------------------------------
# proxy: plain forwarding
# ----------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("relative_urls", [False, True], ids=["absolute-location", "relative-location"])
def test_proxy_forwards_uploads(
    relative_urls: bool, registry: RegistryServer, registry_factory: Any, proxy: Any, client: httpx.Client,
    repo_name: str,
) -> None:
    reg = registry_factory(relative_urls=True) if relative_urls else registry
    px = proxy(reg)
    assert px.host != reg.host and px.host.startswith("127.0.0.1:")

    r = client.post(f"{px.url}/v2/{repo_name}/blobs/uploads/")
    assert r.status_code == 202
    location = r.headers["Location"]
    if relative_urls:
        assert location.startswith(f"/v2/{repo_name}/blobs/uploads/")
    else:
        assert location.startswith(f"{px.url}/v2/{repo_name}/blobs/uploads/")  # rewritten from the registry's
    data = pattern(3 * MiB + 123)
    r = client.patch(absolute(px.url, location), content=iter_pieces(data))  # chunked
    assert r.status_code == 202 and r.headers["Range"] == f"0-{len(data) - 1}"
    r = client.put(with_digest(absolute(px.url, r.headers["Location"]), sha256(data)))
    assert r.status_code == 201
    r = client.get(f"{px.url}/v2/{repo_name}/blobs/{sha256(data)}")
    assert r.status_code == 200 and r.content == data

    # Content-Length body, monolithic.
    digest = push_blob(client, px.url, repo_name, pattern(100_000, seed=1))
    assert client.head(f"{px.url}/v2/{repo_name}/blobs/{digest}").status_code == 200

    calls = [(q.method, q.status, q.body_bytes, q.fault) for q in px.requests]
    assert calls == [
        ("POST", 202, 0, None),
        ("PATCH", 202, len(data), None),
        ("PUT", 201, 0, None),
        ("GET", 200, 0, None),
        ("POST", 202, 0, None),
        ("PUT", 201, 100_000, None),
        ("HEAD", 200, 0, None),
    ]
    assert px.errors == []
    assert [(q.method, q.status) for q in reg.requests() if repo_name in q.path] == [c[:2] for c in calls]


def test_proxy_streams_50_mib_in_bounded_memory(registry: RegistryServer, proxy: Any, repo_name: str) -> None:
    px = proxy(registry)
    size, piece = 50 * MiB, 256 * 1024
    block = pattern(piece, seed=3)
    digest = sha256(block * (size // piece))

    def body() -> Iterator[bytes]:
        for _ in range(size // piece):
            yield block

    with httpx.Client(timeout=httpx.Timeout(60.0)) as client:
        r = client.post(f"{px.url}/v2/{repo_name}/blobs/uploads/")
        tracemalloc.start()
        try:
            r = client.patch(r.headers["Location"], content=body())
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert r.status_code == 202, r.text
        assert r.headers["Range"] == f"0-{size - 1}"
        print(f"peak traced memory while proxying 50 MiB: {peak / MiB:.2f} MiB")
        r = client.put(with_digest(r.headers["Location"], digest))
        assert r.status_code == 201, r.text
    assert px.requests[1].body_bytes == size
    assert peak < 8 * MiB, f"peak Python memory {peak / MiB:.1f} MiB while proxying 50 MiB"


# ----------------------------------------------------------------------------------------------------------------
# proxy: faults
# ----------------------------------------------------------------------------------------------------------------


def test_proxy_reset_mid_patch(registry: RegistryServer, proxy: Any, client: httpx.Client, repo_name: str) -> None:
    px = proxy(registry)
    r = client.post(f"{px.url}/v2/{repo_name}/blobs/uploads/")
    location = r.headers["Location"]
    px.reset_after(MiB)  # method defaults to PATCH
    assert px.pending_faults() == [("reset", 1)]
    with pytest.raises(httpx.TransportError):
        client.patch(location, content=iter_pieces(pattern(5 * MiB)))
    assert px.pending_faults() == []
    last = px.requests[-1]
    assert last == ("PATCH", httpx.URL(location).path, None, MiB)  # (method, path, status, body_bytes)
    assert last.query.startswith("_state=") and last.fault == "reset"
    # The registry saw the truncated PATCH end (client disconnected: 500) and kept the bytes.
    patch = registry.wait_for_request(lambda q: q.method == "PATCH" and repo_name in q.path)
    assert patch.status == 500
    uuid = location.split("/blobs/uploads/")[1].split("?")[0]
    data_file = registry.root / "docker/registry/v2/repositories" / repo_name / "_uploads" / uuid / "data"
    assert data_file.stat().st_size == MiB


def test_reset_after_partial_patch_invalidates_the_session(
    registry: RegistryServer, proxy: Any, client: httpx.Client, repo_name: str
) -> None:
    """distribution 2.8: after a PATCH cut short *with some bytes received*, the upload cannot be resumed with
    any URL the client holds (404 BLOB_UPLOAD_INVALID); starting a new upload works."""
    px = proxy(registry)
    data = pattern(5 * MiB, seed=5)
    r = client.post(f"{px.url}/v2/{repo_name}/blobs/uploads/")
    first_location = r.headers["Location"]
    assert r.headers["Range"] == "0-0"
    r = client.patch(first_location, content=iter_pieces(data[: 2 * MiB]))
    assert r.status_code == 202 and r.headers["Range"] == f"0-{2 * MiB - 1}"
    location = r.headers["Location"]

    px.reset_after(MiB)
    with pytest.raises(httpx.TransportError):
        client.patch(location, content=iter_pieces(data[2 * MiB :]))

    for url in (location, first_location, location):
        r = client.get(url)
        assert r.status_code == 404, (r.status_code, r.text)
        assert r.json()["errors"][0]["code"] == "BLOB_UPLOAD_INVALID"
        assert "Range" not in r.headers
    r = client.patch(location, content=data[2 * MiB :], headers={"Content-Range": f"{2 * MiB}-{len(data) - 1}"})
    assert r.status_code == 404 and r.json()["errors"][0]["code"] == "BLOB_UPLOAD_INVALID"
    assert any("upload resumed at wrong offest" in str(e.get("msg")) for e in registry.log_entries())

    # What a client must do instead: a new session, from byte 0.
    r = client.post(f"{px.url}/v2/{repo_name}/blobs/uploads/")
    r = client.patch(r.headers["Location"], content=iter_pieces(data))
    r = client.put(with_digest(r.headers["Location"], sha256(data)))
    assert r.status_code == 201 and r.headers["Docker-Content-Digest"] == sha256(data)


def test_reset_before_any_body_byte_allows_resume(
    registry: RegistryServer, proxy: Any, client: httpx.Client, repo_name: str
) -> None:
    """A reset that delivered no byte of the PATCH body leaves the session intact: GET <last Location> says
    ``Range: 0-<N-1>`` and a PATCH from N completes the upload to the right digest."""
    px = proxy(registry)
    data = pattern(5 * MiB, seed=6)
    n = 2 * MiB
    r = client.post(f"{px.url}/v2/{repo_name}/blobs/uploads/")
    r = client.patch(r.headers["Location"], content=iter_pieces(data[:n]))
    assert r.headers["Range"] == f"0-{n - 1}"
    location = r.headers["Location"]

    px.reset_after(0)
    with pytest.raises(httpx.TransportError):
        client.patch(location, content=iter_pieces(data[n:]))
    assert px.requests[-1].body_bytes == 0

    r = client.get(location)
    assert r.status_code == 204, r.text
    assert r.headers["Range"] == f"0-{n - 1}"
    resume_at = int(r.headers["Range"].split("-")[1]) + 1
    assert resume_at == n
    r = client.patch(
        absolute(px.url, r.headers["Location"]),
        content=data[resume_at:],
        headers={"Content-Range": f"{resume_at}-{len(data) - 1}", "Content-Type": "application/octet-stream"},
    )
    assert r.status_code == 202 and r.headers["Range"] == f"0-{len(data) - 1}"
    r = client.put(with_digest(r.headers["Location"], sha256(data)))
    assert r.status_code == 201 and r.headers["Docker-Content-Digest"] == sha256(data)
    r = client.get(f"{px.url}/v2/{repo_name}/blobs/{sha256(data)}")
    assert r.content == data


def test_reset_after_a_complete_body_loses_only_the_response(
    registry: RegistryServer, proxy: Any, client: httpx.Client, repo_name: str
) -> None:
    px = proxy(registry)
    data = pattern(300_000, seed=8)
    r = client.post(f"{px.url}/v2/{repo_name}/blobs/uploads/")
    px.reset_after(10 * MiB, method="PUT")  # longer than the body: all of it is forwarded, the answer dropped
    with pytest.raises(httpx.TransportError):
        client.put(with_digest(r.headers["Location"], sha256(data)), content=data)
    assert client.head(f"{px.url}/v2/{repo_name}/blobs/{sha256(data)}").status_code == 200
    assert registry.wait_for_request(lambda q: q.method == "PUT" and repo_name in q.path).status == 201


def test_proxy_fail(registry: RegistryServer, proxy: Any, client: httpx.Client, repo_name: str) -> None:
    px = proxy(registry)
    mark = registry.mark()
    px.fail(503, times=2)
    url = f"{px.url}/v2/"
    statuses = []
    for _ in range(3):
        r = client.get(url)
        statuses.append(r.status_code)
        if r.status_code == 503:
            assert r.headers["Retry-After"] == "0"
            assert r.json()["errors"][0]["code"] == "UNAVAILABLE"
    assert statuses == [503, 503, 200]
    assert [(q.status, q.fault) for q in px.requests] == [(503, "fail"), (503, "fail"), (200, None)]
    assert [q.status for q in registry.requests(since=mark)] == [200]  # the failed ones never got there

    # Filters, and a body that is read (not forwarded) before the canned answer.
    px.fail(429, method="PUT", path_contains="/blobs/uploads/")
    px.fail(500, method="DELETE")
    r = client.post(f"{px.url}/v2/{repo_name}/blobs/uploads/")
    assert r.status_code == 202
    put_url = with_digest(r.headers["Location"], sha256(b"x" * 70_000))
    r = client.put(put_url, content=b"x" * 70_000)
    assert r.status_code == 429 and r.headers["Retry-After"] == "0"
    assert px.requests[-1].body_bytes == 70_000
    assert client.put(put_url, content=b"x" * 70_000).status_code == 201
    assert px.pending_faults() == [("fail", 1)]
    px.clear()
    assert px.pending_faults() == []


def test_proxy_delay(registry: RegistryServer, proxy: Any, client: httpx.Client) -> None:
    px = proxy(registry)
    px.delay(0.5, times=1)
    t0 = time.monotonic()
    assert client.get(f"{px.url}/v2/").status_code == 200
    slow = time.monotonic() - t0
    t0 = time.monotonic()
    assert client.get(f"{px.url}/v2/").status_code == 200
    fast = time.monotonic() - t0
    assert slow >= 0.5 and fast < 0.5
    assert [q.delayed for q in px.requests] == [0.5, 0.0]

    px.delay(5, times=1)
    with pytest.raises(httpx.ReadTimeout):  # a slow registry, as a client with a short timeout sees it
        client.get(f"{px.url}/v2/", timeout=0.3)


def test_proxy_answers_expect_100_continue(registry: RegistryServer, proxy: Any, repo_name: str) -> None:
    """curl-like clients send ``Expect: 100-continue`` and wait for the 100 before the body."""
    import socket

    px = proxy(registry)
    with httpx.Client(timeout=TIMEOUT) as c:
        location = httpx.URL(c.post(f"{px.url}/v2/{repo_name}/blobs/uploads/").headers["Location"])
    data = b"expect-continue"
    target = with_digest(str(location), sha256(data))
    request_target = target.raw_path.decode()
    with socket.create_connection(("127.0.0.1", px.port), timeout=10) as s:
        s.sendall(
            f"PUT {request_target} HTTP/1.1\r\nHost: {px.host}\r\nContent-Length: {len(data)}\r\n"
            "Expect: 100-continue\r\n\r\n".encode()
        )
        assert s.recv(1024).startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        s.sendall(data)
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 201 Created\r\n"), answer[:200]
    assert b"\r\nConnection: close\r\n" in answer


# ----------------------------------------------------------------------------------------------------------------
# teardown
# ----------------------------------------------------------------------------------------------------------------


def test_everything_stops(registry_factory: Any) -> None:
    """stop() leaves no process, thread or listening port behind, even with a request stuck in a delay."""
    threads_before = set(threading.enumerate())
    reg = registry_factory(auth="token")  # a registry process and a token server thread
    token = reg.token_server
    px = FaultProxy(reg.host).start()
    ports = [reg.port, token.port, px.port]
    assert all(port_is_open(p) for p in ports)

    px.delay(30)
    stuck = threading.Thread(target=lambda: _swallow(lambda: httpx.get(f"{px.url}/v2/", timeout=60)))
    stuck.start()
    deadline = time.monotonic() + 5
    while not px._threads and time.monotonic() < deadline:
        time.sleep(0.01)
    t0 = time.monotonic()
    px.stop()
    reg.stop()  # stops the token server too; the factory's own stop() at teardown is then a no-op
    assert time.monotonic() - t0 < 6
    stuck.join(10)
    assert not stuck.is_alive()
    assert reg.proc is not None and reg.proc.poll() is not None
    assert not any(port_is_open(p) for p in ports)
    assert set(threading.enumerate()) <= threads_before


def _swallow(fn: Any) -> None:
    with contextlib.suppress(Exception):
        fn()


def test_registry_binary_override(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MODELOCI_REGISTRY_BIN", str(tmp_path / "nope"))
    assert find_registry_binary() is None
    with pytest.raises(ServerError, match="no docker-registry binary"):
        RegistryServer(tmp_path, binary=None).start()
