"""The parallel engine: ordered results, failures that stop the rest, kernel and fallback copies."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from modeloci.blobs import engine
from modeloci.blobs.engine import BlobSource, Cancelled, FileState, copy_range, hash_range, run_ordered
from modeloci.errors import BuildError
from modeloci.oci.digest import Digest


def _source(path: Path, data: bytes, offset: int = 0, size: int | None = None) -> BlobSource:
    path.write_bytes(data)
    return BlobSource(path, offset, len(data) - offset if size is None else size, path.name,
                      FileState.from_stat(os.stat(path)))


def test_results_come_back_in_task_order() -> None:
    def task(i: int):
        def run(cancel: threading.Event) -> int:
            time.sleep(0.001 * (10 - i))
            return i
        return run

    assert run_ordered([task(i) for i in range(10)]) == list(range(10))


def test_first_failure_cancels_the_rest() -> None:
    started = threading.Event()
    stopped: list[str] = []

    def slow(cancel: threading.Event) -> None:
        started.set()
        for _ in range(2000):  # would take 20 s without the cancel
            if cancel.is_set():
                stopped.append("slow")
                raise Cancelled
            time.sleep(0.01)

    def failing(cancel: threading.Event) -> None:
        started.wait(5)
        raise BuildError("reading a.gguf: boom")

    never_run = []
    tasks = [slow, failing, *[(lambda cancel: never_run.append(1)) for _ in range(50)]]
    begin = time.monotonic()
    with pytest.raises(BuildError, match="boom"):
        run_ordered(tasks, threads=2)
    assert time.monotonic() - begin < 5
    assert stopped == ["slow"]


def test_hash_and_copy_a_range_of_a_file(tmp_path: Path) -> None:
    source = _source(tmp_path / "archive.tar", b"header--" + b"payload" * 1000 + b"trailer", offset=8, size=7000)
    assert hash_range(source) == Digest.of(b"payload" * 1000)
    out = tmp_path / "out"
    fd = os.open(out, os.O_RDWR | os.O_CREAT)
    try:
        copy_range(source, fd, 3)
    finally:
        os.close(fd)
    assert out.read_bytes() == b"\0\0\0" + b"payload" * 1000


def test_copy_falls_back_to_read_and_write_without_copy_file_range(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delattr(os, "copy_file_range", raising=False)
    source = _source(tmp_path / "w", os.urandom(3 * engine.CHUNK + 17))
    out = tmp_path / "out"
    fd = os.open(out, os.O_RDWR | os.O_CREAT)
    try:
        copy_range(source, fd, 512)
    finally:
        os.close(fd)
    assert out.read_bytes()[512:] == source.path.read_bytes()


def test_expected_digest_is_enforced(tmp_path: Path) -> None:
    source = _source(tmp_path / "blob", b"tampered")
    wrong = BlobSource(source.path, 0, 8, "base layer", source.state, Digest.of(b"original"))
    with pytest.raises(BuildError, match="base layer: content does not match its digest"):
        hash_range(wrong)
