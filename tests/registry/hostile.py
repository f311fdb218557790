"""A registry that attacks its client, for the tests: a small stdlib ``http.server`` on 127.0.0.1 only.

``HostileRegistry(attack, auth=None)`` serves one tiny model honestly (repository ``team/model``, tag ``v1``: a
JSON config, one 64 KiB layer and their manifest) and takes uploads, except where ``attack`` says otherwise.
It listens twice, with one shared state: ``host`` (``127.0.0.1:P``) is the registry, and ``elsewhere``
(``localhost:Q``, another host name) is where some attacks send the client's token requests and uploads.
Every request is recorded in ``seen`` with its listener and headers.

``auth``: None (anonymous), ``"basic"`` (any Basic credentials pass) or ``"bearer"`` (a ``/token`` endpoint on
the realm's listener issues ``tok-...`` tokens to requests with credentials and ``anon-...`` ones to requests
without, all recorded in ``tokens``; any token may read, only a ``tok-`` one may write).

Attacks (``ATTACKS``):

* ``realm-elsewhere``   the Bearer challenge's realm is on ``elsewhere``
* ``upload-elsewhere``  an upload's ``Location`` is on ``elsewhere`` (which takes the upload)
* ``patch-stuck``       every PATCH is answered ``202`` with ``Range: 0-10``
* ``slow-progress``     every PATCH keeps one more byte only: progress, but slow
* ``range-beyond``      every PATCH is answered with a Range far past what was sent
* ``empty-blob``        layer GETs answer 200/206 with an empty body
* ``slow-blob``         layer GETs answer 206 with one byte each
* ``corrupt-blob`` / ``corrupt-config``  the layer / config is served as other bytes of the same size
* ``long-blob`` / ``short-blob``  the layer's body is longer / shorter than its descriptor says
* ``wrong-range``       the layer's first GET is cut in half; the resumed ``Range: bytes=N-`` GET is answered 206
                        from byte 0
* ``endless-blob``      blob GETs answer an endless chunked body (HEAD tells the true size)
* ``endless-manifest``  the manifest is an endless chunked body
* ``endless-error``     manifest GETs answer 404 with an endless chunked body
* ``endless-token``     the token endpoint answers an endless chunked body
* ``token-redirect``    the token endpoint answers a redirect with an endless chunked body
* ``endless-redirect``  the manifest GET is redirected once (to ``?moved=1``), the redirect's body endless
* ``redirect-loop``     the manifest GET is redirected to itself, forever
* ``huge-layer``        the manifest gives the layer a size of 2^50 bytes
* ``deep-manifest`` / ``deep-config``  the manifest / config is JSON nested 100,000 deep (the config's digest true)
* ``echo-auth``         every request under ``/v2/<repo>/`` gets 403 with the request's Authorization header in
                        the error message, and its credential again, bare (what a careless proxy or registry does)
* ``echo-other``        403 whose message holds credentials the client never had (a Bearer value, an
                        ``Authorization:`` line, a JWT), all of which must be redacted anyway

Bounded, so that a client without the defence still ends: after ``MAX_REQUESTS`` requests every answer is a 400,
and an endless body stops after ``ENDLESS`` bytes (``sent`` counts body bytes written per path).
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

LOCALHOST = "127.0.0.1"
REPOSITORY = "team/model"
TAG = "v1"
MAX_REQUESTS = 1000
ENDLESS = 64 << 20
PIECE = 64 << 10
ATTACKS = ("honest", "realm-elsewhere", "upload-elsewhere", "patch-stuck", "slow-progress", "range-beyond",
           "empty-blob", "slow-blob", "corrupt-blob", "corrupt-config", "long-blob", "short-blob", "endless-blob",
           "endless-manifest", "endless-error", "endless-token", "endless-redirect", "redirect-loop", "huge-layer",
           "deep-manifest", "deep-config", "wrong-range", "token-redirect", "echo-auth", "echo-other")
#: What ``echo-other`` says: credentials the client never sent, each of which must be redacted.
OTHER_SECRETS = ("opaque-bearer-value-1234", "c2VjcmV0LXVzZXI6c2VjcmV0LXBhc3M=",
                 "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl")
OTHER_MESSAGE = (f"denied: saw Bearer {OTHER_SECRETS[0]}; Authorization: Basic {OTHER_SECRETS[1]}; "
                 f"id {OTHER_SECRETS[2]}")

_UPLOADS = re.compile(r"/v2/(?P<repo>.+)/blobs/uploads/(?P<id>[0-9a-f]*)$")
_BLOB = re.compile(r"/v2/(?P<repo>.+)/blobs/(?P<digest>sha256:[0-9a-f]{64})$")
_MANIFEST = re.compile(r"/v2/(?P<repo>.+)/manifests/(?P<ref>[^/]+)$")


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Model:
    """The one model the registry holds: its blobs and manifest bytes."""

    layer: bytes
    config: bytes
    layer_size: int  # what the manifest says (huge-layer lies)
    deep: bool = False  # the manifest is JSON nested 100,000 deep

    @property
    def manifest(self) -> bytes:
        if self.deep:
            return b"[" * 100_000 + b"]" * 100_000
        doc = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
               "config": {"mediaType": "application/vnd.docker.ai.model.config.v0.1+json",
                          "digest": digest_of(self.config), "size": len(self.config)},
               "layers": [{"mediaType": "application/vnd.docker.ai.gguf.v3", "digest": digest_of(self.layer),
                           "size": self.layer_size}]}
        return json.dumps(doc, separators=(",", ":")).encode()


def make_model(attack: str) -> Model:
    layer = b"".join(hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(2048))  # 64 KiB, no repeats
    config = json.dumps({"config": {"format": "gguf"}, "descriptor": {"created": "2026-01-01T00:00:00Z"}}).encode()
    if attack == "deep-config":
        config = b"[" * 100_000 + b"]" * 100_000
    return Model(layer, config, 2**50 if attack == "huge-layer" else len(layer), deep=attack == "deep-manifest")


@dataclass(frozen=True)
class Seen:
    """One request: which listener got it (``own`` or ``elsewhere``), what it asked, and its headers."""

    listener: str
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: int

    @property
    def authorization(self) -> str | None:
        return next((v for k, v in self.headers.items() if k.lower() == "authorization"), None)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 10  # seconds a connection may stay silent

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _serve(self) -> None:
        self.close_connection = True
        self.server.owner.handle(self)  # type: ignore[attr-defined]

    do_GET = do_HEAD = do_POST = do_PATCH = do_PUT = do_DELETE = _serve


@dataclass
class _State:
    blobs: dict[str, bytes]
    manifests: dict[str, bytes]
    uploads: dict[str, bytearray] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)
    sent: dict[str, int] = field(default_factory=dict)


class HostileRegistry:
    """See the module docstring. Use as a context manager, or ``start()`` / ``stop()``."""

    def __init__(self, attack: str = "honest", *, auth: str | None = None) -> None:
        if attack not in ATTACKS:
            raise ValueError(f"unknown attack {attack!r}")
        self.attack, self.auth = attack, auth
        self.model = make_model(attack)
        self.state = _State({digest_of(self.model.layer): self.model.layer,
                             digest_of(self.model.config): self.model.config}, {TAG: self.model.manifest})
        self._lock = threading.Lock()
        self._servers = [ThreadingHTTPServer((LOCALHOST, 0), _Handler) for _ in range(2)]
        for server in self._servers:
            server.daemon_threads = True
            server.owner = self  # type: ignore[attr-defined]

    # -- addresses and records ---------------------------------------------------------------------------------
    @property
    def host(self) -> str:
        return f"{LOCALHOST}:{self._servers[0].server_address[1]}"

    @property
    def elsewhere(self) -> str:
        return f"localhost:{self._servers[1].server_address[1]}"

    @property
    def reference(self) -> str:
        return f"{self.host}/{REPOSITORY}:{TAG}"

    @property
    def seen(self) -> list[Seen]:
        with self._lock:
            return list(self.state.seen)

    @property
    def tokens(self) -> list[str]:
        with self._lock:
            return list(self.state.tokens)

    def count(self, method: str, contains: str = "") -> int:
        return sum(1 for s in self.seen if s.method == method and contains in s.path)

    # -- life cycle --------------------------------------------------------------------------------------------
    def start(self) -> HostileRegistry:
        for server in self._servers:
            threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True).start()
        return self

    def stop(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- one request -------------------------------------------------------------------------------------------
    def handle(self, h: BaseHTTPRequestHandler) -> None:
        path, _, query = h.path.partition("?")
        body = _read_body(h)
        listener = "own" if h.server is self._servers[0] else "elsewhere"
        with self._lock:
            self.state.seen.append(Seen(listener, h.command, path, query, dict(h.headers.items()), len(body)))
            over = len(self.state.seen) > MAX_REQUESTS
        if over:
            return _error(h, 400, "TOOMANY", "the hostile registry's request budget is spent")
        if path == "/token":
            return self._token(h)
        if listener == "own" and not self._authorised(h):
            return None
        if self.attack in ("echo-auth", "echo-other") and path.startswith(f"/v2/{REPOSITORY}/"):
            sent = h.headers.get("Authorization") or ""
            said = OTHER_MESSAGE if self.attack == "echo-other" else (
                f"you sent Authorization: {sent}; credential {sent.split(' ')[-1]}")
            return _error(h, 403, "DENIED", f"requested access to the resource is denied ({said})")
        if path == "/v2/":
            return _reply(h, 200, b"{}")
        for pattern, route in ((_UPLOADS, self._upload), (_BLOB, self._blob), (_MANIFEST, self._manifest)):
            match = pattern.match(path)
            if match:
                return route(h, match, query, body)
        return _error(h, 404, "NOT_FOUND", "no such endpoint")

    def _authorised(self, h: BaseHTTPRequestHandler) -> bool:
        sent = h.headers.get("Authorization") or ""
        reads = h.command in ("GET", "HEAD")
        if self.auth is None or (sent.lower().startswith(f"{self.auth} ") and (reads or "anon-" not in sent)):
            return True
        if self.auth == "basic":
            challenge = 'Basic realm="hostile"'
        else:
            realm_host = self.elsewhere if self.attack == "realm-elsewhere" else self.host
            challenge = f'Bearer realm="http://{realm_host}/token",service="hostile"'
        _error(h, 401, "UNAUTHORIZED", "authentication required", {"WWW-Authenticate": challenge})
        return False

    def _token(self, h: BaseHTTPRequestHandler) -> None:
        if self.attack == "endless-token":
            return self._endless(h, 200, b'{"token":"', "/token")
        if self.attack == "token-redirect":
            h.send_response(307)
            h.send_header("Location", "/token?again=1")
            return self._endless(h, None, b"", "/token")
        token = f"{'tok' if h.headers.get('Authorization') else 'anon'}-{secrets.token_hex(16)}"
        with self._lock:
            self.state.tokens.append(token)
        return _reply(h, 200, json.dumps({"token": token}).encode())

    def _manifest(self, h: BaseHTTPRequestHandler, match: re.Match[str], query: str, body: bytes) -> None:
        ref = match["ref"]
        if h.command == "PUT":
            with self._lock:
                self.state.manifests[ref] = body
            return _reply(h, 201, b"", {"Docker-Content-Digest": digest_of(body)})
        if self.attack == "endless-manifest":
            return self._endless(h, 200, b'{"schemaVersion":2,"layers":[', match.group(0))
        if self.attack == "redirect-loop" or (self.attack == "endless-redirect" and "moved=1" not in query):
            if self.attack == "redirect-loop":
                return _reply(h, 307, b"", {"Location": match.group(0)})
            h.send_response(307)
            h.send_header("Location", f"{match.group(0)}?moved=1")
            return self._endless(h, None, b"", match.group(0))
        if self.attack == "endless-error":
            return self._endless(h, 404, b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"', match.group(0))
        data = self.state.manifests.get(ref) or next(
            (m for m in self.state.manifests.values() if digest_of(m) == ref), None)
        if data is None:
            return _error(h, 404, "MANIFEST_UNKNOWN", "manifest unknown")
        return _reply(h, 200, data, {"Content-Type": "application/vnd.oci.image.manifest.v1+json",
                                     "Docker-Content-Digest": digest_of(data)})

    def _blob(self, h: BaseHTTPRequestHandler, match: re.Match[str], query: str, body: bytes) -> None:
        digest = match["digest"]
        data = self.state.blobs.get(digest)
        if data is None:
            return _error(h, 404, "BLOB_UNKNOWN", "blob unknown")
        if h.command == "HEAD":
            return _reply(h, 200, b"", {"Content-Length": str(len(data))}, head=True)
        data = self._served(digest, data)
        if self.attack == "endless-blob":
            return self._endless(h, 200, b"", match.group(0))
        start = int(re.findall(r"bytes=(\d+)-", h.headers.get("Range") or "bytes=0-")[0])
        if start and start >= len(data):
            return _error(h, 416, "RANGE", "requested range not satisfiable")
        is_layer = digest == digest_of(self.model.layer)
        if self.attack == "wrong-range" and is_layer:
            return self._wrong_range(h, data, start)
        if self.attack == "empty-blob" and is_layer:
            return _reply(h, 206 if start else 200, b"")
        slow = self.attack == "slow-blob" and is_layer
        piece = data[start:start + 1] if slow else data[start:]
        status = 206 if start or slow else 200
        headers = {"Content-Range": f"bytes {start}-{start + len(piece) - 1}/{len(data)}"} if status == 206 else {}
        return _reply(h, status, piece, headers)

    @staticmethod
    def _wrong_range(h: BaseHTTPRequestHandler, data: bytes, start: int) -> None:
        if start:
            return _reply(h, 206, data, {"Content-Range": f"bytes 0-{len(data) - 1}/{len(data)}"})
        h.send_response(200)
        h.send_header("Content-Length", str(len(data)))
        h.send_header("Connection", "close")
        h.end_headers()
        h.wfile.write(data[: len(data) // 2])  # and the connection closes: a body cut short
        return None

    def _served(self, digest: str, data: bytes) -> bytes:
        """The bytes served for a blob: the true ones, or what the attack puts in their place."""
        is_layer, is_config = digest == digest_of(self.model.layer), digest == digest_of(self.model.config)
        if (self.attack == "corrupt-blob" and is_layer) or (self.attack == "corrupt-config" and is_config):
            return bytes(b ^ 0xFF for b in data[:1]) + data[1:]
        if self.attack == "long-blob" and is_layer:
            return data + b"tail"
        if self.attack == "short-blob" and is_layer:
            return data[:-4]
        return data

    def _upload(self, h: BaseHTTPRequestHandler, match: re.Match[str], query: str, body: bytes) -> None:
        repo, session = match["repo"], match["id"]
        if h.command == "POST":
            session = secrets.token_hex(8)
            with self._lock:
                self.state.uploads[session] = bytearray()
            base = f"http://{self.elsewhere}" if self.attack == "upload-elsewhere" else ""
            return _reply(h, 202, b"", {"Location": f"{base}/v2/{repo}/blobs/uploads/{session}", "Range": "0-0"})
        held = self.state.uploads.get(session)
        if held is None:
            return _error(h, 404, "BLOB_UPLOAD_UNKNOWN", "upload unknown")
        if h.command == "PATCH":
            return self._patch(h, held, body)
        if h.command == "GET":
            return _reply(h, 204, b"", {"Range": f"0-{max(len(held) - 1, 0)}"})
        if h.command == "DELETE":
            return _reply(h, 204, b"")
        held += body  # PUT ?digest=...
        wanted = re.findall(r"digest=(sha256(?::|%3A)[0-9a-f]{64})", query)
        if not wanted or wanted[0].replace("%3A", ":") != digest_of(bytes(held)):
            return _error(h, 400, "DIGEST_INVALID", "provided digest did not match uploaded content")
        with self._lock:
            self.state.blobs[digest_of(bytes(held))] = bytes(held)
        return _reply(h, 201, b"", {"Docker-Content-Digest": digest_of(bytes(held))})

    def _patch(self, h: BaseHTTPRequestHandler, held: bytearray, body: bytes) -> None:
        if self.attack == "patch-stuck":
            end = 10
        elif self.attack == "range-beyond":
            end = 10**12
        else:
            held += body[:1] if self.attack == "slow-progress" else body
            end = len(held) - 1
        return _reply(h, 202, b"", {"Range": f"0-{end}", "Location": h.path})

    def _endless(self, h: BaseHTTPRequestHandler, status: int | None, start: bytes, path: str) -> None:
        """An answer whose chunked body never ends (until ENDLESS bytes, or the client goes away); ``status``
        None: the status line and some headers are sent already."""
        if status is not None:
            h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Transfer-Encoding", "chunked")
        h.send_header("Connection", "close")
        h.end_headers()
        sent, piece = 0, start + b"x" * (PIECE - len(start))
        try:
            while sent < ENDLESS:
                h.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                sent += len(piece)
                piece = b"x" * PIECE
        except OSError:
            pass  # the client stopped reading: the point
        with self._lock:
            self.state.sent[path] = self.state.sent.get(path, 0) + sent


def _read_body(h: BaseHTTPRequestHandler) -> bytes:
    if "chunked" in (h.headers.get("Transfer-Encoding") or "").lower():
        data = bytearray()
        while True:
            size = int(h.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                h.rfile.readline()
                return bytes(data)
            data += h.rfile.read(size)
            h.rfile.readline()
    return h.rfile.read(int(h.headers.get("Content-Length") or 0))


def _reply(h: BaseHTTPRequestHandler, status: int, body: bytes, headers: dict[str, str] | None = None, *,
           head: bool = False) -> None:
    h.send_response(status)
    extra = dict(headers or {})
    extra.setdefault("Content-Length", str(len(body)))
    extra["Connection"] = "close"
    extra.setdefault("Docker-Distribution-Api-Version", "registry/2.0")
    for name, value in extra.items():
        h.send_header(name, value)
    h.end_headers()
    if not head and h.command != "HEAD":
        h.wfile.write(body)


def _error(h: BaseHTTPRequestHandler, status: int, code: str, message: str,
           headers: dict[str, str] | None = None) -> None:
    body = json.dumps({"errors": [{"code": code, "message": message}]}).encode()
    _reply(h, status, body, {"Content-Type": "application/json", **(headers or {})})
