"""Registries that cannot be reached fail at once and say why; failures a retry may mend are still retried; a
registry's DIGEST_INVALID is explained, without the upload URL.

Before: a push to a port where nothing listened spent 11.6 s in retries of "connection refused" (5 back-offs of
0.2-3.2 s, then a last 5 s one after the final attempt), a pull as long. Now a refused connection and a failed TLS
handshake (HTTPS spoken to a plain-HTTP registry, an untrusted certificate) end the command at once with a hint;
a plain-HTTP request refused by an HTTPS server (Go's ``400 Client sent an HTTP request to an HTTPS server``)
says so. Resets and 5xx keep their retries (tests/registry/test_faults.py), with no wait after the last one.

A non-loopback registry is spoken to over HTTPS; the tests reach local servers, which are loopback, so they make
modeloci treat them as it treats any other host (``may_use_plain_http`` only for ``--insecure-registry`` hosts).
"""

from __future__ import annotations

import datetime
import io
import re
import socket
import socketserver
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from modeloci.blobs.engine import BlobSource, FileState
from modeloci.oci.digest import Digest
from modeloci.registry import client as client_module
from modeloci.registry.client import RegistryClient, RegistryError
from modeloci.registry.transfer import download, upload
from tests.registry.helpers import assert_clean_failure, blobs_of, build, error_lines

FAST = 2.0  # seconds: far under one retry schedule (about 6 s of back-off), far over a refused connect


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def timed(cli, *args: str) -> tuple[object, float]:
    started = time.monotonic()
    result = cli(*args)
    return result, time.monotonic() - started


@pytest.fixture
def as_remote_host(monkeypatch: pytest.MonkeyPatch) -> None:
    """Local servers treated as any other host: HTTPS unless named with --insecure-registry."""
    monkeypatch.setattr(client_module, "may_use_plain_http", lambda host, insecure: host in insecure)


class _Canned(socketserver.BaseRequestHandler):
    answer = b""

    def handle(self) -> None:
        self.request.settimeout(2)
        try:
            self.request.recv(65536)
            self.request.sendall(self.answer)
        except OSError:
            pass


@pytest.fixture
def canned_server() -> Iterator[object]:
    """Start a TCP server on 127.0.0.1 that answers every connection with fixed bytes (optionally over TLS)."""
    servers: list[socketserver.ThreadingTCPServer] = []

    def start(answer: bytes, context: ssl.SSLContext | None = None) -> str:
        handler = type("Handler", (_Canned,), {"answer": answer})
        server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        if context is not None:
            server.socket = context.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        return f"127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def refused_lines(host: str) -> list[str]:
    return [f"error: cannot connect to {host}: connection refused",
            f"help: is a registry running at {host}? check the host name and the port"]


# -- refused ------------------------------------------------------------------------------------------------------


