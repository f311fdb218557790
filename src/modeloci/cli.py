"""The command line: the ``modeloci`` group, and the one place that turns errors into output and exit codes.

The commands live in ``cli_*`` modules by family (``cli_build``: plan, build;
``cli_artifacts``: inspect, verify, unpack, convert; ``cli_attest``: sign;
``cli_registry``: push, pull, login, logout; ``cli_store``: ls, tag, rm,
prune, save, load; ``cli_workflow``: fmt, lint, init). They register themselves on :data:`cli`
when imported, and the group imports a command's module only when that command
is looked up (:data:`COMMANDS`, declared in :mod:`modeloci.__main__` with the group's
own helps, names each command's module and short help: ``modeloci --help`` is
drawn from them without importing any command, or click); they share option
sets from :mod:`modeloci.cli_options`, parse their options, call the pipeline
and print the result. :func:`main` is the error boundary: a
ModelociError is rendered (diagnostics with source excerpts, other errors as
``error: ...`` plus a ``help:`` line) and mapped to its exit code: 2 for a bad
Modelfile or bad usage, 1 for a build that failed, 130 for an interrupt. No
traceback reaches the user unless ``--debug`` is given.

Text from outside (file names, metadata, registry words, and the user's own
arguments echoed in errors) is shown through :func:`modeloci.termsafe.safe_text`,
one value at a time, so that no control character reaches the terminal raw;
``--json`` keeps exact values (:func:`modeloci.termsafe.json_text`).
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterator, MutableMapping
from typing import Any, cast

import click as _click
from click.exceptions import Exit

from modeloci import __version__
from modeloci.__main__ import COMMANDS, DEBUG_HELP, GROUP_HELP, HELP_HELP, HELP_OPTIONS, VERSION_HELP
from modeloci.errors import ModelfileError, ModelociError, UsageError
from modeloci.termsafe import json_text, safe_text


def _preset_click_version() -> None:
    """Give click a plain ``__version__`` before rich-click reads it.

    click 8.2+ computes ``click.__version__`` on access with importlib.metadata,
    which costs about 25 ms at every start of the CLI (a sixth of
    ``modeloci --help``); the version is in the name of click's dist-info folder.
    """
    if "__version__" in vars(_click):
        return
    # os.path, not pathlib: nothing else on `modeloci --help`'s path imports pathlib (and urllib with it).
    site = os.path.dirname(os.path.dirname(os.path.realpath(_click.__file__)))
    for name in sorted(os.listdir(site)):
        if name.startswith("click-") and name.endswith(".dist-info"):
            _click.__version__ = name[len("click-") : -len(".dist-info")]
            return


_preset_click_version()

import rich_click as click  # noqa: E402 - after the shim above

_DEBUG = {"on": False}

class _Commands(MutableMapping[str, _click.Command]):
    """The group's commands by name, each imported (and so registered) when it is first looked up.

    Every name of :data:`COMMANDS` is always listed. While the group draws its own help (``listing``),
    a command not yet imported is shown as a stand-in holding its name and short help."""

    def __init__(self) -> None:
        self._loaded: dict[str, _click.Command] = {}
        self.listing = False

    def __getitem__(self, name: str) -> _click.Command:
        if name not in self._loaded and name in COMMANDS:
            module, short_help = COMMANDS[name]
            if self.listing:
                return _click.Command(name, short_help=short_help)
            importlib.import_module(f"modeloci.{module}")  # its decorators register it: __setitem__
        return self._loaded[name]

    def __setitem__(self, name: str, command: _click.Command) -> None:
        self._loaded[name] = command

    def __delitem__(self, name: str) -> None:
        del self._loaded[name]

    def __contains__(self, name: object) -> bool:
        return name in self._loaded or name in COMMANDS

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._loaded.keys() | COMMANDS.keys()))

    def __len__(self) -> int:
        return len(self._loaded.keys() | COMMANDS.keys())


class _LazyGroup(click.RichGroup):
    """The ``modeloci`` group: its commands are imported when used (:class:`_Commands`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.commands: _Commands = _Commands()

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self.commands.listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self.commands.listing = False

    def get_help_option(self, ctx: _click.Context) -> _click.Option | None:
        # rich-click's stub asks for its own context; its code takes click's too (docs/make_cli_reference.py's).
        option = super().get_help_option(cast(click.RichContext, ctx))
        if option is not None:
            option.help = HELP_HELP  # the text modeloci.__main__ draws too (it is click's own default)
        return option


# The group's helps are modeloci.__main__'s constants: it draws `modeloci --help` from them without click.
@click.group(cls=_LazyGroup, help=GROUP_HELP, context_settings={"help_option_names": list(HELP_OPTIONS)})
@click.version_option(__version__, prog_name="modeloci", help=VERSION_HELP)
@click.option("--debug", is_flag=True, help=DEBUG_HELP)
def cli(debug: bool) -> None:
    """The group's own option: --debug (--version and --help end the run before this)."""
    _DEBUG["on"] = debug


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


def _print_traceback() -> None:
    """The current exception's traceback (``--debug``); traceback is imported only then (start-up time)."""
    import traceback

    traceback.print_exc()


def _drop_unreadable_sizes() -> None:
    """Forget a ``COLUMNS`` or ``LINES`` that rich takes for a number and ``int()`` refuses (``²``, or thousands of
    digits): rich would fail on it. Any other value rich ignores itself, and uses the terminal's own size."""
    for name in ("COLUMNS", "LINES"):
        value = os.environ.get(name, "")
        if value.isdigit() and not (value.isascii() and len(value) <= 9):
            del os.environ[name]


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (and never lets a traceback through without --debug)."""
    argv = sys.argv[1:] if argv is None else argv
    _DEBUG["on"] = "--debug" in argv
    _drop_unreadable_sizes()
    try:
        # Not cli.main(): it turns Ctrl-C into a blank line and click's Abort; here it stays a KeyboardInterrupt.
        with cli.make_context("modeloci", list(argv)) as ctx:
            cli.invoke(ctx)
    except Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        _show_click_error(exc)
        if "--json" in argv:
            _report_json(UsageError(exc.format_message()), exit_code=exc.exit_code)
        return exc.exit_code
    except click.Abort:
        click.echo("error: aborted", err=True)
        return 130
    except ModelociError as exc:
        if _DEBUG["on"]:
            _print_traceback()
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
            _print_traceback()
        click.echo(f"error: internal error: {type(exc).__name__}: {safe_text(exc)}", err=True)
        hint = "this is a bug in modeloci; run again with --debug for a traceback and report it"
        click.echo(f"help: {hint}", err=True)
        if "--json" in argv:
            _report_json(ModelociError(f"internal error: {type(exc).__name__}: {exc}", hint=hint))
        return 1
    return 0


def entry() -> None:
    sys.exit(main())
