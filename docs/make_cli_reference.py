"""Write docs/cli.md, the command-line reference, from the click command tree.

Run ``python docs/make_cli_reference.py`` after changing a command or an
option; tests/docs/test_cli_reference.py fails while docs/cli.md is stale.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

HERE = Path(__file__).resolve().parent
EXIT_CODES = (
    "| code | meaning |\n"
    "|---:|---|\n"
    "| 0 | success (warnings alone do not fail) |\n"
    "| 1 | the work failed: a build, push or pull error, `verify` found a problem, `fmt --check` would change a file, "
    "`lint --strict` found warnings |\n"
    "| 2 | a bad Modelfile (every diagnostic is printed) or bad command-line use |\n"
    "| 130 | interrupted |\n"
)


def reference() -> str:
    from modeloci.cli import cli

    root = click.Context(cli, info_name="modeloci")
    lines = ["# Command-line reference", "",
             "Generated from the commands themselves by `docs/make_cli_reference.py`; do not edit by hand.", "",
             f"`modeloci` — {_first_paragraph(cli.help)}", "", "```text", cli.get_usage(root), "```", "",
             "Global options: "
             + ", ".join(f"`{_names(p)}` ({_clean(getattr(p, 'help', '') or '')})" for p in cli.params)
             + ", `-h/--help`.", "",
             "## Exit codes", "", EXIT_CODES, "## Commands", ""]
    commands = sorted(cli.commands.items())
    lines += [f"- [`{name}`](#modeloci-{name}) — {_first_line(command.help)}" for name, command in commands]
    for name, command in commands:
        ctx = click.Context(command, info_name=name, parent=root)
        lines += ["", f"## modeloci {name}", "", "```text", command.get_usage(ctx).replace("Usage: ", ""), "```", "",
                  _clean(command.help), ""]
        arguments = [p for p in command.params if isinstance(p, click.Argument)]
        options = [p for p in command.params if isinstance(p, click.Option)]
        if arguments:
            lines += ["Arguments: " + ", ".join(f"`{a.human_readable_name}`" + ("" if a.required else " (optional)")
                                                for a in arguments), ""]
        if options:
            lines += ["| option | value | default | description |", "|---|---|---|---|"]
            lines += [_option_row(o, ctx) for o in options]
        if any("--json" in o.opts for o in options):
            lines += ["", (f"With `--json`: one document of the schema [`json/{name}.schema.json`]"
                           f"(json/{name}.schema.json), "
                           "or, when the command fails, [`json/failure.schema.json`](json/failure.schema.json).")]
    return "\n".join(lines).rstrip() + "\n"


def _names(param: click.Parameter) -> str:
    return "/".join([*param.opts, *param.secondary_opts])


def _option_row(option: click.Option, ctx: click.Context) -> str:
    if option.is_flag:
        value = ""
    elif isinstance(option.type, click.Choice):
        value = " \\| ".join(option.type.choices)
    else:
        value = option.metavar or option.type.name.upper()
    default = option.default if option.show_default and option.default not in (None, ()) else ""
    help_text = _clean(option.help or "").replace("|", "\\|").replace("\n", " ")
    if option.multiple:
        help_text += " (repeatable)"
    if option.required:
        help_text += " (required)"
    return f"| `{_names(option)}` | {value} | {default} | {help_text} |"


def _clean(text: str | None) -> str:
    return "\n".join(line.strip() for line in (text or "").strip().splitlines())


def _first_paragraph(text: str | None) -> str:
    return _clean(text).split("\n\n")[0].replace("\n", " ")


def _first_line(text: str | None) -> str:
    return _first_paragraph(text).split(". ")[0].rstrip(".")


def main() -> int:
    (HERE / "cli.md").write_text(reference(), encoding="utf-8")
    print(f"wrote {HERE / 'cli.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
