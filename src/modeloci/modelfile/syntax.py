"""Text to :class:`Line` nodes: decoding, the Lark parse, and syntax errors.

This is the only module that meets Lark. Its trees and exceptions stop here:
trees become :class:`Line` and :class:`Comment` nodes, and every Lark error
becomes a :class:`Diagnostic`. To report every syntax error in one run, a text
that fails to parse is parsed again one logical line (lines joined by ``\\``
continuations) at a time: each line that fails is reported and left out.

Ollama's Modelfiles hold text in triple quotes over many lines
(``TEMPLATE \"\"\"...\"\"\"``); a line that does not parse and opens such a block
after one of Ollama's keywords is reported once, as what it is (MF077), and
the block's other lines are skipped rather than reported as syntax errors.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from itertools import islice

from lark import Token, Transformer
from lark.exceptions import UnexpectedInput, UnexpectedToken

from modeloci.diagnostics import Diagnostic, Position, Span, position_at, span_of
from modeloci.modelfile import MAX_MODELFILE_BYTES, codes
from modeloci.modelfile.ast import Comment, Equals, Line, Piece, Text, VarRef, Word
from modeloci.modelfile.directives import FOREIGN_DIRECTIVES, KEYWORDS, OLLAMA_TEXT
from modeloci.modelfile.grammar import parser

# Parsing costs some 10 to 40 microseconds per grammar token, whatever the token,
# so a 1 MiB file of quotes, blank lines or labels took 15 to 30 s. What that cost
# grows with is counted first, cheaply, and bounded (MF013): comment lines, words
# (runs of anything but blanks and the characters that start another token: a
# quote, `=`, `$` or a backslash), each of those characters, and line breaks. A
# grammar token is at most two pieces (a word and the blank after it), so this
# bounds the tokens too. Real Modelfiles have a few hundred pieces. Read at call
# time (tests lower it).
MAX_PIECES = 20_000
_PIECE = re.compile(r"^[ \t]*#[^\n]*|[^\s\"=$\\]+|[\"=$\\\n]", re.MULTILINE)
_BOM = "\ufeff"
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_CONTINUED = re.compile(r"\\[ \t]*$")
_TRIPLE_QUOTED = re.compile(r'^[ \t]*([A-Za-z_]+)[ \t]+"""', re.MULTILINE)


def decode(data: bytes, file: str) -> tuple[str, list[Diagnostic]]:
    """Decode and normalise Modelfile bytes: BOM dropped, CRLF made LF, final LF added.

    A text too large (MF012) or with too many pieces to parse (MF013) comes back
    as an empty one with that diagnostic alone.
    """
    if len(data) > MAX_MODELFILE_BYTES:
        return "\n", [codes.too_large(file, len(data), MAX_MODELFILE_BYTES)]
    diags: list[Diagnostic] = []
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        text = data.decode("utf-8", errors="replace")
        good = _normalise(data[: exc.start].decode("utf-8"))
        at = position_at(good, len(good))
        diags.append(codes.not_utf8(file, Span(at, Position(at.line, at.column + 1, at.offset + 1))))
    text = _normalise(text)
    if not text.endswith("\n"):
        text += "\n"
    if next(islice(_PIECE.finditer(text), MAX_PIECES, None), None) is not None:
        return "\n", [codes.too_many_pieces(file, MAX_PIECES)]  # MF013 alone, like MF012
    # Positions found walking forward: span_of() counts lines from the start for
    # each call, which was quadratic for a file full of control characters.
    locate = _Locator(text)
    for match in _CONTROL.finditer(text):
        span = Span(locate(match.start()), locate(match.end()))
        diags.append(codes.control_character(file, span, match.group()))
    if diags:
        # Reported above; parsed as U+FFFD so they raise no second, syntax error.
        text = _CONTROL.sub("\ufffd", text)
    return text, diags


def _normalise(text: str) -> str:
    return text.removeprefix(_BOM).replace("\r\n", "\n")


class _Locator:
    """Positions of non-decreasing offsets in one text, in linear total time."""

    def __init__(self, text: str) -> None:
        self.text, self.offset, self.line, self.line_start = text, 0, 1, 0

    def __call__(self, offset: int) -> Position:
        if offset < self.offset:
            return position_at(self.text, offset)
        newline = self.text.rfind("\n", self.offset, offset)
        if newline >= 0:
            self.line += self.text.count("\n", self.offset, offset)
            self.line_start = newline + 1
        self.offset = offset
        return Position(self.line, offset - self.line_start + 1, offset)


