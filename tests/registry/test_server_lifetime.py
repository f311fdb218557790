"""Tests of how long a test registry lives: not past the test process that started it, even a killed one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.conftest import REPO

from .servers.registry import die_with_parent

GONE_WITHIN = 5.0  # seconds for the kernel to deliver the death signal and the registry to exit


def _gone(pid: int) -> bool:
    """True once ``pid`` has exited (a zombie waiting for init to reap it counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the parent-death signal is Linux's")
def test_killed_test_run_leaves_no_registry_behind(registry_binary: str, tmp_path: Path) -> None:
    """A test process killed with SIGKILL runs no teardown: the registry it started must die with it anyway."""
    if not die_with_parent():
        pytest.skip("no setpriv with --pdeathsig (util-linux 2.33 or later) on this machine")
    starter = textwrap.dedent(
        f"""
        import pathlib, sys, time
        from tests.registry.servers import RegistryServer
        server = RegistryServer(pathlib.Path({str(tmp_path)!r}), binary={registry_binary!r}).start()
        print(server.proc.pid, flush=True)
        time.sleep(60)
        """
    )
    child = subprocess.Popen([sys.executable, "-c", starter], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        pid = int(child.stdout.readline())
        # setpriv execs the registry: the pid the server holds (and stop() signals) is the registry's own.
        assert Path(f"/proc/{pid}/exe").resolve() == Path(registry_binary).resolve()
    finally:
        child.kill()
        child.wait(timeout=10)
    deadline = time.monotonic() + GONE_WITHIN
    while not _gone(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    alive = not _gone(pid)
    if alive:
        os.kill(pid, signal.SIGKILL)  # clean up what the test found, then fail
    assert not alive, f"registry {pid} outlived the test process that started it"
