"""The ``modeloci`` command's entry (and ``python -m modeloci``): the top-level help drawn without click or rich.

``modeloci --help`` (``-h``, or no arguments at all) is the one screen every new user runs, and importing
click, rich and rich-click to draw it costs more than issue 20's start-up target (1.5 x ``import lark``).
So :func:`main` draws that screen itself, byte for byte what rich-click draws, and hands every other
command line to :func:`modeloci.cli.main`, imported only then (start-up time).

What the screen says is declared here once: :data:`COMMANDS` (each command's module and short help),
:data:`GROUP_HELP` and the options' helps. ``modeloci.cli`` declares the click group from the same
constants, so the two drawings cannot say different things. How rich-click lays the screen out is
modelled for the conditions that matter (any width from 38 to 1000 columns, a pipe or a terminal, with
or without colour, ``NO_COLOR``, ``FORCE_COLOR``, ``TERM``, ``COLUMNS``, ``LINES``); anything else (a
Windows console, a rich-click theme, ``TERMINAL_WIDTH``, Jupyter or IDLE, a stream that is not UTF-8,
a word too long for its column) goes to rich-click as before. tests/test_help_fast.py draws the
screen both ways over those conditions and requires the same bytes.
"""

from __future__ import annotations

import builtins
import os
import re
import sys
from collections.abc import Callable, Mapping
from itertools import pairwise
from math import ceil
from typing import TextIO

# Every command: the module that defines it, and its short help as `modeloci --help` shows it (the first
# paragraph of its help). The group's help is drawn from this table, so that `modeloci --help` imports no
# command module, and a command imports only its own module (start-up time); tests/test_startup.py checks
# the table against the commands themselves.
COMMANDS: dict[str, tuple[str, str]] = {
    "build": ("cli_build", "Build PATH (a folder holding a Modelfile, or a Modelfile) into the local store (-t "
                           "NAME), an OCI archive (-o) or an OCI layout folder (--layout)."),
    "convert": ("cli_artifacts", "Re-wrap a model archive, layout or stored model in another format; blobs are "
                                 "carried by digest (a modelcar's tar layers are made around them, or their files "
                                 "copied out, while streaming)."),
    "fmt": ("cli_workflow", "Rewrite Modelfiles in the canonical layout (FILES default to ./Modelfile; folders are "
                            "searched, - is stdin)."),
    "init": ("cli_workflow", "Draft a Modelfile for the model files in FOLDER [default: .], each choice explained in "
                             "a comment."),
    "inspect": ("cli_artifacts", "Show what a model archive or layout, a GGUF or safetensors file, or a model folder "
                                 "holds."),
    "lint": ("cli_workflow", "Check Modelfiles as a build would (files, shards, templates), plus advice, writing "
                             "nothing."),
    "load": ("cli_store", "Import an archive or layout into the store, checking every digest."),
    "login": ("cli_registry", "Check credentials against REGISTRY and remember them (in a file only you can read)."),
    "logout": ("cli_registry", "Forget the credentials `modeloci login` saved for REGISTRY."),
    "ls": ("cli_store", "List the models in the local store."),
    "plan": ("cli_build", "Print the compiled build plan of PATH (a folder holding a Modelfile, or a Modelfile), "
                          "reading no weight bytes."),
    "prune": ("cli_store", "Delete blobs no tagged model uses, and leftovers of interrupted builds."),
    "pull": ("cli_registry", "Pull a model from a registry into the local store (default), an archive (-o) or a "
                             "layout (--layout), with its referrers (signatures, provenance, BOMs)."),
    "push": ("cli_registry", "Push a model (archive, layout folder or stored model) to a registry."),
    "rm": ("cli_store", "Remove tags from the store (blobs stay until `modeloci prune`)."),
    "save": ("cli_store", "Write a stored model as an archive (the same bytes `build -o` writes)."),
    "sign": ("cli_attest", "Sign a model (an archive, a layout, a stored model or a registry reference) in the "
                           "OpenSSF Model Signing format, and attach the signature to it."),
    "tag": ("cli_store", "Give the stored model SOURCE another name, TARGET."),
    "unpack": ("cli_artifacts", "Unpack an archive, layout or stored model into a folder, verifying every blob; "
                                "nothing is left on failure."),
    "verify": ("cli_artifacts", "Check every blob of an archive, layout or stored model against its digest, and that "
                                "its documents agree."),
}
GROUP_HELP = "Package AI models as reproducible OCI artifacts from a Modelfile."
VERSION_HELP = "Show the version and exit."
DEBUG_HELP = "Show Python tracebacks for errors."
HELP_HELP = "Show this message and exit."
HELP_OPTIONS = ("-h", "--help")
# The group's options as its help lists them (click's order: the decorators', then the help option):
# (long name, short name, help).
OPTIONS = (("--version", "", VERSION_HELP), ("--debug", "", DEBUG_HELP), ("--help", "-h", HELP_HELP))
USAGE = ("Usage:", "modeloci", "[OPTIONS] COMMAND [ARGS]...")

