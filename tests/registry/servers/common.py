"""What every test server shares: the loopback address, ports, the stop time limit and the error they raise."""

from __future__ import annotations

import socket

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
