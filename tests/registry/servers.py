"""Test servers for the registry tests: a real Distribution registry, a token server and a fault-injecting proxy.

Everything here listens on 127.0.0.1 only, on ports chosen by binding port 0, waits with hard time limits, and
stops everything it started in ``stop()`` (the conftest calls it at teardown, also when the test failed).

* :class:`RegistryServer` runs ``docker-registry serve CONFIG`` (github.com/docker/distribution 2.8) with a config
  written here: filesystem storage in a temporary folder, deletes enabled, no auth, htpasswd Basic auth or Bearer
  token auth.  ``requests()`` lists the HTTP requests it served, parsed from its access log.
* :class:`TokenServer` is a Docker token server (``GET /token?service=...&scope=...``) written for the tests; it
  signs ES256 JWTs with a key whose self-signed certificate is the registry's ``rootcertbundle``.
* :class:`FaultProxy` forwards HTTP/1.1 requests to a registry and injects faults on demand (connection reset in
  the middle of a request body, canned error statuses, delays).

Only the standard library is needed, except the token server, which needs ``cryptography``.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import re
import secrets
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NamedTuple

LOCALHOST = "127.0.0.1"

#: Where the registry binary is looked for (``MODELOCI_REGISTRY_BIN`` overrides).
REGISTRY_CANDIDATES = ("/usr/bin/docker-registry", "docker-registry", "registry")

#: htpasswd user of ``auth_registry``.  The hash is a precomputed bcrypt hash (cost 4, so that the registry's
#: per-request password check stays cheap) of ``HTPASSWD_PASSWORD``; distribution accepts only bcrypt entries.
HTPASSWD_USER = "alice"
HTPASSWD_PASSWORD = "wonderland-s3cret"
HTPASSWD_HASH = "$2b$04$iQPm5GxHXch2Zq9H90nsheGAHaYbStXquODQQBZYy1AK0IKmA61bq"

#: Credentials the token server accepts; anybody else who sends credentials gets 401, anonymous users pull only.
TOKEN_USER = "bob"
TOKEN_PASSWORD = "hunter2"
TOKEN_SERVICE = "modeloci-test-registry"
TOKEN_ISSUER = "modeloci-test-token-server"

START_TIMEOUT = 20.0  # seconds for a registry to answer GET /v2/
STOP_TIMEOUT = 5.0  # seconds for a process or thread to stop before it is killed / reported


class ServerError(RuntimeError):
    """A test server could not be started or stopped."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (bind port 0, read it, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOCALHOST, 0))
        return s.getsockname()[1]


def port_is_open(port: int, timeout: float = 0.2) -> bool:
    """True if something accepts TCP connections on 127.0.0.1:port."""
    try:
        with socket.create_connection((LOCALHOST, port), timeout=timeout):
            return True
    except OSError:
        return False


def find_registry_binary() -> str | None:
    override = os.environ.get("MODELOCI_REGISTRY_BIN")
    candidates = (override,) if override else REGISTRY_CANDIDATES
    for candidate in candidates:
        path = candidate if os.path.isabs(candidate) else shutil.which(candidate)
        if path and os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return None


def _prepare_die_with_parent() -> Callable[[], None] | None:
    """Linux: a preexec_fn that makes the child get SIGKILL when the test process dies, so a killed pytest leaves
    no registry behind.  libc's prctl is looked up here, in the parent: the child only makes the call."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    PR_SET_PDEATHSIG, SIGKILL = 1, int(signal.SIGKILL)

    def preexec() -> None:  # pragma: no cover - runs in the child between fork and exec
        prctl(PR_SET_PDEATHSIG, SIGKILL)

    return preexec


_DIE_WITH_PARENT = _prepare_die_with_parent()


def stop_process(proc: subprocess.Popen[Any], timeout: float = STOP_TIMEOUT) -> None:
    """SIGTERM, wait, SIGKILL, wait: the process is gone when this returns (or it raises)."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired as exc:  # pragma: no cover - a SIGKILLed process that won't die
                raise ServerError(f"process {proc.pid} did not die after SIGKILL") from exc


def _http_status(host: str, port: int, path: str, timeout: float) -> int | None:
    """Status of GET path, or None if nothing answered (no connection, timeout, garbage)."""
    import http.client

    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        resp.read()
        return resp.status
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


# --------------------------------------------------------------------------------------------------------------
# The registry
# --------------------------------------------------------------------------------------------------------------


class _Request3(NamedTuple):
    method: str
    path: str
    status: int


class LoggedRequest(_Request3):
    """One request the registry served, from its access log: a ``(method, path, status)`` tuple (``path``
    without the query string, so it compares equal to e.g. ``("PUT", "/v2/a/manifests/1", 201)``), plus
    ``.query`` (the query string, e.g. ``_state=...&digest=...``) and ``.uri`` (path?query)."""

    query: str

    def __new__(cls, method: str, path: str, status: int, query: str = "") -> LoggedRequest:
        self = super().__new__(cls, method, path, status)
        self.query = query
        return self

    @property
    def uri(self) -> str:
        return f"{self.path}?{self.query}" if self.query else self.path

    def __repr__(self) -> str:
        return f"LoggedRequest({self.method} {self.uri} -> {self.status})"


