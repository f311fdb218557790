"""What every test server shares: the loopback address, ports, the stop time limit, the error they raise, and a
threaded loopback server that hands each connection to its owner (:class:`LoopbackProxy`)."""

from __future__ import annotations

import contextlib
import socket
import socketserver
import threading
from typing import Self

LOCALHOST = "127.0.0.1"

STOP_TIMEOUT = 5.0  # seconds for a process or thread to stop before it is killed / reported


class ServerError(RuntimeError):
    """A test server could not be started or stopped."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (bind port 0, read it, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOCALHOST, 0))
        port: int = s.getsockname()[1]
        return port


def port_is_open(port: int, timeout: float = 0.2) -> bool:
    """True if something accepts TCP connections on 127.0.0.1:port."""
    try:
        with socket.create_connection((LOCALHOST, port), timeout=timeout):
            return True
    except OSError:
        return False


class _Handler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        with contextlib.suppress(ConnectionError):  # the client went away (a cancelled or refused download)
            self.server.owner._exchange(self.request)  # type: ignore[attr-defined]  # set by LoopbackProxy


class LoopbackProxy:
    """A threaded TCP server on 127.0.0.1 whose every connection goes to :meth:`_exchange`; ``host`` is where
    it listens once started. Subclasses forward to ``target`` ("host:port") and fault what they forward."""

    def __init__(self, target: str, name: str) -> None:
        host, _, port = target.rpartition(":")
        self.target, self.upstream = target, (host, int(port))
        self._lock = threading.Lock()
        self._server = socketserver.ThreadingTCPServer((LOCALHOST, 0), _Handler)
        self._server.daemon_threads = True
        self._server.owner = self  # type: ignore[attr-defined]  # read by _Handler
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=name, daemon=True)

    @property
    def host(self) -> str:
        return f"{LOCALHOST}:{self._server.server_address[1]}"

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(STOP_TIMEOUT)

    def _exchange(self, conn: socket.socket) -> None:
        raise NotImplementedError
