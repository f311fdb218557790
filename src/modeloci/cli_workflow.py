"""Commands for working on Modelfiles in a repository: fmt, lint, init. Thin: the work is in
modeloci.modelfile.fmt, modeloci.compiler.lint and modeloci.ops.init.

File names found in folders and the lines of a diff are shown through safe_text; the formatted text
itself (``fmt -``, ``init --stdout``) is the command's output and is written as it is."""

from __future__ import annotations

import difflib
import json
import os
import stat
import sys
from pathlib import Path

import rich_click as click
from click.exceptions import Exit

from modeloci.cli import cli
from modeloci.cli_options import FORMATS, json_option, parse_build_args
from modeloci.errors import ModelfileError, UsageError
from modeloci.termsafe import json_text, safe_text

_SKIPPED_FOLDERS = frozenset({"node_modules", "__pycache__"})


def _modelfiles(paths: tuple[str, ...]) -> list[str]:
    """The files to work on: each path as given, a folder searched for files named ``Modelfile``."""
    found: list[str] = []
    for path in paths or ("Modelfile",):
        if path != "-" and os.path.isdir(path):
            found += _search(path)
        else:
            found.append(path)
    return found


def _search(folder: str) -> list[str]:
    found: list[str] = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in _SKIPPED_FOLDERS)
        found += [os.path.join(root, f) for f in sorted(files) if f == "Modelfile"]
    return found


def _read(path: str) -> bytes:
    """A Modelfile's bytes, at most one past the size limit (format_modelfile reports MF012 beyond it); a FIFO or
    device is refused, not read forever."""
    from modeloci.modelfile import MAX_MODELFILE_BYTES, read_head  # imported when used: it loads the parser

    if path == "-":
        return sys.stdin.buffer.read(MAX_MODELFILE_BYTES + 1)
    try:
        return read_head(Path(path), path)[0]
    except FileNotFoundError:
        raise UsageError(f"Modelfile `{path}` not found", hint="name Modelfiles or folders holding them") from None
    except IsADirectoryError:
        raise UsageError(f"`{path}` is a directory") from None
    except OSError as exc:
        raise UsageError(f"cannot read `{path}`: {exc.strerror or exc}") from None


@cli.command(name="fmt")
@click.argument("files", nargs=-1)
@click.option("--check", is_flag=True, help="Change nothing; print a diff and exit 1 if any file is not formatted.")
@click.option("-q", "--quiet", is_flag=True, help="Print no status lines (diagnostics and errors still show).")
@json_option
def fmt_command(files: tuple[str, ...], check: bool, quiet: bool, as_json: bool) -> None:
    """Rewrite Modelfiles in the canonical layout (FILES default to ./Modelfile; folders are searched, - is stdin).

    Keyword case, spacing, quoting and blank lines are normalised; arguments,
    their order and comments are kept. A file that does not parse is left as it is.
    """
    from modeloci.diagnostics import render
    from modeloci.modelfile.fmt import format_modelfile

    results, failed, changed = [], 0, 0
    chatty = not (as_json or quiet)  # status lines; diffs, formatted text and diagnostics are output
    for path in _modelfiles(files):
        formatted = format_modelfile(_read(path), path=path if path != "-" else "<stdin>")
        entry = {"path": path, "changed": formatted.changed, "formatted": formatted.text is not None,
                 "diagnostics": [d.to_json() for d in formatted.diagnostics]}
        results.append(entry)
        if formatted.text is None:
            failed += 1
            if not as_json:
                click.echo(render(formatted.diagnostics, {path if path != "-" else "<stdin>": formatted.source}),
                           err=True, nl=False)
            continue
        changed += formatted.changed
        if path == "-" and not check:
            if not as_json:
                click.echo(formatted.text, nl=False)
            continue
        if not formatted.changed:
            continue
        if check:
            if not as_json:
                click.echo(_diff(path, formatted.source, formatted.text), nl=False)
            if chatty:
                click.echo(f"would reformat {safe_text(path)}", err=True)
        else:
            _rewrite(Path(path), formatted.text)
            if chatty:
                click.echo(f"reformatted {safe_text(path)}", err=True)
    if as_json:
        click.echo(json.dumps({"files": results, "changed": changed, "failed": failed}, indent=2))
    elif chatty and (path_count := len(results)):
        verb = "would be reformatted" if check else "reformatted"
        click.echo(f"{changed} of {path_count} file{'s' if path_count != 1 else ''} {verb}"
                   + (f", {failed} could not be parsed" if failed else ""), err=True)
    if failed:
        raise Exit(2)
    if check and changed:
        raise Exit(1)


