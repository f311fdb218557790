"""HTTP/1.1 on raw sockets, for the proxies that cut, delay and corrupt traffic (here and in ``helpers.py``).

A :class:`Reader` buffers a socket with a cap on line length, :func:`read_head` reads a start line and headers
(at most ``MAX_HEAD`` bytes), :class:`Body` reads a Content-Length or chunked request body in pieces of at most
``PIECE`` bytes, and the socket helpers drain, half-close or reset a connection within a time limit.  Nothing
here holds more than a few pieces per connection, whatever the size of what passes through.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import time
from collections.abc import Iterator

PIECE = 64 * 1024  # bytes moved per read: the proxy holds at most a few of these per connection
MAX_HEAD = 64 * 1024  # request/response line + headers


class ProtocolError(Exception):
    """The peer broke HTTP/1.1 framing, or a line or head was longer than allowed."""


class Reader:
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
                raise ProtocolError("line too long")
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


def read_head(reader: Reader) -> tuple[str, list[tuple[str, str]]] | None:
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
            raise ProtocolError("header section too large")
        if not line:
            raise ProtocolError("connection closed inside the header section")
        if line in (b"\r\n", b"\n"):
            return start, headers
        name, sep, value = line.decode("latin-1").partition(":")
        if not sep:
            raise ProtocolError(f"bad header line {line!r}")
        headers.append((name.strip(), value.strip()))


def get_header(headers: list[tuple[str, str]], name: str) -> str | None:
    """The first value of header ``name`` (any case), or None."""
    for k, v in headers:
        if k.lower() == name.lower():
            return v
    return None


def without_headers(headers: list[tuple[str, str]], *names: str) -> list[tuple[str, str]]:
    """``headers`` less those called one of ``names`` (any case)."""
    lowered = {n.lower() for n in names}
    return [(k, v) for k, v in headers if k.lower() not in lowered]


def head_bytes(start: str, headers: list[tuple[str, str]]) -> bytes:
    """A start line and headers as they go on the wire, ending with the empty line."""
    return (start + "\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n").encode("latin-1")


class Body:
    """A request body read from the client in pieces of at most PIECE bytes (Content-Length or chunked)."""

    def __init__(self, reader: Reader, chunked: bool, length: int) -> None:
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
                raise ProtocolError("connection closed inside a chunked body")
            try:
                size = int(size_line.split(b";", 1)[0].strip(), 16)
            except ValueError as exc:
                raise ProtocolError(f"bad chunk size line {size_line!r}") from exc
            if size == 0:
                while self.reader.readline(MAX_HEAD) not in (b"\r\n", b"\n", b""):
                    pass  # trailers: dropped
                self.done = True
                return b""
            self.remaining = size
        data = self.reader.read_some(min(limit, self.remaining))
        if not data:
            raise ProtocolError("connection closed inside the request body")
        self.remaining -= len(data)
        self.received += len(data)
        if self.chunked and self.remaining == 0:
            if self.reader.readline(16) not in (b"\r\n", b"\n"):
                raise ProtocolError("chunk not followed by CRLF")
        elif not self.chunked and self.remaining == 0:
            self.done = True
        return data


def drain_body(body: Body, timeout: float = 30.0) -> None:
    """Read and drop the rest of a request body (for at most ``timeout`` seconds)."""
    deadline = time.monotonic() + timeout
    while not body.done and time.monotonic() < deadline:
        if not body.read():
            break


def drain_socket(sock: socket.socket, timeout: float) -> None:
    """Read and drop what the peer sends until it closes (for at most ``timeout`` seconds)."""
    deadline = time.monotonic() + timeout
    with contextlib.suppress(OSError):
        while time.monotonic() < deadline:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            if not sock.recv(PIECE):
                break


def lingering_close(client: socket.socket, timeout: float = 2.0) -> None:
    """Half-close, then read what the client still sends, so closing does not reset it before it has read
    our response (closing a socket with unread input sends RST)."""
    with contextlib.suppress(OSError):
        client.shutdown(socket.SHUT_WR)
    drain_socket(client, timeout)


def reset_connection(client: socket.socket) -> None:
    """Close with SO_LINGER 0: the peer gets a reset (ECONNRESET), not an orderly end."""
    with contextlib.suppress(OSError):
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        client.close()


def iter_pieces(data: bytes, size: int = PIECE) -> Iterator[bytes]:
    """``data`` in pieces (an iterator body makes httpx send Transfer-Encoding: chunked)."""
    for i in range(0, len(data), size):
        yield data[i : i + size]