Piece = tuple[str, str]  # a run of text and the name of its style ("" for none)
Line = list[Piece]
Cell = list[Line]  # a table cell: its lines, each padded to the column's width

# rich-click's default theme as SGR parameters: (with colour, under NO_COLOR, which keeps bold and dim).
# Every colour is one of the 8 standard ones, which rich writes the same way for every colour system.
_SGR = {"usage": ("33", ""), "prog": ("1", "1"), "dim": ("2", "2"), "option": ("1;36", "1"),
        "switch": ("1;32", "1"), "metavar": ("1;33", "1"), "deprecated": ("31", "")}
# rich-click's highlighter of help text; each named group becomes a span of that style.
_HIGHLIGHTS = [re.compile(p) for p in (r"(^|[^\w\-])(?P<switch>-([^\W0-9][\w\-]*\w|[^\W0-9]))",
                                       r"(^|[^\w\-])(?P<option>--([^\W0-9][\w\-]*\w|[^\W0-9]))",
                                       r"(?P<metavar><[^>]+>)", r"(?P<deprecated>\(DEPRECATED(?:\: .*?)?\))$")]
_WORD = re.compile(r"\s*\S+\s*")
_TRUE, _FALSE = {"y", "yes", "t", "true", "1"}, {"n", "no", "f", "false", "0"}
MIN_WIDTH, MAX_WIDTH = 38, 1000  # the widths whose layout is modelled (and tested); others go to rich-click


class _NotModelled(Exception):
    """The help would be laid out in a way this module does not draw: rich-click draws it."""


def _spans(text: str) -> list[tuple[int, int, str]]:
    found = sorted((m.start(name), m.end(name), name) for pattern in _HIGHLIGHTS for m in pattern.finditer(text)
                   for name in m.groupdict() if m.end(name) > m.start(name) > -1)
    if any(a[1] > b[0] for a, b in pairwise(found)):
        raise _NotModelled("overlapping highlights")
    return found


def _wrap(text: str, width: int) -> list[tuple[int, int]]:
    """The (start, end) of each line rich's word wrap makes of TEXT at WIDTH (rich/_wrap.py's divide_line)."""
    breaks, offset, match = [0], 0, _WORD.match(text)
    while match is not None:
        start, word = match.start(), match.group()
        if len(word.rstrip()) > width:
            raise _NotModelled("a word longer than its column")  # rich folds it
        if width - offset >= len(word.rstrip()):
            offset += len(word)
        elif offset and start:
            breaks.append(start)
            offset = len(word)
        match = _WORD.match(text, match.end())
    lines = []
    for start, stop in pairwise([*breaks, len(text)]):
        cut = min(stop - start - width, stop - start - len(text[start:stop].rstrip()))  # rich's rstrip_end:
        lines.append((start, stop - max(cut, 0)))  # whitespace past the width is cut, the rest padded
    return lines


