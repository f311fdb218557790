"""Credentials never follow a redirect to another host (registries send blob downloads to storage
hosts such as S3), and plain HTTP is used only for loopback or --insecure-registry hosts.

The redirecting registry is a small fake: distribution with filesystem storage, which the other tests
run, never redirects, and a storage host that records what it was sent is the point of the test.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from modeloci.registry.auth import Credentials
from modeloci.registry.client import RegistryClient

PASSWORD = "s3cret-never-leaves"


def _serve(handler: type[BaseHTTPRequestHandler]) -> tuple[ThreadingHTTPServer, str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"127.0.0.1:{server.server_address[1]}"


@pytest.fixture
def hosts() -> Iterator[tuple[str, list[dict[str, str]]]]:
    """A registry that wants Basic auth and redirects blob GETs to a storage host; what the storage host saw."""
    seen: list[dict[str, str]] = []

    class Storage(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(dict(self.headers))
            self.send_response(200)
            self.send_header("Content-Length", "4")
            self.end_headers()
            self.wfile.write(b"blob")

        def log_message(self, *args: object) -> None:
            pass

    storage, storage_host = _serve(Storage)

    class Registry(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if "Authorization" not in self.headers:
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="test"')
                self.send_header("Content-Length", "0")
            else:
                self.send_response(307)
                self.send_header("Location", f"http://{storage_host}/data?sig=abc")
                self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    registry, registry_host = _serve(Registry)
    yield registry_host, seen
    registry.shutdown()
    storage.shutdown()


def test_the_authorization_header_is_dropped_on_a_redirect_to_another_host(hosts) -> None:
    registry_host, seen = hosts
    client = RegistryClient(registry_host, credentials=Credentials("alice", PASSWORD), use_stored_credentials=False)
    response = client.send("GET", "/v2/team/model/blobs/sha256:" + "a" * 64, scope="repository:team/model:pull")
    assert response.read() == b"blob"
    (request,) = seen
    assert not {k.lower() for k in request} & {"authorization", "cookie"}, request


@pytest.mark.parametrize(("registry", "insecure", "scheme"), [
    ("registry.example.com", (), "https"),
    ("registry.example.com:5000", (), "https"),
    ("registry.example.com:5000", ("registry.example.com:5000",), "http"),
    ("localhost:5000", (), "http"),
    ("127.0.0.1:5000", (), "http"),
    ("[::1]:5000", (), "http"),
])
def test_plain_http_only_for_loopback_or_named_hosts(registry: str, insecure: tuple[str, ...], scheme: str) -> None:
    client = RegistryClient(registry, insecure=insecure, use_stored_credentials=False)
    assert client.base.startswith(f"{scheme}://")
