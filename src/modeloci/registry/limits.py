"""Bounds on what a registry can make modeloci do: how much it reads, how long and how often it tries.

A registry is a server someone else runs. Whatever it answers, modeloci reads
a bounded number of bytes into memory (:func:`read_limited`), gives up on a
transfer that stops moving or takes too long (:class:`Watch`), and takes no
blob larger than a file system can hold. The defaults are generous; tests
inject small ones.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from modeloci.registry.errors import RegistryError

KiB, MiB, TiB = 1 << 10, 1 << 20, 1 << 40
Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class Limits:
    """What one registry client allows. Sizes are bytes read into memory; seconds are wall-clock time."""

    manifest: int = 4 * MiB  # a manifest or index, as Distribution limits them
    token: int = 1 * MiB  # a token service's answer
    error: int = 64 * KiB  # an error's body (read for its message; the rest is dropped)
    body: int = 4 * MiB  # any other answer read whole (tag lists, small endpoints)
    small_blob: int = 16 * MiB  # a config or other blob read into memory
    blob: int = 16 * TiB  # one blob on disk: ext4's largest file
    stalls: int = 6  # answers in a row that move a transfer no further
    transfer_seconds: float = 24 * 3600.0  # one blob, up or down, retries included
    read_seconds: float = 300.0  # one answer read into memory
    parallel_from: int = 64 * MiB  # a blob this large or larger is fetched as several ranges at once
    range_piece: int = 32 * MiB  # the size of each range (the last may be shorter)
    range_streams: int = 8  # ranges in flight at once, for one blob


def size_text(size: float) -> str:
    """``4 MiB``, ``1 PiB``, ``64.6 KiB``, ``100 bytes``: whole numbers without a decimal point."""
    value = float(size)
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if value < 1024 or unit == "PiB":
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def read_limited(response: httpx.Response, limit: int, what: str, *, too_large: str | None = None,
                 hint: str | None = None, deadline: float | None = None, clock: Clock = time.monotonic) -> bytes:
    """The body of a streamed ``response``, at most ``limit`` bytes; past them a RegistryError says ``too_large``
    (default: "WHAT is larger than LIMIT"), and so it does past ``deadline``. Never holds more than ``limit`` plus
    one network read; closes the response."""
    too_large = too_large or f"{what} is larger than {size_text(limit)}"
    try:
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > limit and not _head(response):
            raise RegistryError(too_large, hint=hint)
        data = bytearray()
        for piece in response.iter_bytes():
            if len(data) + len(piece) > limit:
                raise RegistryError(too_large, hint=hint)
            data += piece
            if deadline is not None and clock() > deadline:
                raise RegistryError(f"{what} took too long to arrive", hint="the registry is too slow; try again later")
        return bytes(data)
    finally:
        response.close()


def _head(response: httpx.Response) -> bool:
    """Whether ``response`` answers a HEAD: it has no body, and its Content-Length is the size of what a GET
    would send (a blob's, gigabytes), not of this answer."""
    try:
        return response.request.method == "HEAD"
    except RuntimeError:  # a response made without a request
        return False


def read_prefix(response: httpx.Response, limit: int) -> bytes:
    """At most the first ``limit`` bytes of a streamed body (an error's, read only for its message); closes it."""
    data = bytearray()
    try:
        for piece in response.iter_bytes():
            data += piece[: limit - len(data)]
            if len(data) >= limit:
                break
    except httpx.HTTPError:
        pass  # a broken error body: the status says enough
    finally:
        response.close()
    return bytes(data)


class Watch:
    """One transfer's bounds: answers in a row that move it no further than it has been, and its total time.

    ``moved(position)`` after each answer: a position past the best so far is progress (and resets the count);
    anything else, the same place or back, is a stall. ``restart(position)`` after the transfer deliberately
    starts again (a new upload session: failures bound those). ``check_time()`` before each attempt.
    """

    def __init__(self, what: str, size: int, limits: Limits, clock: Clock, *, verb: str) -> None:
        self.what, self.size, self.limits, self.clock, self.verb = what, size, limits, clock, verb
        self.deadline = clock() + limits.transfer_seconds
        self.best = 0
        self.stalls = 0

    def restart(self, position: int) -> None:
        self.best, self.stalls = position, 0

    def moved(self, position: int) -> None:
        if position > self.best:
            self.best, self.stalls = position, 0
            return
        self.stalls += 1
        if self.stalls >= self.limits.stalls:
            raise RegistryError(
                f"{self.what}: the registry {self.verb} no new bytes in {self.stalls} answers in a row "
                f"({self._where(position)})",
                hint="the registry answers but does not move the transfer on; try again later, or tell its operator")

    def check_time(self, position: int) -> None:
        if self.clock() > self.deadline:
            raise RegistryError(
                f"{self.what}: gave up after {self.limits.transfer_seconds:g} s, the time limit for one blob "
                f"({self._where(position)})", hint="the registry or the connection is too slow; try again later")

    def _where(self, position: int) -> str:
        return f"{position} of {self.size} bytes " + ("held" if self.verb == "took" else "received")
