"""A fault-injecting HTTP/1.1 proxy on 127.0.0.1 in front of a registry: connection resets in the middle of a
request body, canned error statuses, delays and corrupted answers, on demand (see :class:`FaultProxy`)."""

from __future__ import annotations

import contextlib
import http
import json
import select
import socket
import threading
import time
import urllib.parse

from .common import LOCALHOST, STOP_TIMEOUT, ServerError
from .faults import FaultSchedule, ProxyRequest
from .wire import (
    PIECE,
    Body,
    ProtocolError,
    Reader,
    drain_body,
    drain_socket,
    get_header,
    head_bytes,
    lingering_close,
    read_head,
    reset_connection,
    without_headers,
)


class FaultProxy(FaultSchedule):
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
        super().__init__()
        host, _, port = target.rpartition(":")
        self.target = target
        self.upstream_addr = (host, int(port))
        self.io_timeout = io_timeout
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
        port: int = self._listener.getsockname()[1]
        return port

    @property
    def host(self) -> str:
        return f"{LOCALHOST}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def __repr__(self) -> str:
        return f"<FaultProxy {self.url} -> {self.target}>"

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
        reader = Reader(client)
        head = read_head(reader)
        if head is None:
            return None
        start_line, headers = head
        parts = start_line.split(" ")
        if len(parts) != 3:
            raise ProtocolError(f"bad request line {start_line!r}")
        method, target, version = parts
        if not target.startswith("/"):  # absolute-form (the proxy used as HTTP_PROXY): keep path and query
            u = urllib.parse.urlsplit(target)
            target = (u.path or "/") + (f"?{u.query}" if u.query else "")

        te = (get_header(headers, "Transfer-Encoding") or "").lower()
        chunked = "chunked" in te
        length = 0 if chunked else int(get_header(headers, "Content-Length") or 0)
        if (get_header(headers, "Expect") or "").lower() == "100-continue":
            client.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        body = Body(reader, chunked, length)
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
            drain_body(body)
            record(fault.status, "fail")
            _canned(client, fault.status, fault.headers)
            lingering_close(client)
            return None

        # -- forward the request head ------------------------------------------------------------------------
        try:
            upstream = socket.create_connection(self.upstream_addr, timeout=self.io_timeout)
        except OSError as exc:
            drain_body(body)
            record(502)
            _canned(client, 502, {}, f"proxy could not connect to {self.target}: {exc}")
            return None
        self._track(upstream)
        up_headers = without_headers(headers, "Host", "Connection", "Proxy-Connection", "Keep-Alive", "Expect")
        if chunked:
            up_headers = without_headers(up_headers, "Content-Length")
        up_headers.insert(0, ("Host", self.target))
        up_headers.append(("Connection", "close"))
        upstream.sendall(head_bytes(f"{method} {target} {version}", up_headers))

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
            drain_socket(upstream, timeout=10.0)
            record(None, "reset")
            reset_connection(client)
            return upstream

        # -- relay the response ------------------------------------------------------------------------------
        up_reader = Reader(upstream)
        try:
            resp = read_head(up_reader)
        except (OSError, ProtocolError):
            resp = None
        if resp is None:
            record(502)
            _canned(client, 502, {}, f"no response from {self.target}")
            lingering_close(client)
            return upstream
        status_line, resp_headers = resp
        try:
            status = int(status_line.split(" ")[1])
        except (IndexError, ValueError):
            status = 502
        resp_headers = without_headers(resp_headers, "Connection", "Keep-Alive")
        resp_headers = [(k, self._rewrite_location(v) if k.lower() == "location" else v) for k, v in resp_headers]
        resp_headers.append(("Connection", "close"))
        record(status, "corrupt" if "corrupt" in faults else None)
        client.sendall(head_bytes(status_line, resp_headers))
        corrupt = "corrupt" in faults and status == 200
        if corrupt and "chunked" in (get_header(resp_headers, "Transfer-Encoding") or "").lower():
            raise ProtocolError("corrupt: a chunked answer; only Content-Length bodies are corrupted")
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
            lingering_close(client)
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


def _canned(client: socket.socket, status: int, headers: dict[str, str], message: str | None = None) -> None:
    """Answer ``status`` with a registry-style JSON error body, as if the registry had said it."""
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
        client.sendall(head_bytes(f"HTTP/1.1 {status} {reason}", head) + body)

