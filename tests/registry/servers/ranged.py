"""A proxy in front of a real registry that does to range requests what a broken or hostile registry does.

:class:`RangeProxy` forwards GET and HEAD to ``target`` ("host:port"), one request per connection, and records
each (``requests``: what was asked, the ``Range`` header, the status, the body bytes sent). Its ``mode``:

* ``honest``: everything as the registry answers it;
* ``ignore``: the ``Range`` header of every request is dropped (the registry answers ``200``, the whole blob), as
  a registry or storage host without range support does;
* ``ignore-later``: the same, except for the first request with a ``Range`` header;
* ``cut``: the answer to the range starting at ``at`` stops after ``nbytes`` of its body, the connection closed
  cleanly (FIN): what a dropped connection in the middle of one range looks like;
* ``reset``: the same, but the connection is reset (RST) instead of closed;
* ``corrupt``: the answer to the range starting at ``at`` has its first body byte inverted;
* ``shift``: the range starting at ``at`` is asked of the registry one byte later, so the ``206`` names another
  range than the client asked for;
* ``overlong``: the range starting at ``at`` is asked of the registry ``nbytes`` longer, and its ``Content-Range``
  rewritten to the range the client asked for: a body longer than the range it claims.

Each fault at ``at`` is injected ``times`` times (default once). ``hold`` seconds of delay before each request
make the streams of a download overlap; ``most_at_once`` is the most requests that were in flight together (from
their start to their answer's head).

Only the standard library; listens on 127.0.0.1; bounded buffers (64 KiB pieces).
"""

from __future__ import annotations

import contextlib
import re
import socket
import time
from dataclasses import dataclass

from .common import LoopbackProxy
from .wire import PIECE, Reader, get_header, head_bytes, read_head, reset_connection, without_headers

MODES = ("honest", "ignore", "ignore-later", "cut", "reset", "corrupt", "shift", "overlong")
_RANGE = re.compile(r"bytes=(\d+)-(\d*)$")


@dataclass
class RangeRequest:
    """One request, recorded when its answer's head is sent (before its client can have read the body), its body
    bytes counted before each is sent: a client that has read them finds them counted."""

    method: str
    path: str
    range: str | None  # the Range header the client sent
    status: int
    sent: int = 0  # body bytes sent to the client


class RangeProxy(LoopbackProxy):
    """See the module's docstring."""

    def __init__(self, target: str, mode: str = "honest", *, at: int = 0, nbytes: int = 0, times: int = 1,
                 hold: float = 0.0) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}")
        super().__init__(target, "range-proxy")
        self.mode, self.at, self.nbytes, self.hold = mode, at, nbytes, hold
        self.requests: list[RangeRequest] = []
        self.most_at_once = 0  # the most requests in flight at one moment
        self._in_flight = 0
        self._armed = times  # how many more times the fault at ``at`` is injected
        self._ranged_seen = 0

    def ranges(self, digest: str) -> list[str | None]:
        """The Range headers of the GETs of blob ``digest``, sorted (None for a GET without one first)."""
        found = [r.range for r in self.requests if r.method == "GET" and r.path.endswith(f"/blobs/{digest}")]
        return sorted(found, key=lambda r: (r is not None, _start(r) if r else 0))

    def _fault(self, asked: str | None) -> tuple[str | None, str]:
        """What to ask the registry for instead of ``asked``, and the fault this request takes ("" for none)."""
        with self._lock:
            if asked is None:
                return None, ""
            self._ranged_seen += 1
            if self.mode == "ignore" or (self.mode == "ignore-later" and self._ranged_seen > 1):
                return None, ""
            if self.mode in ("honest", "ignore-later") or not self._armed or _start(asked) != self.at:
                return asked, ""
            self._armed -= 1
        start, end = _start(asked), _end(asked)
        if self.mode == "shift":
            return f"bytes={start + 1}-{end}", "shift"
        if self.mode == "overlong":
            return f"bytes={start}-{end + self.nbytes}", "overlong"
        return asked, self.mode

    def _exchange(self, client: socket.socket) -> None:
        with self._lock:
            self._in_flight += 1
            self.most_at_once = max(self.most_at_once, self._in_flight)
        answered = [False]
        try:
            time.sleep(self.hold)
            self._forward(client, answered)
        finally:
            if not answered[0]:
                self._answered(answered)

    def _answered(self, answered: list[bool]) -> None:
        """A request stops counting as in flight when its answer's head is sent: its client may then ask for
        the next piece while this thread is still finishing the body."""
        with self._lock:
            self._in_flight -= 1
        answered[0] = True

    def _forward(self, client: socket.socket, answered: list[bool]) -> None:
        client.settimeout(30)
        head = read_head(Reader(client))
        if head is None:
            return
        (method, target, version), headers = head[0].split(" "), head[1]
        if method not in ("GET", "HEAD"):
            client.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            return
        asked = get_header(headers, "Range")
        forwarded_range, fault = self._fault(asked)
        forwarded = [("Host", self.target), *without_headers(headers, "Host", "Connection", "Keep-Alive", "Range")]
        if forwarded_range is not None:
            forwarded.append(("Range", forwarded_range))
        with socket.create_connection(self.upstream, timeout=30) as upstream:
            upstream.sendall(head_bytes(f"{method} {target} {version}", [*forwarded, ("Connection", "close")]))
            reader = Reader(upstream)
            response = read_head(reader)
            assert response is not None, "the registry closed without answering"
            status_line, response_headers = response
            response_headers = [*without_headers(response_headers, "Connection", "Keep-Alive"), ("Connection", "close")]
            if fault == "overlong" and asked is not None:
                total = (get_header(response_headers, "Content-Range") or "/*").rsplit("/", 1)[1]
                response_headers = [*without_headers(response_headers, "Content-Range"),
                                    ("Content-Range", f"bytes {_start(asked)}-{_end(asked)}/{total}")]
            record = RangeRequest(method, target.split("?", 1)[0], asked, int(status_line.split(" ")[1]))
            self.requests.append(record)
            client.sendall(head_bytes(status_line, response_headers))
            self._answered(answered)
            self._relay(reader, upstream, client, fault, record)
        if fault == "reset":
            reset_connection(client)
            return
        with contextlib.suppress(OSError):
            client.shutdown(socket.SHUT_WR)  # FIN, not RST: what was sent arrives

    def _relay(self, reader: Reader, upstream: socket.socket, client: socket.socket, fault: str,
               record: RangeRequest) -> None:
        budget = self.nbytes if fault in ("cut", "reset") else None
        corrupt = fault == "corrupt"
        data = bytes(reader.buf)
        reader.buf.clear()
        while budget is None or record.sent < budget:
            if not data:
                data = upstream.recv(PIECE)
                if not data:
                    break
            if budget is not None:
                data = data[: budget - record.sent]
            if corrupt:
                data, corrupt = bytes([data[0] ^ 0xFF]) + data[1:], False
            record.sent += len(data)
            client.sendall(data)
            data = b""


def _start(value: str) -> int:
    found = _RANGE.match(value)
    assert found is not None, value
    return int(found[1])


def _end(value: str) -> int:
    found = _RANGE.match(value)
    assert found is not None and found[2], value
    return int(found[2])
