"""The command line: thin rich-click commands, and the one place that prints and exits.

Commands parse options, call the pipeline (parse, compile, build) and print
the result. :func:`main` is the error boundary: a ModelociError is rendered
(diagnostics with source excerpts, other errors as ``error: ...`` plus a
``help:`` line) and mapped to its exit code: 2 for a bad Modelfile or bad
usage, 1 for a build that failed, 130 for an interrupt. No traceback reaches
the user unless ``--debug`` is given.

Text from outside (file names, metadata, registry words, and the user's own
arguments echoed in errors) is shown through :func:`modeloci.termsafe.safe_text`,
one value at a time, so that no control character reaches the terminal raw;
``--json`` keeps exact values (:func:`modeloci.termsafe.json_text`).
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path
from typing import Any

import click as _click


def _preset_click_version() -> None:
    """Give click a plain ``__version__`` before rich-click reads it.

    click 8.2+ computes ``click.__version__`` on access with importlib.metadata,
    which costs about 25 ms at every start of the CLI (a sixth of
    ``modeloci --help``); the version is in the name of click's dist-info folder.
    """
    if "__version__" in vars(_click):
        return
    site = Path(_click.__file__).resolve().parent.parent
    for record in site.glob("click-*.dist-info"):
        _click.__version__ = record.name[len("click-") : -len(".dist-info")]  # type: ignore[attr-defined]
        return


_preset_click_version()

import rich_click as click  # noqa: E402 - after the shim above

from modeloci import __version__  # noqa: E402
from modeloci.errors import ModelfileError, ModelociError, UsageError
from modeloci.termsafe import json_text, safe_text

_DEBUG = {"on": False}


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="modeloci")
@click.option("--debug", is_flag=True, help="Show Python tracebacks for errors.")
def cli(debug: bool) -> None:
    """Package AI models as reproducible OCI artifacts from a Modelfile."""
    _DEBUG["on"] = debug


def progress_options(func: Any) -> Any:
    """``--progress`` and ``-q/--quiet``, passed to the command as ``progress`` (a mode)."""
    from modeloci.progress import MODES

    func = click.option("-q", "--quiet", is_flag=True, help="Show no progress (--progress=quiet).")(func)
    return click.option("--progress", type=click.Choice(MODES), default="auto", show_default=True,
                        help="Progress on stderr: bars on a terminal (tty), lines for logs (plain), or none (quiet); "
                             "auto picks tty or plain.")(func)


def display(progress: str, quiet: bool):
    from modeloci.progress import Display

    return Display("quiet" if quiet else progress)


@cli.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def inspect(path: Path, as_json: bool) -> None:
    """Show what a model archive or layout, a GGUF or safetensors file, or a model folder holds.

    Reads manifests, configs and headers only, never whole weights.
    """
    from modeloci.ops.inspect import inspect_artifact, inspect_model, is_artifact

    if path.exists():
        report = inspect_artifact(path) if is_artifact(path) else inspect_model(path)
    else:
        from modeloci.sources import resolve

        report = inspect_artifact(resolve(str(path)))
    if as_json:
        click.echo(json_text(report.model_dump(mode="json")))
        return
    from modeloci.render import print_artifact_report, print_model_report

    if hasattr(report, "manifest_digest"):
        print_artifact_report(report)  # type: ignore[arg-type]
    else:
        print_model_report(report)  # type: ignore[arg-type]


@cli.command()
@click.argument("path", required=False)
@click.option("--store", "whole_store", is_flag=True, help="Verify the whole local store instead.")
@click.option("--max-inflate-ratio", "max_ratio", type=click.IntRange(min=0), default=None, metavar="RATIO",
              help="Refuse a gzip layer that inflates to more than RATIO times its size, as a likely "
                   "decompression bomb (default 100; 0: no bound).")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def verify(path: str | None, whole_store: bool, max_ratio: int | None, as_json: bool) -> None:
    """Check every blob of an archive, layout or stored model against its digest, and that its documents agree.

    Exits 1 if anything is wrong; warnings alone (such as unreferenced blobs) exit 0.
    """
    if (path is None) == (not whole_store):
        raise UsageError("give an archive, a layout folder or a stored model, or --store")
    if whole_store:
        from modeloci.ops.verify import verify_store
        from modeloci.store import Store

        report = verify_store(Store())
    else:
        from modeloci.ops.verify import verify as run_verify
        from modeloci.sources import resolve

        report = run_verify(resolve(path), **_ratio(max_ratio))  # type: ignore[arg-type]
    if as_json:
        click.echo(json.dumps({**report.model_dump(mode="json"), "ok": report.ok}, indent=2))
    else:
        for problem in report.problems:
            click.echo(f"{problem.severity}: {safe_text(problem.message)}", err=True)
        errors = sum(p.severity == "error" for p in report.problems)
        verdict = "OK" if report.ok else f"FAILED ({errors} problem{'s' if errors != 1 else ''})"
        click.echo(f"{verdict}: {safe_text(report.source)} ({safe_text(report.format or 'unknown format')}, "
                   f"{report.blobs_checked} blobs, "
                   f"{report.bytes_checked} bytes checked)")
    if not report.ok:
        raise click.exceptions.Exit(1)


def _ratio(max_ratio: int | None) -> dict[str, int]:
    """``--max-inflate-ratio`` as keyword arguments: none unless given, so the library's default stays the one."""
    return {} if max_ratio is None else {"max_inflate_ratio": max_ratio}