def _text_lines(text: str, width: int) -> list[Line]:
    """TEXT highlighted and wrapped at WIDTH, each line padded to it."""
    if not (text.isascii() and text.isprintable() and text == text.strip()):
        raise _NotModelled("text rich would measure or clean up differently")
    spans, lines = _spans(text), []
    for start, end in _wrap(text, width):
        line: Line = []
        at = start
        for first, last, style in spans:
            a, b = max(first, start), min(last, end)
            if a < b:
                line += [(text[at:a], ""), (text[a:b], style)]
                at = b
        line += [(text[at:end] + " " * (width - (end - start)), "")]
        lines.append(line)
    return lines


def _ratio_distribute(total: int, ratios: list[int]) -> list[int]:
    """rich/_ratio.py's ratio_distribute: TOTAL shared out in proportion to RATIOS."""
    shares, left, remaining = [], sum(ratios), total
    for ratio in ratios:
        share = ceil(ratio * remaining / left) if left > 0 else remaining
        shares.append(share)
        left, remaining = left - ratio, remaining - share
    return shares


def _usage(width: int) -> list[Line]:
    """The usage line in its padding: rich's Columns of three texts, in one row or, when narrow, two."""
    prefix, prog, args = USAGE
    arg_line: Line = []
    at = 0
    for word in re.finditer(r"\w+", args):  # rich-click's usage highlighter: each word an argument
        arg_line += [(args[at:word.start()], ""), (word.group(), "option")]
        at = word.end()
    arg_line.append((args[at:], ""))
    room = width - 2
    if len(prefix) + len(prog) + len(args) + 2 <= room:
        rows = [[(prefix, "usage"), (" ", ""), (prog, "prog"), (" ", ""), *arg_line,
                 (" " * (room - len(prefix) - len(prog) - len(args) - 2), "")]]
    elif max(len(prefix), len(args)) + 1 + len(prog) <= room:
        first = max(len(prefix), len(args))
        rest = " " * (room - first - 1 - len(prog))
        rows = [[(prefix.ljust(first), "usage"), (" ", ""), (prog, "prog"), (rest, "")],
                [*arg_line, (" " * (first - len(args) + 1 + len(prog)), ""), (rest, "")]]
    else:
        raise _NotModelled("usage in one column")
    blank: Line = [(" " * width, "")]
    return [blank, *[[(" ", ""), *row, (" ", "")] for row in rows], blank]


def _panel(title: str, rows: list[list[Cell]], width: int) -> list[Line]:
    """Rows of cells (each cell its lines, already padded) in a rounded box with TITLE."""
    fill = width - 4 - len(title) - 2
    if fill < 0:
        raise _NotModelled("a title wider than its box")
    top: Line = [("╭─", "dim"), (f" {title} ", "dim"), *([("─" * fill, "dim")] if fill else []), ("─╮", "dim")]
    body: list[Line] = []
    for cells in rows:
        body += [[("│", "dim"), (" ", ""), *[piece for line in parts for piece in line], (" ", ""), ("│", "dim")]
                 for parts in zip(*cells, strict=True)]
    return [top, *body, [("╰" + "─" * (width - 2) + "╯", "dim")]]


def _cell(lines: Cell, height: int, width: int, style: str = "") -> Cell:
    """A table cell: its lines, then blank lines of its width (in the column's style) down to HEIGHT."""
    return lines + [[(" " * width, style)]] * (height - len(lines))


