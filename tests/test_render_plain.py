"""`plan` and `build` print without rich when rich would print the same characters (render.py): hold the two to
the same output, and show that everything else still goes through rich."""

from __future__ import annotations

import contextlib
import io
import string
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

from modeloci import render
from modeloci.api import plan
from modeloci.render import PIPED_WIDTH, Block, Grid
from tests.archive_tools import copy_example

EXAMPLES = ["single-gguf", "sharded-vision", "hf-safetensors"]


def _rich(blocks: list[Block], bold: str | None = None, width: int = PIPED_WIDTH) -> str:
    """What rich prints for ``blocks`` to output that is no terminal (the console render._console makes)."""
    buffer = io.StringIO()
    render._emit(blocks, bold, Console(file=buffer, highlight=False, markup=False, emoji=False,
                                       force_terminal=False, width=width))
    return buffer.getvalue()


def _plain(blocks: list[Block], bold: str | None = None) -> str:
    """What render prints for ``blocks`` to stdout, a pipe (not a terminal)."""
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        render._emit(blocks, bold)
    return buffer.getvalue()


@pytest.fixture(autouse=True)
def _no_forced_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TTY_COMPATIBLE", "FORCE_COLOR", "JUPYTER_COLUMNS", "JUPYTER_LINES", "COLUMNS"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize("example", EXAMPLES)
def test_a_piped_plan_prints_what_rich_prints_at_any_width(example: str, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    compiled = plan(copy_example(example, tmp_path))
    expected = {}
    for width in (PIPED_WIDTH, 250):
        buffer = io.StringIO()
        render.print_plan(compiled, Console(file=buffer, highlight=False, markup=False, emoji=False,
                                            force_terminal=False, width=width))
        expected[width] = buffer.getvalue()
    printed = io.StringIO()
    monkeypatch.setattr(sys, "stdout", printed)
    render.print_plan(compiled)
    assert printed.getvalue() == expected[PIPED_WIDTH] == expected[250]
    assert printed.getvalue().startswith("Plan for ") and "\n#  role " in printed.getvalue()


_ASCII = st.text(alphabet=string.ascii_letters + string.digits + string.punctuation + " ", max_size=30)


@settings(max_examples=300, deadline=None)
@given(columns=st.lists(_ASCII.filter(bool), min_size=1, max_size=6),
       data=st.data(),
       lines=st.lists(_ASCII, max_size=3))
def test_any_ascii_grid_and_lines_that_fit_print_as_rich_prints_them(columns: list[str], data: st.DataObject,
                                                                       lines: list[str]) -> None:
    rows = data.draw(st.lists(st.tuples(*[_ASCII for _ in columns]), max_size=5))
    right = frozenset(data.draw(st.lists(st.sampled_from(columns), max_size=2)))
    blocks: list[Block] = ["Plan for x", *lines, Grid(tuple(columns), tuple(rows), right), *lines]
    assert _plain(blocks, "Plan") == _rich(blocks, "Plan")


@pytest.mark.parametrize("blocks", [
    pytest.param(["x" * (PIPED_WIDTH + 1)], id="a line longer than the piped width"),
    pytest.param([Grid(("a", "b"), (("x" * 100, "y" * 100),))], id="a grid wider than the piped width"),
    pytest.param(["modèle"], id="a character that is not ASCII"),
    pytest.param([Grid(("a",), (("语言模型",),))], id="wide characters in a grid"),
    pytest.param([Grid(("a",), (("x ",),))], id="a cell ending in a space, which rich trims"),
    pytest.param(["a\tb"], id="a tab, which rich expands"),
])
def test_what_rich_would_wrap_or_measure_otherwise_goes_through_rich(blocks: list[Block],
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    consoles = []
    made = render._console
    monkeypatch.setattr(render, "_console", lambda: consoles.append(1) or made())
    assert _plain(blocks) == _rich(blocks)
    assert consoles == [1]  # rich printed it


def test_what_fits_does_not_go_through_rich(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(render, "_console", lambda: pytest.fail("rich was used"))
    assert _plain(["Built x (1 layers, 1 B)", "digest: sha256:00"]) == "Built x (1 layers, 1 B)\ndigest: sha256:00\n"


def test_a_terminal_gets_rich_s_bold_heading(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.setenv("TERM", "xterm-256color")
    printed = _plain(["Plan for x", Grid(("#",), (("1",),))], "Plan")
    assert printed.startswith("\x1b[1mPlan\x1b[0m for x\n")


def test_a_forced_terminal_is_not_taken_for_a_pipe(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in (("FORCE_COLOR", "1"), ("TTY_COMPATIBLE", "1")):
        with monkeypatch.context() as env:
            env.setenv(name, value)
            assert not render._plain_stdout()
    assert render._plain_stdout()  # the probe: pytest's captured stdout is no terminal