@cli.command()
@click.argument("path")
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True, help="The new folder to unpack into.")
@click.option("--layout", type=click.Choice(["bundle", "files"]), default="bundle", show_default=True,
              help="bundle: Docker Model Runner's runtime layout (model/, config.json); files: every layer at its path.")
@click.option("--max-inflate-ratio", "max_ratio", type=click.IntRange(min=0), default=None, metavar="RATIO",
              help="Refuse a gzip layer that inflates to more than RATIO times its size, as a likely "
                   "decompression bomb (default 100; 0: no bound).")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def unpack(path: str, output: Path, layout: str, max_ratio: int | None, as_json: bool) -> None:
    """Unpack an archive, layout or stored model into a folder, verifying every blob; nothing is left on failure."""
    from modeloci.ops.unpack import unpack as run_unpack
    from modeloci.sources import resolve

    report = run_unpack(resolve(path), output, layout=layout, **_ratio(max_ratio))  # type: ignore[arg-type]
    if as_json:
        click.echo(json.dumps(report.model_dump(mode="json"), indent=2))
    else:
        for entry in report.files:
            click.echo(f"{safe_text(entry.path)}  {entry.size}")
        click.echo(f"Unpacked {len(report.files)} files into {safe_text(report.output)}")


@cli.command()
@click.argument("source")
@click.option("--format", "fmt", type=click.Choice(["docker", "modelpack", "cncf"]), required=True,
              help="The format to write.")
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False), required=True,
              help="The archive to write.")
@click.option("-t", "--tag", "tag", default=None, metavar="NAME[:TAG]", help="Name the converted model.")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def convert(source: str, fmt: str, output: Path, tag: str | None, as_json: bool) -> None:
    """Re-wrap a model archive, layout or stored model in the other format; blobs are carried by digest."""
    from modeloci.ops.convert import convert as run_convert
    from modeloci.reference import normalise_tag
    from modeloci.sources import resolve

    target = "modelpack" if fmt in ("modelpack", "cncf") else fmt
    converted = run_convert(resolve(source), target, output, reference=normalise_tag(tag) if tag else None)
    for warning in converted.warnings:
        click.echo(f"warning: {safe_text(warning)}", err=True)
    if as_json:
        click.echo(json.dumps({**converted.result.to_json(), "from": converted.source_format, "to": target,
                               "warnings": converted.warnings}, indent=2))
    else:
        from modeloci.render import print_build

        print_build(converted.result)


