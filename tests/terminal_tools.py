"""Running a command on a pseudo-terminal, as a user's shell would: for tests of what a terminal is shown."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import struct
import subprocess
import termios
from pathlib import Path


def run_in_pty(argv: list[str], *, cwd: Path, env: dict[str, str], columns: int | None = None,
               silence: float = 60) -> tuple[int, bytes]:
    """Run ``argv`` with stdin, stdout and stderr on a pseudo-terminal (``columns`` wide if given, as the
    terminal's own size); its exit code and everything it wrote. No output for ``silence`` seconds fails."""
    leader, follower = pty.openpty()
    if columns is not None:
        fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    process = subprocess.Popen(argv, stdin=follower, stdout=follower, stderr=follower, env=env, cwd=cwd,
                               close_fds=True)
    os.close(follower)
    chunks = []
    try:
        while True:
            ready, _, _ = select.select([leader], [], [], silence)
            if not ready:
                process.kill()
                raise AssertionError(f"no output for {silence} s from {argv}")
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(leader)
    return process.wait(timeout=silence), b"".join(chunks)