def _options(width: int) -> list[Line]:
    """The Options panel: a table whose help column takes every column the others leave."""
    inner = width - 4
    long_width = max(len(long) for long, _, _ in OPTIONS) + 1
    short_width = max(len(short) for _, short, _ in OPTIONS) + 2
    help_width = inner - long_width - short_width - 1
    if help_width < 1:
        raise _NotModelled("an options table narrower than its names")
    rows = []
    for long, short, text in OPTIONS:
        helps = _text_lines(text, help_width)
        height = len(helps)
        rows.append([_cell([[(long.ljust(long_width - 1), "option"), (" ", "")]], height, long_width),
                     _cell([[(" ", ""), (short.ljust(short_width - 2), "switch" if short else ""), (" ", "")]],
                           height, short_width),
                     [[(" ", ""), *line] for line in helps]])
    return _panel("Options", rows, width)


def _commands(width: int) -> list[Line]:
    """The Commands panel: names, then help wrapped to what is left (or the table widened to the box)."""
    inner = width - 4
    name_width = max(len(name) for name in COMMANDS) + 1
    help_width = max(len(text) for _, text in COMMANDS.values()) + 1
    if name_width + help_width > inner:
        help_width = inner - name_width
    else:
        extra = _ratio_distribute(inner - name_width - help_width, [name_width, help_width])
        name_width, help_width = name_width + extra[0], help_width + extra[1]
    rows = []
    for name, (_, text) in sorted(COMMANDS.items()):  # click lists a group's commands sorted by name
        helps = _text_lines(text, help_width - 1)
        rows.append([_cell([[(name.ljust(name_width - 1), "option"), (" ", "option")]], len(helps), name_width,
                           "option"),
                     [[(" ", ""), *line] for line in helps]])
    return _panel("Commands", rows, width)


def help_lines(width: int) -> list[Line]:
    """The whole top-level help at WIDTH, as lines of styled pieces; _NotModelled where rich-click must draw it."""
    if not MIN_WIDTH <= width <= MAX_WIDTH:
        raise _NotModelled("a width outside the modelled range")
    about = [[(" ", ""), *line, (" ", "")] for line in _text_lines(GROUP_HELP, width - 2)]
    return [*_usage(width), *about, [(" " * width, "")], *_options(width), *_commands(width)]


def draw(lines: list[Line], colour: str | None) -> str:
    """LINES as text: each styled piece in its SGR codes and a reset, as rich writes it (COLOUR: None for
    none, "color", or "no_color" for NO_COLOR's bold and dim only)."""
    column = 0 if colour == "color" else 1
    out = []
    for line in lines:
        for text, style in line:
            sgr = _SGR[style][column] if style and colour and text else ""
            out.append(f"\x1b[{sgr}m{text}\x1b[0m" if sgr else text)
        out.append("\n")
    return "".join(out).rstrip("\n")


def _force_terminal(environ: Mapping[str, str]) -> bool | None:
    """rich-click's force_terminal: the first of FORCE_COLOR, PY_COLORS, GITHUB_ACTIONS set, read as a bool."""
    for name in ("FORCE_COLOR", "PY_COLORS", "GITHUB_ACTIONS"):
        if name in environ:
            value = environ[name].lower()
            return True if value in _TRUE else False if value in _FALSE else None
    return None


def _is_terminal(environ: Mapping[str, str], isatty: Callable[[], bool]) -> bool:
    """rich's Console.is_terminal, with rich-click's force_terminal."""
    forced = _force_terminal(environ)
    if forced is not None:
        return forced
    if environ.get("TTY_COMPATIBLE", "") in ("0", "1"):
        return environ["TTY_COMPATIBLE"] == "1"
    if "FORCE_COLOR" in environ:
        return environ["FORCE_COLOR"] != ""
    try:
        return isatty()
    except ValueError:
        return False


def _digits(environ: Mapping[str, str], name: str) -> int | None:
    """A number rich reads from the environment: a value of digits, else None."""
    value = environ.get(name)
    if value is None or not value.isdigit():
        return None
    try:
        return int(value)
    except ValueError:  # digits int() refuses ("²", or more than Python converts): rich fails on them as before
        raise _NotModelled(f"{name} that rich cannot read") from None


