"""``modeloci fmt`` on files: rewriting in place (atomically, mode kept), --check, stdin, folders, JSON."""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

from tests.workflow.schemas import FmtOutput

UGLY = "from scratch\n\n\n  weights   a.gguf\n"
PRETTY = "FROM scratch\n\nWEIGHTS a.gguf\n"


def test_fmt_rewrites_in_place_and_keeps_the_mode(tmp_path: Path, cli) -> None:
    modelfile = tmp_path / "Modelfile"
    modelfile.write_text(UGLY)
    os.chmod(modelfile, 0o640)
    result = cli("fmt", cwd=tmp_path)
    assert result.code == 0
    assert result.stderr == "reformatted Modelfile\n1 of 1 file reformatted\n"
    assert modelfile.read_text() == PRETTY
    assert oct(modelfile.stat().st_mode & 0o777) == oct(0o640)
    assert [p.name for p in tmp_path.iterdir()] == ["Modelfile"], "a temporary file was left behind"
    again = cli("fmt", cwd=tmp_path)
    assert (again.code, again.stderr) == (0, "0 of 1 file reformatted\n")


def test_check_prints_a_diff_exits_1_and_changes_nothing(tmp_path: Path, cli) -> None:
    modelfile = tmp_path / "Modelfile"
    modelfile.write_text(UGLY)
    result = cli("fmt", "--check", "Modelfile", cwd=tmp_path)
    assert result.code == 1
    assert result.stdout == (
        "--- Modelfile\n+++ Modelfile (formatted)\n@@ -1,4 +1,3 @@\n-from scratch\n+FROM scratch\n \n-\n"
        "-  weights   a.gguf\n+WEIGHTS a.gguf\n"
    )
    assert result.stderr == "would reformat Modelfile\n1 of 1 file would be reformatted\n"
    assert modelfile.read_text() == UGLY
    modelfile.write_text(PRETTY)
    assert cli("fmt", "--check", cwd=tmp_path).code == 0


def test_check_shows_a_missing_final_newline(tmp_path: Path, cli) -> None:
    (tmp_path / "Modelfile").write_text("FROM scratch")
    result = cli("fmt", "--check", cwd=tmp_path)
    assert result.code == 1 and "\\ No newline at end of file\n" in result.stdout


def test_stdin_to_stdout(cli, monkeypatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(UGLY.encode())))
    result = cli("fmt", "-")
    assert (result.code, result.stdout) == (0, PRETTY)


def test_folders_are_searched_for_modelfiles(tmp_path: Path, cli) -> None:
    for sub in ("a", "b/c", ".git", "node_modules/x"):
        (tmp_path / sub).mkdir(parents=True)
        (tmp_path / sub / "Modelfile").write_text(UGLY)
    (tmp_path / "a" / "README.md").write_text(UGLY)
    result = cli("fmt", str(tmp_path))
    assert result.code == 0
    assert (tmp_path / "a" / "Modelfile").read_text() == PRETTY
    assert (tmp_path / "b" / "c" / "Modelfile").read_text() == PRETTY
    for untouched in (".git/Modelfile", "node_modules/x/Modelfile", "a/README.md"):
        assert (tmp_path / untouched).read_text() == UGLY


def test_a_file_that_does_not_parse_is_reported_and_left_alone(tmp_path: Path, cli) -> None:
    (tmp_path / "bad").mkdir()
    (tmp_path / "good").mkdir()
    (tmp_path / "bad" / "Modelfile").write_text('FROM scratch\nWEIGHTS "open\n')
    (tmp_path / "good" / "Modelfile").write_text(UGLY)
    result = cli("fmt", str(tmp_path / "bad"), str(tmp_path / "good"))
    assert result.code == 2
    assert "error[MF001]" in result.stderr and "bad/Modelfile:2:9" in result.stderr
    assert result.stderr.endswith("1 of 2 files reformatted, 1 could not be parsed\n")
    assert (tmp_path / "bad" / "Modelfile").read_text() == 'FROM scratch\nWEIGHTS "open\n'
    assert (tmp_path / "good" / "Modelfile").read_text() == PRETTY


def test_a_missing_file_is_a_usage_error(tmp_path: Path, cli) -> None:
    result = cli("fmt", cwd=tmp_path)
    assert result.code == 2 and result.stderr.startswith("error: Modelfile `Modelfile` not found")


def test_json_output(tmp_path: Path, cli) -> None:
    (tmp_path / "Modelfile").write_text(UGLY)
    (tmp_path / "Broken").write_text("FROM scratch\nWEIGHTS $x\n")
    result = cli("fmt", "--check", "--json", "Modelfile", "Broken", cwd=tmp_path)
    doc = FmtOutput.model_validate_json(result.stdout)
    assert result.code == 2 and result.stderr == ""
    assert [(f.path, f.changed, f.formatted) for f in doc.files] == [("Modelfile", True, True),
                                                                      ("Broken", False, False)]
    assert [(d.code, d.line, d.column) for d in doc.files[1].diagnostics] == [("MF004", 2, 9)]
    assert (doc.changed, doc.failed) == (1, 1)
