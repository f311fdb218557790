"""Progress for long transfers: a rich bar on a terminal, nothing but a summary line elsewhere.

Workers in several threads report bytes through :meth:`Bar.advance`; only the
CLI creates bars (the operations take a plain callback), so library callers
see no output. ``NO_COLOR`` is honoured by rich itself.
"""

from __future__ import annotations

import sys
import threading
from types import TracebackType


class Bar:
    """Bytes done of a known total; a rich progress bar when stderr is a terminal."""

    def __init__(self, description: str, total: int, *, enabled: bool | None = None) -> None:
        self.description = description
        self.total = total
        self.done = 0
        self._lock = threading.Lock()
        self._enabled = sys.stderr.isatty() if enabled is None else enabled
        self._progress = None
        self._task = None

    def __enter__(self) -> Bar:
        if self._enabled:
            from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn, TimeRemainingColumn

            self._progress = Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(),
                                      TransferSpeedColumn(), TimeRemainingColumn(), transient=True)
            self._progress.start()
            self._task = self._progress.add_task(self.description, total=self.total)
        return self

    def advance(self, n: int) -> None:
        with self._lock:
            self.done += n
            if self._progress is not None:
                self._progress.update(self._task, completed=min(self.done, self.total))

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._progress is not None:
            self._progress.stop()
