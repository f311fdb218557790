"""A Docker token server for distribution's ``auth: token``, written for the tests (``GET /token``).

It signs ES256 JWTs with a key whose self-signed certificate is the registry's ``rootcertbundle``, and records
every request it answers.  It needs ``cryptography``, an optional test dependency: it is imported when a key is
made or a token signed, so that the other servers work without it (the conftest skips the token fixtures then).
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import secrets
import threading
import time
import urllib.parse
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from .common import LOCALHOST, STOP_TIMEOUT, ServerError

if TYPE_CHECKING:  # only the key's type: cryptography itself is imported when a key is made
    from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePrivateKey

#: Credentials the token server accepts; anybody else who sends credentials gets 401, anonymous users pull only.
TOKEN_USER = "bob"
TOKEN_PASSWORD = "hunter2"
TOKEN_SERVICE = "modeloci-test-registry"
TOKEN_ISSUER = "modeloci-test-token-server"


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
        assert isinstance(self.server, _TokenHTTPServer)
        self.server.owner._handle(self)


class _TokenHTTPServer(ThreadingHTTPServer):
    """The HTTP server of one :class:`TokenServer`, which its handlers answer for."""

    owner: TokenServer


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
        self._key: EllipticCurvePrivateKey | None = None
        self._cert_der = b""
        self.key_id = ""

    # -- keys --------------------------------------------------------------------------------------------------
    def _make_key_and_cert(self) -> None:
        # cryptography is optional (see the module docstring): imported when a key is made, not with the module.
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
        # cryptography is an optional test dependency, imported only here and where the key is made (see above).
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

        if self._key is None:
            raise ServerError("the token server has no key yet: start() it first")
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
        server = _TokenHTTPServer((LOCALHOST, 0), _TokenHandler)
        # Request threads are joined by server_close() (bounded: the handler's socket timeout).
        server.daemon_threads = False
        server.block_on_close = True
        server.owner = self
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
        # a scope is type:name:actions, where name may itself contain ':' (e.g. a port in some registries' names)
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

        def record(status: int, username: str | None, granted: Sequence[dict[str, Any]] = ()) -> None:
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

