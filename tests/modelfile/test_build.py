"""Modelfiles built in code (``modeloci.modelfile.build``): canonical text that parses back to the same AST.

The property test builds random documents from the constructors, renders them,
and checks against the real parser and formatter that the text is ``fmt``'s
fixed point and that every line parses back to the words, pieces and glob
characters it was built from. The other tests pin the keyword API that
``modeloci.package()`` uses, and that text a Modelfile cannot hold is refused
with a usage error instead of being written: a line break in a comment or a
label would otherwise start a line of directives of its own.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modeloci.errors import UsageError
from modeloci.modelfile import build, dump_ast, parse_modelfile
from modeloci.modelfile.ast import (
    ArgDirective,
    ChatTemplateDirective,
    ConfigDirective,
    Directive,
    ExcludeDirective,
    FromDirective,
    LabelDirective,
    LicenseDirective,
    MmprojDirective,
    WeightsDirective,
)
from modeloci.modelfile.fmt import literal_word
from tests.modelfile.test_fmt import fmt, meaning, node_meaning

# Text with everything that needs quoting or escaping, glob characters, `=`, `#` and `$`, and the odd
# characters a Modelfile may hold (tab, U+2028, NEL, a BOM, an emoji).
_TEXT = 'ab é.-/ *?[]{}=#$"\\\t\u2028\x85\ufeff\U0001f600'
_literal = st.text(alphabet=_TEXT, max_size=6)
_glob = st.text(alphabet="ab*?[]{}#.-/é", min_size=1, max_size=6).map(build.Glob)
_var = st.sampled_from(["A", "b_2", "_X"]).map(build.Var)
_part = st.one_of(_literal, _glob, _var)
_arg = st.one_of(_part, st.lists(_part, max_size=3).map(tuple))
_key = st.text(alphabet="abc._-/é =#", min_size=1, max_size=6)


def _directive(draw: st.DrawFn) -> build.Node:
    kind = draw(st.sampled_from(["from", "weights", "template", "mmproj", "license", "exclude", "config", "label",
                                 "arg", "comment", "blank"]))
    many = st.lists(_arg, min_size=1, max_size=3)
    if kind in ("weights", "license", "exclude"):
        make: Callable[..., build.Node] = {"weights": build.weights, "license": build.license,
                                           "exclude": build.exclude}[kind]
        return make(*draw(many))
    one = {"from": build.from_, "template": build.chat_template, "mmproj": build.mmproj}
    if kind in one:
        return one[kind](draw(_arg))
    if kind in ("config", "label"):
        items = draw(st.dictionaries(_key, st.one_of(_arg, st.integers(0, 2**40)), min_size=1, max_size=3))
        return build.config(items) if kind == "config" else build.label(
            {k: str(v) if isinstance(v, int) else v for k, v in items.items()})
    if kind == "arg":
        return build.arg(draw(st.sampled_from(["A", "b_2", "NAME"])), draw(st.one_of(st.none(), _arg)))
    if kind == "comment":
        return build.comment(draw(st.text(alphabet=_TEXT, max_size=10)))
    return build.BLANK


@st.composite
def _document(draw: st.DrawFn) -> list[build.Node]:
    return [_directive(draw) for _ in range(draw(st.integers(0, 8)))]


@settings(max_examples=300, deadline=None)
@given(_document())
def test_built_text_is_canonical_and_parses_back_to_the_nodes_it_was_built_from(nodes: list[build.Node]) -> None:
    text = build.render(nodes)
    assert fmt(text) == text
    assert meaning(text.encode("utf-8")) == [node_meaning(n) for n in nodes if not isinstance(n, build.Blank)]


@settings(max_examples=200, deadline=None)
@given(_literal)
def test_a_literal_word_is_written_as_literal_word_writes_it(text: str) -> None:
    assert build.word_text(text) == literal_word(text)


def test_blank_lines_collapse_and_none_start_or_end_the_text() -> None:
    nodes = [build.BLANK, build.comment("top"), build.from_(), build.BLANK, build.BLANK, build.weights("m.gguf"),
             build.BLANK]
    assert build.render(nodes) == "# top\nFROM scratch\n\nWEIGHTS m.gguf\n"
    assert build.render([]) == ""


def test_words_are_quoted_only_where_the_meaning_needs_it() -> None:
    shard = ("my model-", build.Glob("*"), "-of-00002.gguf")
    text = build.render([build.from_(), build.weights(shard, "a=b.gguf", "*.gguf", build.Glob("#x*")),
                         build.chat_template(("templates/", build.Var("T"), ".jinja")),
                         build.label({"org.opencontainers.image.title": 'Tiny "Llama" $1', "empty": ""}),
                         build.config({"context_size": 4096}), build.arg("T", "chat"), build.arg("Q")])
    assert text == (
        "FROM scratch\n"
        'WEIGHTS "my model-"*-of-00002.gguf "a=b.gguf" "*.gguf" ""#x*\n'
        "CHAT_TEMPLATE templates/${T}.jinja\n"
        'LABEL org.opencontainers.image.title="Tiny \\"Llama\\" \\$1" empty=\n'
        "CONFIG context_size=4096\n"
        "ARG T=chat\n"
        "ARG Q\n"
    )


def _values(directive: Directive) -> object:
    if isinstance(directive, FromDirective):
        return directive.source.literal()
    if isinstance(directive, ChatTemplateDirective | MmprojDirective):
        return directive.path.literal()
    if isinstance(directive, WeightsDirective | LicenseDirective | ExcludeDirective):
        return [w.literal() for w in directive.paths]
    if isinstance(directive, ConfigDirective | LabelDirective):
        return {p.key: p.value.literal() for p in directive.items}
    assert isinstance(directive, ArgDirective)
    return [(d.name, d.default.literal() if d.default else None) for d in directive.decls]


def test_the_keyword_api_makes_the_modelfile_package_compiles() -> None:
    modelfile = build.modelfile(weights=["."], labels={"org.opencontainers.image.title": "Tiny Llama"},
                                path="<package>")
    assert modelfile.path == "<package>"
    assert modelfile.diagnostics == ()
    assert modelfile.text == 'FROM scratch\n\nWEIGHTS .\nLABEL org.opencontainers.image.title="Tiny Llama"\n'
    assert [(type(d).__name__, _values(d)) for d in modelfile.directives] == [
        ("FromDirective", "scratch"),
        ("WeightsDirective", ["."]),
        ("LabelDirective", {"org.opencontainers.image.title": "Tiny Llama"}),
    ]


def test_every_keyword_argument_becomes_its_directive_in_the_canonical_order() -> None:
    modelfile = build.modelfile(
        from_=("base", build.Var("V"), ".tar"), weights=["w/", build.Glob("*.gguf")], chat_template="t.jinja",
        mmproj="p.gguf", licenses=["LICENSE", "NOTICE"], exclude=[build.Glob("**/*.bin")],
        config={"context_size": 2048}, labels={"a": "1", "b": "two words"}, args={"V": "1", "W": None})
    assert modelfile.diagnostics == ()
    assert [(type(d).__name__, _values(d)) for d in modelfile.directives] == [
        ("ArgDirective", [("V", "1")]),
        ("ArgDirective", [("W", None)]),
        ("FromDirective", "base${V}.tar"),
        ("WeightsDirective", ["w/", "*.gguf"]),
        ("ChatTemplateDirective", "t.jinja"),
        ("MmprojDirective", "p.gguf"),
        ("LicenseDirective", ["LICENSE", "NOTICE"]),
        ("ExcludeDirective", ["**/*.bin"]),
        ("ConfigDirective", {"context_size": "2048"}),
        ("LabelDirective", {"a": "1", "b": "two words"}),
    ]
    assert build.parse(build.directives(
        from_=("base", build.Var("V"), ".tar"), weights=["w/", build.Glob("*.gguf")], chat_template="t.jinja",
        mmproj="p.gguf", licenses=["LICENSE", "NOTICE"], exclude=[build.Glob("**/*.bin")],
        config={"context_size": 2048}, labels={"a": "1", "b": "two words"}, args={"V": "1", "W": None}),
    ).text == modelfile.text
    # The globs stay globs and the literal text stays literal, piece by piece.
    assert "path [text \"*.gguf\"]" in dump_ast(modelfile)
    assert "path [text \"**/*.bin\"]" in dump_ast(modelfile)


def test_a_built_modelfile_is_checked_as_a_hand_written_one() -> None:
    built = build.modelfile(weights=[], config={"context_sise": 1})
    assert [d.code for d in built.diagnostics] == ["MF028"]
    assert built.diagnostics == parse_modelfile(built.text).diagnostics
    assert built.diagnostics[0].span is not None and built.diagnostics[0].span.start.line == 3


@pytest.mark.parametrize(("make", "shown"), [
    (lambda: build.comment('x"\nCONFIG context_size=1'), 'x"\\nCONFIG context_size=1'),
    (lambda: build.label({"org.opencontainers.image.title": "Tiny\nEXCLUDE *"}), "Tiny\\nEXCLUDE *"),
    (lambda: build.weights("model\r.gguf"), "model\\r.gguf"),
    (lambda: build.label({"a\nFROM x": "1"}), "a\\nFROM x"),
])
def test_a_line_break_cannot_smuggle_a_directive_into_a_built_modelfile(make: Callable[[], object],
                                                                          shown: str) -> None:
    with pytest.raises(UsageError) as info:
        make()
    assert str(info.value) == f"cannot write `{shown}` in a Modelfile: it holds a line break"
    assert info.value.hint == "a Modelfile holds one line of printable text per word or comment"


def test_control_characters_and_lone_surrogates_are_refused() -> None:
    with pytest.raises(UsageError) as info:
        build.weights("a\x1b[2Jb.gguf")
    assert str(info.value) == "cannot write `a\\x1b[2Jb.gguf` in a Modelfile: it holds the character \\x1b"
    with pytest.raises(UsageError) as info:
        build.comment("half \ud800")
    assert str(info.value) == "cannot write `half \\ud800` in a Modelfile: it holds the character \\ud800"
    assert build.writable("tab\tand U+2028\u2028 are fine") and not build.writable("no\x00")


@pytest.mark.parametrize("pattern", ["", "a b", 'a"b', "a\\b", "$x", "a=b", "a\u00a0b", "a\nb"])
def test_a_glob_that_cannot_be_written_bare_is_refused(pattern: str) -> None:
    with pytest.raises(UsageError) as info:
        build.weights(build.Glob(pattern))
    assert str(info.value).startswith("cannot write the glob `")
    assert info.value.hint == "a glob has no blanks, quotes, `\\`, `$` or `=`; put literal text in a str part"


def test_an_arg_reference_must_name_an_identifier() -> None:
    with pytest.raises(UsageError) as info:
        build.weights(build.Var("1x"))
    assert str(info.value) == "`1x` is not an ARG name"
