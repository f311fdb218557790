"""Human-readable output of plans and build results (rich), for the CLI only.

Every value that comes from a file, an archive or a registry (names, paths,
metadata, labels, media types) is passed through :func:`safe_text` where it is
put into a line, and the console reads no rich markup or emoji codes, so a file
named ``[red]x`` or ``:warning:`` prints as it is named.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table
from rich.text import Text

from modeloci.compiler.model import BaseSource, BuildPlan
from modeloci.progress import human as human_size
from modeloci.termsafe import safe_text

if TYPE_CHECKING:
    from modeloci.builder import BuildResult
    from modeloci.ops.inspect import ArtifactReport, ModelReport

_SHOWN_VALUE = 70


def _console() -> Console:
    # No markup and no emoji codes: the text printed holds names and values from files, shown literally.
    console = Console(highlight=False, markup=False, emoji=False)
    if not console.is_terminal:
        # Piped output is read by people in logs and by grep: never wrap it.
        console.width = max(console.width, 160)
    return console


def _short(media_type: str) -> str:
    return media_type.removeprefix("application/vnd.")


def _row(table: Table, *cells: object) -> None:
    table.add_row(*(safe_text(cell) for cell in cells))


def _heading(name: object, rest: str) -> Text:
    return Text.assemble((safe_text(name), "bold"), safe_text(rest))


def print_plan(plan: BuildPlan, console: Console | None = None) -> None:
    console = console or _console()
    base = f"{plan.base.path} ({plan.base.manifest_digest})" if plan.base else "scratch"
    console.print(Text.assemble(("Plan", "bold"), f" for {safe_text(plan.modelfile)}"))
    console.print(f"format:  {safe_text(plan.format)} ({safe_text(plan.config_media_type)})")
    console.print(f"from:    {safe_text(base)}")
    table = Table(box=None, pad_edge=False, show_edge=False)
    for column in ("#", "role", "path", "size", "source", "media type"):
        table.add_column(column, justify="right" if column in ("#", "size") else "left", overflow="fold")
    for i, layer in enumerate(plan.layers, 1):
        source = "base" if isinstance(layer.source, BaseSource) else f"line {layer.line}"
        _row(table, i, layer.role.value, layer.filepath, human_size(layer.size), source, _short(layer.media_type))
    console.print(table)
    sections = [("descriptor", plan.config["descriptor"]), ("config", plan.config["config"])] \
        if plan.format == "modelpack" else [("config", plan.config)]
    for title, fields in sections:
        settings = " ".join(f"{safe_text(k)}={safe_text(v)}" for k, v in fields.items() if not isinstance(v, dict))
        console.print(f"{title}: ".ljust(9) + settings)
    for key, value in plan.labels.items():
        console.print(f"label:   {safe_text(key)}={safe_text(value)}")
    if plan.reference:
        console.print(f"name:    {safe_text(plan.reference)}")
    console.print(f"created: {plan.created or '(not set)'}")
    for note in plan.notes:
        console.print(f"note:    {safe_text(note)}")


def print_build(result: BuildResult, console: Console | None = None) -> None:
    console = console or _console()
    if result.output_size is None:
        console.print(f"Stored {safe_text(result.reference)} in {safe_text(result.output)} "
                      f"({len(result.layers)} layers)")
    else:
        console.print(f"Built {safe_text(result.output)} "
                      f"({len(result.layers)} layers, {human_size(result.output_size)})")
    if result.reference:
        console.print(f"name:   {safe_text(result.reference)}")
    console.print(f"digest: {result.manifest.digest}")


def _shorten(text: str | None) -> str:
    if text is None:
        return "(not decoded)"
    flat = safe_text(text)
    return flat if len(flat) <= _SHOWN_VALUE else flat[: _SHOWN_VALUE - 1] + "…"


def print_model_report(report: ModelReport, console: Console | None = None) -> None:
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