# Combined Log Format, as gorilla/handlers writes it for distribution's access log:
# 127.0.0.1 - - [22/Nov/2026:02:33:32 +0000] "GET /v2/ HTTP/1.1" 200 2 "" "curl/7.88.1"
_ACCESS_LINE = re.compile(r'^\S+ \S+ \S+ \[[^\]]*\] "(?P<method>[A-Z]+) (?P<uri>\S+) [^"]*" (?P<status>\d{3}) ')


class RegistryServer:
    """A ``docker-registry serve`` process on 127.0.0.1, with a config written into ``workdir``.

    ``auth`` is None (anonymous), ``{"htpasswd": {"realm": ..., "path": ...}}`` or ``{"token": {...}}``: the
    registry config's ``auth`` section as it is.

    Logs: distribution writes its access log (Combined Log Format, every request with method, URI and status,
    401s included) to stdout, kept in ``access_log_path``; its own log (JSON lines, ``formatter: json``, with
    ``http.request.method``/``http.request.uri``/``http.response.status`` fields on "response completed"
    entries, but none for requests refused by auth) goes to stderr, kept in ``log_path``.  ``requests()``
    parses the access log, which is the complete one.
    """

    def __init__(
        self,
        workdir: Path,
        *,
        auth: dict[str, Any] | None = None,
        relative_urls: bool = False,
        binary: str | None = None,
        name: str = "registry",
    ) -> None:
        self.workdir = Path(workdir)
        self.auth = auth
        self.relative_urls = relative_urls
        self.binary = binary or find_registry_binary()
        self.name = name
        self.root = self.workdir / "storage"
        self.config_path = self.workdir / "config.yml"
        self.log_path = self.workdir / "registry.log"
        self.access_log_path = self.workdir / "access.log"
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.username: str | None = None
        self.password: str | None = None

    # -- addresses ---------------------------------------------------------------------------------------------
    @property
    def host(self) -> str:
        return f"{LOCALHOST}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def __repr__(self) -> str:
        return f"<RegistryServer {self.name} {self.url} root={self.root}>"

    # -- config ------------------------------------------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        cfg: dict[str, Any] = {
            "version": "0.1",
            "log": {
                "level": "info",
                "formatter": "json",
                "accesslog": {"disabled": False},
                "fields": {"service": "registry", "fixture": self.name},
            },
            "storage": {
                "filesystem": {"rootdirectory": str(self.root)},
                "delete": {"enabled": True},
                # No background purge of upload folders while a test runs.
                "maintenance": {"uploadpurging": {"enabled": False}},
            },
            "http": {
                "addr": self.host,
                # Fixed, so upload-state HMACs don't depend on a random secret (and no warning about it).
                "secret": "modeloci-test-secret",
                "relativeurls": self.relative_urls,
                "headers": {"X-Content-Type-Options": ["nosniff"]},
            },
        }
        if self.auth:
            cfg["auth"] = self.auth
        return cfg

    # -- life cycle --------------------------------------------------------------------------------------------
    def start(self, timeout: float = START_TIMEOUT, attempts: int = 3) -> RegistryServer:
        if not self.binary:
            raise ServerError("no docker-registry binary found")
        self.root.mkdir(parents=True, exist_ok=True)
        last_error = ""
        for _ in range(attempts):
            self.port = free_port()
            # YAML is a superset of JSON: write the config as JSON, no YAML library needed.
            self.config_path.write_text(json.dumps(self.config(), indent=2))
            self.access_log_path.write_bytes(b"")
            self.log_path.write_bytes(b"")
            with open(self.access_log_path, "ab") as out, open(self.log_path, "ab") as err:
                self.proc = subprocess.Popen(
                    [self.binary, "serve", str(self.config_path)],
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=err,
                    cwd=self.workdir,
                    preexec_fn=_DIE_WITH_PARENT,
                )
            try:
                self._wait_ready(timeout)
                return self
            except ServerError as exc:
                last_error = str(exc)
                self.stop()
                if "address already in use" not in last_error:
                    break  # not a port race: retrying won't help
        raise ServerError(last_error)

    def _wait_ready(self, timeout: float) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServerError(
                    f"docker-registry exited with {self.proc.returncode} before answering:\n{self.log_tail()}"
                )
            if _http_status(LOCALHOST, self.port, "/v2/", timeout=1.0) in (200, 401):
                return
            time.sleep(0.05)
        raise ServerError(f"docker-registry did not answer GET /v2/ within {timeout}s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def __enter__(self) -> RegistryServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- logs --------------------------------------------------------------------------------------------------
    def log_tail(self, lines: int = 30) -> str:
        text = ""
        for path in (self.log_path, self.access_log_path):
            with contextlib.suppress(OSError):
                text += "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) + "\n"
        return text

    def log_entries(self) -> list[dict[str, Any]]:
        """The registry's own JSON log entries (``log_path``); lines that are not JSON are skipped."""
        entries = []
        with contextlib.suppress(OSError):
            for line in self.log_path.read_text(errors="replace").splitlines():
                with contextlib.suppress(ValueError):
                    entries.append(json.loads(line))
        return entries

    def _read_access_log(self) -> list[LoggedRequest]:
        result = []
        try:
            text = self.access_log_path.read_text(errors="replace")
        except OSError:
            return result
        for line in text.splitlines():
            m = _ACCESS_LINE.match(line)
            if not m:
                continue
            path, _, query = m["uri"].partition("?")
            result.append(LoggedRequest(m["method"], path, int(m["status"]), query))
        return result

    def requests(self, since: int = 0, *, settle: float = 0.05, timeout: float = 2.0) -> list[LoggedRequest]:
        """Requests the registry served, oldest first, from the ``since``-th on (see ``mark()``).

        The registry writes an access-log line right after it sends the response, so a client can see the
        response a moment before the line exists: this reads the log until two reads ``settle`` seconds apart
        agree (at most ``timeout`` seconds).
        """
        deadline = time.monotonic() + timeout
        previous = self._read_access_log()
        while time.monotonic() < deadline:
            time.sleep(settle)
            current = self._read_access_log()
            if current == previous:
                break
            previous = current
        return previous[since:]

    def mark(self) -> int:
        """The number of requests logged so far: ``requests(since=mark)`` lists only the later ones."""
        return len(self.requests())

    def wait_for_request(
        self, predicate: Callable[[LoggedRequest], bool], timeout: float = 5.0
    ) -> LoggedRequest:
        deadline = time.monotonic() + timeout
        while True:
            for req in self._read_access_log():
                if predicate(req):
                    return req
            if time.monotonic() >= deadline:
                raise AssertionError(f"no matching request in the registry's access log within {timeout}s")
            time.sleep(0.05)


class TokenRegistryServer(RegistryServer):
    """A registry with ``auth: token`` and the :class:`TokenServer` it trusts (started first, stopped last)."""

    def __init__(self, workdir: Path, token_server: TokenServer, **kwargs: Any) -> None:
        super().__init__(workdir, auth=token_server.registry_auth(), **kwargs)
        self.token_server = token_server
        self.username = token_server.username
        self.password = token_server.password

    @property
    def realm(self) -> str:
        return self.token_server.realm

    @property
    def service(self) -> str:
        return self.token_server.service

    @property
    def issuer(self) -> str:
        return self.token_server.issuer

    @property
    def token_requests(self) -> list[TokenRequest]:
        return self.token_server.token_requests

    def stop(self) -> None:
        try:
            super().stop()
        finally:
            self.token_server.stop()


def write_htpasswd(path: Path, user: str = HTPASSWD_USER, bcrypt_hash: str = HTPASSWD_HASH) -> Path:
    path.write_text(f"{user}:{bcrypt_hash}\n")
    return path


# --------------------------------------------------------------------------------------------------------------
# The token server
# --------------------------------------------------------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def libtrust_key_id(public_key_der: bytes) -> str:
    """The key ID docker/libtrust gives a public key (what distribution 2.8 looks a JWT ``kid`` up by).

    SHA-256 of the DER SubjectPublicKeyInfo, first 240 bits, base32 without padding, in groups of 4 joined by ':'.
    """
    s = base64.b32encode(hashlib.sha256(public_key_der).digest()[:30]).decode("ascii").rstrip("=")
    return ":".join(s[i : i + 4] for i in range(0, len(s), 4))


class TokenRequest(NamedTuple):
    """One request to the token server: the requested scopes, who asked (None: anonymous) and the answer."""

    scopes: tuple[str, ...]
    username: str | None
    service: str | None
    status: int
    granted: tuple[dict[str, Any], ...] = ()

    @property
    def scope(self) -> str:
        """The scopes as one string, space-separated (usually there is exactly one)."""
        return " ".join(self.scopes)


class _TokenHandler(BaseHTTPRequestHandler):
    server_version = "modeloci-test-token-server"
    protocol_version = "HTTP/1.0"
    timeout = 10  # seconds a connection may stay silent

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        owner: TokenServer = self.server.owner  # type: ignore[attr-defined]
        owner._handle(self)


class TokenServer:
    """A Docker token server for distribution's ``auth: token``.

    ``GET /token?service=S&scope=repository:NAME:pull,push`` (any number of ``scope`` parameters), with or
    without HTTP Basic credentials:

    * right credentials (``username``/``password``): a token granting exactly the requested actions;
    * no credentials: a token granting only ``pull`` of requested repository scopes (nothing else);
    * wrong credentials: 401 with a Basic challenge, no token.

    Tokens are ES256 JWTs whose header carries the signing certificate (``x5c``, the default) or its libtrust
    key ID (``kid``; set ``header_mode = "kid"``); distribution 2.8 accepts either, given the certificate as
    ``rootcertbundle``.  Every request is recorded in ``token_requests``.
    """

    def __init__(
        self,
        workdir: Path,
        *,
        username: str = TOKEN_USER,
        password: str = TOKEN_PASSWORD,
        service: str = TOKEN_SERVICE,
        issuer: str = TOKEN_ISSUER,
        lifetime: int = 300,
    ) -> None:
        self.workdir = Path(workdir)
        self.username = username
        self.password = password
        self.service = service
        self.issuer = issuer
        self.lifetime = lifetime
        self.header_mode = "x5c"
        self.cert_path = self.workdir / "token-cert.pem"
        self._lock = threading.Lock()
        self._requests: list[TokenRequest] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._key: Any = None
        self._cert_der = b""
        self.key_id = ""

    # -- keys --------------------------------------------------------------------------------------------------
    def _make_key_and_cert(self) -> None:
        import datetime

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "modeloci test token issuer")])
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(key, hashes.SHA256())
        )
        self._key = key
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._cert_der = cert.public_bytes(serialization.Encoding.DER)
        self.cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        spki = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.key_id = libtrust_key_id(spki)

    def sign(self, claims: dict[str, Any]) -> str:
        """A compact ES256 JWS of ``claims`` (JOSE: the signature is r || s, 32 bytes each)."""
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

        header: dict[str, Any] = {"typ": "JWT", "alg": "ES256"}
        if self.header_mode == "x5c":
            header["x5c"] = [base64.b64encode(self._cert_der).decode("ascii")]
        elif self.header_mode == "kid":
            header["kid"] = self.key_id
        else:
            raise ValueError(f"unknown header_mode {self.header_mode!r}")
        signing_input = (
            _b64url(json.dumps(header, separators=(",", ":")).encode())
            + "."
            + _b64url(json.dumps(claims, separators=(",", ":")).encode())
        )
        der = self._key.sign(signing_input.encode("ascii"), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        return signing_input + "." + _b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))

    # -- life cycle --------------------------------------------------------------------------------------------
    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.server_address[1]

    @property
    def host(self) -> str:
        return f"{LOCALHOST}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    @property
    def realm(self) -> str:
        return f"{self.url}/token"

    def registry_auth(self) -> dict[str, Any]:
        """The ``auth`` section of a registry config that trusts this server."""
        return {
            "token": {
                "realm": self.realm,
                "service": self.service,
                "issuer": self.issuer,
                "rootcertbundle": str(self.cert_path),
            }
        }

    def start(self) -> TokenServer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._make_key_and_cert()
        server = ThreadingHTTPServer((LOCALHOST, 0), _TokenHandler)
        # Request threads are joined by server_close() (bounded: the handler's socket timeout).
        server.daemon_threads = False
        server.block_on_close = True
        server.owner = self  # type: ignore[attr-defined]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="token-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            if self._thread is not None and self._thread.is_alive():
                self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(STOP_TIMEOUT)
            if self._thread.is_alive():  # pragma: no cover
                raise ServerError("token server thread did not stop")

    def __enter__(self) -> TokenServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- requests ----------------------------------------------------------------------------------------------
    @property
    def token_requests(self) -> list[TokenRequest]:
        with self._lock:
            return list(self._requests)

    def clear(self) -> None:
        with self._lock:
            self._requests.clear()

    def _credentials(self, header: str | None) -> tuple[str, str] | None:
        if not header or not header.lower().startswith("basic "):
            return None
        try:
            user, _, password = base64.b64decode(header[6:].strip()).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            return ("", "")
        return user, password

    @staticmethod
    def _parse_scope(scope: str) -> dict[str, Any] | None:
        # type:name:actions, where name may itself contain ':' (e.g. a port in some registries' names)
        typ, sep, rest = scope.partition(":")
        name, sep2, actions = rest.rpartition(":")
        if not (sep and sep2 and typ and name):
            return None
        return {"type": typ, "name": name, "actions": [a for a in actions.split(",") if a]}

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        url = urllib.parse.urlsplit(handler.path)
        query = urllib.parse.parse_qs(url.query)
        scopes = tuple(s for value in query.get("scope", []) for s in value.split(" ") if s)
        service = query.get("service", [None])[0]
        creds = self._credentials(handler.headers.get("Authorization"))

        def record(status: int, username: str | None, granted: list[dict[str, Any]] = ()) -> None:  # type: ignore[assignment]
            with self._lock:
                self._requests.append(TokenRequest(scopes, username, service, status, tuple(granted)))

        if url.path != "/token":
            record(404, creds[0] if creds else None)
            self._reply(handler, 404, {"errors": [{"code": "NOT_FOUND", "message": "no such endpoint"}]})
            return
        if creds is not None and creds != (self.username, self.password):
            record(401, creds[0])
            self._reply(
                handler,
                401,
                {"errors": [{"code": "UNAUTHORIZED", "message": "wrong username or password"}]},
                {"WWW-Authenticate": 'Basic realm="modeloci-test-token-server"'},
            )
            return
        username = creds[0] if creds else None
        granted = []
        for scope in scopes:
            parsed = self._parse_scope(scope)
            if parsed is None:
                continue
            if username is None:
                parsed["actions"] = ["pull"] if parsed["type"] == "repository" and "pull" in parsed["actions"] else []
            if parsed["actions"]:
                granted.append(parsed)
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": username or "",
            "aud": service if service is not None else self.service,
            "exp": now + self.lifetime,
            "nbf": now - 10,
            "iat": now,
            "jti": secrets.token_hex(16),
            "access": granted,
        }
        token = self.sign(claims)
        record(200, username, granted)
        issued = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
        self._reply(
            handler,
            200,
            {"token": token, "access_token": token, "expires_in": self.lifetime, "issued_at": issued},
        )

    @staticmethod
    def _reply(
        handler: BaseHTTPRequestHandler, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        data = json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(data)


# --------------------------------------------------------------------------------------------------------------
# The fault-injecting proxy
# --------------------------------------------------------------------------------------------------------------

PIECE = 64 * 1024  # bytes moved per read: the proxy holds at most a few of these per connection
MAX_HEAD = 64 * 1024  # request/response line + headers


class _ProxyRequest4(NamedTuple):
    method: str
    path: str
    status: int | None
    body_bytes: int


class ProxyRequest(_ProxyRequest4):
    """One request through the proxy: a ``(method, path, status, body_bytes)`` tuple.

    ``path`` is the request target as the client sent it, without the query string (``.query`` has it,
    ``.uri`` both); ``status`` is what the client got (None: the proxy reset the connection); ``body_bytes`` is
    how many request-body bytes the proxy received from the client.  Also: ``.fault`` ("reset", "fail" or
    None), ``.delayed`` (seconds of injected delay), ``.started`` (``time.monotonic()`` when its head was read)
    and ``.duration`` (seconds from then until the answer or the reset).
    """

    query: str
    fault: str | None
    delayed: float
    duration: float
    started: float

    def __new__(
        cls,
        method: str,
        path: str,
        status: int | None,
        body_bytes: int,
        query: str = "",
        fault: str | None = None,
        delayed: float = 0.0,
        duration: float = 0.0,
        started: float = 0.0,
    ) -> ProxyRequest:
        self = super().__new__(cls, method, path, status, body_bytes)
        self.query, self.fault, self.delayed, self.duration = query, fault, delayed, duration
        self.started = started
        return self

    @property
    def uri(self) -> str:
        return f"{self.path}?{self.query}" if self.query else self.path

    def __repr__(self) -> str:
        extra = f" fault={self.fault}" if self.fault else ""
        extra += f" delayed={self.delayed}" if self.delayed else ""
        return f"ProxyRequest({self.method} {self.uri} -> {self.status}, body={self.body_bytes}{extra})"


@dataclass
class _Fault:
    kind: str  # "reset" | "fail" | "delay" | "corrupt"
    times: int
    method: str | None = None
    path_contains: str | None = None
    nbytes: int = 0
    status: int = 503
    seconds: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and method.upper() != self.method.upper():
            return False
        if self.path_contains is not None and self.path_contains not in path:
            return False
        return True


class _ProtocolError(Exception):
    pass


class _Reader:
    """Buffered reads from a socket, with a cap on line length."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = bytearray()

    def _fill(self) -> bool:
        data = self.sock.recv(PIECE)
        if not data:
            return False
        self.buf += data
        return True

    def readline(self, limit: int = MAX_HEAD) -> bytes:
        while True:
            i = self.buf.find(b"\n")
            if i >= 0:
                line = bytes(self.buf[: i + 1])
                del self.buf[: i + 1]
                return line
            if len(self.buf) > limit:
                raise _ProtocolError("line too long")
            if not self._fill():
                line = bytes(self.buf)
                self.buf.clear()
                return line

    def read_some(self, n: int) -> bytes:
        """Up to n bytes (at least 1 unless the peer closed)."""
        if not self.buf and not self._fill():
            return b""
        data = bytes(self.buf[:n])
        del self.buf[:n]
        return data


def _read_head(reader: _Reader) -> tuple[str, list[tuple[str, str]]] | None:
    """(start line, headers) or None if the peer closed before sending anything."""
    line = reader.readline()
    while line in (b"\r\n", b"\n"):  # tolerate stray CRLFs between requests (RFC 9112 2.2)
        line = reader.readline()
    if not line:
        return None
    start = line.decode("latin-1").rstrip("\r\n")
    headers: list[tuple[str, str]] = []
    total = len(line)
    while True:
        line = reader.readline()
        total += len(line)
        if total > MAX_HEAD:
            raise _ProtocolError("header section too large")
        if not line:
            raise _ProtocolError("connection closed inside the header section")
        if line in (b"\r\n", b"\n"):
            return start, headers
        name, sep, value = line.decode("latin-1").partition(":")
        if not sep:
            raise _ProtocolError(f"bad header line {line!r}")
        headers.append((name.strip(), value.strip()))


def _get(headers: list[tuple[str, str]], name: str) -> str | None:
    for k, v in headers:
        if k.lower() == name.lower():
            return v
    return None


def _without(headers: list[tuple[str, str]], *names: str) -> list[tuple[str, str]]:
    lowered = {n.lower() for n in names}
    return [(k, v) for k, v in headers if k.lower() not in lowered]


def _head_bytes(start: str, headers: list[tuple[str, str]]) -> bytes:
    return (start + "\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n").encode("latin-1")


class _Body:
    """A request body read from the client in pieces of at most PIECE bytes (Content-Length or chunked)."""

    def __init__(self, reader: _Reader, chunked: bool, length: int) -> None:
        self.reader = reader
        self.chunked = chunked
        self.remaining = length  # Content-Length: bytes left; chunked: bytes left in the current chunk
        self.received = 0
        self.done = (not chunked) and length == 0

    def read(self, limit: int = PIECE) -> bytes:
        """The next piece (at most ``limit`` bytes); b"" once the body is complete."""
        if self.done or limit <= 0:
            return b""
        if self.chunked and self.remaining == 0:
            size_line = self.reader.readline(1024)
            if not size_line:
                raise _ProtocolError("connection closed inside a chunked body")
            try:
                size = int(size_line.split(b";", 1)[0].strip(), 16)
            except ValueError as exc:
                raise _ProtocolError(f"bad chunk size line {size_line!r}") from exc
            if size == 0:
                while self.reader.readline(MAX_HEAD) not in (b"\r\n", b"\n", b""):
                    pass  # trailers: dropped
                self.done = True
                return b""
            self.remaining = size
        data = self.reader.read_some(min(limit, self.remaining))
        if not data:
            raise _ProtocolError("connection closed inside the request body")
        self.remaining -= len(data)
        self.received += len(data)
        if self.chunked and self.remaining == 0:
            if self.reader.readline(16) not in (b"\r\n", b"\n"):
                raise _ProtocolError("chunk not followed by CRLF")
        elif not self.chunked and self.remaining == 0:
            self.done = True
        return data


class FaultProxy:
    """A forwarding HTTP/1.1 proxy on 127.0.0.1 in front of ``target`` ("host:port"), with injectable faults.

    Each client connection carries one request (the proxy answers with ``Connection: close``); each request is
    forwarded on a new upstream connection, verbatim except: ``Host`` becomes the target's, ``Connection:
    close`` is sent upstream, ``Expect: 100-continue`` is answered by the proxy itself, chunked request bodies
    are re-chunked, and an absolute ``Location`` pointing at the target is rewritten to point at the proxy
    (relative ones are passed through: they resolve against the proxy's URL anyway).  Bodies are streamed in
    pieces of 64 KiB, so memory stays bounded whatever the upload size.

    Faults (each with a count; a request can take one of each kind; set them at any time):

    * ``reset_after(nbytes, method="PATCH", times=1)``: forward the headers and the first ``nbytes`` of the
      body, close the upstream request there (half-close, then wait for the registry to finish with it), then
      reset the client connection (SO_LINGER 0: the client gets ECONNRESET).  If the body is shorter than
      ``nbytes``, the whole request is forwarded and only the response is lost.
    * ``fail(status=503, times=1, method=None, path_contains=None)``: the request body is read and dropped,
      and the client gets ``status`` (with ``Retry-After: 0`` for 429 and 503) without anything forwarded.
    * ``delay(seconds, times=1, ...)``: sleep before forwarding.
    * ``corrupt(times=1, method="GET", path_contains=None)``: a 200 answer's body is relayed with its first byte
      inverted (same size, other bytes).
    * ``clear()``: drop all pending faults.
    """

    def __init__(self, target: str, *, io_timeout: float = 30.0) -> None:
        host, _, port = target.rpartition(":")
        self.target = target
        self.upstream_addr = (host, int(port))
        self.io_timeout = io_timeout
        self._lock = threading.Lock()
        self._faults: list[_Fault] = []
        self._records: list[ProxyRequest] = []
        self._stop = threading.Event()
        self._listener: socket.socket | None = None
        self._accept_thread: threading.Thread | None = None
        self._threads: set[threading.Thread] = set()
        self._sockets: set[socket.socket] = set()
        self.errors: list[str] = []  # unexpected errors while proxying (protocol errors, upstream failures)

    # -- addresses ---------------------------------------------------------------------------------------------
    @property
    def port(self) -> int:
        assert self._listener is not None
        return self._listener.getsockname()[1]

    @property
    def host(self) -> str:
        return f"{LOCALHOST}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def __repr__(self) -> str:
        return f"<FaultProxy {self.url} -> {self.target}>"

    # -- faults ------------------------------------------------------------------------------------------------
    def reset_after(
        self, nbytes: int, method: str | None = "PATCH", times: int = 1, path_contains: str | None = None
    ) -> None:
        self._add(_Fault("reset", times, method, path_contains, nbytes=nbytes))

    def fail(
        self,
        status: int = 503,
        times: int = 1,
        method: str | None = None,
        path_contains: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        extra = dict(headers or {})
        if status in (429, 503):
            extra.setdefault("Retry-After", "0")
        self._add(_Fault("fail", times, method, path_contains, status=status, headers=extra))

    def delay(
        self, seconds: float, times: int = 1, method: str | None = None, path_contains: str | None = None
    ) -> None:
        self._add(_Fault("delay", times, method, path_contains, seconds=seconds))

    def corrupt(self, times: int = 1, method: str | None = "GET", path_contains: str | None = None) -> None:
        """The answer's body is relayed with its first byte inverted: the same size, other bytes (what a broken or
        hostile registry or storage host serves)."""
        self._add(_Fault("corrupt", times, method, path_contains))

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def pending_faults(self) -> list[tuple[str, int]]:
        with self._lock:
            return [(f.kind, f.times) for f in self._faults]

    def _add(self, fault: _Fault) -> None:
        if fault.times < 1:
            raise ValueError("times must be at least 1")
        with self._lock:
            self._faults.append(fault)

    def _take(self, method: str, path: str) -> dict[str, _Fault]:
        taken: dict[str, _Fault] = {}
        with self._lock:
            for fault in list(self._faults):
                if fault.kind in taken or not fault.matches(method, path):
                    continue
                taken[fault.kind] = fault
                fault.times -= 1
                if fault.times == 0:
                    self._faults.remove(fault)
        return taken

    # -- records -----------------------------------------------------------------------------------------------
    @property
    def requests(self) -> list[ProxyRequest]:
        with self._lock:
            return list(self._records)

    def _record(self, rec: ProxyRequest) -> None:
        with self._lock:
            self._records.append(rec)

    # -- life cycle --------------------------------------------------------------------------------------------
    def start(self) -> FaultProxy:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((LOCALHOST, 0))
        listener.listen(64)
        listener.settimeout(0.1)
        self._listener = listener
        self._accept_thread = threading.Thread(target=self._accept_loop, name=f"proxy-accept-{self.port}", daemon=True)
        self._accept_thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._accept_thread is not None:
            self._accept_thread.join(STOP_TIMEOUT)
        if self._listener is not None:
            self._listener.close()
        with self._lock:
            sockets = list(self._sockets)
            threads = list(self._threads)
        for s in sockets:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                s.close()
        deadline = time.monotonic() + STOP_TIMEOUT
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))
        alive = [t.name for t in threads if t.is_alive()]
        if (self._accept_thread is not None and self._accept_thread.is_alive()) or alive:
            raise ServerError(f"proxy threads did not stop: {alive}")

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                break
            client.setblocking(True)
            t = threading.Thread(target=self._serve, args=(client,), name=f"proxy-conn-{self.port}", daemon=True)
            with self._lock:
                if self._stop.is_set():
                    client.close()
                    break
                self._sockets.add(client)
                self._threads.add(t)
            t.start()

    def _track(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.add(sock)
        if self._stop.is_set():  # stop() may have run between creating the socket and tracking it
            with contextlib.suppress(OSError):
                sock.close()

    def _untrack(self, sock: socket.socket | None) -> None:
        if sock is None:
            return
        with self._lock:
            self._sockets.discard(sock)
        with contextlib.suppress(OSError):
            sock.close()

    # -- one connection ----------------------------------------------------------------------------------------
    def _serve(self, client: socket.socket) -> None:
        upstream: socket.socket | None = None
        try:
            upstream = self._exchange(client)
        except Exception as exc:
            if not self._stop.is_set():
                self.errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            self._untrack(upstream)
            self._untrack(client)
            with self._lock:
                self._threads.discard(threading.current_thread())

    def _exchange(self, client: socket.socket) -> socket.socket | None:
        client.settimeout(self.io_timeout)
        started = time.monotonic()
        reader = _Reader(client)
        head = _read_head(reader)
        if head is None:
            return None
        start_line, headers = head
        parts = start_line.split(" ")
        if len(parts) != 3:
            raise _ProtocolError(f"bad request line {start_line!r}")
        method, target, version = parts
        if not target.startswith("/"):  # absolute-form (the proxy used as HTTP_PROXY): keep path and query
            u = urllib.parse.urlsplit(target)
            target = (u.path or "/") + (f"?{u.query}" if u.query else "")

        te = (_get(headers, "Transfer-Encoding") or "").lower()
        chunked = "chunked" in te
        length = 0 if chunked else int(_get(headers, "Content-Length") or 0)
        if (_get(headers, "Expect") or "").lower() == "100-continue":
            client.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        body = _Body(reader, chunked, length)
        faults = self._take(method, target)

        delayed = 0.0
        if "delay" in faults:
            delayed = faults["delay"].seconds
            if self._stop.wait(delayed):
                return None  # stopping: drop the request

        def record(status: int | None, fault: str | None = None) -> None:
            path, _, query = target.partition("?")
            self._record(
                ProxyRequest(
                    method, path, status, body.received, query, fault, delayed, time.monotonic() - started,
                    started,
                )
            )

        if "fail" in faults:
            fault = faults["fail"]
            self._drain_body(body)
            record(fault.status, "fail")
            self._canned(client, fault.status, fault.headers)
            self._lingering_close(client)
            return None

        # -- forward the request head ------------------------------------------------------------------------
        try:
            upstream = socket.create_connection(self.upstream_addr, timeout=self.io_timeout)
        except OSError as exc:
            self._drain_body(body)
            record(502)
            self._canned(client, 502, {}, f"proxy could not connect to {self.target}: {exc}")
            return None
        self._track(upstream)
        up_headers = _without(headers, "Host", "Connection", "Proxy-Connection", "Keep-Alive", "Expect")
        if chunked:
            up_headers = _without(up_headers, "Content-Length")
        up_headers.insert(0, ("Host", self.target))
        up_headers.append(("Connection", "close"))
        upstream.sendall(_head_bytes(f"{method} {target} {version}", up_headers))

        # -- forward the body (all of it, or the first nbytes of it before a reset) --------------------------
        reset = faults.get("reset")
        budget = reset.nbytes if reset else None
        early_response = False
        forwarded = 0
        while not body.done:
            if budget is not None and forwarded >= budget:
                break
            piece = body.read(PIECE if budget is None else min(PIECE, budget - forwarded))
            if not piece:
                break
            if select.select([upstream], [], [], 0)[0]:  # the registry answered (or closed) before the end
                early_response = True
                break
            try:
                upstream.sendall(b"%x\r\n%b\r\n" % (len(piece), piece) if chunked else piece)
            except OSError:
                early_response = True
                break
            forwarded += len(piece)
        if chunked and body.done and not early_response:
            upstream.sendall(b"0\r\n\r\n")

        if reset is not None:
            # Let the registry see the end of the (possibly truncated) request and finish with it, so that the
            # state a retrying client finds does not depend on timing; then reset the client connection.
            with contextlib.suppress(OSError):
                upstream.shutdown(socket.SHUT_WR)
            self._drain_socket(upstream, timeout=10.0)
            record(None, "reset")
            self._reset(client)
            return upstream

        # -- relay the response ------------------------------------------------------------------------------
        up_reader = _Reader(upstream)
        try:
            resp = _read_head(up_reader)
        except (OSError, _ProtocolError):
            resp = None
        if resp is None:
            record(502)
            self._canned(client, 502, {}, f"no response from {self.target}")
            self._lingering_close(client)
            return upstream
        status_line, resp_headers = resp
        try:
            status = int(status_line.split(" ")[1])
        except (IndexError, ValueError):
            status = 502
        resp_headers = _without(resp_headers, "Connection", "Keep-Alive")
        resp_headers = [(k, self._rewrite_location(v) if k.lower() == "location" else v) for k, v in resp_headers]
        resp_headers.append(("Connection", "close"))
        record(status, "corrupt" if "corrupt" in faults else None)
        client.sendall(_head_bytes(status_line, resp_headers))
        corrupt = "corrupt" in faults and status == 200
        if corrupt and "chunked" in (_get(resp_headers, "Transfer-Encoding") or "").lower():
            raise _ProtocolError("corrupt: a chunked answer; only Content-Length bodies are corrupted")
        data = bytes(up_reader.buf)
        up_reader.buf.clear()
        while True:  # upstream closes after the response (we sent Connection: close)
            if not data:
                data = upstream.recv(PIECE)
                if not data:
                    break
            if corrupt:
                data, corrupt = bytes([data[0] ^ 0xFF]) + data[1:], False
            client.sendall(data)
            data = b""
        if early_response or not body.done:
            self._lingering_close(client)
        else:
            with contextlib.suppress(OSError):
                client.shutdown(socket.SHUT_WR)
        return upstream

    # -- helpers -----------------------------------------------------------------------------------------------
    def _rewrite_location(self, value: str) -> str:
        u = urllib.parse.urlsplit(value)
        if u.scheme in ("http", "https") and u.port == self.upstream_addr[1] and u.hostname in (
            self.upstream_addr[0],
            "localhost",
            "127.0.0.1",
        ):
            return urllib.parse.urlunsplit(("http", self.host, u.path, u.query, u.fragment))
        return value

    def _drain_body(self, body: _Body, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not body.done and time.monotonic() < deadline:
            if not body.read():
                break

    @staticmethod
    def _drain_socket(sock: socket.socket, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with contextlib.suppress(OSError):
            while time.monotonic() < deadline:
                sock.settimeout(max(0.01, deadline - time.monotonic()))
                if not sock.recv(PIECE):
                    break

    def _lingering_close(self, client: socket.socket, timeout: float = 2.0) -> None:
        """Half-close, then read what the client still sends, so closing does not reset it before it has read
        our response (closing a socket with unread input sends RST)."""
        with contextlib.suppress(OSError):
            client.shutdown(socket.SHUT_WR)
        self._drain_socket(client, timeout)

    @staticmethod
    def _reset(client: socket.socket) -> None:
        with contextlib.suppress(OSError):
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        with contextlib.suppress(OSError):
            client.close()

    @staticmethod
    def _canned(client: socket.socket, status: int, headers: dict[str, str], message: str | None = None) -> None:
        import http

        try:
            reason = http.HTTPStatus(status).phrase
        except ValueError:
            reason = "Injected"
        code = {429: "TOOMANYREQUESTS", 503: "UNAVAILABLE"}.get(status, "UNKNOWN")
        body = json.dumps(
            {"errors": [{"code": code, "message": message or f"{status} injected by the test proxy"}]}
        ).encode()
        head = [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            ("Docker-Distribution-Api-Version", "registry/2.0"),
            *headers.items(),
            ("Connection", "close"),
        ]
        with contextlib.suppress(OSError):
            client.sendall(_head_bytes(f"HTTP/1.1 {status} {reason}", head) + body)


def iter_pieces(data: bytes, size: int = PIECE) -> Iterator[bytes]:
    """``data`` in pieces (an iterator body makes httpx send Transfer-Encoding: chunked)."""
    for i in range(0, len(data), size):
        yield data[i : i + size]