def parse_lines(text: str, file: str) -> tuple[list[Line | Comment], list[Diagnostic]]:
    """Parse normalised text into lines, reporting every line that does not parse."""
    try:
        tree = parser().parse(text)
    except UnexpectedInput:
        # Once per logical line, not the whole text again after each error
        # (blanking the bad line): that was quadratic, and a 1 MiB file of bad
        # lines took hours. Lines are independent in the grammar, so a line
        # parsed alone gives the same nodes and errors as in the whole text.
        return _parse_by_line(text, file)
    return _ToNodes().transform(tree), []


def _parse_by_line(text: str, file: str) -> tuple[list[Line | Comment], list[Diagnostic]]:
    nodes: list[Line | Comment] = []
    diags: list[Diagnostic] = []
    line, offset, skip_to = 1, 0, 0
    for chunk in _logical_lines(text):
        if offset < skip_to:
            pass  # inside an Ollama text block, reported where it starts
        elif (block := _ollama_block(text, offset, file)) is not None:
            diags.append(block[0])
            skip_to = block[1]
        else:
            try:
                tree = parser().parse(chunk)
            except UnexpectedInput as exc:
                diags.append(_shift(_syntax_error(exc, chunk, file), line - 1, offset))
            else:
                nodes.extend(_ToNodes(line - 1, offset).transform(tree))
        line += chunk.count("\n")
        offset += len(chunk)
    return nodes, diags


def _ollama_block(text: str, offset: int, file: str) -> tuple[Diagnostic, int] | None:
    """For a line at ``offset`` that did not parse and opens an Ollama ``KEYWORD \"\"\"`` block: MF077, and
    the offset where the block ends (after its closing quotes; an unclosed one runs to the end, as Ollama
    reads it). None for any other line."""
    match = _TRIPLE_QUOTED.match(text, offset)
    if match is None:
        return None
    keyword = match[1]
    foreign = FOREIGN_DIRECTIVES.get(keyword.upper()) or (OLLAMA_TEXT if keyword.upper() == "LICENSE" else None)
    if foreign is None:
        return None
    closing = text.find('"""', match.end())
    span = span_of(text, match.start(1), match.end(1))
    return codes.foreign_directive(file, span, keyword, foreign, KEYWORDS), len(text) if closing < 0 else closing + 3


def _logical_lines(text: str) -> Iterator[str]:
    """The text cut after each line break not continued by a trailing ``\\`` (blanks may follow it)."""
    start = pos = 0
    while pos < len(text):
        newline = text.find("\n", pos)
        end = len(text) if newline < 0 else newline + 1
        if newline < 0 or not _CONTINUED.search(text, pos, newline):
            yield text[start:end]
            start = end
        pos = end
    if start < len(text):
        yield text[start:]


def _shift(diag: Diagnostic, lines: int, offset: int) -> Diagnostic:
    """``diag`` found in a logical line parsed alone, placed in the whole text."""
    if diag.span is None:
        return diag
    start, end = diag.span.start, diag.span.end
    return replace(diag, span=Span(Position(start.line + lines, start.column, start.offset + offset),
                                   Position(end.line + lines, end.column, end.offset + offset)))


def _syntax_error(exc: UnexpectedInput, text: str, file: str) -> Diagnostic:
    if isinstance(exc, UnexpectedToken) and exc.token.type == "$END":
        at = text.rstrip().rfind("\\")
        return codes.continuation_at_eof(file, span_of(text, at, at + 1))
    pos = exc.pos_in_stream or 0
    char = text[pos] if pos < len(text) else "\n"
    expected = set(getattr(exc, "allowed", None) or getattr(exc, "expected", None) or ())
    if "STRING_TEXT" in expected:
        return _string_error(text, pos, char, file)
    if "KEYWORD" in expected and char.isprintable() and not char.isspace():
        end = _word_end(text, pos)
        return codes.expected_directive(file, span_of(text, pos, end), text[pos:end], KEYWORDS)
    if char == "\\":
        return codes.stray_backslash(file, span_of(text, pos, pos + 1))
    if expected <= {"_WS", "_NL"} and char.isprintable() and not char.isspace():
        keyword = text[text.rfind("\n", 0, pos) + 1 : pos].strip()
        return codes.missing_space(file, span_of(text, pos, pos + 1), keyword, char)
    if char == "$":
        end = _reference_end(text, pos)
        return codes.bad_reference(file, span_of(text, pos, end), text[pos:end])
    return codes.unexpected_character(file, span_of(text, pos, pos + 1), char)


