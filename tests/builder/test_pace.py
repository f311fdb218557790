"""A blob's copy and its hash stay within a window of each other (blobs/pace.py), so a model larger than the free
memory is read from disk once: the faster side waits for the slower, never for a partner that is not running,
and a cancelled build wakes it."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from modeloci.blobs import sinks
from modeloci.blobs.engine import BlobSource, Cancelled, FileState, run_ordered
from modeloci.blobs.pace import Pace
from modeloci.oci.digest import Digest
from modeloci.progress import Advance

MiB = 1 << 20


def _steps(count: int, delay: float, moved: list[int], side: int) -> object:
    """A side that moves ``count`` MiB a step at a time, ``delay`` seconds a step, recording how far it got."""
    def run(cancel: threading.Event, advance: Advance) -> None:
        for _ in range(count):
            if cancel.is_set():
                raise Cancelled
            time.sleep(delay)
            moved[side] += MiB
            advance(MiB)
    return run


def test_the_side_ahead_waits_for_the_other_within_the_window() -> None:
    pace, moved, lead = Pace(window=4 * MiB), [0, 0], [0]

    def record(n: int) -> None:
        lead[0] = max(lead[0], moved[0] - moved[1])

    copy = pace.task(0, _steps(64, 0.0, moved, 0), record)  # type: ignore[arg-type]
    hash_ = pace.task(1, _steps(64, 0.002, moved, 1), lambda n: None)  # type: ignore[arg-type]
    run_ordered([copy, hash_], threads=2)
    assert moved == [64 * MiB, 64 * MiB]
    assert 0 < lead[0] <= 5 * MiB  # the window, and the step that crossed it


def test_a_partner_still_queued_is_waited_for_only_a_grace_and_a_finished_one_not_at_all() -> None:
    """A pool with one thread runs the copy alone first: it waits for the hash, still queued, for the grace
    once (0.2 s here), then goes on alone; the hash then runs with its partner done, and never waits."""
    pace, moved = Pace(window=MiB, grace=0.2), [0, 0]
    copy = pace.task(0, _steps(16, 0.0, moved, 0), lambda n: None)  # type: ignore[arg-type]
    hash_ = pace.task(1, _steps(16, 0.0, moved, 1), lambda n: None)  # type: ignore[arg-type]
    started = time.monotonic()
    run_ordered([copy, hash_], threads=1)
    assert moved == [16 * MiB, 16 * MiB] and 0.2 <= time.monotonic() - started < 2


def test_a_partner_queued_behind_a_busy_thread_is_waited_for(tmp_path: Path) -> None:
    """Two threads, three blobs: a copy whose hash is still queued (its thread finishing the previous blob's hash)
    waits for it rather than drawing ahead."""
    paces = [Pace(window=2 * MiB) for _ in range(3)]
    moved = [[0, 0] for _ in range(3)]
    lead = [0]

    def watched(i: int) -> Advance:
        return lambda n: lead.__setitem__(0, max(lead[0], moved[i][0] - moved[i][1]))

    tasks = []
    for i, pace in enumerate(paces):
        tasks.append(pace.task(0, _steps(24, 0.0002, moved[i], 0), watched(i)))  # type: ignore[arg-type]
        tasks.append(pace.task(1, _steps(24, 0.002, moved[i], 1), lambda n: None))  # type: ignore[arg-type]
    run_ordered(tasks, threads=2)
    assert moved == [[24 * MiB, 24 * MiB]] * 3
    assert 0 < lead[0] <= 4 * MiB


def test_a_cancelled_build_wakes_the_side_that_waits() -> None:
    pace, gate, cancel = Pace(window=MiB), threading.Event(), threading.Event()
    moved = [0, 0]

    def stuck(cancel_: threading.Event, advance: Advance) -> None:
        gate.wait(10)  # the slower side makes no progress at all

    behind = threading.Thread(target=pace.task(1, stuck, lambda n: None), args=(cancel,))
    behind.start()
    time.sleep(0.05)
    def run_ahead() -> None:
        with pytest.raises(Cancelled):
            pace.task(0, _steps(8, 0.0, moved, 0), lambda n: None)(cancel)  # type: ignore[arg-type]

    ahead = threading.Thread(target=run_ahead)
    ahead.start()
    time.sleep(0.3)
    assert ahead.is_alive() and moved[0] <= 2 * MiB  # waiting at the window
    cancel.set()
    ahead.join(2)
    assert not ahead.is_alive()
    gate.set()
    behind.join(2)


def test_a_build_keeps_each_blob_s_copy_and_hash_together(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The sinks pace every blob that is both copied and hashed: a copy far faster than its hash never draws more
    than the window ahead of it (here 2 MiB, in 1 MiB steps), for every blob."""
    moved: dict[int, list[int]] = {}
    lead = [0]

    def slow_hash(source: BlobSource, cancel: threading.Event | None, advance: Advance) -> Digest:
        for _ in range(source.size // MiB):
            time.sleep(0.002)
            moved[source.offset][1] += MiB
            advance(MiB)
        return Digest.of(str(source.offset).encode())

    def fast_copy(source: BlobSource) -> sinks.Copy:
        def run(cancel: threading.Event, advance: Advance) -> None:
            for _ in range(source.size // MiB):
                time.sleep(0.0002)  # ten times the hash's speed, not instant: the hash's thread starts meanwhile
                moved[source.offset][0] += MiB
                lead[0] = max(lead[0], moved[source.offset][0] - moved[source.offset][1])
                advance(MiB)
        return run

    monkeypatch.setattr(sinks, "hash_range", slow_hash)
    path = tmp_path / "weights"
    path.write_bytes(b"")
    state = FileState.from_stat(os.stat(path))
    sources = [BlobSource(path, i, 24 * MiB, f"blob {i}", state) for i in range(3)]
    moved.update({s.offset: [0, 0] for s in sources})
    digests = sinks._digests(sources, [None] * 3, {i: fast_copy(s) for i, s in enumerate(sources)}, window=2 * MiB)
    assert digests == [Digest.of(str(i).encode()) for i in range(3)]
    assert all(m == [24 * MiB, 24 * MiB] for m in moved.values())
    assert 0 < lead[0] <= 4 * MiB  # the window, the step that crossed it, and a step before the hash began


def test_a_side_that_fails_releases_the_side_waiting_for_it() -> None:
    """The hash fails after 1 MiB with no cancel set (its own error): the copy, waiting at the window, goes on to
    its end instead of waiting for a partner that will not move again."""
    pace, moved = Pace(window=MiB), [0, 0]

    def failing(cancel: threading.Event, advance: Advance) -> None:
        moved[1] += MiB
        advance(MiB)
        time.sleep(0.2)  # the copy reaches the window meanwhile
        raise OSError("the disk went away")

    def run_behind() -> None:
        with pytest.raises(OSError):
            pace.task(1, failing, lambda n: None)(threading.Event())

    behind = threading.Thread(target=run_behind)
    behind.start()
    time.sleep(0.05)
    stop = threading.Event()  # set only to end the copy if it waits for ever (the test then fails, not hangs)
    ahead = threading.Thread(target=pace.task(0, _steps(16, 0.0, moved, 0), lambda n: None), args=(stop,))  # type: ignore[arg-type]
    ahead.start()
    ahead.join(2)
    finished = not ahead.is_alive()
    stop.set()
    ahead.join(2)
    behind.join(2)
    assert finished and moved[0] == 16 * MiB
