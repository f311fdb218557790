"""Golden tests of the Modelfile grammar: the AST dump of every case in ``cases/``.

Each folder under ``cases/`` holds one ``Modelfile`` that must parse without a
single diagnostic; its :func:`dump_ast` is compared with the syrupy snapshot in
``__snapshots__/test_grammar_cases.ambr``. The dump shows every directive, word
and piece with its span, so a snapshot diff shows exactly what the parser now
understands differently.

Inputs whose bytes git may rewrite (CRLF line endings, a UTF-8 BOM) are built
in the test code instead of being stored as case files.

To add a case: make ``cases/<name>/Modelfile``, run
``pytest tests/modelfile/test_grammar_cases.py --snapshot-update``, and read the
new snapshot as carefully as code before committing it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from modeloci.modelfile import dump_ast, parse_modelfile
from modeloci.modelfile.ast import ConfigDirective, LabelDirective, LicenseDirective, WeightsDirective
from modeloci.modelfile.codes import CODES

CASES = Path(__file__).parent / "cases"
CASE_NAMES = sorted(p.name for p in CASES.iterdir() if (p / "Modelfile").is_file())

BOM = b"\xef\xbb\xbf"


def _parse(data: bytes | str):
    return parse_modelfile(data if isinstance(data, bytes) else data.encode("utf-8"), path="Modelfile")


def _codes(modelfile) -> list[str]:
    return [d.code for d in modelfile.diagnostics]


def test_there_are_enough_cases() -> None:
    assert len(CASE_NAMES) >= 15, CASE_NAMES


@pytest.mark.parametrize("case", CASE_NAMES)
def test_case_ast(case: str, snapshot) -> None:
    data = (CASES / case / "Modelfile").read_bytes()
    modelfile = parse_modelfile(data, path="Modelfile")
    assert modelfile.diagnostics == (), [(d.code, d.summary, str(d.span)) for d in modelfile.diagnostics]
    assert dump_ast(modelfile) == snapshot


# Line endings and the byte order mark ----------------------------------------------------------


def test_bom_and_crlf_are_accepted_with_unchanged_positions() -> None:
    crlf = _parse(BOM + b"FROM scratch\r\nWEIGHTS a.gguf\r\n")
    lf = _parse(b"FROM scratch\nWEIGHTS a.gguf\n")
    assert crlf.diagnostics == ()
    assert dump_ast(crlf) == dump_ast(lf)
    first, second = crlf.directives
    assert (first.span.start.line, first.span.start.column) == (1, 1)
    assert (second.span.start.line, second.span.start.column) == (2, 1)
    assert str(first.span) == "1:1-1:13"
    assert str(second.span) == "2:1-2:15"
    assert "\r" not in crlf.text and not crlf.text.startswith("\ufeff")


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"FROM scratch\r\nWEIGHTS a.gguf\r\n", id="crlf"),
        pytest.param(BOM + b"FROM scratch\nWEIGHTS a.gguf\n", id="bom"),
        pytest.param(BOM + b"FROM scratch\r\nWEIGHTS a.gguf", id="bom-crlf-no-final-newline"),
        pytest.param(b"FROM scratch\r\nWEIGHTS a.gguf\n", id="mixed-crlf-lf"),
    ],
)
def test_line_ending_variants_dump_like_lf(data: bytes) -> None:
    modelfile = _parse(data)
    assert modelfile.diagnostics == ()
    assert dump_ast(modelfile) == dump_ast(_parse(b"FROM scratch\nWEIGHTS a.gguf\n"))


def test_crlf_continuations_keep_line_numbers() -> None:
    lf = b"FROM scratch\nWEIGHTS a.gguf \\\n    b.gguf \\\n    c.gguf\nLICENSE LICENSE\n"
    crlf = _parse(BOM + lf.replace(b"\n", b"\r\n"))
    assert crlf.diagnostics == ()
    assert dump_ast(crlf) == dump_ast(_parse(lf))
    weights, license_ = crlf.directives[1], crlf.directives[2]
    assert isinstance(weights, WeightsDirective) and isinstance(license_, LicenseDirective)
    assert [w.span.start.line for w in weights.paths] == [2, 3, 4]
    assert [w.span.start.column for w in weights.paths] == [9, 5, 5]
    assert str(license_.span) == "5:1-5:16"


def test_crlf_inside_a_quoted_string_line() -> None:
    modelfile = _parse(b'FROM scratch\r\nWEIGHTS "a b.gguf"\r\n')
    assert modelfile.diagnostics == ()
    (word,) = modelfile.directives[1].paths
    assert word.literal() == "a b.gguf"
    assert str(word.span) == "2:9-2:19"


# Focused properties ---------------------------------------------------------------------------


def _upper_keywords(text: str) -> str:
    return "\n".join(re.sub(r"^(\s*)(\S+)", lambda m: m[1] + m[2].upper(), line) for line in text.split("\n"))


def test_keyword_case_does_not_change_the_dump() -> None:
    mixed = (CASES / "keyword_case" / "Modelfile").read_text(encoding="utf-8")
    upper = _upper_keywords(mixed)
    assert upper != mixed
    assert dump_ast(_parse(mixed)) == dump_ast(_parse(upper))


@pytest.mark.parametrize("keyword", ["weights", "Weights", "wEiGhTs", "WEIGHTS"])
def test_keywords_are_case_insensitive(keyword: str) -> None:
    modelfile = _parse(f"FROM scratch\n{keyword} a.gguf\n")
    assert modelfile.diagnostics == ()
    assert isinstance(modelfile.directives[1], WeightsDirective)


def test_quoted_glob_is_qtext_and_bare_glob_is_text() -> None:
    modelfile = _parse('FROM scratch\nWEIGHTS *.gguf "*.gguf"\n')
    assert modelfile.diagnostics == ()
    bare, quoted = modelfile.directives[1].paths
    assert [(type(p).__name__, p.value, p.quoted) for p in bare.pieces] == [("Text", "*.gguf", False)]
    assert [(type(p).__name__, p.value, p.quoted) for p in quoted.pieces] == [("Text", "*.gguf", True)]
    assert str(bare.span) == "2:9-2:15"
    assert str(quoted.span) == "2:16-2:24"  # the span includes the quotes
    assert dump_ast(modelfile).splitlines()[3:] == [
        '  path [text "*.gguf"] 2:9-2:15',
        '  path [qtext "*.gguf"] 2:16-2:24',
    ]


def test_hash_inside_a_word_is_literal_and_after_space_starts_a_comment() -> None:
    modelfile = _parse("FROM scratch\nWEIGHTS a#b.gguf #c.gguf\n")
    assert modelfile.diagnostics == ()
    (word,) = modelfile.directives[1].paths
    assert word.literal() == "a#b.gguf"
    assert modelfile.comments == ()  # a trailing comment is not a whole-line comment


def test_comment_ending_in_backslash_does_not_continue() -> None:
    modelfile = _parse("# note \\\nFROM scratch\n")
    assert modelfile.diagnostics == ()
    assert [c.text for c in modelfile.comments] == ["# note \\"]
    assert modelfile.directives[0].span.start.line == 2


def test_pair_splits_at_the_first_equals() -> None:
    modelfile = _parse("FROM scratch\nLABEL a=b=c\n")
    assert modelfile.diagnostics == ()
    label = modelfile.directives[1]
    assert isinstance(label, LabelDirective)
    (pair,) = label.items
    assert pair.key == "a"
    assert pair.value.literal() == "b=c"
    assert [type(p).__name__ for p in pair.value.pieces] == ["Text", "Equals", "Text"]


def test_quoted_equals_does_not_split() -> None:
    modelfile = _parse('FROM scratch\nLABEL "a=b"=c\n')
    assert modelfile.diagnostics == ()
    (pair,) = modelfile.directives[1].items
    assert (pair.key, pair.value.literal()) == ("a=b", "c")


def test_escapes_are_decoded() -> None:
    modelfile = _parse('FROM scratch\nLABEL q="say \\"hi\\"" d="\\$5" e=""\n')
    assert modelfile.diagnostics == ()
    values = {p.key: p.value.literal() for p in modelfile.directives[1].items}
    assert values == {"q": 'say "hi"', "d": "$5", "e": ""}


def test_escaped_dollar_is_not_a_reference() -> None:
    modelfile = _parse('FROM scratch\nLABEL a="\\${X}"\n')
    assert modelfile.diagnostics == ()
    (pair,) = modelfile.directives[1].items
    assert pair.value.is_literal
    assert pair.value.literal() == "${X}"


def test_references_bare_quoted_and_adjacent() -> None:
    modelfile = _parse('ARG Q=x\nFROM scratch\nWEIGHTS model-${Q}.gguf "${Q}"\n')
    assert modelfile.diagnostics == ()
    adjacent, quoted = modelfile.directives[2].paths
    assert [(type(p).__name__, getattr(p, "quoted", None)) for p in adjacent.pieces] == [
        ("Text", False), ("VarRef", False), ("Text", False),
    ]
    assert [(type(p).__name__, p.quoted) for p in quoted.pieces] == [("VarRef", True)]
    assert str(adjacent.pieces[1].span) == "3:15-3:19"


def test_columns_count_characters_not_bytes() -> None:
    modelfile = _parse("FROM scratch\nWEIGHTS modèles/模型.gguf b.gguf\n")
    assert modelfile.diagnostics == ()
    first, second = modelfile.directives[1].paths
    assert str(first.span) == "2:9-2:24"
    assert str(second.span) == "2:25-2:31"


def test_tabs_count_as_one_column() -> None:
    modelfile = _parse("FROM scratch\n\tWEIGHTS\ta.gguf\n")
    assert modelfile.diagnostics == ()
    (word,) = modelfile.directives[1].paths
    assert str(modelfile.directives[1].keyword_span) == "2:2-2:9"
    assert str(word.span) == "2:10-2:16"


def test_config_value_is_kept_as_a_word() -> None:
    modelfile = _parse("FROM scratch\nCONFIG context_size=4096\n")
    assert modelfile.diagnostics == ()
    config = modelfile.directives[1]
    assert isinstance(config, ConfigDirective)
    assert [(p.key, p.value.literal()) for p in config.items] == [("context_size", "4096")]


def test_empty_file_has_only_missing_from() -> None:
    for data in (b"", b"\n\n", b"# only a comment\n", BOM):
        modelfile = _parse(data)
        assert modelfile.directives == ()
        assert _codes(modelfile) == ["MF023"]


def test_every_code_is_documented() -> None:
    assert all(re.fullmatch(r"MF\d{3}", code) for code in CODES)


# Regressions: cases the grammar once got wrong -----------------------------------------------


def test_backslash_escape_in_string() -> None:
    modelfile = _parse('FROM scratch\nWEIGHTS "back\\\\slash.gguf" "a\\\\"\n')
    assert _codes(modelfile) == []
    assert dump_ast(modelfile) == (
        "FROM 1:1-1:13\n"
        '  source [text "scratch"] 1:6-1:13\n'
        "WEIGHTS 2:1-2:33\n"
        '  path [qtext "back\\\\slash.gguf"] 2:9-2:27\n'
        '  path [qtext "a\\\\"] 2:28-2:33\n'
    )


def test_text_after_reference_inside_quotes() -> None:
    modelfile = _parse('ARG DIR=d NAME=n Q=q\nFROM scratch\nWEIGHTS "${DIR}/${NAME} ${Q}.gguf"\n')
    assert _codes(modelfile) == []
    assert dump_ast(modelfile).splitlines()[-2:] == [
        "WEIGHTS 3:1-3:35",
        '  path [qvar DIR qtext "/" qvar NAME qtext " " qvar Q qtext ".gguf"] 3:9-3:35',
    ]


def test_equals_after_unquoted_reference() -> None:
    modelfile = _parse("ARG K=k\nFROM scratch\nWEIGHTS ${K}=v.gguf\n")
    assert _codes(modelfile) == []
    assert dump_ast(modelfile).splitlines()[-2:] == [
        "WEIGHTS 3:1-3:20",
        '  path [var K eq text "v.gguf"] 3:9-3:20',
    ]
