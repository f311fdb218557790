"""docs/cli.md is the generated command-line reference: it must match the commands as they are."""

from __future__ import annotations

import importlib.util

from tests.conftest import REPO


def _generator():
    spec = importlib.util.spec_from_file_location("make_cli_reference", REPO / "docs" / "make_cli_reference.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cli_reference_is_up_to_date() -> None:
    expected = _generator().reference()
    assert (REPO / "docs" / "cli.md").read_text(encoding="utf-8") == expected, (
        "docs/cli.md is stale: run `python docs/make_cli_reference.py`")


def test_every_command_and_option_is_in_the_reference() -> None:
    from modeloci.cli import cli

    text = (REPO / "docs" / "cli.md").read_text(encoding="utf-8")
    for name, command in cli.commands.items():
        assert f"## modeloci {name}\n" in text
        for param in command.params:
            for opt in getattr(param, "opts", []):
                if opt.startswith("-"):
                    assert f"`{opt}" in text or f"/{opt}" in text, f"{name} {opt}"