def _terminal_columns() -> int:
    """The first terminal size of stdin, stdout and stderr (rich's order), or 80."""
    columns = 0
    for stream, default in ((sys.__stdin__, 0), (sys.__stdout__, 1), (sys.__stderr__, 2)):
        try:
            fd = stream.fileno() if stream is not None else default
        except Exception:  # rich falls back to the standard number for any failure
            fd = default
        try:
            columns = os.get_terminal_size(fd).columns
        except (AttributeError, ValueError, OSError):
            continue
        break
    return columns or 80


def screen(environ: Mapping[str, str], stdout: TextIO) -> tuple[int, str | None]:
    """The width and colour (see :func:`draw`) rich-click's console chooses for the help: colour is decided
    against STDOUT, the width against the console's own buffer (never a terminal, unless forced)."""
    if sys.platform == "win32" or "RICH_CLICK_THEME" in environ or "TERMINAL_WIDTH" in environ:
        raise _NotModelled("a Windows console or a rich-click setting")
    if hasattr(builtins, "get_ipython") or str(getattr(sys.stdin, "__module__", "")).startswith("idlelib"):
        raise _NotModelled("Jupyter, IPython or IDLE")
    if not (getattr(stdout, "encoding", None) or "utf-8").lower().startswith("utf"):
        raise _NotModelled("a stream rich would draw in ASCII")
    dumb = environ.get("TERM", "").lower() in ("dumb", "unknown")
    terminal = _is_terminal(environ, getattr(stdout, "isatty", lambda: False))
    colour = None if not terminal or dumb else "no_color" if environ.get("NO_COLOR", "") != "" else "color"
    columns, lines = _digits(environ, "COLUMNS"), _digits(environ, "LINES")
    if columns is not None and lines is not None:
        return columns, colour
    if dumb and _is_terminal(environ, lambda: False):
        return 80, colour
    return (columns if columns is not None else _terminal_columns()), colour


def _show(argv: list[str]) -> int | None:
    """Print the top-level help as rich-click would and return the exit code; None where it is not modelled."""
    to_stderr = not argv  # `modeloci` alone shows the help as a usage error: on stderr, exit code 2
    stream = sys.stderr if to_stderr else sys.stdout
    if stream is None or sys.stdout is None:
        return None
    try:
        width, colour = screen(os.environ, sys.stdout)
        text = draw(help_lines(width), colour)
        if to_stderr:
            text = _for_stderr(text, stream)
    except _NotModelled:
        return None
    if to_stderr:
        stream.write(text + "\n")
        stream.flush()
        return 2
    print(text)
    return 0


def _for_stderr(text: str, stream: TextIO) -> str:
    """click.echo's rules for stderr: colour codes are dropped unless it is a terminal."""
    if not (getattr(stream, "encoding", None) or "ascii").lower().startswith("utf"):
        raise _NotModelled("click would re-wrap the stream")
    if type(stream).__module__.startswith("ipykernel."):
        raise _NotModelled("a Jupyter kernel's stream")
    try:
        terminal = stream.isatty()
    except Exception:  # click's isatty() takes any failure for "no"
        terminal = False
    return text if terminal else re.sub(r"\033\[[;?0-9]*[a-zA-Z]", "", text)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI: the top-level help drawn here when it can be, everything else by :func:`modeloci.cli.main`."""
    argv = sys.argv[1:] if argv is None else argv
    if not argv or (len(argv) == 1 and argv[0] in HELP_OPTIONS):
        try:
            code = _show(argv)
        except KeyboardInterrupt:
            sys.stderr.write("error: interrupted\n")
            return 130
        except BrokenPipeError:
            # As modeloci.cli.main: the reader went away; keep the exit-time flush of stdout from failing.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 1
        if code is not None:
            return code
    from modeloci.cli import main as run  # start-up time: click and rich only for what this module does not draw

    return run(argv)


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
