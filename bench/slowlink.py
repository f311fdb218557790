"""A slow link for the benchmarks: a TCP proxy on 127.0.0.1 where one connection is the limit.

    python bench/slowlink.py TARGET_HOST:PORT [--rate 50] [--latency 20] [--port 0]

Each connection is capped at ``--rate`` MB/s (10^6 bytes) in each direction, and
each HTTP request waits ``--latency`` ms before it is forwarded: what a
registry far away, or behind a per-connection cap (a CDN, a cloud load
balancer), looks like. A tool that opens several connections gets several
times the rate; one stream gets the cap.

Requests are told apart by their heads on the client's side of each
connection (keep-alive works: every request of a connection is delayed); a
request body is forwarded by its ``Content-Length``. A chunked request body is
passed on as raw bytes to the end of the connection, without further delays (the
pull benchmarks send none), and so is a connection that does not start with an
HTTP request (a TLS hello, which the registry then refuses at once, as it would
without the proxy). Bytes pass through unchanged, so the ``Host`` the
registry sees is the proxy's, and the URLs it names point back through it.

Standard library only; threads, two per connection; 256 KiB buffers.
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import sys
import threading
import time

BUFFER = 256 << 10
MAX_HEAD = 64 << 10


class SlowLink:
    """A started proxy (``start()``/``stop()``, or ``with``): ``host`` is its "127.0.0.1:PORT"."""

    def __init__(self, target: str, *, rate: float = 50e6, latency: float = 0.020, port: int = 0) -> None:
        name, _, number = target.rpartition(":")
        self.upstream = (name, int(number))
        self.rate, self.latency = rate, latency
        self.requests = 0  # requests delayed so far
        self._listener = socket.create_server(("127.0.0.1", port))
        self._listener.settimeout(0.1)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._thread = threading.Thread(target=self._accept, name="slowlink", daemon=True)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self._listener.getsockname()[1]}"

    def start(self) -> SlowLink:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._listener.close()
        with self._lock:
            for s in self._sockets:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()

    def __enter__(self) -> SlowLink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            try:
                upstream = socket.create_connection(self.upstream)
            except OSError:
                client.close()
                continue
            for s in (client, upstream):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self._sockets.update((client, upstream))
            threading.Thread(target=self._requests, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, _Pace(self.rate)), daemon=True).start()

    def _requests(self, client: socket.socket, upstream: socket.socket) -> None:
        """Client to registry: each request's head held ``latency``, then it and its body at the capped rate."""
        pace = _Pace(self.rate)
        buffer = bytearray()
        try:
            while True:
                end = buffer.find(b"\r\n\r\n")
                while end < 0:
                    if buffer[:1] and not buffer[:1].isalpha():  # not HTTP (a TLS hello): passed on as it is
                        pace.send(upstream, bytes(buffer))
                        self._pipe(client, upstream, pace)
                        return
                    data = client.recv(BUFFER)
                    if not data or len(buffer) > MAX_HEAD:
                        return
                    buffer += data
                    end = buffer.find(b"\r\n\r\n")
                head, buffer = bytes(buffer[:end + 4]), buffer[end + 4:]
                with self._lock:
                    self.requests += 1
                time.sleep(self.latency)
                pace.send(upstream, head)
                length, chunked = _framing(head)
                if chunked:  # not parsed: the rest of the connection passes as it is
                    pace.send(upstream, bytes(buffer))
                    self._pipe(client, upstream, pace)
                    return
                while length > 0:
                    if not buffer:
                        buffer = bytearray(client.recv(min(BUFFER, length)))
                        if not buffer:
                            return
                    piece = bytes(buffer[:length])
                    del buffer[:len(piece)]
                    pace.send(upstream, piece)
                    length -= len(piece)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                upstream.shutdown(socket.SHUT_WR)

    def _pipe(self, source: socket.socket, sink: socket.socket, pace: _Pace) -> None:
        """Raw bytes from ``source`` to ``sink`` at the capped rate, until ``source`` ends."""
        buffer = bytearray(BUFFER)
        view = memoryview(buffer)
        try:
            while n := source.recv_into(buffer):
                pace.send(sink, view[:n])
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                sink.shutdown(socket.SHUT_WR)


class _Pace:
    """One direction of one connection: bytes sent no faster than ``rate`` per second since the first."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.start: float | None = None
        self.sent = 0

    def send(self, sink: socket.socket, data: bytes | memoryview) -> None:
        now = time.monotonic()
        if self.start is None or now - (self.start + self.sent / self.rate) > 0.05:
            self.start, self.sent = now, 0  # idle for a while: no credit is saved up for a burst
        self.sent += len(data)
        wait = self.start + self.sent / self.rate - now
        if wait > 0:
            time.sleep(wait)
        sink.sendall(data)


def _framing(head: bytes) -> tuple[int, bool]:
    """The body a request head announces: (Content-Length, chunked)."""
    length, chunked = 0, False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length" and value.strip().isdigit():
            length = int(value.strip())
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    return length, chunked


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("target", help="the registry, HOST:PORT")
    parser.add_argument("--rate", type=float, default=50.0, help="MB/s per connection and direction (default 50)")
    parser.add_argument("--latency", type=float, default=20.0, help="ms added to each request (default 20)")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    with SlowLink(args.target, rate=args.rate * 1e6, latency=args.latency / 1000, port=args.port) as link:
        print(link.host, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
