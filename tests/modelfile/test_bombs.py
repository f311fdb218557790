"""Small Modelfiles that cost a lot: each is refused with a diagnostic, quickly and in little memory.

The bombs are sized so that, with a defence removed, the test fails (a wrong
answer or a blown time bound) rather than filling the machine's memory.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from modeloci.compiler import args as compiler_args
from modeloci.compiler import paths
from modeloci.diagnostics import render, span_of
from modeloci.modelfile import codes, parse_modelfile
from tests import factories


@pytest.fixture
def context(tmp_path: Path) -> Path:
    factories.gguf(tmp_path / "model.gguf")
    return tmp_path


def _doubling_args(count: int) -> str:
    lines = ["ARG A0=xx"] + [f"ARG A{i}=${{A{i - 1}}}${{A{i - 1}}}" for i in range(1, count)]
    return "\n".join(lines) + f"\nFROM scratch\nWEIGHTS model.gguf\nLABEL a=${{A{count - 1}}}\n"


# ARG substitution (MF071) -------------------------------------------------------------------


def test_doubling_args_are_refused_at_the_substitution_limit(cli, context: Path) -> None:
    # 24 lines would make a 2^25-character label (and 2^26 characters in all); the limit is 2^20.
    (context / "Modelfile").write_text(_doubling_args(24))
    started = time.monotonic()
    result = cli("plan", "-f", "Modelfile", cwd=context)
    assert time.monotonic() - started < 2
    assert (result.code, result.stdout) == (2, "")
    assert result.stderr == (
        "error[MF071]: ARG substitution makes too much text\n"
        "  --> Modelfile:20:9\n"
        "   |\n"
        "20 | ARG A19=${A18}${A18}\n"
        "   |         ^^^^^^ `${A18}` passes the limit here\n"
        "   |\n"
        "   = the values substituted for `${NAME}` references add up to more than 1048576 characters\n"
        "help: ARG values are short (a quantization, a version); check for an ARG that doubles an earlier one\n"
        "\n"
        "error: 1 problem in the Modelfile\n"
    )


@pytest.mark.parametrize("verb", ["lint", "build"])
def test_doubling_args_fail_lint_and_build_the_same_way(verb: str, cli, context: Path) -> None:
    (context / "Modelfile").write_text(_doubling_args(24))
    extra = ("-o", str(context / "out.tar")) if verb == "build" else ()
    result = cli(verb, "-f", "Modelfile", *extra, cwd=context)
    assert result.code == 2
    assert result.stderr.startswith("error[MF071]: ARG substitution makes too much text\n  --> Modelfile:20:9\n")
    last = ("failed: 1 Modelfile checked, 1 with errors, 0 warnings" if verb == "lint"
            else "error: 1 problem in the Modelfile")
    assert result.stderr.endswith(f"\n{last}\n")
    assert not (context / "out.tar").exists()


def test_substitution_limit_counts_every_use_and_build_args(
    cli, context: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(compiler_args, "MAX_SUBSTITUTED_CHARS", 10)
    (context / "Modelfile").write_text("ARG Q\nFROM scratch\nWEIGHTS model.gguf\nLABEL a=${Q} b=${Q} c=${Q}\n")
    assert cli("plan", "-f", "Modelfile", "--build-arg", "Q=abc", cwd=context).code == 0  # 9 characters
    result = cli("plan", "-f", "Modelfile", "--build-arg", "Q=abcd", cwd=context)  # 12
    assert result.code == 2
    assert result.stderr.startswith(
        "error[MF071]: ARG substitution makes too much text\n"
        " --> Modelfile:4:23\n"
        "  |\n"
        "4 | LABEL a=${Q} b=${Q} c=${Q}\n"
        "  |                       ^^^^ `${Q}` passes the limit here\n"
    )


# Paths and globs (MF072) --------------------------------------------------------------------


def test_path_too_long_is_reported_where_the_path_is(cli, context: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(paths, "MAX_PATH_CHARS", 10)
    (context / "Modelfile").write_text("ARG D=weights\nFROM scratch\nWEIGHTS model.gguf\nLICENSE ${D}/LICENSE.txt\n")
    result = cli("plan", "-f", "Modelfile", cwd=context)
    assert (result.code, result.stdout) == (2, "")
    assert result.stderr == (
        "error[MF072]: Path too long\n"
        " --> Modelfile:4:9\n"
        "  |\n"
        "4 | LICENSE ${D}/LICENSE.txt\n"
        "  |         ^^^^^^^^^^^^^^^^ 19 characters\n"
        "  |\n"
        "  = a path or glob is at most 10 characters, the longest path a file system takes\n"
        "help: check the path, and the ARG values used in it\n"
        "\n"
        "error: 1 problem in the Modelfile\n"
    )


def _rendered_mf072(text: str, word: str) -> str:
    """The whole of what plan prints for one MF072 on ``word`` (long lines are cut by the renderer)."""
    start = text.index(word)
    diagnostic = codes.path_too_long("Modelfile", span_of(text, start, start + len(word)), len(word), 4096)
    return render([diagnostic], {"Modelfile": text}) + "error: 1 problem in the Modelfile\n"


@pytest.mark.parametrize(
    "word",
    [
        pytest.param("[" * 500_000, id="500,000 unclosed brackets"),  # quadratic in fnmatch.translate: over a minute
        pytest.param("**/" * 300_000 + "x.gguf", id="300,000 double stars"),  # RecursionError
        pytest.param("a" * 5000, id="a 5,000-character name"),  # ENAMETOOLONG from Path.is_dir: an internal error
    ],
)
def test_path_or_glob_past_path_max_is_refused_at_once(word: str, cli, context: Path) -> None:
    text = f"FROM scratch\nWEIGHTS {word}\n"
    (context / "Modelfile").write_text(text)
    started = time.monotonic()
    result = cli("plan", "-f", "Modelfile", cwd=context)
    assert time.monotonic() - started < 5
    assert (result.code, result.stdout) == (2, "")
    assert result.stderr == _rendered_mf072(text, word)
    assert result.stderr.startswith("error[MF072]: Path too long\n --> Modelfile:2:9\n")


def test_many_unclosed_bracket_globs_under_the_limit_are_matched_in_linear_time(cli, context: Path) -> None:
    # 30 distinct 4,000-bracket globs: fnmatch alone spends about 0.7 s on each.
    words = ["[" * 4000 + f"{i}.gguf" for i in range(30)]
    (context / "Modelfile").write_text("FROM scratch\nWEIGHTS model.gguf\n" + "".join(f"LICENSE {w}\n" for w in words))
    started = time.monotonic()
    result = cli("plan", "-f", "Modelfile", cwd=context)
    assert time.monotonic() - started < 5
    assert result.code == 2
    assert [line for line in result.stderr.splitlines() if line.startswith("error")] == [
        f"error[MF049]: `{w}` matches no file" for w in words] + ["error: 30 problems in the Modelfile"]


def test_a_glob_of_a_thousand_double_stars_is_one_double_star(cli, context: Path) -> None:
    factories.gguf(context / "deep" / "er" / "x.gguf")
    word = "**/" * 1300 + "x.gguf"  # 3,906 characters: under the limit; a recursion per segment passed Python's
    (context / "Modelfile").write_text(f"FROM scratch\nWEIGHTS {word}\n")
    result = cli("plan", "-f", "Modelfile", "--json", cwd=context)
    assert (result.code, result.stderr) == (0, "")
    assert [layer["source"]["path"] for layer in json.loads(result.stdout)["layers"]] == ["deep/er/x.gguf"]


def test_double_stars_over_deep_folders_visit_each_folder_once_per_segment(cli, context: Path) -> None:
    # `**/a/` twelve times over 24 nested `a` folders: C(24, 12) = 2.7 million ways to spread the
    # folders over the `**`s, each of which a naive walk tries.
    deep = context.joinpath(*["a"] * 24)
    factories.gguf(deep / "x.gguf")
    (context / "Modelfile").write_text("FROM scratch\nWEIGHTS " + "**/a/" * 12 + "x.gguf\n")
    started = time.monotonic()
    result = cli("plan", "-f", "Modelfile", "--json", cwd=context)
    assert time.monotonic() - started < 5
    assert (result.code, result.stderr) == (0, "")
    assert [layer["source"]["path"] for layer in json.loads(result.stdout)["layers"]] == ["a/" * 24 + "x.gguf"]


@pytest.mark.parametrize("keyword", ["WEIGHTS", "LICENSE", "FROM"])
def test_a_name_longer_than_the_file_system_allows_is_not_found(keyword: str, cli, context: Path) -> None:
    # 300 characters: under MF072's limit, over NAME_MAX (255); Path.is_dir raised ENAMETOOLONG.
    name = "n" * 300
    lines = {"FROM": f"FROM {name}\nWEIGHTS model.gguf\n", "WEIGHTS": f"FROM scratch\nWEIGHTS {name}\n",
             "LICENSE": f"FROM scratch\nWEIGHTS model.gguf\nLICENSE {name}\n"}[keyword]
    (context / "Modelfile").write_text(lines)
    result = cli("plan", "-f", "Modelfile", cwd=context)
    assert (result.code, result.stdout) == (2, "")
    assert result.stderr.startswith(f"error[MF048]: File `{name}` not found\n")
    assert result.stderr.endswith("\nerror: 1 problem in the Modelfile\n")


# Files that take long to parse (MF013) ------------------------------------------------------

_MF013 = (
    "error[MF013]: The Modelfile has too many words\n"
    " --> Modelfile\n"
    "  |\n"
    "  = it has more than 20000 words, quotes, `=` signs and lines; the limit is 20000\n"
    "help: a Modelfile is a few dozen lines; is this really a Modelfile?\n"
    "\n"
    "error: 1 problem in the Modelfile\n"
)
_HEAD = "FROM scratch\nWEIGHTS model.gguf\n"


@pytest.mark.parametrize(
    "text",
    [
        # Each took 15 to 30 s to parse, most of it in Lark, at some 20 microseconds a token.
        pytest.param(_HEAD + "LABEL " + " ".join(f"k{i}=v" for i in range(100_000)) + "\n", id="100,000 labels"),
        pytest.param(_HEAD + "LABEL a=" + '"' * ((1 << 20) - 60) + "\n", id="1 MiB of quotes"),
        pytest.param(_HEAD + "LABEL a=" + '""' * ((1 << 19) - 30) + "\n", id="1 MiB of empty strings"),
        pytest.param(_HEAD + "\n" * ((1 << 20) - 60), id="1 MiB of blank lines"),
        pytest.param(_HEAD + "LABEL a=" + "${A}" * ((1 << 18) - 30) + "\n", id="1 MiB of references"),
        pytest.param(_HEAD + 'LABEL a="' + "\\\\" * ((1 << 19) - 30) + '"\n', id="1 MiB of escapes"),
    ],
)
def test_modelfile_with_too_many_pieces_is_refused_before_it_is_parsed(text: str, cli, context: Path) -> None:
    assert len(text.encode()) <= 1 << 20
    (context / "Modelfile").write_text(text)
    started = time.monotonic()
    result = cli("plan", "-f", "Modelfile", cwd=context)
    assert time.monotonic() - started < 2
    assert (result.code, result.stdout, result.stderr) == (2, "", _MF013)
    started = time.monotonic()
    formatted = cli("fmt", "--check", "Modelfile", cwd=context)
    assert time.monotonic() - started < 2
    assert formatted.code == 2 and formatted.stderr.startswith(_MF013.split("\nerror:", maxsplit=1)[0])


def test_modelfile_just_under_the_piece_limit_plans_quickly(cli, context: Path) -> None:
    # 3,990 labels of five pieces each (keyword, key, `=`, value and line break), and 6 in the head: 19,956.
    labels = "".join(f"LABEL k{i}=v\n" for i in range(3990))
    (context / "Modelfile").write_text(_HEAD + labels)
    started = time.monotonic()
    result = cli("plan", "-f", "Modelfile", "--json", cwd=context)
    assert time.monotonic() - started < 3
    assert (result.code, result.stderr) == (0, "")
    assert len(json.loads(result.stdout)["labels"]) == 3990


def test_comment_lines_count_once(context: Path) -> None:
    text = _HEAD + "# " + " ".join(["word"] * 30_000) + "\n"
    assert parse_modelfile(text).diagnostics == ()
