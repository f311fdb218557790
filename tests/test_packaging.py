"""The wheel carries the grammar, byte-identical to grammar/modelfile.lark."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from modeloci.modelfile.grammar import grammar_text
from tests.archive_tools import REPO


def test_loaded_grammar_is_the_repository_grammar() -> None:
    assert grammar_text() == (REPO / "grammar" / "modelfile.lark").read_text(encoding="utf-8")


@pytest.mark.slow
def test_wheel_ships_the_grammar(tmp_path: Path) -> None:
    pytest.importorskip("hatchling", reason="building the wheel needs hatchling (a test dependency)")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path), str(REPO)],
        check=True, capture_output=True,
    )
    (wheel,) = tmp_path.glob("modeloci-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        packaged = archive.read("modeloci/grammar/modelfile.lark")
        names = archive.namelist()
    assert packaged == (REPO / "grammar" / "modelfile.lark").read_bytes()
    assert "modeloci/cli.py" in names and "modeloci/modelfile/syntax.py" in names
