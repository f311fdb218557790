"""The fault proxy's schedule: the faults it is told to inject, and the record of the requests it carried.

:class:`FaultSchedule` is the part of :class:`~.proxy.FaultProxy` a test talks to (``reset_after``, ``fail``,
``delay``, ``corrupt``, ``clear``, ``requests``); the proxy takes the faults a request matches when its head
arrives and records the request when it is answered or reset.  Thread-safe: connections run in threads.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import NamedTuple


class _ProxyRequest4(NamedTuple):
    method: str
    path: str
    status: int | None
    body_bytes: int


class ProxyRequest(_ProxyRequest4):
    """One request through the proxy: a ``(method, path, status, body_bytes)`` tuple.

    ``path`` is the request target as the client sent it, without the query string (``.query`` has it,
    ``.uri`` both); ``status`` is what the client got (None: the proxy reset the connection); ``body_bytes`` is
    how many request-body bytes the proxy received from the client.  Also: ``.fault`` ("reset", "fail" or
    None), ``.delayed`` (seconds of injected delay), ``.started`` (``time.monotonic()`` when its head was read)
    and ``.duration`` (seconds from then until the answer or the reset).
    """

    query: str
    fault: str | None
    delayed: float
    duration: float
    started: float

    def __new__(
        cls,
        method: str,
        path: str,
        status: int | None,
        body_bytes: int,
        query: str = "",
        fault: str | None = None,
        delayed: float = 0.0,
        duration: float = 0.0,
        started: float = 0.0,
    ) -> ProxyRequest:
        self = super().__new__(cls, method, path, status, body_bytes)
        self.query, self.fault, self.delayed, self.duration = query, fault, delayed, duration
        self.started = started
        return self

    @property
    def uri(self) -> str:
        return f"{self.path}?{self.query}" if self.query else self.path

    def __repr__(self) -> str:
        extra = f" fault={self.fault}" if self.fault else ""
        extra += f" delayed={self.delayed}" if self.delayed else ""
        return f"ProxyRequest({self.method} {self.uri} -> {self.status}, body={self.body_bytes}{extra})"


@dataclass
class Fault:
    """One fault to inject into the next ``times`` requests that match ``method`` and ``path_contains``."""

    kind: str  # "reset" | "fail" | "delay" | "corrupt"
    times: int
    method: str | None = None
    path_contains: str | None = None
    nbytes: int = 0
    status: int = 503
    seconds: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and method.upper() != self.method.upper():
            return False
        return self.path_contains is None or self.path_contains in path


class FaultSchedule:
    """Faults waiting to be injected, each with a count, and the requests carried so far."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._records: list[ProxyRequest] = []

    # -- faults ------------------------------------------------------------------------------------------------
    def reset_after(
        self, nbytes: int, method: str | None = "PATCH", times: int = 1, path_contains: str | None = None
    ) -> None:
        self._add(Fault("reset", times, method, path_contains, nbytes=nbytes))

    def fail(
        self,
        status: int = 503,
        times: int = 1,
        method: str | None = None,
        path_contains: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        extra = dict(headers or {})
        if status in (429, 503):
            extra.setdefault("Retry-After", "0")
        self._add(Fault("fail", times, method, path_contains, status=status, headers=extra))

    def delay(
        self, seconds: float, times: int = 1, method: str | None = None, path_contains: str | None = None
    ) -> None:
        self._add(Fault("delay", times, method, path_contains, seconds=seconds))

    def corrupt(self, times: int = 1, method: str | None = "GET", path_contains: str | None = None) -> None:
        """The answer's body is relayed with its first byte inverted: the same size, other bytes (what a broken or
        hostile registry or storage host serves)."""
        self._add(Fault("corrupt", times, method, path_contains))

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def pending_faults(self) -> list[tuple[str, int]]:
        with self._lock:
            return [(f.kind, f.times) for f in self._faults]

    def _add(self, fault: Fault) -> None:
        if fault.times < 1:
            raise ValueError("times must be at least 1")
        with self._lock:
            self._faults.append(fault)

    def _take(self, method: str, path: str) -> dict[str, Fault]:
        taken: dict[str, Fault] = {}
        with self._lock:
            for fault in list(self._faults):
                if fault.kind in taken or not fault.matches(method, path):
                    continue
                taken[fault.kind] = fault
                fault.times -= 1
                if fault.times == 0:
                    self._faults.remove(fault)
        return taken

    # -- records -----------------------------------------------------------------------------------------------
    @property
    def requests(self) -> list[ProxyRequest]:
        with self._lock:
            return list(self._records)

    def _record(self, rec: ProxyRequest) -> None:
        with self._lock:
            self._records.append(rec)

