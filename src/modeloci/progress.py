"""Progress for long work (hashing, writing, pushing, pulling), on stderr, for the CLI only.

Operations take a :class:`Meter` and know nothing of terminals: each piece of
work asks it for a task (a description and a byte total) and reports bytes
from any thread. The CLI passes a :class:`Display`, which draws in one of
three modes:

* ``tty``: rich progress bars with rate and ETA, cleared when done;
* ``plain``: lines for logs (CI): one when a task starts, one every
  :data:`PLAIN_EVERY` seconds while it runs, and one with size, time and rate
  when it ends; no colours, no cursor movement;
* ``quiet``: nothing.

``auto`` is ``tty`` when stderr is a terminal, else ``plain``. Colours follow
``NO_COLOR`` (rich reads it). The library default is :data:`NO_METER`, so
callers of the Python API see no output. A task's description may name files
or references from outside: it is shown through :func:`safe_text`, and the
bars read no rich markup from it.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Protocol, TextIO

from modeloci.termsafe import safe_text

if TYPE_CHECKING:
    from rich.progress import Progress

Advance = Callable[[int], None]
MODES = ("auto", "tty", "plain", "quiet")
PLAIN_EVERY = 10.0


class Meter(Protocol):
    def task(self, description: str, total: int) -> Advance:
        """Start a task of ``total`` bytes; the returned callable reports bytes done (thread-safe)."""
        ...


class _NoMeter:
    def task(self, description: str, total: int) -> Advance:
        return no_progress


def no_progress(n: int) -> None:
    return None


NO_METER: Meter = _NoMeter()


def resolve_mode(mode: str, stream: TextIO | None = None) -> str:
    """``auto`` made concrete: ``tty`` on a terminal, ``plain`` elsewhere."""
    if mode != "auto":
        return mode
    stream = stream or sys.stderr
    return "tty" if stream.isatty() else "plain"


class Display:
    """A :class:`Meter` that shows tasks on stderr; a context manager around the work."""

    def __init__(self, mode: str = "auto", *, stream: TextIO | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.stream = stream or sys.stderr
        self.mode = resolve_mode(mode, self.stream)
        self._clock = clock
        self._lock = threading.Lock()
        self._progress: Progress | None = None

    def __enter__(self) -> Display:
        if self.mode == "tty":
            # Imported when used (start-up time): rich's progress is loaded only for a terminal.
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
                TransferSpeedColumn,
            )

            console = Console(file=self.stream, force_terminal=True)
            # markup=False: a description is text to show, never rich markup (a file named `[red]x`).
            description = TextColumn("{task.description}", style="progress.description", markup=False)
            progress = Progress(description, BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                                TimeRemainingColumn(), console=console, transient=True)
            progress.start()
            self._progress = progress
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def task(self, description: str, total: int) -> Advance:
        if self.mode == "quiet":
            return no_progress
        description = safe_text(description)
        if self._progress is not None:
            return _RichTask(self._progress, description, total).advance
        return _PlainTask(self, description, total).advance

    def line(self, text: str) -> None:
        with self._lock:
            self.stream.write(text + "\n")
            self.stream.flush()


class _RichTask:
    def __init__(self, progress: Progress, description: str, total: int) -> None:
        self._progress = progress
        self._id = progress.add_task(description, total=total)

    def advance(self, n: int) -> None:
        self._progress.advance(self._id, n)  # rich's Progress takes its own lock


class _PlainTask:
    def __init__(self, display: Display, description: str, total: int) -> None:
        self._display, self.description, self.total = display, description, total
        self._lock = threading.Lock()
        self.done = 0
        self._start = self._last = display._clock()
        self._finished = False
        display.line(f"{description}: {human(total)}")
        if total == 0:
            self.advance(0)

    def advance(self, n: int) -> None:
        with self._lock:
            if self._finished:
                return
            self.done += n
            now = self._display._clock()
            if self.done >= self.total:
                self._finished = True
                elapsed = max(now - self._start, 1e-9)
                self._display.line(f"{self.description}: done, {human(self.total)} in {elapsed:.1f} s "
                                   f"({human(self.total / elapsed)}/s)")
            elif now - self._last >= PLAIN_EVERY:
                self._last = now
                percent = 100 * self.done // max(self.total, 1)
                rate = self.done / max(now - self._start, 1e-9)
                self._display.line(f"{self.description}: {percent}% of {human(self.total)} ({human(rate)}/s)")


def human(size: float) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")
