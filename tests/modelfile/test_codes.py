"""The table of diagnostic codes: each code written once, each emitted, each with its severity.

``modeloci.modelfile.codes.table.Code`` is the one place a code is written;
factories make their diagnostics through its members. These tests keep it so:
no source file spells a code as a string (a second spelling could disagree
with the table), every code in the table is emitted by some factory (a code
nothing emits is documented but dead), and a diagnostic's severity is the one
its meaning in the table states.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from modeloci.diagnostics import Position, Severity, Span
from modeloci.modelfile import codes
from modeloci.modelfile.codes import CODES, Code

SRC = Path(codes.__file__).resolve().parents[2]
CODES_PACKAGE = Path(codes.__file__).resolve().parent
_CODE = re.compile(r"MF\d{3}")
SPAN = Span(Position(1, 1, 0), Position(1, 5, 4))


def _code_strings(path: Path) -> list[str]:
    """``path:line code`` for each string constant in the module that is a code and nothing else."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [f"{path.relative_to(SRC)}:{node.lineno} {node.value}" for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and _CODE.fullmatch(node.value)]


def test_no_source_file_spells_a_code_as_a_string() -> None:
    found = [hit for path in sorted(SRC.rglob("*.py")) for hit in _code_strings(path)]
    assert found == [], "codes are written once, as members of modeloci.modelfile.codes.table.Code"


def test_every_code_in_the_table_is_emitted_by_a_factory() -> None:
    used: set[str] = set()
    for path in CODES_PACKAGE.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "Code":
                used.add(node.attr)
    assert sorted(set(CODES) - used) == []
    assert sorted(used - set(CODES)) == []


def test_codes_is_the_table_code_to_meaning_in_code_order() -> None:
    assert list(CODES.items()) == [(code.name, code.meaning) for code in Code]
    assert list(CODES) == sorted(CODES)
    assert CODES["MF003"] == "a line starts with a word that is not a directive"


@pytest.mark.parametrize("code", list(Code), ids=lambda c: c.name)
def test_a_code_is_a_warning_exactly_when_its_meaning_says_so(code: Code) -> None:
    diagnostic = code("Summary", "Modelfile", SPAN, label="label", detail="detail", hint="hint")
    warning = code.meaning.startswith(("warning:", "lint warning:"))
    assert diagnostic.severity is (Severity.WARNING if warning else Severity.ERROR)
    assert (diagnostic.code, diagnostic.summary, diagnostic.file, diagnostic.span) == (code.name, "Summary",
                                                                                      "Modelfile", SPAN)
    assert (diagnostic.label, diagnostic.detail, diagnostic.hint) == ("label", "detail", "hint")


def test_warnings_are_the_mf1xx_codes() -> None:
    warnings = [code.name for code in Code if code.severity is Severity.WARNING]
    assert warnings == [name for name in CODES if name >= "MF100"]


def test_factories_word_a_diagnostic_through_its_table_entry() -> None:
    assert codes.unknown_directive("Modelfile", SPAN, "WIEGHTS", ["FROM", "WEIGHTS"]) == Code.MF003(
        "Unknown directive `WIEGHTS`", "Modelfile", SPAN, label="did you mean `WEIGHTS`?",
        hint="directives are FROM, WEIGHTS")
    pointer = codes.projector_lfs_pointer("Modelfile", SPAN, "mmproj.gguf")
    assert (pointer.code, pointer.severity, pointer.summary) == (
        "MF065", Severity.ERROR, "`mmproj.gguf` is a Git LFS pointer, not the file")
    lint = codes.no_license("Modelfile", None)
    assert (lint.code, lint.severity, lint.span) == ("MF110", Severity.WARNING, None)
