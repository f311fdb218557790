"""Running a task in a forked worker process that is killed when it overruns.

A thread cannot be stopped, and Python checks for signals only between
bytecodes, so a template stuck in two nested loops that call nothing (or in
one slow C call) can only be stopped from outside. :func:`run_in_worker`
forks (a few milliseconds: the parent's modules, compiled environment and
limits are all there already), caps the child's address space
(``RLIMIT_AS``) as a backstop against any allocation the sandbox does not
bound, and kills it when a stage overruns its budget.

The child reports through a pipe, as JSON lines: ``{"stage": name}`` when a
stage starts (each gets a budget of its own), any other object as data, and
``{"done": true}`` at the end. JSON, not pickle: what comes back from code
that ran a hostile template is read as data only.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

if sys.platform != "win32":
    import resource

Send = Callable[[dict[str, Any]], None]

# What a child may send in all: problems are a few lines of at most 500 characters.
_MAX_REPORT_BYTES = 1 << 20


@dataclass
class WorkerResult:
    """What the child sent, and how it ended."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    stage: str | None = None  # the last stage the child started
    timed_out: bool = False  # killed for overrunning its stage's budget
    failure: str | None = None  # how it ended, when it ended without finishing


def can_fork() -> bool:
    return hasattr(os, "fork")


def run_in_worker(task: Callable[[Send], None], *, stage_budget_s: float, memory_bytes: int) -> WorkerResult:
    """Run ``task(send)`` in a forked child; each stage it starts may take ``stage_budget_s``."""
    read_fd, write_fd = os.pipe()
    try:
        with warnings.catch_warnings():
            # Python 3.12+ warns about fork in a process with threads. The child
            # only renders the template and writes to its pipe: it takes no lock
            # another thread could hold (no logging, no printing, no imports).
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
    except OSError as exc:
        os.close(read_fd)
        os.close(write_fd)
        return WorkerResult(failure=f"could not start a worker process: {exc.strerror or exc}")
    if pid == 0:  # the child: never returns
        _child(task, read_fd, write_fd, memory_bytes)
    os.close(write_fd)
    try:
        return _collect(pid, read_fd, stage_budget_s)
    finally:
        os.close(read_fd)


def _child(task: Callable[[Send], None], read_fd: int, write_fd: int, memory_bytes: int) -> None:
    status = 70
    try:
        os.close(read_fd)
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # Ctrl-C reaches the whole process group: just stop
        _cap_address_space(memory_bytes)

        def send(message: dict[str, Any]) -> None:
            data = (json.dumps(message) + "\n").encode()
            while data:
                data = data[os.write(write_fd, data) :]

        task(send)
        send({"done": True})
        status = 0
    finally:
        os._exit(status)  # no atexit handlers, no flushing of the parent's buffers


def _cap_address_space(extra: int) -> None:
    """Let the child's address space grow by at most ``extra`` bytes beyond what it has now."""
    if sys.platform == "win32":
        return
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            size = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        limit = size + extra if hard == resource.RLIM_INFINITY else min(size + extra, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    except (OSError, ValueError):
        pass  # no /proc (macOS) or no RLIMIT_AS: the sandbox's own size checks still hold


def _collect(pid: int, fd: int, budget: float) -> WorkerResult:
    result, pending = WorkerResult(), b""
    deadline = time.monotonic() + budget
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    received = 0
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0 and not result.timed_out:
            _kill(pid)  # what it wrote before it died is still read below, up to the end of the pipe
            result.timed_out = True
        if not result.timed_out and not poller.poll(remaining * 1000):
            continue
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        received += len(chunk)
        if received > _MAX_REPORT_BYTES:
            _kill(pid)
            result.failure = f"the worker sent more than {_MAX_REPORT_BYTES} bytes"
            return result
        *lines, pending = (pending + chunk).split(b"\n")
        for line in lines:
            if not _take(result, line):
                _kill(pid)
                result.failure = "the worker sent something that is not JSON"
                return result
            if "stage" in result.messages[-1]:
                deadline = time.monotonic() + budget
    if result.timed_out:
        return result
    status = _reap(pid)
    if not any(m.get("done") for m in result.messages):
        result.failure = _describe_exit(status)
    return result


def _take(result: WorkerResult, line: bytes) -> bool:
    try:
        message = json.loads(line)
    except ValueError:
        return False
    if not isinstance(message, dict):
        return False
    result.messages.append(message)
    if "stage" in message:
        result.stage = str(message["stage"])
    return True


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    _reap(pid)


def _reap(pid: int) -> int:
    while True:
        try:
            return os.waitpid(pid, 0)[1]
        except InterruptedError:
            continue
        except ChildProcessError:
            return 0  # reaped elsewhere (a SIGCHLD handler)


def _describe_exit(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"the worker was killed by signal {os.WTERMSIG(status)}"
    return f"the worker stopped with exit status {os.WEXITSTATUS(status)}"
