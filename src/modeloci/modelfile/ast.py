"""The Modelfile AST: plain frozen dataclasses, every node with a :class:`Span`.

Two levels live here. :class:`Line` is what the grammar recognises: a keyword
and its argument words, for any keyword. The typed directives
(:class:`FromDirective`, :class:`WeightsDirective`, ...) are what the directive
table makes of those lines, and what the compiler consumes. A
:class:`Modelfile` holds the typed directives plus the diagnostics found while
parsing, so that later stages can add theirs and report all problems at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeAlias

from modeloci.diagnostics import Diagnostic, Span


@dataclass(frozen=True, slots=True)
class Text:
    """Literal characters of a word; ``quoted`` text is never globbed."""

    value: str
    span: Span
    quoted: bool = False


@dataclass(frozen=True, slots=True)
class VarRef:
    """A ``${NAME}`` reference, substituted from ARGs at compile time."""

    name: str
    span: Span
    quoted: bool = False


@dataclass(frozen=True, slots=True)
class Equals:
    """An unquoted ``=``: splits ``key=value``, literal anywhere else."""

    span: Span


Piece: TypeAlias = Text | VarRef | Equals


@dataclass(frozen=True, slots=True)
class Word:
    """One argument: adjacent pieces with no whitespace between them."""

    pieces: tuple[Piece, ...]
    span: Span

    @property
    def is_literal(self) -> bool:
        return not any(isinstance(p, VarRef) for p in self.pieces)

    def literal(self) -> str:
        """The word's text with references written back as ``${NAME}``."""
        return "".join(piece_text(p) for p in self.pieces)

    def split_pair(self) -> tuple[Word, Word] | None:
        """Split at the first unquoted ``=`` into key and value words."""
        for i, piece in enumerate(self.pieces):
            if isinstance(piece, Equals):
                key, value = self.pieces[:i], self.pieces[i + 1 :]
                key_span = Span(self.span.start, piece.span.start)
                value_span = Span(piece.span.end, self.span.end)
                return Word(key, key_span), Word(value, value_span)
        return None


def piece_text(piece: Piece) -> str:
    """A piece as written unquoted: its text, ``${NAME}``, or ``=``."""
    if isinstance(piece, Text):
        return piece.value
    if isinstance(piece, VarRef):
        return "${" + piece.name + "}"
    return "="


@dataclass(frozen=True, slots=True)
class Line:
    """A directive line as the grammar sees it: a keyword (as written) and its words."""

    keyword: str
    keyword_span: Span
    args: tuple[Word, ...]
    span: Span
    comment: str | None = None


@dataclass(frozen=True, slots=True)
class Comment:
    """A whole-line ``#`` comment, kept for ``fmt``."""

    text: str
    span: Span


@dataclass(frozen=True, slots=True)
class Pair:
    """``key=value``; the key is literal text, the value may hold references."""

    key: str
    key_span: Span
    value: Word
    span: Span


@dataclass(frozen=True, slots=True)
class ArgDecl:
    """One name declared by ARG, with its default if any."""

    name: str
    name_span: Span
    default: Word | None
    span: Span


@dataclass(frozen=True, slots=True)
class FromDirective:
    source: Word
    span: Span
    keyword_span: Span

    @property
    def is_scratch(self) -> bool:
        return self.source.is_literal and self.source.literal() == "scratch"


@dataclass(frozen=True, slots=True)
class WeightsDirective:
    paths: tuple[Word, ...]
    span: Span
    keyword_span: Span


@dataclass(frozen=True, slots=True)
class ChatTemplateDirective:
    path: Word
    span: Span
    keyword_span: Span


@dataclass(frozen=True, slots=True)
class MmprojDirective:
    path: Word
    span: Span
    keyword_span: Span


@dataclass(frozen=True, slots=True)
class LicenseDirective:
    paths: tuple[Word, ...]
    span: Span
    keyword_span: Span


@dataclass(frozen=True, slots=True)
class ExcludeDirective:
    """Globs of files that folders and globs elsewhere in the Modelfile leave out."""

    paths: tuple[Word, ...]
    span: Span
    keyword_span: Span


@dataclass(frozen=True, slots=True)
class ConfigDirective:
    items: tuple[Pair, ...]
    span: Span
    keyword_span: Span


@dataclass(frozen=True, slots=True)
class LabelDirective:
    items: tuple[Pair, ...]
    span: Span
    keyword_span: Span


@dataclass(frozen=True, slots=True)
class ArgDirective:
    decls: tuple[ArgDecl, ...]
    span: Span
    keyword_span: Span


Directive: TypeAlias = (
    FromDirective
    | WeightsDirective
    | ChatTemplateDirective
    | MmprojDirective
    | LicenseDirective
    | ExcludeDirective
    | ConfigDirective
    | LabelDirective
    | ArgDirective
)


@dataclass(frozen=True, slots=True)
class Modelfile:
    """A parsed Modelfile: its valid directives in order, and what was wrong.

    ``path`` is the name diagnostics show; ``text`` is the normalised source
    (BOM removed, LF line breaks) that every span points into.
    """

    path: str
    text: str
    directives: tuple[Directive, ...]
    comments: tuple[Comment, ...] = ()
    diagnostics: tuple[Diagnostic, ...] = field(default=())

    @property
    def errors(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.is_error)

    def first(self, kind: type) -> Directive | None:
        return next((d for d in self.directives if isinstance(d, kind)), None)

    def all(self, kind: type) -> tuple[Directive, ...]:
        return tuple(d for d in self.directives if isinstance(d, kind))
