"""Human-readable output of plans and build results (rich), for the CLI only.

Every value that comes from a file, an archive or a registry (names, paths,
metadata, labels, media types) is passed through :func:`safe_text` where it is
put into a line, and the console reads no rich markup or emoji codes, so a file
named ``[red]x`` or ``:warning:`` prints as it is named.

``plan`` and ``build`` write their lines straight to stdout when rich would
print them as they are: output that is no terminal (so no styles), text of
printable ASCII (one column a character) that fits the width piped output
gets. That is the same characters, without importing rich (start-up time, for
the scripts and CI jobs that run them in loops); anything else goes through
rich. tests/test_render_plain.py holds the two to the same output.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from modeloci.compiler.model import BaseSource, BuildPlan
from modeloci.progress import human as human_size
from modeloci.termsafe import safe_text

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from modeloci.builder import BuildResult
    from modeloci.ops.inspect import ArtifactReport, ModelReport

_SHOWN_VALUE = 70
PIPED_WIDTH = 160  # piped output is read by people in logs and by grep: never wrapped below this


def _console() -> Console:
    from rich.console import Console

    # No markup and no emoji codes: the text printed holds names and values from files, shown literally.
    console = Console(highlight=False, markup=False, emoji=False)
    if not console.is_terminal:
        console.width = max(console.width, PIPED_WIDTH)
    return console


@dataclass(frozen=True, slots=True)
class Grid:
    """A table as rich draws it with no box and no edge padding: columns two spaces apart, each as wide as its
    widest cell, the header first; ``right`` names the columns justified right."""

    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    right: frozenset[str] = frozenset()

    def lines(self) -> list[str]:
        widths = [max(len(cell) for cell in column) for column in zip(self.columns, *self.rows, strict=True)]
        out = []
        for cells in (self.columns, *self.rows):
            out.append("  ".join(cell.rjust(width) if name in self.right else cell.ljust(width)
                                 for name, cell, width in zip(self.columns, cells, widths, strict=True)))
        return out

    def table(self) -> Table:
        from rich.table import Table

        table = Table(box=None, pad_edge=False, show_edge=False)
        for column in self.columns:
            table.add_column(column, justify="right" if column in self.right else "left", overflow="fold")
        for cells in self.rows:
            table.add_row(*cells)
        return table


# A plan's or a build's output: lines, a grid, and a first line whose first word is shown bold.
Block = str | Grid


def _emit(blocks: Sequence[Block], bold: str | None = None, console: Console | None = None) -> None:
    """Print ``blocks`` (``bold``: the first line starts with this word, shown bold on a terminal): straight to
    stdout when rich would print the same characters, else through rich."""
    if console is None and _plain_stdout() and all(_as_is(block) for block in blocks):
        lines = [line for block in blocks for line in (block.lines() if isinstance(block, Grid) else [block])]
        if all(len(line) <= PIPED_WIDTH for line in lines):
            sys.stdout.write("".join(f"{line}\n" for line in lines))
            return
    from rich.text import Text

    console = console or _console()
    for i, block in enumerate(blocks):
        if isinstance(block, Grid):
            console.print(block.table())
        elif i == 0 and bold is not None and block.startswith(bold):
            console.print(Text.assemble((bold, "bold"), block[len(bold):]))
        else:
            console.print(block)


def _as_is(block: Block) -> bool:
    """Whether rich prints ``block``'s text as it is: printable ASCII (a column a character), and no cell or line
    that starts or ends with a space (rich trims those)."""
    texts = [*block.columns, *(cell for row in block.rows for cell in row)] if isinstance(block, Grid) else [block]
    return all(text.isascii() and text.isprintable() and text == text.strip(" ") for text in texts)


def _plain_stdout() -> bool:
    """Whether rich would see stdout as no terminal (rich.console.Console.is_terminal, for a console made as
    :func:`_console` makes it): no styles, nothing redrawn."""
    if "idlelib" in sys.modules or "ipykernel" in sys.modules or any(
            name in os.environ for name in ("TTY_COMPATIBLE", "FORCE_COLOR", "JUPYTER_COLUMNS", "JUPYTER_LINES")):
        return False
    try:
        return not sys.stdout.isatty()
    except (AttributeError, ValueError):  # no stdout, or a closed one: rich decides
        return False


def _short(media_type: str) -> str:
    return media_type.removeprefix("application/vnd.")


def _row(table: Table, *cells: object) -> None:
    table.add_row(*(safe_text(cell) for cell in cells))


def _heading(name: object, rest: str) -> Text:
    from rich.text import Text

    return Text.assemble((safe_text(name), "bold"), safe_text(rest))


def print_plan(plan: BuildPlan, console: Console | None = None) -> None:
    base = f"{plan.base.path} ({plan.base.manifest_digest})" if plan.base else "scratch"
    blocks: list[Block] = [
        f"Plan for {safe_text(plan.modelfile)}",
        f"format:  {safe_text(plan.format)} ({safe_text(plan.config_media_type)})",
        f"from:    {safe_text(base)}",
    ]
    rows = tuple(
        tuple(safe_text(cell) for cell in (i, layer.role.value, layer.filepath, human_size(layer.size),
                                            "base" if isinstance(layer.source, BaseSource) else f"line {layer.line}",
                                            _short(layer.media_type)))
        for i, layer in enumerate(plan.layers, 1))
    blocks.append(Grid(("#", "role", "path", "size", "source", "media type"), rows, frozenset({"#", "size"})))
    sections = [("descriptor", plan.config["descriptor"]), ("config", plan.config["config"])] \
        if plan.format == "modelpack" else [("config", plan.config)]
    for title, fields in sections:
        settings = " ".join(f"{safe_text(k)}={safe_text(v)}" for k, v in fields.items() if not isinstance(v, dict))
        blocks.append(f"{title}: ".ljust(9) + settings)
    blocks += [f"label:   {safe_text(key)}={safe_text(value)}" for key, value in plan.labels.items()]
    if plan.reference:
        blocks.append(f"name:    {safe_text(plan.reference)}")
    blocks.append(f"created: {plan.created or '(not set)'}")
    blocks += [f"note:    {safe_text(note)}" for note in plan.notes]
    _emit(blocks, "Plan", console)


def print_build(result: BuildResult, console: Console | None = None) -> None:
    if result.output_size is None:
        blocks = [f"Stored {safe_text(result.reference)} in {safe_text(result.output)} ({len(result.layers)} layers)"]
    else:
        blocks = [f"Built {safe_text(result.output)} ({len(result.layers)} layers, {human_size(result.output_size)})"]
    if result.reference:
        blocks.append(f"name:   {safe_text(result.reference)}")
    blocks.append(f"digest: {result.manifest.digest}")
    _emit(blocks, console=console)


def _shorten(text: str | None) -> str:
    if text is None:
        return "(not decoded)"
    flat = safe_text(text)
    return flat if len(flat) <= _SHOWN_VALUE else flat[: _SHOWN_VALUE - 1] + "…"


def print_model_report(report: ModelReport, console: Console | None = None) -> None:
    from rich.table import Table

    console = console or _console()
    kind = "projector" if report.projector else (report.format or report.kind)
    version = f", GGUF v{report.gguf_version}" if report.gguf_version else ""
    console.print(_heading(report.path, f": {kind}{version}"))
    for key in ("architecture", "parameters", "quantization", "size", "context_size"):
        if key in report.config:
            console.print(f"{key + ':':14}{safe_text(report.config[key])}")
    console.print(f"{'tensors:':14}{report.tensor_count} ({report.parameter_count} parameters)")
    if report.files:
        table = Table(box=None, pad_edge=False, show_edge=False, title_justify="left")
        for column in ("file", "kind", "size"):
            table.add_column(column, justify="right" if column == "size" else "left", overflow="fold")
        for entry in report.files:
            _row(table, entry.path, entry.kind, human_size(entry.size))
        console.print(table)
    if report.metadata:
        table = Table(box=None, pad_edge=False, show_edge=False)
        for column in ("key", "type", "value"):
            table.add_column(column, overflow="fold")
        for item in report.metadata:
            _row(table, item.key, item.type, _shorten(item.value))
        console.print(table)
    for problem in report.problems:
        console.print(f"problem: {safe_text(problem.message)}")


def print_artifact_report(report: ArtifactReport, console: Console | None = None) -> None:
    from rich.table import Table

    console = console or _console()
    named = f" {report.reference}" if report.reference else ""
    console.print(_heading(report.source, f": {report.format} model{named}"))
    console.print(f"{'digest:':14}{safe_text(report.manifest_digest)}")
    console.print(f"{'config:':14}{safe_text(report.config_media_type)}")
    console.print(f"{'total size:':14}{human_size(report.size)}")
    # Docker Model Runner shows a model with no time as created "56 years ago": say plainly there is none.
    console.print(f"{'created:':14}{safe_text(report.created or 'unknown')}")
    for key, value in report.config.items():
        if value is not None:
            console.print(f"{safe_text(key + ':'):14}{safe_text(value)}")
    table = Table(box=None, pad_edge=False, show_edge=False)
    for column in ("#", "role", "path", "size", "digest", "media type"):
        table.add_column(column, justify="right" if column in ("#", "size") else "left", overflow="fold")
    for i, layer in enumerate(report.layers, 1):
        _row(table, i, layer.role, layer.path or "", human_size(layer.size), layer.digest[:19],
             _short(layer.media_type))
    console.print(table)
    for key, value in report.labels.items():
        console.print(f"label: {safe_text(key)}={safe_text(value)}")
    for referrer in report.referrers:
        console.print(f"{'referrer:':14}{safe_text(referrer.artifact_type)} {safe_text(referrer.digest[:19])} "
                      f"({human_size(referrer.size)})")
