"""Human-readable output of plans and build results (rich), for the CLI only."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from modeloci.builder import BuildResult
from modeloci.compiler.model import BaseSource, BuildPlan


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


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
    settings = " ".join(f"{k}={v}" for k, v in plan.config.items() if not isinstance(v, dict))
    console.print(f"config:  {settings}")
    for key, value in plan.labels.items():
        console.print(f"label:   {key}={value}")
    if plan.reference:
        console.print(f"name:    {plan.reference}")
    console.print(f"created: {plan.created or '(not set)'}")


def print_build(result: BuildResult, console: Console | None = None) -> None:
    console = console or _console()
    size = human_size(result.output_size or 0)
    console.print(f"Built {result.output} ({len(result.layers)} layers, {size})")
    if result.reference:
        console.print(f"name:   {result.reference}")
    console.print(f"digest: {result.manifest.digest}")
