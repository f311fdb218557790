"""Text to :class:`Line` nodes: decoding, the Lark parse, and syntax errors.

This is the only module that meets Lark. Its trees and exceptions stop here:
trees become :class:`Line` and :class:`Comment` nodes, and every Lark error
becomes a :class:`Diagnostic`. To report every syntax error in one run, a line
that fails to parse is reported, blanked out (keeping line breaks, so positions
stay right) and the text parsed again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lark import Token, Transformer, Tree
from lark.exceptions import UnexpectedInput, UnexpectedToken

from modeloci.diagnostics import Diagnostic, Position, Span, position_at, span_of
from modeloci.modelfile import codes
from modeloci.modelfile.ast import Comment, Equals, Line, Piece, Text, VarRef, Word
from modeloci.modelfile.directives import KEYWORDS
from modeloci.modelfile.grammar import parser

MAX_MODELFILE_BYTES = 1 << 20
_BOM = "\ufeff"
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_CONTINUED = re.compile(r"\\[ \t]*$")


def decode(data: bytes, file: str) -> tuple[str, list[Diagnostic]]:
    """Decode and normalise Modelfile bytes: BOM dropped, CRLF made LF, final LF added."""
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
    for match in _CONTROL.finditer(text):
        diags.append(codes.control_character(file, span_of(text, match.start(), match.end()), match.group()))
    if diags:
        # Reported above; parsed as U+FFFD so they raise no second, syntax error.
        text = _CONTROL.sub("\ufffd", text)
    return text, diags


def _normalise(text: str) -> str:
    return text.removeprefix(_BOM).replace("\r\n", "\n")


def parse_lines(text: str, file: str) -> tuple[list[Line | Comment], list[Diagnostic]]:
    """Parse normalised text into lines, reporting every line that does not parse."""
    work = text
    diags: list[Diagnostic] = []
    for _ in range(text.count("\n") + 1):
        try:
            tree = parser().parse(work)
        except UnexpectedInput as exc:
            diag = _syntax_error(exc, work, file)
            diags.append(diag)
            blanked = _blank_logical_line(work, diag.span.start.offset if diag.span else 0)
            if blanked == work:
                break
            work = blanked
            continue
        return _ToNodes().transform(tree), diags
    return [], diags


def _blank_logical_line(text: str, offset: int) -> str:
    """Replace the logical line around ``offset`` (continuations included) by spaces."""
    lines = text.split("\n")
    index = text.count("\n", 0, min(offset, len(text)))
    first = index
    while first > 0 and _CONTINUED.search(lines[first - 1]):
        first -= 1
    last = index
    while last < len(lines) - 1 and _CONTINUED.search(lines[last]):
        last += 1
    for i in range(first, last + 1):
        lines[i] = " " * len(lines[i])
    return "\n".join(lines)


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


def _start(item: Token | Tree) -> Position:
    if isinstance(item, Token):
        return Position(item.line, item.column, item.start_pos)
    return Position(item.meta.line, item.meta.column, item.meta.start_pos)


def _end(item: Token | Tree) -> Position:
    if isinstance(item, Token):
        return Position(item.end_line, item.end_column, item.end_pos)
    return Position(item.meta.end_line, item.meta.end_column, item.meta.end_pos)


def _token_span(token: Token) -> Span:
    return Span(_start(token), _end(token))


class _ToNodes(Transformer):
    """Lark tree to :class:`Line`/:class:`Comment` nodes, pieces to AST pieces."""

    def start(self, items: list) -> list[Line | Comment]:
        return items

    def comment(self, items: list[Token]) -> Comment:
        token = items[0]
        return Comment(str(token), _token_span(token))

    def directive(self, items: list) -> Line:
        keyword: Token = items[0]
        comment = str(items[-1]) if isinstance(items[-1], Token) and items[-1].type == "COMMENT" else None
        args = tuple(item for item in items[1:] if isinstance(item, Word))
        last = args[-1].span.end if args else _end(keyword)
        return Line(str(keyword), _token_span(keyword), args, Span(_start(keyword), last), comment)

    def arg(self, items: list) -> Word:
        pieces: list[Piece] = []
        for item in items:
            pieces.extend(item.pieces if isinstance(item, _Quoted) else [item])
        return Word(tuple(pieces), Span(items[0].span.start, items[-1].span.end))

    def text(self, items: list[Token]) -> Text:
        return Text(str(items[0]), _token_span(items[0]))

    def var(self, items: list[Token]) -> VarRef:
        return VarRef(str(items[0])[2:-1], _token_span(items[0]))

    def qvar(self, items: list[Token]) -> VarRef:
        return VarRef(str(items[0])[2:-1], _token_span(items[0]), quoted=True)

    def eq(self, items: list[Token]) -> Equals:
        return Equals(_token_span(items[0]))

    def string(self, items: list) -> _Quoted:
        opening, closing = items[0], items[-1]
        span = Span(_start(opening), _end(closing))
        pieces: list[Piece] = []
        for item in items[1:-1]:
            if isinstance(item, VarRef):
                pieces.append(item)
                continue
            value = str(item)[1:] if item.type == "ESCAPE" else str(item)
            piece_span = _token_span(item)
            if pieces and isinstance(pieces[-1], Text):
                previous = pieces.pop()
                value, piece_span = previous.value + value, Span(previous.span.start, piece_span.end)
            pieces.append(Text(value, piece_span, quoted=True))
        return _Quoted(tuple(pieces) or (Text("", span, quoted=True),), span)


@dataclass(frozen=True, slots=True)
class _Quoted:
    """A double-quoted string while its word is being assembled."""

    pieces: tuple[Piece, ...]
    span: Span
