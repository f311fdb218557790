"""Modelfiles built in code, so that ``init``, ``modeloci.package()`` and hand-written Modelfiles share one path.

The constructors make the grammar's own nodes (:class:`Line` and
:class:`Comment`), the ones :mod:`.fmt` lays out; :func:`render` gives their
canonical text (exactly what ``modeloci fmt`` would make of it), and
:func:`parse` parses that text into the typed :class:`Modelfile`, so a built
Modelfile goes through the same checks, and its diagnostics point into real
lines, as a hand-written one. Rendering keeps the meaning (a property test
checks it against the parser): a ``str`` is literal text, never globbed and
never split at ``=``; a :class:`Glob` is written bare and its ``*``, ``?`` and
``[...]`` match files; a :class:`Var` is a ``${NAME}`` reference. A tuple of
them is one word made of those parts::

    from modeloci.modelfile import build

    text = build.render([
        build.comment("A first Modelfile"),
        build.from_("scratch"),
        build.BLANK,
        build.weights(("model-", build.Glob("*"), "-of-00002.gguf")),
        build.label({"org.opencontainers.image.title": "Tiny Llama"}),
    ])
    modelfile = build.modelfile(weights=["model/"], labels={"org.opencontainers.image.version": "1.0"})

Text a Modelfile cannot hold (a line break or another control character, an
unpaired surrogate) raises :class:`UsageError` rather than being written: in a
comment, a line break would start a line of directives of its own.

``modeloci.package()`` (the public API, built on this module) is meant to read::

    def package(model_dir: str | os.PathLike[str], *, name: str, version: str = "latest",
                format: str = "docker", labels: Mapping[str, str] | None = None,
                output: str | os.PathLike[str] | None = None, layout: str | os.PathLike[str] | None = None,
                tag: str | None = None) -> BuildResult

It compiles ``build.modelfile(weights=["."], labels=labels, path=<a name for
diagnostics>)`` with ``model_dir`` as the build context (``FROM scratch``, the
folder packaged whole as Docker Model Runner packages one) through
``compile_plan`` with ``reference=f"{name}:{version}"`` and
``target_format=format``, then builds to exactly one of ``output`` (an
archive), ``layout`` (a layout folder) or ``tag`` (the local store).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Final, TypeAlias

from modeloci.diagnostics import Position, Span
from modeloci.errors import UsageError
from modeloci.modelfile import parse_modelfile
from modeloci.modelfile.ast import Comment, Equals, Line, Modelfile, Piece, Text, VarRef, Word
from modeloci.modelfile.fmt import format_nodes, format_word
from modeloci.termsafe import safe_text


@dataclass(frozen=True, slots=True)
class Glob:
    """A pattern whose ``*``, ``?`` and ``[...]`` match files; written bare, so it holds no blanks, quotes,
    ``\\``, ``$`` or ``=``."""

    pattern: str


@dataclass(frozen=True, slots=True)
class Var:
    """A ``${NAME}`` reference to an ARG, written bare (as in a shell, globs in its value match)."""

    name: str


@dataclass(frozen=True, slots=True)
class Blank:
    """A blank line between groups of lines; several in a row are one, as ``fmt`` keeps them."""


BLANK: Final = Blank()

Part: TypeAlias = str | Glob | Var
Arg: TypeAlias = Part | tuple[Part, ...]
Node: TypeAlias = Line | Comment | Blank

# Built nodes have no place in a text until they are rendered.
_NOWHERE = Span(Position(0, 0, 0), Position(0, 0, 0))
# What the parser refuses in any text (MF009, or a line break ending a string or a comment), and surrogates,
# which UTF-8 cannot encode.
_UNWRITABLE = re.compile("[\x00-\x08\x0a-\x1f\x7f\ud800-\udfff]")
_BARE = re.compile(r'[^\s"\\$=]+')  # the grammar's BARE terminal: text written without quotes
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def writable(text: str) -> bool:
    """Whether a Modelfile can hold ``text`` (in quotes, or in a comment)."""
    return _UNWRITABLE.search(text) is None


def _checked(text: str) -> str:
    bad = _UNWRITABLE.search(text)
    if bad is not None:
        why = "a line break" if bad.group() in "\n\r" else f"the character {safe_text(bad.group())}"
        raise UsageError(f"cannot write `{safe_text(text)}` in a Modelfile: it holds {why}",
                         hint="a Modelfile holds one line of printable text per word or comment")
    return text


def _piece(part: Part) -> Piece:
    if isinstance(part, Glob):
        if not _BARE.fullmatch(part.pattern) or not writable(part.pattern):
            raise UsageError(f"cannot write the glob `{safe_text(part.pattern)}` bare in a Modelfile",
                             hint="a glob has no blanks, quotes, `\\`, `$` or `=`; put literal text in a str part")
        return Text(part.pattern, _NOWHERE)
    if isinstance(part, Var):
        if not _NAME.fullmatch(part.name):
            raise UsageError(f"`{safe_text(part.name)}` is not an ARG name",
                             hint="names start with a letter or `_` and hold only letters, digits and `_`")
        return VarRef(part.name, _NOWHERE)
    return Text(_checked(part), _NOWHERE, quoted=True)


def word(arg: Arg) -> Word:
    """One argument word; an empty tuple (or ``""``) is the empty word ``""``."""
    parts = arg if isinstance(arg, tuple) else (arg,)
    return Word(tuple(_piece(part) for part in parts) or (Text("", _NOWHERE, quoted=True),), _NOWHERE)


def word_text(arg: Arg) -> str:
    """The canonical text of one word, as :func:`render` writes it."""
    return format_word(word(arg))


def _pair(key: str, value: Arg) -> Word:
    key_pieces, value_pieces = word(key).pieces, word(value).pieces
    return Word((*key_pieces, Equals(_NOWHERE), *value_pieces), _NOWHERE)


def _line(keyword: str, args: Iterable[Word]) -> Line:
    return Line(keyword, _NOWHERE, tuple(args), _NOWHERE)


def from_(source: Arg = "scratch") -> Line:
    """``FROM scratch``, or ``FROM`` an archive, layout folder, stored name or registry reference."""
    return _line("FROM", [word(source)])


def weights(path: Arg, *more: Arg) -> Line:
    return _line("WEIGHTS", [word(p) for p in (path, *more)])


def chat_template(path: Arg) -> Line:
    return _line("CHAT_TEMPLATE", [word(path)])


def mmproj(path: Arg) -> Line:
    return _line("MMPROJ", [word(path)])


def license(path: Arg, *more: Arg) -> Line:
    return _line("LICENSE", [word(p) for p in (path, *more)])


def exclude(pattern: Arg, *more: Arg) -> Line:
    return _line("EXCLUDE", [word(p) for p in (pattern, *more)])


def config(items: Mapping[str, Arg | int]) -> Line:
    """``CONFIG key=value ...``; an int value is written in decimal."""
    return _line("CONFIG", [_pair(k, str(v) if isinstance(v, int) else v) for k, v in items.items()])


def label(items: Mapping[str, Arg]) -> Line:
    return _line("LABEL", [_pair(k, v) for k, v in items.items()])


def arg(name: str, default: Arg | None = None) -> Line:
    """``ARG NAME`` or ``ARG NAME=default``."""
    return _line("ARG", [word(name) if default is None else _pair(name, default)])


def comment(text: str = "") -> Comment:
    """A whole-line comment, ``# text``; one line of text."""
    return Comment(f"# {_checked(text)}" if text else "#", _NOWHERE)