def test_push_pull_and_login_to_a_port_where_nothing_listens_fail_at_once(cli, tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    archive, _ = build(cli, tmp_path)
    host = f"127.0.0.1:{free_port()}"
    for args in (("push", str(archive), f"{host}/m:1", "-q"),
                 ("pull", f"{host}/m:1", "-o", str(tmp_path / "pulled.tar"), "-q"),
                 ("pull", f"{host}/m:1", "-q"),
                 ("build", "-f", str(tmp_path / "src-built.tar" / "single-gguf" / "Modelfile"), "--push",
                  f"{host}/m:1", "-q")):
        result, seconds = timed(cli, *args)
        assert error_lines(assert_clean_failure(result)) == refused_lines(host), args
        assert seconds < FAST, (args, seconds)
    assert not (tmp_path / "pulled.tar").exists()
    monkeypatch.setattr("sys.stdin", io.StringIO("secret\n"))
    login = cli("login", host, "-u", "me", "--password-stdin")
    assert error_lines(assert_clean_failure(login)) == refused_lines(host)


def test_a_refused_connection_is_tried_once(tmp_path: Path) -> None:
    sleeps: list[float] = []
    client = RegistryClient(f"127.0.0.1:{free_port()}", sleep=sleeps.append, use_stored_credentials=False)
    with pytest.raises(RegistryError, match="connection refused"):
        client.send("GET", "/v2/", scope="")  # the API version check
    assert sleeps == []


# -- TLS and plain HTTP -------------------------------------------------------------------------------------------


def test_https_to_a_plain_http_registry_fails_at_once_and_suggests_insecure_registry(
        registry, as_remote_host, repo_name: str, cli, tmp_path: Path) -> None:
    archive, digest = build(cli, tmp_path)
    ref = f"{registry.host}/{repo_name}:1"
    result, seconds = timed(cli, "push", str(archive), ref, "-q")
    message, hint = error_lines(assert_clean_failure(result))
    # OpenSSL's reason varies by version: WRONG_VERSION_NUMBER (3.0), record layer failure (3.2+).
    assert message.startswith(f"error: {registry.host} does not answer HTTPS (the TLS handshake failed: "), message
    assert hint == (f"help: if {registry.host} is a registry without TLS, allow plain HTTP to it with "
                    f"`--insecure-registry {registry.host}` (or MODELOCI_INSECURE_REGISTRIES)")
    assert seconds < FAST
    pulled, seconds = timed(cli, "pull", ref, "-o", str(tmp_path / "p.tar"), "-q")
    assert error_lines(assert_clean_failure(pulled))[1] == hint and seconds < FAST
    # What the hint says works.
    pushed = cli("push", str(archive), ref, "-q", "--insecure-registry", registry.host)
    assert pushed.code == 0 and f"digest: {digest}" in pushed.stdout, pushed.stderr


GO_ANSWER = (b"HTTP/1.0 400 Bad Request\r\n\r\n"  # what Go's net/http answers plain HTTP on a TLS port
             b"Client sent an HTTP request to an HTTPS server.\n")


def test_plain_http_to_an_https_registry_says_so(canned_server, cli, tmp_path: Path) -> None:
    host = canned_server(GO_ANSWER)
    result, seconds = timed(cli, "pull", f"{host}/m:1", "-o", str(tmp_path / "p.tar"), "-q")
    assert error_lines(assert_clean_failure(result)) == [
        f"error: {host} speaks HTTPS, but modeloci spoke plain HTTP to it",
        ("help: modeloci speaks plain HTTP to loopback hosts (localhost, 127.0.0.0/8, ::1): serve the registry "
         "there without TLS, or reach it by a name that is not loopback")]
    assert seconds < FAST


def test_plain_http_to_an_https_registry_named_insecure_suggests_dropping_the_flag(
        canned_server, as_remote_host, cli, tmp_path: Path) -> None:
    host = canned_server(GO_ANSWER)
    result = cli("pull", f"{host}/m:1", "-o", str(tmp_path / "p.tar"), "-q", "--insecure-registry", host)
    assert error_lines(assert_clean_failure(result)) == [
        f"error: {host} speaks HTTPS, but modeloci spoke plain HTTP to it",
        f"help: drop `--insecure-registry {host}` (and take it out of MODELOCI_INSECURE_REGISTRIES): it speaks HTTPS"]


def self_signed(tmp_path: Path) -> ssl.SSLContext:
    """A server context with a fresh self-signed certificate for 127.0.0.1."""
    crypto = pytest.importorskip("cryptography", reason="a TLS test server needs cryptography (a test dependency)")
    del crypto
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test registry")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                         serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    return context


def test_an_untrusted_certificate_fails_at_once(canned_server, as_remote_host, cli, tmp_path: Path) -> None:
    host = canned_server(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}", self_signed(tmp_path))
    result, seconds = timed(cli, "pull", f"{host}/m:1", "-o", str(tmp_path / "p.tar"), "-q")
    message, hint = error_lines(assert_clean_failure(result))
    assert message.startswith(f"error: the TLS certificate of {host} is not trusted: self"), message
    assert hint == ("help: if a private CA signed it, point SSL_CERT_FILE at that CA's certificate; a registry "
                    f"without TLS needs `--insecure-registry {host}`")
    assert seconds < FAST


# -- what is still retried ----------------------------------------------------------------------------------------


def test_a_server_that_hangs_up_is_retried_with_no_wait_after_the_last_attempt(canned_server) -> None:
    host = canned_server(b"")  # accepts, reads, closes: "server disconnected without sending a response"
    sleeps: list[float] = []
    client = RegistryClient(host, sleep=sleeps.append, use_stored_credentials=False)
    with pytest.raises(RegistryError, match="gave up after 6 attempts"):
        client.send("GET", "/v2/", scope="")  # the API version check
    assert sleeps == [0.2, 0.4, 0.8, 1.6, 3.2]  # between the 6 attempts, none after the last


def _refused(request: httpx.Request) -> httpx.Response:
    try:
        raise ConnectionRefusedError(111, "Connection refused")
    except ConnectionRefusedError as exc:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request) from exc


