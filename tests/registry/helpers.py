"""Helpers for the push/pull tests: models to push, reading archives, reading request logs, a response-cutting proxy.

* :func:`digest_in`, :func:`push_counts`, :func:`pull_counts` read what build, push and pull print.
* :func:`build` builds an example (or any Modelfile) into an archive with the CLI and returns it with its digest.
* :func:`big_model` writes a Modelfile whose weights are a 3 MiB GGUF (bigger than a download read, 1 MiB).
* :func:`manifest_of` / :func:`blobs_of` read an archive's manifest bytes and blob digests (what a push sends).
* :func:`blob_uploads` / :func:`uploaded_digests` pick the upload requests out of a registry's access log.
* :func:`skopeo` runs skopeo, the independent reader and writer.
* :func:`assert_clean_failure` checks a failed command: an exit code, an ``error:`` line, no traceback, no secret;
  :func:`error_lines` is its stderr from the ``error:`` line on.
* ``PASSWORD``/``ALICE``/``BASIC``, :func:`with_credentials`, :func:`no_secret`, :func:`client_of`: credentials
  for the hostile-registry tests, and a client of a :class:`~tests.registry.hostile.HostileRegistry`.
* :class:`CuttingProxy` forwards GET/HEAD to a registry and cuts chosen response bodies short (the fixture
  proxy cuts request bodies only): what a connection dropped in the middle of a download looks like.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import tarfile
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from modeloci.registry.auth import Credentials
from modeloci.registry.client import RegistryClient
from tests.archive_tools import copy_example
from tests.factories import gguf, make_weights

from .hostile import HostileRegistry
from .servers.common import LoopbackProxy
from .servers.wire import Reader, get_header, head_bytes, read_head, without_headers

DIGEST = re.compile(r"^digest: (sha256:[0-9a-f]{64})$", re.MULTILINE)
UPLOADS = "/blobs/uploads/"
MiB = 1 << 20


def digest_in(output: str) -> str:
    """The ``digest: sha256:...`` line that build, push and pull print."""
    found = DIGEST.findall(output)
    assert len(found) == 1, output
    return found[0]


def push_counts(result: Any) -> tuple[int, int, int]:
    """(uploaded, already there, mounted) from the push summary (on stdout, or stderr when stdout has JSON)."""
    found = re.findall(r"\((\d+) uploaded, (\d+) already there, (\d+) mounted\)", result.stdout + result.stderr)
    assert len(found) == 1, (result.stdout, result.stderr)
    return tuple(int(n) for n in found[0])  # type: ignore[return-value]


def pull_counts(result: Any) -> tuple[int, int]:
    """(downloaded, already there) from the pull summary."""
    found = re.findall(r"\((\d+) downloaded, (\d+) already there\)", result.stdout + result.stderr)
    assert len(found) == 1, (result.stdout, result.stderr)
    return int(found[0][0]), int(found[0][1])


def build(cli: Any, tmp_path: Path, example: str = "single-gguf", *, tag: str | None = None, out: str = "built.tar",
          modelfile: Path | None = None, args: tuple[str, ...] = ()) -> tuple[Path, str]:
    """``modeloci build -o`` of an example (copied under tmp_path) or of ``modelfile``; (archive, digest)."""
    if modelfile is None:
        modelfile = copy_example(example, tmp_path / f"src-{out}")
    output = tmp_path / out
    result = cli("build", "-f", str(modelfile), "-o", str(output), *(("-t", tag) if tag else ()), *args)
    assert result.code == 0, result.stderr
    return output, digest_in(result.stdout)


def big_model(folder: Path, *, size_mib: int = 3, label: str = "big") -> Path:
    """A Modelfile with a ``size_mib`` MiB GGUF (non-repeating enough for a misplaced byte range to show)."""
    folder.mkdir(parents=True, exist_ok=True)
    gguf(folder / "big.gguf", tensors=[("w", (size_mib * 256, 1024), make_weights.GGML_F32)])
    shutil.copy(Path(__file__).resolve().parents[2] / "examples" / "single-gguf" / "LICENSE", folder / "LICENSE")
    (folder / "Modelfile").write_text(f'FROM scratch\nWEIGHTS big.gguf\nLICENSE LICENSE\nLABEL title="{label}"\n')
    return folder / "Modelfile"


def _member(archive: Path, name: str) -> bytes:
    with tarfile.open(archive) as tar:
        member = tar.extractfile(name)
        assert member is not None, name
        return member.read()


def manifest_of(archive: Path) -> bytes:
    """The raw manifest bytes of a single-model archive (what a registry must hand back, byte for byte)."""
    index = json.loads(_member(archive, "index.json"))
    return _member(archive, "blobs/sha256/" + index["manifests"][0]["digest"].split(":", 1)[1])


def blob_of(archive: Path, digest: str) -> bytes:
    return _member(archive, "blobs/sha256/" + digest.split(":", 1)[1])


def blobs_of(archive: Path) -> dict[str, int]:
    """Every blob a push sends for this archive (layers and config): digest -> size."""
    manifest = json.loads(manifest_of(archive))
    return {d["digest"]: d["size"] for d in (*manifest["layers"], manifest["config"])}


def layers_of(archive: Path) -> dict[str, int]:
    manifest = json.loads(manifest_of(archive))
    return {d["digest"]: d["size"] for d in manifest["layers"]}


def blob_uploads(requests: list[Any]) -> list[Any]:
    """The requests that move blob bytes into a registry: POST/PATCH/PUT on ``/blobs/uploads/``."""
    return [r for r in requests if UPLOADS in r.path and r.method in ("POST", "PATCH", "PUT")]


def uploaded_digests(requests: list[Any]) -> list[str]:
    """Digests of the uploads the registry completed (``PUT ...?digest=`` answered 201)."""
    found = []
    for r in requests:
        if r.method == "PUT" and UPLOADS in r.path and r.status == 201:
            found += re.findall(r"digest=(sha256(?::|%3A)[0-9a-f]{64})", r.query)
    return [d.replace("%3A", ":") for d in found]


def assert_clean_failure(result: Any, *, code: int | tuple[int, ...] = 1, secrets: tuple[str, ...] = ()) -> str:
    """A refused command: the exit code, an ``error:`` line, no traceback, no secret; returns stderr."""
    codes = (code,) if isinstance(code, int) else code
    assert result.code in codes, (result.code, result.stdout, result.stderr)
    assert "error: " in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr, result.stderr
    for secret in secrets:
        assert secret not in result.stdout + result.stderr
    return result.stderr


def error_lines(stderr: str) -> list[str]:
    """stderr from its ``error:`` line on (progress lines, which a failed push or pull may print, come before)."""
    lines = stderr.splitlines()
    return lines[next(i for i, line in enumerate(lines) if line.startswith("error: ")):]


def partial_files(folder: Path) -> list[Path]:
    """Temporary files an atomic write leaves behind if it is not atomic (``.modeloci-*.partial``)."""
    return [p for p in folder.rglob("*") if p.name.endswith(".partial")]


def skopeo(tmp_path: Path, *args: str) -> str:
    """Run skopeo with a home of its own (no auth files or config from the machine); its stdout. Skips when
    skopeo is missing, or fails when ``MODELOCI_REQUIRE_TOOLS`` is set."""
    binary = shutil.which("skopeo")
    if binary is None:
        if os.environ.get("MODELOCI_REQUIRE_TOOLS"):
            pytest.fail("skopeo is required (MODELOCI_REQUIRE_TOOLS is set) but not installed", pytrace=False)
        pytest.skip("skopeo is not installed (apt-get install skopeo); .ci/run installs it")
    home = tmp_path / "skopeo-home"
    (home / "run").mkdir(parents=True, exist_ok=True)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "XDG_RUNTIME_DIR": str(home / "run"),
           "XDG_CONFIG_HOME": str(home / "config"), "REGISTRY_AUTH_FILE": str(home / "auth.json")}
    run = subprocess.run([binary, "--insecure-policy", "--command-timeout", "50s", *args], env=env,
                         capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 0, run.stderr
    return run.stdout


# ----------------------------------------------------------------------------------------------------------------
# Credentials, and clients of the hostile registry
# ----------------------------------------------------------------------------------------------------------------


PASSWORD = "s3cret-never-leaves"
ALICE = Credentials("alice", PASSWORD)
BASIC = base64.b64encode(f"alice:{PASSWORD}".encode()).decode()


def client_of(h: HostileRegistry, **kwargs) -> RegistryClient:
    kwargs.setdefault("use_stored_credentials", False)
    return RegistryClient(h.host, **kwargs)


def with_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELOCI_USERNAME", "alice")
    monkeypatch.setenv("MODELOCI_PASSWORD", PASSWORD)


def no_secret(result, *secrets: str) -> None:
    for secret in (PASSWORD, BASIC, *secrets):
        assert secret not in result.stdout + result.stderr, secret


# ----------------------------------------------------------------------------------------------------------------
# A proxy that cuts responses short
# ----------------------------------------------------------------------------------------------------------------


class CutRequest(NamedTuple):
    """One request through the CuttingProxy: what was asked (``range``: its Range header) and what was sent back
    (``sent``: body bytes; ``cut``: True if the body was cut short)."""

    method: str
    path: str
    range: str | None
    status: int
    sent: int
    cut: bool


class CuttingProxy(LoopbackProxy):
    """Forwards GET and HEAD to ``target`` ("host:port"), one request per connection. ``cut(path_contains,
    nbytes)`` makes the next matching GET stop after ``nbytes`` of the body, the connection closed cleanly (FIN):
    every byte sent reaches the client, which then finds the body shorter than its Content-Length."""

    def __init__(self, target: str) -> None:
        super().__init__(target, "cutting-proxy")
        self.requests: list[CutRequest] = []
        self._cuts: list[list[Any]] = []  # [path_contains, nbytes, times]

    def cut(self, path_contains: str, nbytes: int, times: int = 1) -> None:
        with self._lock:
            self._cuts.append([path_contains, nbytes, times])

    def _take(self, method: str, path: str) -> int | None:
        with self._lock:
            for rule in self._cuts:
                if method == "GET" and rule[0] in path and rule[2] > 0:
                    rule[2] -= 1
                    return rule[1]
        return None

    def _exchange(self, client: socket.socket) -> None:
        client.settimeout(30)
        head = read_head(Reader(client))
        if head is None:
            return
        (method, target, version), headers = head[0].split(" "), head[1]
        if method not in ("GET", "HEAD"):  # pulls only: request bodies are not forwarded
            client.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            return
        budget = self._take(method, target)
        with socket.create_connection(self.upstream, timeout=30) as upstream:
            forwarded = [("Host", self.target), *without_headers(headers, "Host", "Connection", "Keep-Alive")]
            upstream.sendall(head_bytes(f"{method} {target} {version}", [*forwarded, ("Connection", "close")]))
            reader = Reader(upstream)
            response = read_head(reader)
            assert response is not None, "the registry closed without answering"
            status_line, response_headers = response
            response_headers = [*without_headers(response_headers, "Connection", "Keep-Alive"), ("Connection", "close")]
            client.sendall(head_bytes(status_line, response_headers))
            sent = self._relay(reader, upstream, client, budget)
        self.requests.append(CutRequest(method, target.split("?", 1)[0], get_header(headers, "Range"),
                                        int(status_line.split(" ")[1]), sent, budget is not None))
        with contextlib.suppress(OSError):
            client.shutdown(socket.SHUT_WR)  # FIN, not RST: what was sent arrives

    @staticmethod
    def _relay(reader: Reader, upstream: socket.socket, client: socket.socket, budget: int | None) -> int:
        sent = 0
        data = bytes(reader.buf)
        reader.buf.clear()
        while budget is None or sent < budget:
            if not data:
                data = upstream.recv(64 << 10)
                if not data:
                    break
            if budget is not None:
                data = data[: budget - sent]
            client.sendall(data)
            sent += len(data)
            data = b""
        return sent