def render(nodes: Iterable[Node]) -> str:
    """The canonical text of ``nodes``: what ``modeloci fmt`` writes for it."""
    placed: list[Line | Comment] = []
    line = 1
    for node in nodes:
        if not isinstance(node, Blank):
            at = Position(line, 1, 0)
            placed.append(replace(node, span=Span(at, at)))
        line += 1  # a blank node leaves a gap of one line, which fmt writes as one blank line
    return format_nodes(placed)


def parse(nodes: Iterable[Node], *, path: str = "Modelfile") -> Modelfile:
    """The typed Modelfile ``nodes`` make, parsed from their canonical text (``path`` names it in diagnostics)."""
    return parse_modelfile(render(nodes), path=path)


def modelfile(
    *,
    from_: Arg = "scratch",
    weights: Sequence[Arg] = (),
    chat_template: Arg | None = None,
    mmproj: Arg | None = None,
    licenses: Sequence[Arg] = (),
    exclude: Sequence[Arg] = (),
    config: Mapping[str, Arg | int] | None = None,
    labels: Mapping[str, Arg] | None = None,
    args: Mapping[str, Arg | None] | None = None,
    path: str = "Modelfile",
) -> Modelfile:
    """A parsed Modelfile of these directives: ARGs, FROM, then one line for each other directive given.

    Problems (no weights, an unknown CONFIG key) are in its ``diagnostics``, as for any Modelfile; its
    ``text`` is the canonical text. The lines are :func:`directives`'s.
    """
    return parse(directives(from_=from_, weights=weights, chat_template=chat_template, mmproj=mmproj,
                            licenses=licenses, exclude=exclude, config=config, labels=labels, args=args), path=path)


def directives(
    *,
    from_: Arg = "scratch",
    weights: Sequence[Arg] = (),
    chat_template: Arg | None = None,
    mmproj: Arg | None = None,
    licenses: Sequence[Arg] = (),
    exclude: Sequence[Arg] = (),
    config: Mapping[str, Arg | int] | None = None,
    labels: Mapping[str, Arg] | None = None,
    args: Mapping[str, Arg | None] | None = None,
) -> list[Node]:
    """The lines :func:`modelfile` parses, for a caller that adds comments or writes the text out."""
    # The keywords name this function's parameters, so the lines are made here rather than by the
    # directive constructors of the same names.
    out: list[Node] = [_line("ARG", [word(name) if default is None else _pair(name, default)])
                       for name, default in (args or {}).items()]
    out += [_line("FROM", [word(from_)]), BLANK]
    files = (("WEIGHTS", weights), ("CHAT_TEMPLATE", _one(chat_template)), ("MMPROJ", _one(mmproj)),
             ("LICENSE", licenses), ("EXCLUDE", exclude))
    out += [_line(keyword, [word(p) for p in paths]) for keyword, paths in files if paths]
    if config:
        out.append(_line("CONFIG", [_pair(k, str(v) if isinstance(v, int) else v) for k, v in config.items()]))
    if labels:
        out.append(_line("LABEL", [_pair(k, v) for k, v in labels.items()]))
    return out


def _one(path: Arg | None) -> tuple[Arg, ...]:
    return () if path is None else (path,)