def test_a_registry_gone_in_the_middle_of_a_transfer_fails_at_once(tmp_path: Path) -> None:
    """The upload's PATCH and the download's GET, once the registry stopped listening: no retry of either."""
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.method)
        if request.method == "POST":
            return httpx.Response(202, headers={"Location": "/v2/m/blobs/uploads/1"})
        return _refused(request)

    sleeps: list[float] = []
    client = RegistryClient("127.0.0.1:5000", http=httpx.Client(transport=httpx.MockTransport(handler)),
                            sleep=sleeps.append, use_stored_credentials=False)
    blob = tmp_path / "blob"
    blob.write_bytes(b"x" * 100)
    source = BlobSource(blob, 0, 100, "blob", FileState.from_stat(blob.stat()), Digest.of(b"x" * 100))
    with pytest.raises(RegistryError, match=r"^cannot connect to 127\.0\.0\.1:5000: connection refused$"):
        upload(client, "m", source, Digest.of(b"x" * 100))
    assert (seen, sleeps) == (["POST", "PATCH"], [])
    seen.clear()
    with open(tmp_path / "out", "wb") as out, pytest.raises(RegistryError, match="connection refused"):
        download(client, "m", Digest.of(b"x" * 100), 100, out.fileno(), 0)
    assert (seen, sleeps) == (["GET"], [])


# -- DIGEST_INVALID -----------------------------------------------------------------------------------------------


class _Corrupting(httpx.BaseTransport):
    """Flips the first byte of every PATCH body after modeloci hashed it: bytes changed on the way."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "PATCH":
            body = bytearray(b"".join(request.stream))  # type: ignore[union-attr]
            body[0] ^= 0xFF
            request = httpx.Request(request.method, request.url, headers=request.headers, content=bytes(body))
        return self.inner.handle_request(request)


def test_digest_invalid_on_push_suggests_verify_and_shows_no_upload_url(registry, repo_name: str, cli,
                                                                         tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from modeloci import cli_options, cli_registry

    def client_for(host: str, insecure: tuple[str, ...]) -> RegistryClient:
        return RegistryClient(host, insecure=insecure, http=httpx.Client(transport=_Corrupting()))

    # Where it is defined (build --push looks it up there) and where push bound it at import.
    monkeypatch.setattr(cli_options, "client_for", client_for)
    monkeypatch.setattr(cli_registry, "client_for", client_for)
    archive, _ = build(cli, tmp_path)
    for args in (("push", str(archive), f"{registry.host}/{repo_name}:1", "-q"),
                 ("build", "-f", str(tmp_path / "src-built.tar" / "single-gguf" / "Modelfile"), "--push",
                  f"{registry.host}/{repo_name}:2", "-q")):
        stderr = assert_clean_failure(cli(*args))
        message, hint = error_lines(stderr)
        refused = re.fullmatch(rf"error: {re.escape(registry.host)} refused blob (sha256:[0-9a-f]{{64}}): the bytes "
                               r"it received do not match the digest \(DIGEST_INVALID\)", message)
        assert refused and refused.group(1) in blobs_of(archive), message
        assert hint == ("help: modeloci checked those bytes before it sent them, so they changed on the way (a proxy, "
                        "a faulty connection) or the registry is at fault: check the model with `modeloci verify`, "
                        "then push again")
        assert "/blobs/uploads/" not in stderr and "_state" not in stderr
