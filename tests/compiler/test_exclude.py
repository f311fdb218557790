"""``EXCLUDE``: what folders and globs leave out, and its diagnostics (MF074, MF116).

Patterns are paths and globs relative to the build context, as everywhere in a
Modelfile; a pattern naming a folder leaves out what is under it; a file named
by its own path is always taken. Nothing is left out implicitly.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from modeloci import api
from modeloci.diagnostics import render
from modeloci.errors import ModelfileError
from modeloci.modelfile import parse_modelfile
from tests import factories


def _model(root: Path) -> Path:
    hf = root / "hf"
    factories.safetensors(hf / "model.safetensors")
    (hf / "config.json").write_text("{}")
    (hf / "README.md").write_text("# model\n")
    (hf / "original" / "params.json").parent.mkdir()
    (hf / "original" / "params.json").write_text("{}")
    (hf / "original" / "tokenizer.model").write_bytes(b"x")
    return hf


def _plan(root: Path, text: str):
    (root / "Modelfile").write_text(text)
    return api.plan(root / "Modelfile", display="Modelfile")


def _error(root: Path, text: str) -> str:
    (root / "Modelfile").write_text(text)
    with pytest.raises(ModelfileError) as info:
        api.plan(root / "Modelfile", display="Modelfile")
    return render(info.value.diagnostics, info.value.sources)


def _paths(plan) -> list[str]:
    return [layer.filepath for layer in plan.layers]


def test_nothing_is_left_out_without_exclude(tmp_path: Path) -> None:
    _model(tmp_path)
    assert _paths(_plan(tmp_path, "FROM scratch\nWEIGHTS hf\n")) == [
        "model.safetensors", "README.md", "config.json", "original/params.json", "original/tokenizer.model"]


def test_exclude_leaves_out_files_and_whole_folders_wherever_it_stands(tmp_path: Path) -> None:
    _model(tmp_path)
    for text in ("FROM scratch\nWEIGHTS hf\nEXCLUDE hf/README.md hf/original\n",
                 "FROM scratch\nEXCLUDE hf/README.md\nWEIGHTS hf\nEXCLUDE hf/original/\n",
                 "ARG DOCS=README\nFROM scratch\nWEIGHTS hf\nEXCLUDE hf/${DOCS}.* **/original\n"):
        plan = _plan(tmp_path, text)
        assert _paths(plan) == ["model.safetensors", "config.json"], text
        assert plan.warnings == (), text


def test_exclude_applies_to_globs_in_weights_and_license(tmp_path: Path) -> None:
    for name in ("a.gguf", "b.gguf"):
        factories.gguf(tmp_path / name)
    for name in ("LICENSE", "LICENSE.draft"):
        (tmp_path / name).write_text("MIT\n")
    plan = _plan(tmp_path, "FROM scratch\nWEIGHTS *.gguf\nLICENSE LICENSE*\nEXCLUDE b.gguf *.draft\n")
    assert _paths(plan) == ["a.gguf", "LICENSE"]


def test_a_file_named_by_its_path_is_taken_and_the_exclude_warns(tmp_path: Path) -> None:
    factories.gguf(tmp_path / "model.gguf")
    (tmp_path / "LICENSE").write_text("MIT\n")
    plan = _plan(tmp_path, "FROM scratch\nWEIGHTS model.gguf\nLICENSE LICENSE\nEXCLUDE *.gguf\n")
    assert _paths(plan) == ["model.gguf", "LICENSE"]
    assert render(list(plan.warnings), plan.sources) == (
        "warning[MF116]: `EXCLUDE *.gguf` leaves nothing out\n"
        " --> Modelfile:4:9\n"
        "  |\n"
        "4 | EXCLUDE *.gguf\n"
        "  |         ^^^^^^ excludes nothing\n"
        "  |\n"
        "  = it matches `model.gguf`, which the Modelfile names by its path; a file named outright is always packaged\n"
        "help: remove the EXCLUDE, or the path that names the file\n"
        "\n"
    )


def test_an_exclude_that_leaves_nothing_out_is_a_warning_that_says_where_the_file_is(tmp_path: Path) -> None:
    _model(tmp_path)
    plan = _plan(tmp_path, "FROM scratch\nWEIGHTS hf\nEXCLUDE README.md nothing/here\n")
    assert "README.md" in _paths(plan)
    assert render(list(plan.warnings), plan.sources) == (
        "warning[MF116]: `EXCLUDE README.md` leaves nothing out\n"
        " --> Modelfile:3:9\n"
        "  |\n"
        "3 | EXCLUDE README.md nothing/here\n"
        "  |         ^^^^^^^^^ excludes nothing\n"
        "  |\n"
        "  = no file of the build context is at `README.md`, but `hf/README.md` is packaged\n"
        "help: paths are relative to the build context: write `EXCLUDE **/README.md` to match it in any folder\n"
        "\n"
        "warning[MF116]: `EXCLUDE nothing/here` leaves nothing out\n"
        " --> Modelfile:3:19\n"
        "  |\n"
        "3 | EXCLUDE README.md nothing/here\n"
        "  |                   ^^^^^^^^^^^^ excludes nothing\n"
        "  |\n"
        "  = no file of the build context matches it\n"
        "help: paths are relative to the build context, as in WEIGHTS\n"
        "\n"
    )


def test_an_exclude_of_files_no_folder_or_glob_takes_is_a_warning(tmp_path: Path) -> None:
    _model(tmp_path)
    (tmp_path / "notes.txt").write_text("x")
    plan = _plan(tmp_path, "FROM scratch\nWEIGHTS hf\nEXCLUDE *.txt\n")
    assert [(w.code, w.detail, w.hint) for w in plan.warnings] == [
        ("MF116", "it matches `notes.txt`, which no WEIGHTS folder or glob takes",
         "EXCLUDE leaves out files that WEIGHTS folders and globs (in WEIGHTS and LICENSE) take")]


def test_excluding_every_weight_is_an_error(tmp_path: Path) -> None:
    _model(tmp_path)
    assert _error(tmp_path, "FROM scratch\nWEIGHTS hf\nEXCLUDE hf/*.json hf/*.safetensors\n") == (
        "error[MF074]: `EXCLUDE hf/*.safetensors` leaves out every weights file\n"
        " --> Modelfile:3:19\n"
        "  |\n"
        "3 | EXCLUDE hf/*.json hf/*.safetensors\n"
        "  |                   ^^^^^^^^^^^^^^^^ excludes the weights\n"
        "  |\n"
        "  = WEIGHTS takes `hf/model.safetensors`, and EXCLUDE leaves all of them out\n"
        "help: narrow the pattern: a model needs its weights\n\n"
    )


def test_an_exclude_outside_the_context_is_refused_like_any_path(tmp_path: Path) -> None:
    _model(tmp_path)
    text = _error(tmp_path, "FROM scratch\nWEIGHTS hf\nEXCLUDE /etc/passwd ../x\n")
    assert [line for line in text.splitlines() if line.startswith("error")] == [
        "error[MF045]: Absolute path `/etc/passwd`", "error[MF046]: Path `../x` leaves the build context"]


def test_a_misspelt_exclude_gets_a_did_you_mean() -> None:
    (diagnostic,) = parse_modelfile("FROM scratch\nEXCLUDES README.md\n").diagnostics
    assert (diagnostic.code, diagnostic.label) == ("MF003", "did you mean `EXCLUDE`?")


def test_thousands_of_exclude_patterns_over_thousands_of_files_plan_quickly(tmp_path: Path) -> None:
    # Each file is looked up by its folders among the matched paths, not tried against every pattern:
    # 15,000 patterns by 2,000 files was 30 million checks before.
    hf = tmp_path / "hf"
    factories.safetensors(hf / "model.safetensors")
    for i in range(2000):
        (hf / "d" / f"{i % 40}").mkdir(parents=True, exist_ok=True)
        (hf / "d" / f"{i % 40}" / f"f{i}.json").write_text("{}")
    patterns = " ".join(f"hf/d/{i % 40}/f{i}.json" for i in range(0, 2000, 2))
    misses = " ".join(f"nothing{i}" for i in range(14000))
    started = time.monotonic()
    plan = _plan(tmp_path, f"FROM scratch\nWEIGHTS hf\nEXCLUDE {patterns} hf/d/3 {misses}\n")
    elapsed = time.monotonic() - started
    assert len(plan.layers) == 1 + 1000 - 50  # the weights and the odd files, less the 50 of folder 3
    assert [w.code for w in plan.warnings] == ["MF116"] * 14000
    assert elapsed < 10, elapsed