def _diff(path: str, before: str, after: str) -> str:
    lines = difflib.unified_diff(before.splitlines(keepends=True), after.splitlines(keepends=True),
                                 fromfile=path, tofile=f"{path} (formatted)")
    # Each line escaped on its own (a Modelfile may hold C1 controls and bidi overrides in quoted values).
    return "".join(safe_text(line[:-1]) + "\n" if line.endswith("\n")
                   else safe_text(line) + "\n\\ No newline at end of file\n" for line in lines)


def _rewrite(path: Path, text: str) -> None:
    from modeloci.atomic import atomic_output

    mode = stat.S_IMODE(path.stat().st_mode)
    with atomic_output(path, mode=mode) as out:
        out.write(text.encode("utf-8"))


@cli.command()
@click.argument("files", nargs=-1)
@click.option("-f", "--file", "modelfile", default=None, help="The Modelfile to check [default: ./Modelfile].")
@click.option("--context", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Build context that paths are relative to [default: each Modelfile's folder].")
@click.option("--build-arg", "build_args", multiple=True, metavar="NAME=VALUE", help="Set an ARG (repeatable).")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="docker",
              show_default=True, help="Check for this artifact format.")
@click.option("--strict", is_flag=True, help="Exit 1 when there are warnings.")
@click.option("-q", "--quiet", is_flag=True, help="Print no status lines (diagnostics and errors still show).")
@json_option
def lint(files: tuple[str, ...], modelfile: str | None, context: Path | None, build_args: tuple[str, ...],
         fmt: str, strict: bool, quiet: bool, as_json: bool) -> None:
    """Check Modelfiles as a build would (files, shards, templates), plus advice, writing nothing.

    Exits 2 if a Modelfile has errors, 1 with --strict if there are warnings, else 0.
    """
    from modeloci.api import plan as make_plan
    from modeloci.diagnostics import render

    paths = _modelfiles(files + ((modelfile,) if modelfile else ()))
    results, errors, warnings = [], 0, 0
    for path in paths:
        try:
            compiled = make_plan(path, context=context, build_args=parse_build_args(build_args), format=fmt, lint=True)
        except ModelfileError as exc:
            found = [d for d in exc.diagnostics if d.is_error]
            errors += 1
            warnings += len(exc.diagnostics) - len(found)
            results.append({"path": path, "ok": False, "diagnostics": [d.to_json() for d in exc.diagnostics]})
            if not as_json:
                click.echo(render(exc.diagnostics, exc.sources), err=True, nl=False)
            continue
        warnings += len(compiled.warnings)
        results.append({"path": path, "ok": True, "diagnostics": [d.to_json() for d in compiled.warnings]})
        if not as_json:
            click.echo(render(compiled.warnings, compiled.sources), err=True, nl=False)
    if as_json:
        click.echo(json.dumps({"files": results, "errors": errors, "warnings": warnings}, indent=2))
    elif not quiet:
        failing = bool(errors) or (strict and bool(warnings))
        click.echo(f"{'failed' if failing else 'ok'}: {len(paths)} Modelfile{'s' if len(paths) != 1 else ''} checked, "
                   f"{errors} with errors, {warnings} warning{'s' if warnings != 1 else ''}"
                   + (" (--strict)" if failing and not errors else ""), err=True)
    if errors:
        raise Exit(2)
    if strict and warnings:
        raise Exit(1)



@cli.command()
@click.argument("folder", required=False, type=click.Path(path_type=Path, file_okay=False), default=Path("."))
@click.option("--force", is_flag=True, help="Replace a Modelfile that is already there.")
@click.option("--stdout", "to_stdout", is_flag=True, help="Print the Modelfile instead of writing it.")
@click.option("-q", "--quiet", is_flag=True, help="Print no status lines (diagnostics and errors still show).")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON (with the text).")
def init(folder: Path, force: bool, to_stdout: bool, quiet: bool, as_json: bool) -> None:
    """Draft a Modelfile for the model files in FOLDER [default: .], each choice explained in a comment.

    Finds GGUF files and shard sets, projectors (by their header), chat
    templates, licenses and Hugging Face safetensors folders.
    """
    from modeloci.ops.init import draft

    if not folder.is_dir():
        raise UsageError(f"`{folder}` is not a folder", hint="give the folder holding the model files")
    result = draft(folder)
    target = folder / "Modelfile"
    if not to_stdout:
        if target.exists() and not force:
            raise UsageError(f"`{target}` already exists",
                             hint="keep it, or replace it with `--force`; `--stdout` prints the draft instead")
        from modeloci.atomic import atomic_output

        with atomic_output(target) as out:
            out.write(result.text.encode("utf-8"))
    if as_json:
        click.echo(json_text(result.report(None if to_stdout else target).model_dump(mode="json")))
    elif to_stdout:
        click.echo(result.text, nl=False)
    elif not quiet:
        click.echo(f"Wrote {safe_text(target)} (weights: {safe_text(result.weights)})", err=True)
        click.echo(f"next: modeloci lint -f {safe_text(target)}", err=True)
