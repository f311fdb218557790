"""Golden tests of diagnostics: the full rendered text for each Modelfile mistake.

Each folder under ``errors/`` holds a ``Modelfile`` with one kind of mistake
(``several_errors`` holds many) plus the small files it names; the compiler
only stats files, so placeholders of a few bytes stand in for weights. The
Modelfile is parsed and compiled with the folder as build context, the one
:class:`ModelfileError` that results is rendered with
:func:`modeloci.diagnostics.render`, and the text is compared with the syrupy
snapshot in ``__snapshots__/test_diagnostics.ambr``.

Inputs git cannot hold reliably (CRLF, a BOM, invalid UTF-8, NUL bytes,
symlinks, files outside the folder, a FIFO, a 1 MiB file) are built in
``tmp_path`` by :data:`BUILT_CASES`.

The regression tests at the end pin bugs found while these tests were
written (a crash on a line starting with a quote, escapes and references
inside quotes, misleading wording), so they stay fixed.

To add a case: make ``errors/<name>/Modelfile`` (and its files), run
``pytest tests/modelfile/test_diagnostics.py --snapshot-update``, and read the
new snapshot as carefully as code: line, column, caret and wording.
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Callable
from pathlib import Path

import pytest

from modeloci.compiler import compile_plan
from modeloci.diagnostics import render
from modeloci.errors import ModelfileError
from modeloci.modelfile import parse_modelfile
from modeloci.modelfile.codes import CODES
from tests import factories

ERRORS = Path(__file__).parent / "errors"
CASE_NAMES = sorted(p.name for p in ERRORS.iterdir() if (p / "Modelfile").is_file())

# --build-arg values a folder case is compiled with.
CASE_BUILD_ARGS: dict[str, dict[str, str]] = {
    "build_arg_undeclared": {"NOPE": "1"},
}

_CODE_IN_TEXT = re.compile(r"^(?:error|warning)\[(MF\d{3})\]", re.MULTILINE)
_LOCATION = re.compile(r"^ *--> Modelfile:(\d+):(\d+)$", re.MULTILINE)

GGUF = factories.gguf_bytes()  # a small valid GGUF: files named by WEIGHTS are read at plan time
BOM = b"\xef\xbb\xbf"


def compile_error(data: bytes, context: Path, build_args: dict[str, str] | None = None) -> ModelfileError:
    """Parse and compile ``data`` in ``context``; the ModelfileError that must result."""
    modelfile = parse_modelfile(data, path="Modelfile")
    with pytest.raises(ModelfileError) as info:
        compile_plan(modelfile, context=context, build_args=build_args or {})
    return info.value


def rendered(err: ModelfileError, context: Path) -> str:
    """The rendered diagnostics, with the machine-specific context folder made ``<context>``."""
    text = render(err.diagnostics, err.sources)
    for folder in {str(context), os.path.abspath(context), os.path.realpath(context)}:
        text = text.replace(folder, "<context>")
    return text


def check_codes(err: ModelfileError, text: str) -> list[str]:
    """Every code, in the error and in the text, is a documented one; returns the codes in order."""
    codes = [d.code for d in err.diagnostics]
    assert codes, "a ModelfileError without diagnostics"
    assert set(codes) <= set(CODES), set(codes) - set(CODES)
    assert _CODE_IN_TEXT.findall(text) == codes
    assert any(d.is_error for d in err.diagnostics)
    return codes


def locations(text: str) -> list[tuple[int, int]]:
    return [(int(line), int(col)) for line, col in _LOCATION.findall(text)]


def test_there_are_enough_cases() -> None:
    assert len(CASE_NAMES) + len(BUILT_CASES) >= 30


@pytest.mark.parametrize("case", CASE_NAMES)
def test_error_case(case: str, snapshot) -> None:
    folder = ERRORS / case
    err = compile_error((folder / "Modelfile").read_bytes(), folder, CASE_BUILD_ARGS.get(case))
    text = rendered(err, folder)
    check_codes(err, text)
    assert "Traceback" not in text
    assert locations(text) == sorted(locations(text)), "diagnostics are not in line order"
    assert text == snapshot


# Cases built in tmp_path ----------------------------------------------------------------------


def _write(root: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def _crlf_error_on_line_3(tmp: Path) -> tuple[bytes, Path]:
    # Two continuation lines before the error: with CRLF miscounted it would show as line 5 or 6.
    _write(tmp, {"model.gguf": GGUF})
    return b"FROM \\\r\n  scratch\r\nWIEGHTS model.gguf\r\nWEIGHTS \\\r\n  model.gguf\r\n", tmp


def _crlf_compile_error_after_continuations(tmp: Path) -> tuple[bytes, Path]:
    _write(tmp, {"model.gguf": GGUF})
    return b"FROM scratch\r\nWEIGHTS \\\r\n  model.gguf \\\r\n  modle.gguf\r\nCONFIG context_size=abc\r\n", tmp


def _bom_error_on_line_1(tmp: Path) -> tuple[bytes, Path]:
    # The BOM must not shift columns: the extra argument is at 1:14.
    _write(tmp, {"model.gguf": GGUF})
    return BOM + b"FROM scratch extra\nWEIGHTS model.gguf\n", tmp


def _bom_crlf_unknown_directive(tmp: Path) -> tuple[bytes, Path]:
    _write(tmp, {"model.gguf": GGUF})
    return BOM + b"WIEGHTS model.gguf\r\nFROM scratch\r\n", tmp


def _invalid_utf8(tmp: Path) -> tuple[bytes, Path]:
    # A Latin-1 `é` (0xE9) in a comment on line 3.
    _write(tmp, {"model.gguf": GGUF})
    return b"FROM scratch\nWEIGHTS model.gguf\n# caf\xe9 au lait\n", tmp


def _nul_byte(tmp: Path) -> tuple[bytes, Path]:
    _write(tmp, {"model.gguf": GGUF})
    return b"FROM scratch\nWEIGHTS model.gguf\n# a NUL \x00 in a comment\n", tmp


def _symlink_file_escapes(tmp: Path) -> tuple[bytes, Path]:
    context = tmp / "context"
    _write(tmp, {"outside/secret.gguf": GGUF})
    context.mkdir()
    (context / "model.gguf").symlink_to(tmp / "outside" / "secret.gguf")
    return b"FROM scratch\nWEIGHTS model.gguf\n", context


def _symlink_folder_escapes(tmp: Path) -> tuple[bytes, Path]:
    context = tmp / "context"
    _write(tmp, {"outside/model.gguf": GGUF})
    context.mkdir()
    (context / "weights").symlink_to(tmp / "outside", target_is_directory=True)
    return b"FROM scratch\nWEIGHTS weights/model.gguf\n", context


def _glob_through_escaping_symlink(tmp: Path) -> tuple[bytes, Path]:
    context = tmp / "context"
    _write(tmp, {"outside/b.gguf": GGUF, "context/a.gguf": GGUF})
    (context / "b.gguf").symlink_to(tmp / "outside" / "b.gguf")
    return b"FROM scratch\nWEIGHTS *.gguf\n", context


def _path_outside_folder_exists(tmp: Path) -> tuple[bytes, Path]:
    # The file really exists one level up; it is refused all the same.
    context = tmp / "context"
    _write(tmp, {"outside.gguf": GGUF, "context/model.gguf": GGUF})
    return b"FROM scratch\nWEIGHTS model.gguf\nLICENSE ../outside.gguf\n", context


def _not_a_regular_file(tmp: Path) -> tuple[bytes, Path]:
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs on this platform")
    os.mkfifo(tmp / "model.gguf")
    return b"FROM scratch\nWEIGHTS model.gguf\n", tmp


def _too_large(tmp: Path) -> tuple[bytes, Path]:
    _write(tmp, {"model.gguf": GGUF})
    head = b"FROM scratch\nWEIGHTS model.gguf\n"
    return head + b"#" * ((1 << 20) + 1 - len(head)), tmp


BUILT_CASES: dict[str, Callable[[Path], tuple[bytes, Path]]] = {
    "crlf_error_on_line_3": _crlf_error_on_line_3,
    "crlf_compile_error_after_continuations": _crlf_compile_error_after_continuations,
    "bom_error_on_line_1": _bom_error_on_line_1,
    "bom_crlf_unknown_directive": _bom_crlf_unknown_directive,
    "invalid_utf8": _invalid_utf8,
    "nul_byte": _nul_byte,
    "symlink_file_escapes": _symlink_file_escapes,
    "symlink_folder_escapes": _symlink_folder_escapes,
    "glob_through_escaping_symlink": _glob_through_escaping_symlink,
    "path_outside_folder_exists": _path_outside_folder_exists,
    "not_a_regular_file": _not_a_regular_file,
    "too_large": _too_large,
}

# Where the first diagnostic of each built case must point: (line, column), or None for no span.
BUILT_FIRST_LOCATION: dict[str, tuple[int, int] | None] = {
    "crlf_error_on_line_3": (3, 1),
    "crlf_compile_error_after_continuations": (4, 3),
    "bom_error_on_line_1": (1, 14),
    "bom_crlf_unknown_directive": (1, 1),
    "invalid_utf8": (3, 6),
    "nul_byte": (3, 9),
    "symlink_file_escapes": (2, 9),
    "symlink_folder_escapes": (2, 9),
    "glob_through_escaping_symlink": (2, 9),
    "path_outside_folder_exists": (3, 9),
    "not_a_regular_file": (2, 9),
    "too_large": None,
}


@pytest.mark.parametrize("case", sorted(BUILT_CASES))
def test_built_error_case(case: str, tmp_path: Path, snapshot) -> None:
    data, context = BUILT_CASES[case](tmp_path)
    err = compile_error(data, context)
    text = rendered(err, context)
    check_codes(err, text)
    assert str(tmp_path) not in text
    found = locations(text)
    assert (found[0] if found else None) == BUILT_FIRST_LOCATION[case]
    assert text == snapshot


def test_crlf_line_numbers_are_not_shifted(tmp_path: Path) -> None:
    data, context = _crlf_error_on_line_3(tmp_path)
    err = compile_error(data, context)
    text = rendered(err, context)
    assert [d.code for d in err.diagnostics] == ["MF003"]
    assert " --> Modelfile:3:1\n" in text
    assert "\n3 | WIEGHTS model.gguf\n" in text
    assert "\r" not in text


def test_bom_does_not_shift_columns(tmp_path: Path) -> None:
    data, context = _bom_error_on_line_1(tmp_path)
    err = compile_error(data, context)
    (diag,) = err.diagnostics
    assert (diag.code, diag.span.start.line, diag.span.start.column) == ("MF021", 1, 14)
    assert "\ufeff" not in rendered(err, context)


def test_several_errors_are_all_reported_in_line_order() -> None:
    folder = ERRORS / "several_errors"
    err = compile_error((folder / "Modelfile").read_bytes(), folder)
    text = rendered(err, folder)
    # Syntax (MF001, MF004), directive (MF003, MF028, MF031) and compile (MF040, MF043, MF046) errors, one run.
    assert check_codes(err, text) == ["MF003", "MF040", "MF001", "MF043", "MF046", "MF031", "MF004", "MF028"]
    assert [line for line, _ in locations(text)] == [3, 5, 6, 7, 8, 9, 10, 11]
    assert err.message == "8 problems in the Modelfile"


def test_build_arg_undeclared_suggests_a_declared_arg(tmp_path: Path) -> None:
    _write(tmp_path, {"model.gguf": GGUF})
    err = compile_error(b"ARG QUANT=Q4\nFROM scratch\nWEIGHTS model.gguf\n", tmp_path, {"QUANTT": "Q8"})
    assert render(err.diagnostics, err.sources) == (
        "error[MF042]: --build-arg `QUANTT` is not declared by any ARG\n"
        " --> Modelfile\n"
        "  |\n"
        "help: did you mean `QUANT`?\n"
        "\n"
    )


def test_the_examples_compile_cleanly() -> None:
    """Sanity check that the success path raises nothing, so the error cases are meaningful."""
    examples = Path(__file__).resolve().parents[2] / "examples"
    for name in ("single-gguf", "sharded-vision"):
        folder = examples / name
        if not (folder / "Modelfile").is_file():
            pytest.skip(f"{folder} is absent")
        modelfile = parse_modelfile((folder / "Modelfile").read_bytes(), path="Modelfile")
        assert modelfile.diagnostics == ()
        compile_plan(modelfile, context=folder)


# The command line -----------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASE_NAMES)
def test_cli_plan_exits_2_with_the_rendered_diagnostics(case: str, cli) -> None:
    folder = ERRORS / case
    build_args = [f"--build-arg={k}={v}" for k, v in CASE_BUILD_ARGS.get(case, {}).items()]
    result = cli("plan", "-f", "Modelfile", *build_args, cwd=folder)
    err = compile_error((folder / "Modelfile").read_bytes(), folder, CASE_BUILD_ARGS.get(case))
    assert result.code == 2
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    assert "internal error" not in result.stderr
    assert result.stdout == ""
    assert result.stderr == render(err.diagnostics, err.sources) + f"error: {err.message}\n"


def test_cli_plan_bad_modelfile_shows_diagnostics(cli) -> None:
    result = cli("plan", "-f", "Modelfile", cwd=ERRORS / "unknown_directive_did_you_mean")
    assert result.code == 2
    assert result.stderr == (
        "error[MF003]: Unknown directive `WIEGHTS`\n"
        " --> Modelfile:2:1\n"
        "  |\n"
        "2 | WIEGHTS model.gguf\n"
        "  | ^^^^^^^ did you mean `WEIGHTS`?\n"
        "  |\n"
        "help: directives are FROM, WEIGHTS, CHAT_TEMPLATE, MMPROJ, CONFIG, LICENSE, EXCLUDE, LABEL, ARG\n"
        "\n"
        "error: 1 problem in the Modelfile\n"
    )
    assert "Traceback" not in result.stdout + result.stderr


def test_cli_build_bad_modelfile_exits_2(cli, tmp_path: Path) -> None:
    folder = ERRORS / "several_errors"
    result = cli("build", "-f", "Modelfile", "-o", str(tmp_path / "out.tar"), cwd=folder)
    assert result.code == 2
    assert result.stderr.endswith("error: 8 problems in the Modelfile\n")
    assert "Traceback" not in result.stdout + result.stderr
    assert not (tmp_path / "out.tar").exists()


def test_cli_missing_modelfile_exits_2_with_one_error_line(cli, tmp_path: Path) -> None:
    result = cli("plan", "-f", "does-not-exist", cwd=tmp_path)
    assert result.code == 2
    assert "Traceback" not in result.stdout + result.stderr
    lines = result.stderr.splitlines()
    assert lines[0] == "error: Modelfile `does-not-exist` not found"
    assert [line for line in lines if line.startswith("error")] == lines[:1]
    assert all(line.startswith(("error:", "help:")) for line in lines), lines
    assert result.stdout == ""


def test_cli_modelfile_is_a_directory_exits_2(cli, tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    result = cli("plan", "-f", "dir", cwd=tmp_path)
    assert result.code == 2
    assert "Traceback" not in result.stdout + result.stderr
    assert "is a directory" in result.stderr


def test_cli_build_arg_without_value_exits_2(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write(tmp_path, {"Modelfile": b"ARG QUANT\nFROM scratch\nWEIGHTS model-${QUANT}.gguf\n", "model-Q4.gguf": GGUF})
    monkeypatch.delenv("QUANT", raising=False)
    result = cli("plan", "-f", "Modelfile", "--build-arg", "QUANT", cwd=tmp_path)
    assert result.code == 2
    assert "Traceback" not in result.stdout + result.stderr
    assert result.stderr == "error: --build-arg `QUANT` has no value\nhelp: write `--build-arg QUANT=VALUE`\n"


def test_cli_build_arg_without_value_takes_the_environment(cli, tmp_path: Path) -> None:
    _write(tmp_path, {"Modelfile": b"ARG QUANT\nFROM scratch\nWEIGHTS model-${QUANT}.gguf\n", "model-Q4.gguf": GGUF})
    result = cli("plan", "-f", "Modelfile", "--build-arg", "QUANT", cwd=tmp_path, env={"QUANT": "Q4"})
    assert result.code == 0, result.stderr
    assert "Traceback" not in result.stdout + result.stderr


# Regressions: cases that once went wrong ------------------------------------------------------


def _control_characters(text: str) -> list[str]:
    return [f"U+{ord(ch):04X}" for ch in text if ch != "\n" and unicodedata.category(ch) == "Cc"]


@pytest.mark.parametrize(
    ("source", "found"),
    [
        pytest.param(b'FROM scratch\n"WEIGHTS" model.gguf\n', '"WEIGHTS"', id="quote"),
        pytest.param(b"FROM scratch\n=WEIGHTS model.gguf\n", "=WEIGHTS", id="equals"),
    ],
)
def test_line_starting_with_quote_or_equals(source: bytes, found: str, tmp_path: Path) -> None:
    _write(tmp_path, {"model.gguf": GGUF})
    err = compile_error(source, tmp_path)
    (diag,) = err.diagnostics
    assert (diag.code, diag.summary) == ("MF006", "Expected a directive")
    assert (diag.span.start.line, diag.span.start.column) == (2, 1)
    assert f"= found `{found}`" in render(err.diagnostics, err.sources)


def test_cli_line_starting_with_quote(cli, tmp_path: Path) -> None:
    _write(tmp_path, {"Modelfile": b'FROM scratch\n"WEIGHTS" model.gguf\n', "model.gguf": GGUF})
    result = cli("plan", "-f", "Modelfile", cwd=tmp_path)
    assert "internal error" not in result.stderr
    assert result.code == 2
    assert result.stderr.startswith("error[MF006]: Expected a directive\n --> Modelfile:2:1\n")


def test_line_starting_with_reference(tmp_path: Path) -> None:
    _write(tmp_path, {"model.gguf": GGUF})
    err = compile_error(b"FROM scratch\nWEIGHTS model.gguf\n${X} model.gguf\n", tmp_path)
    (diag,) = err.diagnostics
    assert (diag.code, diag.span.start.line, diag.span.start.column) == ("MF006", 3, 1)


def test_config_value_too_large(tmp_path: Path) -> None:
    _write(tmp_path, {"model.gguf": GGUF})
    err = compile_error(b"FROM scratch\nWEIGHTS model.gguf\nCONFIG context_size=99999999999\n", tmp_path)
    (diag,) = err.diagnostics
    assert (diag.code, diag.span.start.line, diag.span.start.column) == ("MF043", 3, 21)
    text = render(err.diagnostics, err.sources)
    assert "2147483647" in text or "too large" in text.lower()


def test_weights_and_mmproj_same_file(tmp_path: Path) -> None:
    _write(tmp_path, {"model.gguf": GGUF, "mmproj.gguf": GGUF})
    err = compile_error(b"FROM scratch\nWEIGHTS *.gguf\nMMPROJ mmproj.gguf\n", tmp_path)
    assert render(err.diagnostics, err.sources) == (
        "error[MF054]: `mmproj.gguf` is given to both WEIGHTS and MMPROJ\n"
        " --> Modelfile:3:8\n"
        "  |\n"
        "3 | MMPROJ mmproj.gguf\n"
        "  |        ^^^^^^^^^^^ also matched by WEIGHTS on line 2\n"
        "  |\n"
        "help: narrow the glob so each file has one role\n"
        "\n"
    )


def test_reference_as_label_key(tmp_path: Path) -> None:
    _write(tmp_path, {"model.gguf": GGUF})
    err = compile_error(b"ARG K=k\nFROM scratch\nWEIGHTS model.gguf\nLABEL ${K}=v\n", tmp_path)
    (diag,) = err.diagnostics
    assert (diag.code, str(diag.span)) == ("MF027", "4:7-4:11")


def test_text_after_quoted_reference(tmp_path: Path) -> None:
    _write(tmp_path, {"models/tiny.gguf": GGUF})
    modelfile = parse_modelfile(b'ARG DIR=models\nFROM scratch\nWEIGHTS "${DIR}/tiny.gguf"\n', path="Modelfile")
    assert modelfile.diagnostics == ()
    compile_plan(modelfile, context=tmp_path)


def test_control_characters_printed_raw(tmp_path: Path) -> None:
    _write(tmp_path, {"model.gguf": GGUF})
    err = compile_error(b"FROM scratch\nWEIGHTS mod\x00el.gguf\n", tmp_path)
    text = render(err.diagnostics, err.sources)
    assert "MF009" in [d.code for d in err.diagnostics]
    assert _control_characters(text) == []


def test_unknown_directive_quoted_as_written(tmp_path: Path) -> None:
    _write(tmp_path, {"model.gguf": GGUF})
    err = compile_error(b"FROM scratch\nWEIGHTS model.gguf\nwieghts model.gguf\n", tmp_path)
    (diag,) = err.diagnostics
    assert diag.code == "MF003"
    assert diag.summary == "Unknown directive `wieghts`"


@pytest.mark.parametrize(
    ("source", "where"),
    [
        pytest.param(b"FROM scratch\nWEIGHTS=model.gguf\n", (2, 8), id="equals"),
        pytest.param(b"ARG BASE=scratch\nFROM${BASE}\nWEIGHTS model.gguf\n", (2, 5), id="reference"),
    ],
)
def test_keyword_run_into_argument(source: bytes, where: tuple[int, int], tmp_path: Path) -> None:
    _write(tmp_path, {"model.gguf": GGUF})
    err = compile_error(source, tmp_path)
    (diag,) = err.diagnostics
    assert (diag.code, diag.span.start.line, diag.span.start.column) == ("MF010", *where)


def test_a_keyword_glued_to_an_equals_sign_gets_a_hint_that_fixes_it() -> None:
    from modeloci.modelfile import parse_modelfile

    (diag,) = [d for d in parse_modelfile("FROM scratch\nWEIGHTS=model.gguf\n").diagnostics if d.code == "MF010"]
    assert diag.hint == "`WEIGHTS` takes its arguments after a space: `WEIGHTS ARGUMENTS`"
