"""``modeloci fmt``: the canonical layout, pinned on every grammar case, and proven to keep meaning.

Meaning is compared on the grammar's nodes with spans dropped: the canonical
keyword, and for every word the sequence of characters with, for each glob
character, whether it may glob (quoted ones never do), ``=`` signs that split
``key=value`` and ``${NAME}`` references with their quoting. Comments compare
by text. A formatter that unquoted ``"*.gguf"``, merged two words or dropped a
comment would change this; moving blanks and quotes around does not.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modeloci.modelfile.ast import Comment, Equals, Line, Text, VarRef
from modeloci.modelfile.directives import KEYWORDS
from modeloci.modelfile.fmt import format_modelfile
from modeloci.modelfile.syntax import decode, parse_lines

CASES = Path(__file__).parent / "cases"
CASE_NAMES = sorted(p.name for p in CASES.iterdir() if (p / "Modelfile").is_file())
GLOB = set("*?[")


def meaning(data: bytes) -> list[tuple]:
    text, diags = decode(data, "Modelfile")
    nodes, syntax = parse_lines(text, "Modelfile")
    assert not [d for d in [*diags, *syntax] if d.is_error], [d.summary for d in [*diags, *syntax]]
    return [node_meaning(node) for node in nodes]


def node_meaning(node: Line | Comment) -> tuple:
    if isinstance(node, Comment):
        return ("comment", node.text.rstrip())
    words = tuple(tuple(_piece_tokens(word.pieces)) for word in node.args)
    return ("line", node.keyword.upper(), words, (node.comment or "").rstrip())


def _piece_tokens(pieces):
    for piece in pieces:
        if isinstance(piece, Text):
            yield from (("char", c, c in GLOB and not piece.quoted) for c in piece.value)
        elif isinstance(piece, VarRef):
            yield ("var", piece.name, piece.quoted)
        else:
            assert isinstance(piece, Equals)
            yield ("eq",)


def fmt(data: bytes | str) -> str:
    formatted = format_modelfile(data.encode() if isinstance(data, str) else data)
    assert formatted.text is not None, [d.summary for d in formatted.diagnostics]
    return formatted.text


# Every grammar case --------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASE_NAMES)
def test_fmt_of_grammar_case(case: str, snapshot) -> None:
    data = (CASES / case / "Modelfile").read_bytes()
    out = fmt(data)
    assert out == snapshot
    assert fmt(out) == out, "formatting is not idempotent"
    assert meaning(out.encode()) == meaning(data), "formatting changed the meaning"


@pytest.mark.parametrize("data", [b"\xef\xbb\xbfFROM scratch\r\nweights a.gguf\r\n", b"FROM scratch\r\nWEIGHTS a.gguf"])
def test_bom_crlf_and_missing_final_newline_are_normalised(data: bytes) -> None:
    assert fmt(data) == "FROM scratch\nWEIGHTS a.gguf\n"


# The rules, one at a time --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ('WEIGHTS "model.gguf"', "WEIGHTS model.gguf"),  # plain characters need no quotes
        ('WEIGHTS "*.gguf"', 'WEIGHTS "*.gguf"'),  # quoted globs stay literal
        ('WEIGHTS "a[1].gguf" "b?.gguf"', 'WEIGHTS "a[1].gguf" "b?.gguf"'),
        ('WEIGHTS "my model.gguf"', 'WEIGHTS "my model.gguf"'),
        ('WEIGHTS "say \\"hi\\"" "cost \\$5" "a\\\\b"', 'WEIGHTS "say \\"hi\\"" "cost \\$5" "a\\\\b"'),
        ('WEIGHTS "#x.gguf"', 'WEIGHTS "#x.gguf"'),  # bare, it would start a comment
        ("WEIGHTS a#b.gguf", "WEIGHTS a#b.gguf"),
        ('LABEL a="b=c"', 'LABEL a="b=c"'),  # a quoted = does not split
        ('LABEL "org.x"="y"', "LABEL org.x=y"),
        ('LABEL a=""', "LABEL a="),
        ('CHAT_TEMPLATE ""', 'CHAT_TEMPLATE ""'),  # an empty word stays a word
        ('WEIGHTS a"".gguf', "WEIGHTS a.gguf"),
        ('WEIGHTS "a b""c d"', 'WEIGHTS "a bc d"'),
        ('WEIGHTS pre"  mid  "post', 'WEIGHTS pre"  mid  "post'),
        ('WEIGHTS "${M}" ${M}.gguf "x${M}"', 'WEIGHTS "${M}" ${M}.gguf "x${M}"'),
        ('WEIGHTS *."gguf"', "WEIGHTS *.gguf"),
        ("from   scratch", "FROM scratch"),
        ("chat_template   t.jinja", "CHAT_TEMPLATE t.jinja"),
        ("mmProj\tp.gguf", "MMPROJ p.gguf"),
        ("   LICENSE  L1   L2   ", "LICENSE L1 L2"),
        ("exclude   hf/README.md  \"hf/a b.md\"", 'EXCLUDE hf/README.md "hf/a b.md"'),
        ("WIEGHTS a.gguf", "WIEGHTS a.gguf"),  # unknown keywords are upper-cased, left for lint
        ("weigths a.gguf", "WEIGTHS a.gguf"),
    ],
)
def test_rule(source: str, expected: str) -> None:
    out = fmt(f"FROM scratch\n{source}\n")
    assert out == f"FROM scratch\n{expected}\n"
    assert meaning(out.encode()) == meaning(f"FROM scratch\n{source}\n".encode())


def test_blank_lines_collapse_and_comments_stay_in_place() -> None:
    source = "\n\n  # header  \n\n\n\nFROM scratch   # base\n\n\n   # weights\nWEIGHTS a.gguf\n\n\n"
    assert fmt(source) == "# header\n\nFROM scratch # base\n\n# weights\nWEIGHTS a.gguf\n"


def test_continued_lines_put_one_argument_per_line() -> None:
    source = "FROM scratch\nweights a.gguf \\\n  b.gguf   c.gguf # three\nLABEL x=1 \\\n\n"
    assert fmt(source) == "FROM scratch\nWEIGHTS a.gguf \\\n    b.gguf \\\n    c.gguf # three\nLABEL x=1\n"


def test_a_single_line_stays_single_however_long() -> None:
    line = "WEIGHTS " + " ".join(f"shard-{i:05}.gguf" for i in range(30))
    assert fmt(f"FROM scratch\n{line}\n") == f"FROM scratch\n{line}\n"


def test_text_that_does_not_parse_is_refused_with_every_diagnostic() -> None:
    formatted = format_modelfile(b'FROM scratch\nWEIGHTS "open\nLABEL a=$b\n')
    assert formatted.text is None and not formatted.changed
    assert [d.code for d in formatted.diagnostics] == ["MF001", "MF004"]


def test_an_ollama_text_block_is_refused_as_one_problem_not_formatted_line_by_line() -> None:
    formatted = format_modelfile(b'FROM scratch\nTEMPLATE """{{ .Prompt }}\n{{ .Response }}\n"""\nWEIGHTS a.gguf\n')
    assert formatted.text is None
    assert [(d.code, d.summary) for d in formatted.diagnostics] == [
        ("MF077", "`TEMPLATE` is a directive of Ollama's Modelfile")]


def test_semantic_errors_do_not_stop_formatting() -> None:
    # An unknown CONFIG key and a missing FROM are for lint and build, not for fmt.
    assert fmt("config  nope=1\n") == "CONFIG nope=1\n"


def test_every_directive_keyword_is_canonical_in_the_table() -> None:
    for keyword in KEYWORDS:
        assert fmt(f"{keyword.lower()} x\n").startswith(f"{keyword} x")


# Property: any Modelfile the grammar accepts formats to a fixed point with the same meaning ----

_plain = st.text(alphabet="abcXYZ019._-/:+@", min_size=1, max_size=6)
_glob = st.sampled_from(["*", "?", "[ab]", "*.gguf"])
_quoted_text = st.text(alphabet='ab *?[=#$"\\é\t', min_size=0, max_size=6)


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$") + '"'


_piece = st.one_of(
    _plain,
    _glob,
    _quoted_text.map(_quote),
    st.sampled_from(["${A}", "${b_2}", '"${A}"', '"x${A}y"']),
    st.just("="),
)


@st.composite
def _word(draw) -> str:
    pieces = draw(st.lists(_piece, min_size=1, max_size=4))
    word = "".join(pieces)
    # Two adjacent references or texts glue into one piece when parsed; that is fine. A bare
    # word may not start with `#` (a comment) -- the alphabet above never makes one.
    return word


_blank = st.sampled_from([" ", "  ", "\t", " \t ", " \\\n  ", " \\   \n\t"])
_keyword = st.sampled_from([*KEYWORDS, *(k.lower() for k in KEYWORDS), "Weights", "chat_Template"])
_comment = st.text(alphabet="ab #\t", max_size=8).map(lambda t: "#" + t)


@st.composite
def _line(draw) -> str:
    kind = draw(st.sampled_from(["directive", "directive", "directive", "comment", "blank"]))
    indent = draw(st.sampled_from(["", " ", "\t"]))
    if kind == "blank":
        return indent
    if kind == "comment":
        return indent + draw(_comment)
    words = draw(st.lists(_word(), max_size=4))
    line = indent + draw(_keyword) + "".join(draw(_blank) + w for w in words)
    if draw(st.booleans()):
        line += " " + draw(_comment)
    return line + draw(st.sampled_from(["", " ", "\t"]))


@st.composite
def _modelfile(draw) -> bytes:
    lines = draw(st.lists(_line(), min_size=1, max_size=8))
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    text = newline.join(lines) + draw(st.sampled_from(["", newline]))
    return (draw(st.sampled_from(["", "\ufeff"])) + text).encode("utf-8")


@settings(max_examples=400, deadline=None)
@given(_modelfile())
def test_fmt_is_idempotent_and_keeps_meaning(data: bytes) -> None:
    out = fmt(data)
    assert fmt(out) == out
    assert meaning(out.encode("utf-8")) == meaning(data)
