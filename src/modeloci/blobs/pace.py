"""Keeping a blob's copy and its hash within reach of each other, so that its file is read from disk once.

A build copies a blob (in the kernel) and hashes it (in user space) as two
tasks that read the same file side by side, so that the second reader finds
the pages the first brought into the page cache. Nothing kept them together:
on a model larger than the free memory, the faster of the two drew ahead by
gigabytes, its pages were evicted before the slower one reached them, and the
file was read from disk twice (or, for a sparse input, its zeros made twice
under memory pressure). A :class:`Pace` holds the two within :data:`WINDOW`
bytes: the one ahead waits at its next step until the other is close again.

A side waits for a partner that is running, and for one still queued for at
most :data:`START_GRACE` seconds (the engine's queue holds a blob's copy and
hash side by side, so the partner is next for the first free thread; the
grace makes sure no pool size can deadlock them). A finished partner is not
waited for, and a cancelled build wakes a waiting side at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

from modeloci.progress import Advance

__all__ = ["WINDOW", "Pace"]

T = TypeVar("T")

WINDOW = 512 << 20  # how far one side may draw ahead: well inside the page cache, eight kernel copy steps
_WAKE = 0.1  # seconds between looks at the build's cancel flag while waiting
START_GRACE = 5.0  # seconds a side waits for a partner still queued, after which it goes on alone


class Pace:
    """Two sides (0: the copy, 1: the hash) of one blob, each kept within ``window`` bytes of the other."""

    def __init__(self, window: int = WINDOW, grace: float = START_GRACE) -> None:
        self._window, self._grace = window, grace
        self._moved = [0, 0]
        self._state = ["queued", "queued"]  # then "running", then "done"
        self._queued_since: float | None = None  # when a side first waited for a partner not yet started
        self._changed = threading.Condition()

    def task(self, side: int, run: Callable[[threading.Event, Advance], T], advance: Advance) -> \
            Callable[[threading.Event], T]:
        """``run`` as an engine task on ``side``: its progress goes to ``advance`` and holds it to the pace."""

        def paced(cancel: threading.Event) -> T:
            self._set(side, "running")
            try:
                return run(cancel, lambda n: self._step(side, n, advance, cancel))
            finally:
                self._set(side, "done")

        return paced

    def _set(self, side: int, state: str) -> None:
        with self._changed:
            self._state[side] = state
            self._changed.notify_all()

    def _step(self, side: int, n: int, advance: Advance, cancel: threading.Event) -> None:
        advance(n)
        other = 1 - side
        with self._changed:
            self._moved[side] += n
            self._changed.notify_all()
            while self._moved[side] - self._moved[other] > self._window and not cancel.is_set():
                state = self._state[other]
                if state == "done" or (state == "queued" and self._queued_too_long()):
                    return  # a partner queued past the grace is not waited for again: it may have no thread
                self._changed.wait(_WAKE)

    def _queued_too_long(self) -> bool:
        """Whether the grace for a partner not yet started is over (it starts with the first wait for one)."""
        now = time.monotonic()
        if self._queued_since is None:
            self._queued_since = now
        return now - self._queued_since >= self._grace
