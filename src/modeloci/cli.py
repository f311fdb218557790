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
from datetime import datetime, timezone
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


def _modelfile_options(func: Any) -> Any:
    options = [
        click.argument("path", required=False, type=click.Path(path_type=Path)),
        click.option("-f", "--file", "modelfile", type=click.Path(path_type=Path), default=None,
                     help="The Modelfile (or a folder holding one) [default: PATH/Modelfile, else ./Modelfile]."),
        click.option("--context", type=click.Path(path_type=Path, file_okay=False), default=None,
                     help="Build context that paths are relative to [default: the Modelfile's folder]."),
        click.option("--build-arg", "build_args", multiple=True, metavar="NAME=VALUE",
                     help="Set an ARG (repeatable). `NAME` alone takes the value from the environment."),
        click.option("-t", "--tag", "tag", default=None, metavar="NAME[:TAG]", help="Name the model."),
        click.option("--created", default=None, metavar="TIME",
                     help="Creation time (RFC 3339 or Unix seconds) [default: $SOURCE_DATE_EPOCH, else the time of "
                          "the last commit of the build context in a clean git checkout, else none]."),
        click.option("--format", "fmt", type=click.Choice(["docker", "modelpack", "cncf"]), default="docker",
                     show_default=True, help="Artifact format: Docker Model Runner's, or CNCF ModelPack (alias cncf)."),
        click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def progress_options(func: Any) -> Any:
    """``--progress`` and ``-q/--quiet``, passed to the command as ``progress`` (a mode)."""
    from modeloci.progress import MODES

    func = click.option("-q", "--quiet", is_flag=True, help="Show no progress (--progress=quiet).")(func)
    return click.option("--progress", type=click.Choice(MODES), default="auto", show_default=True,
                        help="Progress on stderr: bars on a terminal (tty), lines for logs (plain), or none (quiet); "
                             "auto picks tty or plain.")(func)


def display(progress: str, quiet: bool):  # noqa: ANN201 - a progress.Display
    from modeloci.progress import Display

    return Display("quiet" if quiet else progress)


@cli.command()
@_modelfile_options
def plan(path: Path | None, modelfile: Path | None, context: Path | None, build_args: tuple[str, ...],
         tag: str | None, created: str | None, fmt: str, as_json: bool) -> None:
    """Print the compiled build plan of PATH (a folder holding a Modelfile, or a Modelfile), reading no weight bytes.

    With -f, PATH is the build context, as in `docker build -f FILE PATH`.
    """
    modelfile, context = _locate(path, modelfile, context)
    compiled = _compile(modelfile, context, build_args, tag, created, fmt)
    if as_json:
        click.echo(json_text(compiled.to_json()))
    else:
        from modeloci.render import print_plan

        print_plan(compiled)


@cli.command()
@_modelfile_options
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Write the model as this OCI archive (a tar that is also a Docker Model Runner load archive).")
@click.option("--layout", type=click.Path(path_type=Path, dir_okay=True, file_okay=False), default=None,
              help="Write the model into this OCI image layout folder instead (blobs already there are reused).")
@click.option("--link", is_flag=True,
              help="With --layout: hard-link weight files into the layout instead of copying them "
                   "(changing a source file in place then changes the blob).")
@click.option("--no-cache", is_flag=True, help="Hash every file, without the digest cache.")
@click.option("--store/--no-store", "to_store", default=None,
              help="Keep the model in the local store [default: when no other output is given].")
@click.option("--push", "push_to", default=None, metavar="REFERENCE",
              help="Push the model to a registry (base layers in the same registry are mounted, not downloaded).")
@click.option("--insecure-registry", "insecure", multiple=True, metavar="HOST[:PORT]",
              help="Allow plain HTTP to this registry (loopback hosts always may).")
@progress_options
def build(path: Path | None, modelfile: Path | None, context: Path | None, build_args: tuple[str, ...],
          tag: str | None, created: str | None, fmt: str, as_json: bool, output: Path | None, layout: Path | None,
          link: bool, no_cache: bool, to_store: bool | None, push_to: str | None, insecure: tuple[str, ...],
          progress: str, quiet: bool) -> None:
    """Build PATH (a folder holding a Modelfile, or a Modelfile) into the local store (-t NAME), an OCI archive (-o)
    or an OCI layout folder (--layout).

    With -f, PATH is the build context, as in `docker build -f FILE PATH`.
    """
    modelfile, context = _locate(path, modelfile, context)  # first: a missing Modelfile says so, before the options
    if output is not None and layout is not None:
        raise UsageError("give one output: -o OUT.tar or --layout DIR",
                         hint="write an archive with `-o model.tar`, or a layout folder with `--layout model/`")
    if link and layout is None:
        raise UsageError("--link only applies to --layout", hint="hard links need a layout folder: add `--layout DIR`")
    to_store = (output is None and layout is None and push_to is None) if to_store is None else to_store
    if not to_store and output is None and layout is None and push_to is None:
        raise UsageError("--no-store leaves no output", hint="write an archive with `-o model.tar`")
    if to_store and tag is None:
        raise UsageError("a model in the store needs a name",
                         hint="name it with `-t NAME[:TAG]`, or write an archive with `-o model.tar`")
    compiled = _compile(modelfile, context, build_args, tag, created, fmt)
    from modeloci.builder import build_archive, build_layout, build_store
    from modeloci.builder.cache import DigestCache

    cache = None if no_cache else DigestCache()
    with display(progress, quiet) as meter:
        if to_store:
            from modeloci.store import Store

            result = build_store(compiled, Store(), cache=cache, meter=meter)
        if output is not None:
            result = build_archive(compiled, output, cache=cache, meter=meter)
        elif layout is not None:
            result = build_layout(compiled, layout, cache=cache, link=link, meter=meter)
        if push_to is not None:
            from modeloci.cli_registry import client_for
            from modeloci.ops.remote import push_plan
            from modeloci.registry.reference import parse_reference

            ref = parse_reference(push_to)
            total = sum(layer.size for layer in compiled.layers)
            pushed = push_plan(compiled, ref, client_for(ref.registry, insecure), cache=cache,
                               progress=meter.task(f"pushing {ref}", total))
    if push_to is not None:
        if not quiet:
            click.echo(f"Pushed {safe_text(pushed.reference)} ({len(pushed.uploaded)} uploaded, "
                       f"{len(pushed.skipped)} already there, {len(pushed.mounted)} mounted)", err=True)
        if output is None and layout is None and not to_store:
            if as_json:
                click.echo(json.dumps(pushed.model_dump(), indent=2))
            else:
                click.echo(f"digest: {pushed.digest}")
            return
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=2))
    else:
        from modeloci.render import print_build

        print_build(result)


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
        from modeloci.store.names import resolve

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
        from modeloci.store import Store
        from modeloci.store.ops import verify_store

        report = verify_store(Store())
    else:
        from modeloci.ops.verify import verify as run_verify
        from modeloci.store.names import resolve

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
    from modeloci.store.names import resolve

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
    from modeloci.store.names import resolve

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


