"""Progress output: rich bars on a terminal (checked under a real pseudo-terminal), plain lines
without one, nothing with --quiet, no colour with NO_COLOR."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from modeloci.progress import Display
from tests import factories
from tests.terminal_tools import run_in_pty

ANSI = re.compile(r"\x1b\[")
COLOUR = re.compile(r"\x1b\[(?:[0-9;]*;)?(?:3[0-7]|38|9[0-7])[;m]")


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Modelfile with a weights file big enough (24 MiB) that hashing and writing take a moment."""
    tmp_path = tmp_path_factory.mktemp("progress")
    factories.gguf(tmp_path / "m.gguf", tensors=[("w", (1024, 6144), factories.make_weights.GGML_F32)])
    (tmp_path / "Modelfile").write_text("FROM scratch\nWEIGHTS m.gguf\n")
    return tmp_path


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR", "TERM", "COLUMNS")}
    return {**env, "TERM": "xterm-256color", **extra}


def _run_in_pty(args: list[str], cwd: Path, env: dict[str, str]) -> tuple[int, str]:
    """Run ``python -m modeloci ARGS`` with stdin, stdout and stderr on a pseudo-terminal."""
    code, output = run_in_pty([sys.executable, "-m", "modeloci", *args], cwd=cwd, env=env)
    return code, output.decode("utf-8", "replace")


def _run_piped(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "modeloci", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=60)


def test_a_terminal_gets_progress_bars(model: Path) -> None:
    code, output = _run_in_pty(["build", "--no-cache", "-o", "out.tar"], model, _env())
    assert code == 0, output
    assert ANSI.search(output), "no terminal control sequences: no live display was drawn"
    assert "hashing 1 file" in output and "writing 1 layer" in output
    assert re.search(r"[0-9.]+ [KMG]?i?B/s", output), "no transfer rate shown"
    assert COLOUR.search(output), "expected colours on a terminal without NO_COLOR"
    assert "hashing 1 file: done" not in output, "plain lines on a terminal"


def test_no_color_keeps_the_bars_but_drops_the_colours(model: Path) -> None:
    code, output = _run_in_pty(["build", "--no-cache", "-o", "out.tar"], model, _env(NO_COLOR="1"))
    assert code == 0, output
    assert "hashing 1 file" in output
    assert not COLOUR.search(output), repr(COLOUR.search(output))


def test_without_a_terminal_progress_is_plain_lines(model: Path) -> None:
    result = _run_piped(["build", "--no-cache", "-o", "out.tar"], model, _env())
    assert result.returncode == 0, result.stderr
    assert not ANSI.search(result.stderr) and not ANSI.search(result.stdout)
    lines = result.stderr.splitlines()
    assert lines[0] == "hashing 1 file: 24.0 MiB" or lines[0] == "writing 1 layer: 24.0 MiB"
    assert re.fullmatch(r"hashing 1 file: done, 24\.0 MiB in [0-9.]+ s \([0-9.]+ [KMG]?i?B/s\)",
                        next(line for line in lines if line.startswith("hashing 1 file: done")))
    assert any(re.fullmatch(r"writing 1 layer: done, 24\.0 MiB in .*", line) for line in lines)
    assert result.stdout.startswith("Built out.tar")


@pytest.mark.parametrize("flags", [["-q"], ["--quiet"], ["--progress", "quiet"]])
def test_quiet_shows_no_progress(model: Path, flags: list[str]) -> None:
    result = _run_piped(["build", "--no-cache", "-o", "out.tar", *flags], model, _env())
    assert result.returncode == 0 and result.stderr == ""


def test_progress_plain_on_a_terminal_is_lines(model: Path) -> None:
    code, output = _run_in_pty(["build", "--no-cache", "-o", "out.tar", "--progress=plain"], model, _env())
    assert code == 0 and "hashing 1 file: done, 24.0 MiB in" in output


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_plain_lines_report_every_ten_seconds_and_at_the_end() -> None:
    stream, clock = io.StringIO(), _Clock()
    with Display("plain", stream=stream, clock=clock) as display:
        advance = display.task("pushing r", 4 << 30)
        for _ in range(4):
            clock.now += 6
            advance(1 << 30)
    assert stream.getvalue().splitlines() == [
        "pushing r: 4.0 GiB",
        "pushing r: 50% of 4.0 GiB (170.7 MiB/s)",
        "pushing r: done, 4.0 GiB in 24.0 s (170.7 MiB/s)",
    ]


def test_an_empty_task_finishes_at_once_and_extra_bytes_are_ignored() -> None:
    stream = io.StringIO()
    with Display("plain", stream=stream, clock=_Clock()) as display:
        display.task("hashing 0 files", 0)(5)
    assert stream.getvalue().splitlines() == ["hashing 0 files: 0 B", "hashing 0 files: done, 0 B in 0.0 s (0 B/s)"]


def test_quiet_display_writes_nothing() -> None:
    stream = io.StringIO()
    with Display("quiet", stream=stream) as display:
        display.task("x", 10)(10)
    assert stream.getvalue() == ""
