"""`modeloci --help` drawn without click or rich (modeloci.__main__) says byte for byte what rich-click says.

Each condition is drawn both ways in this process: by :func:`modeloci.cli.main` (click and rich-click, as
before) and by :func:`modeloci.__main__.main` (the entry), with the same environment and streams. Where
the entry must draw the help itself, ``modeloci.cli.main`` is replaced by a trap, so a silent fall-back
cannot pass for a match; where it must not (a condition it does not model), the trap records that it fell
back. Timings are in bench/RESULTS.md, never here.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
import rich_click.rich_click
from rich_click.rich_help_configuration import force_terminal_default, terminal_width_default

import modeloci.__main__ as entry
import modeloci.cli
from modeloci.__main__ import COMMANDS, GROUP_HELP, OPTIONS
from tests.terminal_tools import run_in_pty

# Everything rich, rich-click or click read from the environment to draw the help.
READ = ("TERM", "COLORTERM", "NO_COLOR", "FORCE_COLOR", "PY_COLORS", "GITHUB_ACTIONS", "TTY_COMPATIBLE",
        "TTY_INTERACTIVE", "COLUMNS", "LINES", "RICH_CLICK_THEME", "TERMINAL_WIDTH")
RICH_CLICK = modeloci.cli.main


class Stream(io.StringIO):
    """A standard stream: a terminal or not, in an encoding."""

    def __init__(self, tty: bool, encoding: str = "utf-8") -> None:
        super().__init__()
        self.tty, self._encoding = tty, encoding

    @property
    def encoding(self) -> str:  # type: ignore[override]  # StringIO's is a read-only None
        return self._encoding

    def isatty(self) -> bool:
        return self.tty


def _draw(monkeypatch: pytest.MonkeyPatch, run: Any, argv: list[str], env: dict[str, str], tty: bool,
          encoding: str = "utf-8") -> tuple[int, str, str]:
    """Exit code, stdout and stderr of RUN(ARGV) with ENV, the streams terminals or not."""
    for name in READ:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    # rich-click reads these three from the environment when it is imported: as a fresh process would.
    monkeypatch.setattr(rich_click.rich_click, "FORCE_TERMINAL", force_terminal_default())
    monkeypatch.setattr(rich_click.rich_click, "WIDTH", terminal_width_default())
    monkeypatch.setattr(rich_click.rich_click, "MAX_WIDTH", terminal_width_default())
    out, err = Stream(tty, encoding), Stream(tty, encoding)
    with monkeypatch.context() as m:
        m.setattr(sys, "stdout", out)
        m.setattr(sys, "stderr", err)
        code = run(list(argv))
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def trap(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[list[str]]]:
    """modeloci.cli.main replaced by one that records each fall-back, then draws with rich-click as before."""
    fell_back: list[list[str]] = []

    def recorded(argv: list[str] | None = None) -> int:
        fell_back.append(list(argv or []))
        return RICH_CLICK(argv)

    monkeypatch.setattr(modeloci.cli, "main", recorded)
    yield fell_back


def _both(monkeypatch: pytest.MonkeyPatch, trap: list[list[str]], argv: list[str], env: dict[str, str],
          tty: bool, encoding: str = "utf-8") -> tuple[tuple[int, str, str], tuple[int, str, str]]:
    theirs = _draw(monkeypatch, RICH_CLICK, argv, env, tty, encoding)
    ours = _draw(monkeypatch, entry.main, argv, env, tty, encoding)
    return theirs, ours


WIDTHS = (40, 60, 80, 100, 120, 200)
CONDITIONS = {
    # Pipes and files, as tests and `modeloci --help | less` see it.
    **{f"pipe, {w} columns": ({"COLUMNS": str(w)}, False) for w in WIDTHS},
    # A colour terminal, at every width, and the ways one is named.
    **{f"terminal, {w} columns": ({"COLUMNS": str(w), "TERM": "xterm-256color"}, True) for w in WIDTHS},
    "terminal, TERM=xterm": ({"COLUMNS": "80", "TERM": "xterm"}, True),
    "terminal, no TERM": ({"COLUMNS": "80"}, True),
    "terminal, COLORTERM=truecolor": ({"COLUMNS": "100", "TERM": "xterm", "COLORTERM": "truecolor"}, True),
    "terminal, TERM=xterm-kitty": ({"COLUMNS": "100", "TERM": "xterm-kitty"}, True),
    **{f"terminal, NO_COLOR, {w} columns": ({"COLUMNS": str(w), "NO_COLOR": "1"}, True) for w in (40, 100)},
    "terminal, NO_COLOR empty": ({"COLUMNS": "100", "NO_COLOR": ""}, True),
    "terminal, TERM=dumb": ({"COLUMNS": "100", "TERM": "dumb"}, True),
    "terminal, TERM=unknown": ({"COLUMNS": "60", "TERM": "unknown"}, True),
    "terminal, TTY_COMPATIBLE=0": ({"COLUMNS": "100", "TTY_COMPATIBLE": "0"}, True),
    "terminal, TTY_INTERACTIVE=0, LINES=5": ({"COLUMNS": "100", "TTY_INTERACTIVE": "0", "LINES": "5"}, True),
    # Colour forced into a pipe, and forced off in a terminal.
    **{f"FORCE_COLOR=1, {w} columns": ({"COLUMNS": str(w), "FORCE_COLOR": "1"}, False) for w in (40, 100, 200)},
    "FORCE_COLOR=yes, NO_COLOR": ({"COLUMNS": "100", "FORCE_COLOR": "yes", "NO_COLOR": "1"}, False),
    "FORCE_COLOR=0 in a terminal": ({"COLUMNS": "100", "FORCE_COLOR": "0"}, True),
    "FORCE_COLOR empty in a terminal": ({"COLUMNS": "100", "FORCE_COLOR": ""}, True),
    "FORCE_COLOR=always (not a yes or a no)": ({"COLUMNS": "100", "FORCE_COLOR": "always"}, False),
    "PY_COLORS=1": ({"COLUMNS": "100", "PY_COLORS": "1"}, False),
    "GITHUB_ACTIONS=true": ({"COLUMNS": "100", "GITHUB_ACTIONS": "true"}, False),
    "TTY_COMPATIBLE=1": ({"COLUMNS": "100", "TTY_COMPATIBLE": "1"}, False),
    # rich's dumb terminal is 80 columns whatever COLUMNS says, unless LINES is set too.
    "FORCE_COLOR=1, TERM=dumb, COLUMNS=100": ({"COLUMNS": "100", "FORCE_COLOR": "1", "TERM": "dumb"}, False),
    "FORCE_COLOR=1, TERM=dumb, COLUMNS and LINES": ({"COLUMNS": "100", "LINES": "30", "FORCE_COLOR": "1",
                                                     "TERM": "dumb"}, False),
}


@pytest.mark.parametrize("argv", [["--help"], ["-h"], []], ids=["--help", "-h", "no arguments"])
@pytest.mark.parametrize("condition", sorted(CONDITIONS))
def test_help_drawn_without_click_is_rich_click_s_byte_for_byte(monkeypatch: pytest.MonkeyPatch,
                                                                trap: list[list[str]], condition: str,
                                                                argv: list[str]) -> None:
    env, tty = CONDITIONS[condition]
    theirs, ours = _both(monkeypatch, trap, argv, env, tty)
    assert ours == theirs
    assert trap == [], "the entry fell back to rich-click"
    assert theirs[0] == (2 if not argv else 0) and (theirs[2] if not argv else theirs[1]).count("\n") >= 30


@pytest.mark.parametrize("tty", [False, True], ids=["pipe", "terminal"])
def test_every_modelled_width_is_rich_click_s_byte_for_byte(monkeypatch: pytest.MonkeyPatch,
                                                            trap: list[list[str]], tty: bool) -> None:
    widths = [*range(entry.MIN_WIDTH, 131), 165, *range(170, 176), 250, 333, entry.MAX_WIDTH]
    for width in widths if not tty else widths[::7]:
        theirs, ours = _both(monkeypatch, trap, ["--help"], {"COLUMNS": str(width), "TERM": "xterm"}, tty)
        assert ours == theirs, f"{width} columns"
    assert trap == []


def test_no_arguments_in_a_terminal_keeps_colour_only_where_stderr_is_one(monkeypatch: pytest.MonkeyPatch,
                                                                          trap: list[list[str]]) -> None:
    """click drops the colour codes of a usage error when stderr is not a terminal; rich chose them by stdout."""
    for env in ({"COLUMNS": "80"}, {"COLUMNS": "80", "FORCE_COLOR": "1"}):
        for_terminal: list[tuple[int, str, str]] = []
        for tty in (True, False):
            theirs, ours = _both(monkeypatch, trap, [], env, tty)
            assert ours == theirs
            for_terminal.append(ours)
        assert "\x1b[" in for_terminal[0][2] and "\x1b[" not in for_terminal[1][2]
    assert trap == []


FALLBACKS = {
    "narrower than modelled": ({"COLUMNS": str(entry.MIN_WIDTH - 1)}, "utf-8"),
    "wider than modelled": ({"COLUMNS": str(entry.MAX_WIDTH + 1)}, "utf-8"),
    "a rich-click theme": ({"COLUMNS": "100", "RICH_CLICK_THEME": "nord-nu"}, "utf-8"),
    "TERMINAL_WIDTH": ({"COLUMNS": "100", "TERMINAL_WIDTH": "70"}, "utf-8"),
    "an ASCII stdout (rich draws ASCII boxes)": ({"COLUMNS": "100"}, "ascii"),
    "COLUMNS of digits int() refuses": ({"COLUMNS": "\u00b2"}, "utf-8"),
    "COLUMNS longer than int() converts": ({"COLUMNS": "9" * 5000}, "utf-8"),
}


@pytest.mark.parametrize("condition", sorted(FALLBACKS))
def test_a_condition_the_entry_does_not_model_is_drawn_by_rich_click(monkeypatch: pytest.MonkeyPatch,
                                                                    trap: list[list[str]], condition: str) -> None:
    env, encoding = FALLBACKS[condition]
    theirs, ours = _both(monkeypatch, trap, ["--help"], env, True, encoding)
    assert ours == theirs
    assert trap == [["--help"]]


def test_a_word_longer_than_its_column_is_drawn_by_rich_click(monkeypatch: pytest.MonkeyPatch,
                                                             trap: list[list[str]]) -> None:
    """rich folds such a word across lines; the entry does not model folding, so rich-click draws it."""
    # A name no module registers, so rich-click draws the table's help whatever this process has imported.
    monkeypatch.setitem(COMMANDS, "zz", ("cli_store", "List the models in " + "x" * 100 + "."))
    theirs, ours = _both(monkeypatch, trap, ["--help"], {"COLUMNS": "80"}, False)
    assert ours == theirs and "x" * 100 not in ours[1] and "x" * 60 in ours[1]  # folded
    assert trap == [["--help"]]


def test_a_command_added_out_of_order_is_listed_where_click_lists_it(monkeypatch: pytest.MonkeyPatch,
                                                                     trap: list[list[str]]) -> None:
    monkeypatch.setitem(COMMANDS, "aa", ("cli_store", "A command added at the end of the table."))
    theirs, ours = _both(monkeypatch, trap, ["--help"], {"COLUMNS": "100"}, False)
    assert ours == theirs and trap == []
    assert ours[1].index(" aa ") < ours[1].index(" build ")


def test_the_group_declares_the_words_the_entry_draws() -> None:
    group = modeloci.cli.cli
    ctx = click.Context(group, info_name="modeloci")
    options = [(next(o for o in p.opts if o.startswith("--")), next((o for o in p.opts if not o.startswith("--")), ""),
                getattr(p, "help", None)) for p in group.get_params(ctx)]
    assert options == list(OPTIONS)
    assert group.help == GROUP_HELP
    assert vars(modeloci.cli)["COMMANDS"] is COMMANDS  # the table the group imports commands by


@pytest.mark.parametrize("argv", [["--version"], ["--debug"], ["--nope"], ["-h", "--debug"], ["--help", "extra"],
                                  *[[name, "--help"] for name in sorted(COMMANDS)]], ids=" ".join)
def test_every_other_command_line_is_left_to_click(monkeypatch: pytest.MonkeyPatch, trap: list[list[str]],
                                                    argv: list[str]) -> None:
    theirs, ours = _both(monkeypatch, trap, argv, {"COLUMNS": "100"}, False)
    assert ours == theirs and trap == [argv]
    if argv == ["--version"]:
        assert theirs == (0, f"modeloci, version {modeloci.__version__}\n", "")
    usage = (" " * 100 + "\n" + " Usage: modeloci [OPTIONS] COMMAND [ARGS]...".ljust(100) + "\n" + " " * 100
             + "\nTry 'modeloci --help' for help.\n\n")
    if argv == ["--nope"]:
        assert theirs == (2, "", usage + "Error: No such option '--nope'.\n")
    if argv == ["--debug"]:
        assert theirs == (2, "", usage + "Error: Missing command.\n")
    if argv[1:] == ["--help"]:
        assert theirs[0] == 0 and f"modeloci {argv[0]}" in theirs[1]


def _run_in_a_terminal(code: str, columns: int, tmp_path: Path) -> tuple[int, bytes]:
    """Run CODE in a fresh interpreter whose stdin, stdout and stderr are a pseudo-terminal COLUMNS wide
    (no COLUMNS variable: the width comes from the terminal), as `script -qc` would."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "TERM": "xterm-256color"}
    return run_in_pty([sys.executable, "-c", code], cwd=tmp_path, env=env, columns=columns, silence=30)


@pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")
@pytest.mark.parametrize("argv", [["--help"], []], ids=["--help", "no arguments"])
def test_help_in_a_real_terminal_is_rich_click_s_byte_for_byte(tmp_path: Path, argv: list[str]) -> None:
    ours = _run_in_a_terminal(f"import sys; from modeloci.__main__ import main; sys.exit(main({argv!r}))", 97,
                              tmp_path)
    theirs = _run_in_a_terminal(f"import sys; from modeloci.cli import main; sys.exit(main({argv!r}))", 97,
                                tmp_path)
    assert ours == theirs
    assert ours[0] == (2 if not argv else 0) and b"\x1b[1;36mconvert" in ours[1]  # in colour
    lines = re.sub("\x1b\\[[0-9;]*m", "", ours[1].decode()).rstrip("\r\n").split("\r\n")
    assert len(lines) > 40 and {len(line) for line in lines} == {97}  # the terminal's width


def test_a_reader_that_goes_away_ends_the_help_as_rich_click_does(tmp_path: Path) -> None:
    """`modeloci --help | head -1` on a wide terminal: stdout breaks mid-write; exit 1, nothing on stderr."""
    results = []
    for module in ("modeloci.__main__", "modeloci.cli"):
        code = f"import sys; from {module} import main; sys.exit(main(['--help']))"
        proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env={"PATH": "/usr/bin:/bin", "COLUMNS": "1000"}, cwd=tmp_path)
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()
        results.append((proc.wait(timeout=30), proc.stderr.read()))
        proc.stderr.close()
    assert results[0] == results[1] == (1, b"")


@pytest.mark.parametrize("value", ["²", "9" * 5000])
@pytest.mark.parametrize("name", ["COLUMNS", "LINES"])
def test_a_terminal_size_rich_cannot_read_is_ignored_not_an_internal_error(name: str, value: str) -> None:
    """rich takes ``²`` and 5000 digits for numbers and ``int()`` refuses them: the CLI forgets such a value and
    draws at the terminal's own size instead of failing with an internal error."""
    env = {**os.environ, name: value}
    env.pop("FORCE_COLOR", None)
    done = subprocess.run([sys.executable, "-m", "modeloci", "plan", "--help"], env=env, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert "Usage: modeloci plan" in done.stdout and done.stderr == ""