def _locate(path: Path | None, modelfile: Path | None, context: Path | None) -> tuple[Path, Path | None]:
    """The Modelfile and the build context from PATH, -f and --context, read as `docker build` reads PATH and -f:
    PATH is a folder holding a Modelfile (or the Modelfile itself), or, with -f, the build context. A folder given
    to -f means the Modelfile in it."""
    if path is not None and modelfile is not None:
        if not path.is_dir():
            raise UsageError(f"`{path}` is not a folder", hint="with -f FILE, PATH is the build context: a folder")
        if context is not None:
            raise UsageError("give the build context once: PATH or --context")
        context = path
    chosen = modelfile or path or Path("Modelfile")
    if chosen.is_dir():
        chosen = chosen / "Modelfile"
    if not chosen.exists():
        raise UsageError(f"Modelfile `{chosen}` not found",
                         hint="name it with `-f PATH`, or give the folder that holds it")
    return chosen, context


def _compile(modelfile: Path, context: Path | None, build_args: tuple[str, ...], tag: str | None, created: str | None,
             fmt: str = "docker"):
    from modeloci.api import plan as make_plan
    from modeloci.reference import normalise_tag

    compiled = make_plan(
        modelfile,
        context=context,
        build_args=_parse_build_args(build_args),
        reference=normalise_tag(tag) if tag else None,
        created=_created(created),
        format=fmt,
    )
    _print_warnings(compiled.warnings, compiled.sources)
    return compiled


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


def _created(option: str | None) -> int | None:
    """--created as Unix seconds; without it the API decides (SOURCE_DATE_EPOCH, else the commit time)."""
    return None if option is None else _parse_time(option, "--created")


def _parse_time(text: str, what: str) -> int:
    if text.isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise UsageError(f"{what} `{text}` is not a time", hint="use RFC 3339 (`2025-06-15T12:00:00Z`) or Unix seconds")
    return int(moment.astimezone(timezone.utc).timestamp())


def _print_warnings(warnings: Any, sources: dict[str, str]) -> None:
    if warnings:
        from modeloci.diagnostics import render

        click.echo(render(warnings, sources), err=True, nl=False)


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
    doc: dict[str, Any] = {"ok": False, "error": exc.message, "hint": exc.hint, "exit_code": code}
    if isinstance(exc, ModelfileError):
        doc["diagnostics"] = [d.to_json() for d in exc.diagnostics]
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


from modeloci import cli_registry, cli_store, cli_workflow  # noqa: E402, F401 - register their commands on `cli`
