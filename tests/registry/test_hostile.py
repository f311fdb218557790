"""A hostile registry (tests/registry/hostile.py) attacks the client: credentials and loops.

* Credentials go only to the registry's own host: not to a token realm or an upload ``Location`` on another host
  (unless the user configured credentials for that host), and never over plain HTTP the registry is not allowed.
* Every loop has a bound on answers that make no progress, and a total time bound.
* Every attack against push, pull -o and pull --layout ends in success or a clean error, never an internal one.

Bounded reads and sizes are in test_bounds.py, redaction in test_redaction.py.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import httpx
import pytest

import modeloci
from modeloci.blobs.engine import BlobSource, FileState
from modeloci.oci.digest import Digest
from modeloci.registry.auth import AuthError, Credentials, save_login
from modeloci.registry.client import RegistryClient, RegistryError
from modeloci.registry.image_ref import parse_reference
from modeloci.registry.limits import Limits
from modeloci.registry.transfer import download, upload
from tests.archive_tools import copy_example
from tests.registry.helpers import (
    ALICE,
    BASIC,
    PASSWORD,
    assert_clean_failure,
    blobs_of,
    build,
    client_of,
    error_lines,
    manifest_of,
    partial_files,
    with_credentials,
)

from .hostile import ATTACKS, REPOSITORY, digest_of


def blob_file(tmp_path: Path, size: int = 100_000) -> tuple[BlobSource, Digest]:
    data = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    path = tmp_path / "blob"
    path.write_bytes(data)
    digest = Digest.of(data)
    return BlobSource(path, 0, len(data), "`blob`", FileState.from_stat(path.stat()), digest), digest



# ----------------------------------------------------------------------------------------------------------------
# Credentials go only to the registry's own host
# ----------------------------------------------------------------------------------------------------------------


def test_bearer_realm_on_another_host_gets_no_credentials(hostile, cli, tmp_path, monkeypatch) -> None:
    h = hostile("realm-elsewhere", auth="bearer")
    with_credentials(monkeypatch)
    pulled = cli("pull", h.reference, "-o", str(tmp_path / "out.tar"))
    assert pulled.code == 0, pulled.stderr
    asked = [(s.listener, s.authorization) for s in h.seen if s.path == "/token"]
    assert asked and set(asked) == {("elsewhere", None)}  # asked anonymously, on the other host
    assert all(s.authorization is None or s.authorization.startswith("Bearer anon-") for s in h.seen)


def test_a_push_refused_because_credentials_were_withheld_from_another_host_says_so(hostile, cli, tmp_path,
                                                                                      monkeypatch) -> None:
    h = hostile("realm-elsewhere", auth="bearer")
    built, _ = build(cli, tmp_path)
    with_credentials(monkeypatch)
    stderr = assert_clean_failure(cli("push", str(built), f"{h.host}/{REPOSITORY}:v2"), secrets=(PASSWORD, BASIC))
    assert error_lines(stderr)[:2] == [
        f"error: {h.host} refused access as alice",
        (f"help: its token service is on another host, `{h.elsewhere}`, which gets none of your credentials for "
         f"{h.host}: if you trust it, `modeloci login {h.elsewhere}`")]
    assert {s.authorization for s in h.seen if s.path == "/token"} == {None}


def test_bearer_realm_on_another_host_gets_only_its_own_configured_credentials(hostile) -> None:
    h = hostile("realm-elsewhere", auth="bearer")
    carol = Credentials("carol", "carols-own-password")
    save_login(h.elsewhere, carol)
    client = client_of(h, credentials=ALICE, use_stored_credentials=True)
    assert client.get_manifest(parse_reference(h.reference))[0] == h.model.manifest
    asked = {s.authorization for s in h.seen if s.path == "/token"}
    assert asked == {carol.basic()}


@pytest.mark.parametrize(("registry", "insecure", "realm", "refusal"), [  # refusal None: allowed
    ("registry.example.com", (), "http://registry.example.com/token",
     "the token service of registry.example.com, `http://registry.example.com`, is plain HTTP: refused"),
    ("127.0.0.1:5000", (), "http://token.example.com/token",
     "the token service of 127.0.0.1:5000, `http://token.example.com`, is plain HTTP: refused"),
    ("registry.example.com:5000", ("registry.example.com:5000",), "http://auth.example.com/token",
     "the token service of registry.example.com:5000, `http://auth.example.com`, is plain HTTP: refused"),
    ("registry.example.com", (), "ftp://registry.example.com/token",
     "the token service of registry.example.com, `ftp://registry.example.com`, is not an HTTPS URL"),
    ("registry.example.com:5000", ("registry.example.com:5000",), "http://registry.example.com:5000/token", None),
    ("127.0.0.1:5000", (), "http://localhost:6000/token", None),
    ("registry.example.com", (), "https://auth.example.com/token", None),
    ("registry.example.com", (), "https://registry.example.com:8443/token", None),
    ("docker.io", (), "https://auth.docker.io/token", None),
])
def test_plain_http_token_realm_only_where_the_registry_and_the_realm_may_use_plain_http(
        registry: str, insecure: tuple[str, ...], realm: str, refusal: str | None) -> None:
    asked: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        asked.append(request)
        if request.url.path == "/token":
            return httpx.Response(200, json={"token": "tok-mock"})
        if request.headers.get("Authorization") == "Bearer tok-mock":
            return httpx.Response(200, content=b"{}")
        return httpx.Response(401, headers={"WWW-Authenticate": f'Bearer realm="{realm}",service="x"'})

    client = RegistryClient(registry, insecure=insecure, http=httpx.Client(transport=httpx.MockTransport(answer)),
                            credentials=ALICE, use_stored_credentials=False)
    if refusal is None:
        client.send("GET", "/v2/", scope="")  # the API version check
        (token_ask,) = [r for r in asked if r.url.path == "/token"]
        # Any port; Docker Hub's token service is its own.
        own = token_ask.url.host in (registry.split(":", maxsplit=1)[0], "auth.docker.io")
        assert token_ask.headers.get("Authorization") == (ALICE.basic() if own else None)
        return
    with pytest.raises(AuthError) as caught:
        client.send("GET", "/v2/", scope="")  # the API version check
    assert caught.value.message == refusal
    assert [r.url.path for r in asked] == ["/v2/"]  # the token service was never asked


def test_upload_location_on_another_host_gets_no_credentials(hostile, cli, tmp_path, monkeypatch) -> None:
    """As Docker does for storage hosts: the upload goes there, without the Authorization header."""
    h = hostile("upload-elsewhere", auth="basic")
    built, _ = build(cli, tmp_path)
    with_credentials(monkeypatch)
    pushed = cli("push", str(built), f"{h.host}/{REPOSITORY}:v2")
    assert pushed.code == 0, pushed.stderr
    elsewhere = [s for s in h.seen if s.listener == "elsewhere"]
    assert {s.method for s in elsewhere} == {"PATCH", "PUT"}
    assert [s.authorization for s in elsewhere] == [None] * len(elsewhere)
    assert all(s.authorization == f"Basic {BASIC}" for s in h.seen if s.listener == "own" and s.method == "POST")
    assert h.state.manifests["v2"] == manifest_of(built)
    assert set(blobs_of(built)) <= set(h.state.blobs)


@pytest.mark.parametrize(("location", "refusal"), [
    ("http://registry.example.com/upload/1", ("the upload location `http://registry.example.com` of "
                                              "registry.example.com is plain HTTP: refused")),
    ("file:///etc/passwd", "the upload location `file://` of registry.example.com is not an HTTP URL"),
])
def test_plain_http_upload_location_from_an_https_registry_is_refused(tmp_path, location: str, refusal: str) -> None:
    asked: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        asked.append(request)
        return httpx.Response(202, headers={"Location": location})

    client = RegistryClient("registry.example.com", http=httpx.Client(transport=httpx.MockTransport(answer)),
                            use_stored_credentials=False)
    source, digest = blob_file(tmp_path)
    with pytest.raises(RegistryError) as caught:
        upload(client, "team/model", source, digest)
    assert caught.value.message == refusal
    assert [r.method for r in asked] == ["POST"]


# ----------------------------------------------------------------------------------------------------------------
# Loops: no progress, and time
# ----------------------------------------------------------------------------------------------------------------


def test_a_registry_that_never_takes_a_patch_makes_push_give_up(hostile, tmp_path) -> None:
    h = hostile("patch-stuck")
    source, digest = blob_file(tmp_path)
    with pytest.raises(RegistryError) as caught:
        upload(client_of(h, limits=Limits(stalls=3)), REPOSITORY, source, digest)
    assert caught.value.message == (f"uploading {digest}: the registry took no new bytes in 3 answers in a row "
                                    f"(11 of 100000 bytes held)")
    assert h.count("PATCH") == 4 and h.count("PUT") == 0  # one that moved (to 11), three that did not


def test_a_registry_that_never_takes_a_patch_makes_the_push_command_give_up(hostile, cli, tmp_path) -> None:
    h = hostile("patch-stuck")
    built, _ = build(cli, tmp_path)
    for extra in ((), ("--json",)):
        result = cli("push", str(built), f"{h.host}/{REPOSITORY}:v2", *extra)
        stderr = assert_clean_failure(result)
        messages = {f"error: uploading {d}: the registry took no new bytes in 6 answers in a row "
                    f"({min(11, size)} of {size} bytes held)" for d, size in blobs_of(built).items()}
        assert error_lines(stderr)[0] in messages, stderr
        if extra:
            assert f"error: {json.loads(result.stdout)['error']}" in messages
    sessions: dict[str, int] = {}
    for s in h.seen:
        if s.method == "PATCH":
            sessions[s.path] = sessions.get(s.path, 0) + 1
    assert max(sessions.values()) == 7 and "v2" not in h.state.manifests


def test_a_registry_claiming_more_bytes_than_were_sent_is_refused(hostile, tmp_path) -> None:
    h = hostile("range-beyond")
    source, digest = blob_file(tmp_path)
    with pytest.raises(RegistryError) as caught:
        upload(client_of(h), REPOSITORY, source, digest)
    assert caught.value.message == (f"uploading {digest}: the registry says it holds {10**12 + 1} bytes, "
                                    f"more than the 100000 sent")


def test_blob_gets_with_an_empty_body_make_pull_give_up(hostile, cli, tmp_path) -> None:
    h = hostile("empty-blob")
    layer = digest_of(h.model.layer)
    for where in (("-o", str(tmp_path / "out.tar")), ("--layout", str(tmp_path / "lay")), ()):
        stderr = assert_clean_failure(cli("pull", h.reference, *where))
        assert error_lines(stderr)[0] == (f"error: downloading {layer}: the registry sent no new bytes in 6 answers "
                                          f"in a row (0 of 65536 bytes received)")
    assert h.count("GET", layer) == 18  # six per pull
    assert not (tmp_path / "out.tar").exists() and not (tmp_path / "lay" / "index.json").exists()
    assert partial_files(tmp_path) == [] and json.loads(cli("ls", "--json").stdout) == []


def test_a_range_other_than_the_one_asked_for_is_refused(hostile, cli, tmp_path) -> None:
    h = hostile("wrong-range")
    layer = digest_of(h.model.layer)
    stderr = assert_clean_failure(cli("pull", h.reference, "-o", str(tmp_path / "out.tar")))
    assert error_lines(stderr)[0] == (f"error: blob {layer} from {h.host}: the registry sent a range other than "
                                      f"the one asked for (bytes 32768-)")
    assert [s.headers.get("Range") for s in h.seen if s.path.endswith(layer)] == [None, "bytes=32768-"]
    assert not (tmp_path / "out.tar").exists()


def test_an_upload_that_creeps_gives_up_at_its_time_limit(hostile, tmp_path) -> None:
    h = hostile("slow-progress")
    source, digest = blob_file(tmp_path)
    with pytest.raises(RegistryError) as caught:
        upload(client_of(h, limits=Limits(transfer_seconds=0.3)), REPOSITORY, source, digest)
    assert re.fullmatch(rf"uploading {digest}: gave up after 0\.3 s, the time limit for one blob "
                        r"\((\d+) of 100000 bytes held\)", caught.value.message), caught.value.message
    assert 0 < h.count("PATCH") < 1000


def test_a_download_that_creeps_gives_up_at_its_time_limit(hostile, tmp_path) -> None:
    h = hostile("slow-blob")
    layer = digest_of(h.model.layer)
    client = client_of(h, limits=Limits(transfer_seconds=0.3))
    fd = os.open(tmp_path / "out", os.O_RDWR | os.O_CREAT)
    try:
        with pytest.raises(RegistryError) as caught:
            download(client, REPOSITORY, Digest.parse(layer), len(h.model.layer), fd, 0)
    finally:
        os.close(fd)
    assert re.fullmatch(rf"downloading {layer}: gave up after 0\.3 s, the time limit for one blob "
                        r"\((\d+) of 65536 bytes received\)", caught.value.message), caught.value.message
    assert 0 < h.count("GET", layer) < 1000


# ----------------------------------------------------------------------------------------------------------------
# Every attack, every command: a clean ending
# ----------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def model_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("model")
    modelfile = copy_example("single-gguf", folder)
    modeloci.build(modelfile, folder / "model.tar")
    return folder / "model.tar"


WITH_AUTH = [("realm-elsewhere", "bearer"), ("endless-token", "bearer"), ("token-redirect", "bearer"),
             ("echo-auth", "bearer"), ("echo-auth", "basic"), ("upload-elsewhere", "basic"),
             ("endless-redirect", "basic")]


#: Creeping answers are tried above with a small time limit; with the default one (24 h) they would end only at the
#: hostile server's request budget, testing nothing more.
CREEPING = ("slow-progress", "slow-blob")


@pytest.mark.parametrize(("attack", "auth"), [*((a, None) for a in ATTACKS if a not in CREEPING), *WITH_AUTH])
def test_no_hostile_answer_ends_in_an_internal_error(hostile, cli, tmp_path, model_archive, attack, auth) -> None:
    """The ``cli`` fixture fails a command that ends in "internal error"; each one here ends in success or in
    a clean error (exit 1), and a failed pull leaves no output."""
    h = hostile(attack, auth=auth)
    for args in (("push", str(model_archive), f"{h.host}/{REPOSITORY}:pushed"),
                 ("pull", h.reference, "-o", str(tmp_path / "out.tar")),
                 ("pull", h.reference, "--layout", str(tmp_path / f"lay-{attack}"))):
        result = cli(*args)
        assert result.code in (0, 1), (args, result.stderr)
        if result.code:
            assert_clean_failure(result)
            assert args[0] == "push" or (not (Path(args[-1]) / "index.json").exists() and not (
                args[-1].endswith(".tar") and Path(args[-1]).exists()))