def _parse_build_args(values: tuple[str, ...]) -> dict[str, str]:
    args: dict[str, str] = {}
    for value in values:
        name, sep, text = value.partition("=")
        if not sep:
            if name not in os.environ:
                raise UsageError(f"--build-arg `{name}` has no value", hint=f"write `--build-arg {name}=VALUE`")
            text = os.environ[name]
        args[name] = text
    return args


def _report(exc: ModelociError) -> None:
    if isinstance(exc, ModelfileError):
        from modeloci.diagnostics import render

        click.echo(render(exc.diagnostics, exc.sources), err=True, nl=False)
        click.echo(f"error: {safe_text(exc.message)}", err=True)
        return
    click.echo(f"error: {safe_text(exc.message)}", err=True)
    if exc.hint:
        click.echo(f"help: {safe_text(exc.hint)}", err=True)


def _report_json(exc: ModelociError, *, exit_code: int | None = None) -> None:
    """With --json, a failure is also a JSON document on stdout, so scripts need not parse stderr."""
    code = exc.exit_code if exit_code is None else exit_code
    diagnostics = [d.to_json() for d in exc.diagnostics] if isinstance(exc, ModelfileError) else None
    doc: dict[str, Any] = {"ok": False, "error": exc.message, "hint": exc.hint, "exit_code": code,
                           "diagnostics": diagnostics}  # always every key (docs/json/failure.schema.json)
    click.echo(json_text(doc))


def _show_click_error(exc: _click.ClickException) -> None:
    """``exc.show()``, with the user's arguments that click's message echoes (an extra argument, an
    option's name) escaped: the same error is remade with the escaped message, so click still lays it
    out (a usage error's usage and ``--help`` hint first). An error that shows something else (the
    group's help when it is run with no arguments) is shown as it is: that text is our own."""
    if isinstance(exc, _click.UsageError) and type(exc).show is _click.UsageError.show:
        exc = _click.UsageError(safe_text(exc.format_message()), exc.ctx)
    elif type(exc).show is _click.ClickException.show:
        exc = _click.ClickException(safe_text(exc.format_message()))
    exc.show()


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (and never lets a traceback through without --debug)."""
    argv = sys.argv[1:] if argv is None else argv
    _DEBUG["on"] = "--debug" in argv
    try:
        # Not cli.main(): it turns Ctrl-C into a blank line and click's Abort; here it stays a KeyboardInterrupt.
        with cli.make_context("modeloci", list(argv)) as ctx:
            cli.invoke(ctx)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        _show_click_error(exc)
        if "--json" in argv:
            _report_json(UsageError(exc.format_message()), exit_code=exc.exit_code)
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("error: aborted", err=True)
        return 130
    except ModelociError as exc:
        if _DEBUG["on"]:
            traceback.print_exc()
        _report(exc)
        if "--json" in argv:
            _report_json(exc)
        return exc.exit_code
    except KeyboardInterrupt:
        click.echo("error: interrupted", err=True)
        return 130
    except BrokenPipeError:
        # The reader went away (`modeloci ls | head`): stop quietly, and keep Python's exit-time
        # flush of stdout from failing again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except Exception as exc:  # the boundary: anything else is our bug, reported in one line
        if _DEBUG["on"]:
            traceback.print_exc()
        click.echo(f"error: internal error: {type(exc).__name__}: {safe_text(exc)}", err=True)
        hint = "this is a bug in modeloci; run again with --debug for a traceback and report it"
        click.echo(f"help: {hint}", err=True)
        if "--json" in argv:
            _report_json(ModelociError(f"internal error: {type(exc).__name__}: {exc}", hint=hint))
        return 1
    return 0


def entry() -> None:
    sys.exit(main())


from modeloci import cli_build, cli_registry, cli_store, cli_workflow  # noqa: E402, F401 - register their commands on `cli`
