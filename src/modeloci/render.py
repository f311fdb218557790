"""Human-readable output of plans and build results (rich), for the CLI only."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from typing import TYPE_CHECKING

from modeloci.compiler.model import BaseSource, BuildPlan
from modeloci.progress import human as human_size

if TYPE_CHECKING:
    from modeloci.builder import BuildResult
    from modeloci.ops.inspect import ArtifactReport, ModelReport

_SHOWN_VALUE = 70


def _console() -> Console:
    console = Console(highlight=False)
    if not console.is_terminal:
        # Piped output is read by people in logs and by grep: never wrap it.
        console.width = max(console.width, 160)
    return console


def _short(media_type: str) -> str:
    return media_type.removeprefix("application/vnd.")


def print_plan(plan: BuildPlan, console: Console | None = None) -> None:
    console = console or _console()
    base = f"{plan.base.path} ({plan.base.manifest_digest})" if plan.base else "scratch"
    console.print(f"[bold]Plan[/bold] for {plan.modelfile}")
    console.print(f"format:  {plan.format} ({plan.config_media_type})")
    console.print(f"from:    {base}")
    table = Table(box=None, pad_edge=False, show_edge=False)
    for column in ("#", "role", "path", "size", "source", "media type"):
        table.add_column(column, justify="right" if column in ("#", "size") else "left", overflow="fold")
    for i, layer in enumerate(plan.layers, 1):
        source = "base" if isinstance(layer.source, BaseSource) else f"line {layer.line}"
        table.add_row(str(i), layer.role.value, layer.filepath, human_size(layer.size), source, _short(layer.media_type))
    console.print(table)
    sections = [("descriptor", plan.config["descriptor"]), ("config", plan.config["config"])] \
        if plan.format == "modelpack" else [("config", plan.config)]
    for title, fields in sections:
        settings = " ".join(f"{k}={v}" for k, v in fields.items() if not isinstance(v, dict))
        console.print(f"{title}: ".ljust(9) + settings)
    for key, value in plan.labels.items():
        console.print(f"label:   {key}={value}")
    if plan.reference:
        console.print(f"name:    {plan.reference}")
    console.print(f"created: {plan.created or '(not set)'}")
    for note in plan.notes:
        console.print(f"note:    {note}")


def print_build(result: BuildResult, console: Console | None = None) -> None:
    console = console or _console()
    if result.output_size is None:
        console.print(f"Stored {result.reference} in {result.output} ({len(result.layers)} layers)")
    else:
        console.print(f"Built {result.output} ({len(result.layers)} layers, {human_size(result.output_size)})")
    if result.reference:
        console.print(f"name:   {result.reference}")
    console.print(f"digest: {result.manifest.digest}")


def _shorten(text: str | None) -> str:
    if text is None:
        return "(not decoded)"
    flat = text.replace("\n", "\\n")
    return flat if len(flat) <= _SHOWN_VALUE else flat[: _SHOWN_VALUE - 1] + "…"


def print_model_report(report: ModelReport, console: Console | None = None) -> None:
    console = console or _console()
    kind = "projector" if report.projector else (report.format or report.kind)
    console.print(f"[bold]{report.path}[/bold]: {kind}" + (f", GGUF v{report.gguf_version}" if report.gguf_version else ""))
    for key in ("architecture", "parameters", "quantization", "size", "context_size"):
        if key in report.config:
            console.print(f"{key + ':':14}{report.config[key]}")
    console.print(f"{'tensors:':14}{report.tensor_count} ({report.parameter_count} parameters)")
    if report.files:
        table = Table(box=None, pad_edge=False, show_edge=False, title_justify="left")
        for column in ("file", "kind", "size"):
            table.add_column(column, justify="right" if column == "size" else "left", overflow="fold")
        for entry in report.files:
            table.add_row(entry.path, entry.kind, human_size(entry.size))
        console.print(table)
    if report.metadata:
        table = Table(box=None, pad_edge=False, show_edge=False)
        for column in ("key", "type", "value"):
            table.add_column(column, overflow="fold")
        for entry in report.metadata:
            table.add_row(entry.key, entry.type, _shorten(entry.value))
        console.print(table)
    for problem in report.problems:
        console.print(f"problem: {problem}")


def print_artifact_report(report: ArtifactReport, console: Console | None = None) -> None:
    console = console or _console()
    console.print(f"[bold]{report.source}[/bold]: {report.format} model" + (f" {report.reference}" if report.reference else ""))
    console.print(f"{'digest:':14}{report.manifest_digest}")
    console.print(f"{'config:':14}{report.config_media_type}")
    console.print(f"{'total size:':14}{human_size(report.size)}")
    for key, value in report.config.items():
        if value is not None:
            console.print(f"{key + ':':14}{value}")
    table = Table(box=None, pad_edge=False, show_edge=False)
    for column in ("#", "role", "path", "size", "digest", "media type"):
        table.add_column(column, justify="right" if column in ("#", "size") else "left", overflow="fold")
    for i, layer in enumerate(report.layers, 1):
        table.add_row(str(i), layer.role, layer.path or "", human_size(layer.size), layer.digest[:19], _short(layer.media_type))
    console.print(table)
    for key, value in report.labels.items():
        console.print(f"label: {key}={value}")