def _string_error(text: str, pos: int, char: str, file: str) -> Diagnostic:
    if char == "\n":
        opening = _opening_quote(text, pos)
        return codes.unterminated_string(file, span_of(text, opening, pos))
    if char == "\\":
        escape = text[pos : pos + 2].rstrip("\n")
        if escape == "\\":
            return codes.unterminated_string(file, span_of(text, _opening_quote(text, pos), pos + 1))
        return codes.unknown_escape(file, span_of(text, pos, pos + len(escape)), escape)
    end = _reference_end(text, pos)
    return codes.bad_reference(file, span_of(text, pos, end), text[pos:end])


def _opening_quote(text: str, pos: int) -> int:
    """Offset of the quote that opened the string still open at ``pos``."""
    start = text.rfind("\n", 0, pos) + 1
    opening, inside, i = start, False, start
    while i < pos:
        if inside and text[i] == "\\":
            i += 2
            continue
        if text[i] == '"':
            inside = not inside
            opening = i
        i += 1
    return opening


def _reference_end(text: str, pos: int) -> int:
    match = re.compile(r"\$\{?[A-Za-z0-9_]*\}?").match(text, pos)
    return match.end() if match else pos + 1


def _word_end(text: str, pos: int) -> int:
    match = re.compile(r"[^\s]+").match(text, pos)
    return match.end() if match else pos + 1


class _ToNodes(Transformer[Token, list[Line | Comment]]):
    """Lark tree to :class:`Line`/:class:`Comment` nodes, pieces to AST pieces.

    ``lines`` and ``offset`` place a tree parsed from a logical line alone,
    which starts at a line's start (so columns need no shift), in the whole text.
    """

    def __init__(self, lines: int = 0, offset: int = 0) -> None:
        super().__init__()
        self._lines, self._offset = lines, offset

    def _start(self, token: Token) -> Position:
        return self._place(token.line, token.column, token.start_pos)

    def _end(self, token: Token) -> Position:
        return self._place(token.end_line, token.end_column, token.end_pos)

    def _place(self, line: int | None, column: int | None, offset: int | None) -> Position:
        # Lark types a token's position as optional: only a token made by hand lacks one, never one from its lexer.
        if line is None or column is None or offset is None:
            raise ValueError("a Lark token without a position")
        return Position(line + self._lines, column, offset + self._offset)

    def _token_span(self, token: Token) -> Span:
        return Span(self._start(token), self._end(token))

    def start(self, items: list[Line | Comment]) -> list[Line | Comment]:
        return items

    def comment(self, items: list[Token]) -> Comment:
        token = items[0]
        return Comment(str(token), self._token_span(token))

    def directive(self, items: list[Token | Word]) -> Line:
        keyword = items[0]
        assert isinstance(keyword, Token)  # the grammar's `directive` rule starts with its KEYWORD
        comment = str(items[-1]) if isinstance(items[-1], Token) and items[-1].type == "COMMENT" else None
        args = tuple(item for item in items[1:] if isinstance(item, Word))
        last = args[-1].span.end if args else self._end(keyword)
        return Line(str(keyword), self._token_span(keyword), args, Span(self._start(keyword), last), comment)

    def arg(self, items: list[Piece | _Quoted]) -> Word:
        pieces: list[Piece] = []
        for item in items:
            pieces.extend(item.pieces if isinstance(item, _Quoted) else [item])
        return Word(tuple(pieces), Span(items[0].span.start, items[-1].span.end))

    def text(self, items: list[Token]) -> Text:
        return Text(str(items[0]), self._token_span(items[0]))

    def var(self, items: list[Token]) -> VarRef:
        return VarRef(str(items[0])[2:-1], self._token_span(items[0]))

    def qvar(self, items: list[Token]) -> VarRef:
        return VarRef(str(items[0])[2:-1], self._token_span(items[0]), quoted=True)

    def eq(self, items: list[Token]) -> Equals:
        return Equals(self._token_span(items[0]))

    def string(self, items: list[Token | VarRef]) -> _Quoted:
        opening, closing = items[0], items[-1]
        assert isinstance(opening, Token) and isinstance(closing, Token)  # the rule is DQ ... DQ
        span = Span(self._start(opening), self._end(closing))
        pieces: list[Piece] = []
        for item in items[1:-1]:
            if isinstance(item, VarRef):
                pieces.append(item)
                continue
            value = str(item)[1:] if item.type == "ESCAPE" else str(item)
            piece_span = self._token_span(item)
            if pieces and isinstance(previous := pieces[-1], Text):
                pieces.pop()
                value, piece_span = previous.value + value, Span(previous.span.start, piece_span.end)
            pieces.append(Text(value, piece_span, quoted=True))
        return _Quoted(tuple(pieces) or (Text("", span, quoted=True),), span)


@dataclass(frozen=True, slots=True)
class _Quoted:
    """A double-quoted string while its word is being assembled."""

    pieces: tuple[Piece, ...]
    span: Span
