"""A real Distribution registry: ``docker-registry serve CONFIG`` (github.com/docker/distribution 2.8) on 127.0.0.1.

:class:`RegistryServer` writes the config (filesystem storage in a temporary folder, deletes enabled, no auth,
htpasswd Basic auth or Bearer token auth), starts the process on a free port, waits for ``GET /v2/`` with a hard
time limit, and kills it in ``stop()``.  ``requests()`` lists the HTTP requests it served, parsed from its access
log.  :class:`TokenRegistryServer` is one with ``auth: token`` and the :class:`~.tokens.TokenServer` it trusts.
"""

from __future__ import annotations

import contextlib
import functools
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from .common import LOCALHOST, STOP_TIMEOUT, ServerError, free_port
from .tokens import TokenRequest, TokenServer

#: Where the registry binary is looked for (``MODELOCI_REGISTRY_BIN`` overrides).
REGISTRY_CANDIDATES = ("/usr/bin/docker-registry", "docker-registry", "registry")

#: htpasswd user of ``auth_registry``.  The hash is a precomputed bcrypt hash (cost 4, so that the registry's
#: per-request password check stays cheap) of ``HTPASSWD_PASSWORD``; distribution accepts only bcrypt entries.
HTPASSWD_USER = "alice"
HTPASSWD_PASSWORD = "wonderland-s3cret"
HTPASSWD_HASH = "$2b$04$iQPm5GxHXch2Zq9H90nsheGAHaYbStXquODQQBZYy1AK0IKmA61bq"

START_TIMEOUT = 20.0  # seconds for a registry to answer GET /v2/


def find_registry_binary() -> str | None:
    override = os.environ.get("MODELOCI_REGISTRY_BIN")
    candidates = (override,) if override else REGISTRY_CANDIDATES
    for candidate in candidates:
        path = candidate if os.path.isabs(candidate) else shutil.which(candidate)
        if path and os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return None


@functools.cache
def die_with_parent() -> tuple[str, ...]:
    """Linux: ``setpriv --pdeathsig KILL --``, the prefix of a command that makes it get SIGKILL when the test
    process dies, so a killed pytest leaves no registry behind (setpriv sets the signal, then execs the command:
    same pid).  Not a ``preexec_fn``: that runs Python between fork and exec, which can deadlock the child while
    other threads run (the token server's, the proxies').  Elsewhere, or without a setpriv that has --pdeathsig
    (util-linux 2.33 or later): no prefix."""
    setpriv = shutil.which("setpriv") if sys.platform.startswith("linux") else None
    if setpriv is None:
        return ()
    try:
        usage = subprocess.run([setpriv, "--help"], capture_output=True, text=True, timeout=5.0, check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ()
    return (setpriv, "--pdeathsig", "KILL", "--") if "--pdeathsig" in usage else ()


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
                    [*die_with_parent(), self.binary, "serve", str(self.config_path)],
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=err,
                    cwd=self.workdir,
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
        result: list[LoggedRequest] = []
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


