"""The build context's edge: a sibling folder whose name starts with the context's name is outside.

``ctx-evil`` starts with ``ctx``, so a containment check written as a bare
``startswith(root)`` (no separator after the root) would take files in
``ctx-evil`` for files in ``ctx``. Every way of reaching the sibling must be refused:
lexically (``..``, MF046), and through a symlinked file, a symlinked folder and
a glob that walks into one (MF047).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests import factories


@pytest.fixture
def ctx(tmp_path: Path) -> Path:
    """``ctx/`` (the build context, with links into its sibling) and ``ctx-evil/x.gguf`` beside it."""
    context, sibling = tmp_path / "ctx", tmp_path / "ctx-evil"
    factories.gguf(sibling / "x.gguf")
    factories.gguf(context / "model.gguf")
    (context / "link.gguf").symlink_to("../ctx-evil/x.gguf")
    (context / "evil").symlink_to("../ctx-evil", target_is_directory=True)
    return context


def test_dotdot_into_a_sibling_whose_name_starts_with_the_context_is_refused(ctx: Path, cli) -> None:
    (ctx / "Modelfile").write_text("FROM scratch\nWEIGHTS ../ctx-evil/x.gguf\n")
    result = cli("plan", "-f", "Modelfile", cwd=ctx)
    assert (result.code, result.stdout) == (2, "")
    assert result.stderr == (
        "error[MF046]: Path `../ctx-evil/x.gguf` leaves the build context\n"
        " --> Modelfile:2:9\n"
        "  |\n"
        "2 | WEIGHTS ../ctx-evil/x.gguf\n"
        "  |         ^^^^^^^^^^^^^^^^^^ goes above the context\n"
        "  |\n"
        "help: move the file into the build context, or widen it with --context\n"
        "\n"
        "error: 1 problem in the Modelfile\n"
    )


def test_symlink_into_a_sibling_whose_name_starts_with_the_context_is_refused(ctx: Path, cli) -> None:
    (ctx / "Modelfile").write_text("FROM scratch\nWEIGHTS model.gguf\nMMPROJ link.gguf\nLICENSE evil/x.gguf\n")
    result = cli("plan", "-f", "Modelfile", cwd=ctx)
    assert (result.code, result.stdout) == (2, "")
    assert result.stderr == (
        "error[MF047]: Path `link.gguf` leaves the build context through a symlink\n"
        " --> Modelfile:3:8\n"
        "  |\n"
        "3 | MMPROJ link.gguf\n"
        "  |        ^^^^^^^^^ resolves outside the context\n"
        "  |\n"
        "  = `link.gguf` is a symlink pointing outside\n"
        "help: copy the file into the build context, or widen it with --context\n"
        "\n"
        "error[MF047]: Path `evil/x.gguf` leaves the build context through a symlink\n"
        " --> Modelfile:4:9\n"
        "  |\n"
        "4 | LICENSE evil/x.gguf\n"
        "  |         ^^^^^^^^^^^ resolves outside the context\n"
        "  |\n"
        "  = `evil` is a symlink pointing outside\n"
        "help: copy the file into the build context, or widen it with --context\n"
        "\n"
        "error: 2 problems in the Modelfile\n"
    )


def test_glob_through_a_symlink_into_a_sibling_whose_name_starts_with_the_context_is_refused(ctx: Path, cli) -> None:
    (ctx / "Modelfile").write_text("FROM scratch\nWEIGHTS *.gguf\nLICENSE */x.gguf\n")
    result = cli("plan", "-f", "Modelfile", cwd=ctx)
    assert (result.code, result.stdout) == (2, "")
    assert [line for line in result.stderr.splitlines() if line.startswith("error")] == [
        "error[MF047]: Path `link.gguf` leaves the build context through a symlink",
        "error[MF047]: Path `evil/x.gguf` leaves the build context through a symlink",
        "error: 2 problems in the Modelfile",
    ]


def test_the_same_files_are_taken_when_the_context_is_widened_to_hold_the_sibling(ctx: Path, cli) -> None:
    # The control: the refusals above are about the context's edge, not about the files.
    (ctx / "Modelfile").write_text("FROM scratch\nWEIGHTS ctx/model.gguf\nLICENSE ctx/link.gguf\n")
    result = cli("plan", "-f", "ctx/Modelfile", "--context", ".", "--json", cwd=ctx.parent)
    assert (result.code, result.stderr) == (0, "")
    layers = json.loads(result.stdout)["layers"]
    assert [layer["source"]["path"] for layer in layers] == ["ctx/model.gguf", "ctx/link.gguf"]


def test_the_file_system_root_as_context_contains_its_files(ctx: Path, cli) -> None:
    # `/` plus a separator is `//`, which no resolved path starts with: every file was refused as a symlink.
    rel = str(ctx.resolve() / "model.gguf").lstrip("/")
    (ctx / "Modelfile").write_text(f"FROM scratch\nWEIGHTS {rel}\n")
    result = cli("plan", "-f", "Modelfile", "--context", "/", "--json", cwd=ctx)
    assert (result.code, result.stderr) == (0, "")
    assert [layer["source"]["path"] for layer in json.loads(result.stdout)["layers"]] == [rel]
