"""Diagnostics of the Modelfile's text: decoding, size bounds and the grammar (MF001-MF013), and
directives of other tools' Modelfiles (MF077)."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from modeloci.diagnostics import Diagnostic, Span
from modeloci.modelfile.codes.table import Code, listed, suggest


def unterminated_string(file: str, span: Span) -> Diagnostic:
    return Code.MF001("Unterminated string", file, span, label="this string is not closed",
                      hint='close the string with `"` on the same line; a string cannot span lines')


def unknown_escape(file: str, span: Span, escape: str) -> Diagnostic:
    return Code.MF002(f"Unknown escape `{escape}` in a string", file, span, label="not an escape",
                      detail='inside double quotes the escapes are `\\"`, `\\\\` and `\\$`',
                      hint="write `\\\\` for a literal backslash")


def unknown_directive(file: str, span: Span, word: str, known: Sequence[str]) -> Diagnostic:
    return Code.MF003(f"Unknown directive `{word}`", file, span, label=suggest(word, known) or "not a directive",
                      hint=f"directives are {listed(known)}")


@dataclass(frozen=True, slots=True)
class Foreign:
    """A directive of another tool's Modelfile: whose, modeloci's nearest directive (if any), and what to write."""

    keyword: str
    tool: str
    instead: str | None
    advice: str


def foreign_directive(file: str, span: Span, word: str, foreign: Foreign, known: Sequence[str]) -> Diagnostic:
    label = f"in modeloci: `{foreign.instead}`" if foreign.instead else "modeloci has no such directive"
    summary = f"`{word}` is a directive of {foreign.tool}'s Modelfile"
    if foreign.instead == foreign.keyword:  # the same keyword, in the other tool's form
        summary, label = f"`{word} \"\"\"...\"\"\"` is the form of {foreign.tool}'s Modelfile", "text, not a path"
    return Code.MF077(summary, file, span, label=label,
                      detail=f"modeloci's directives are {listed(known)}", hint=foreign.advice)


def bad_reference(file: str, span: Span, found: str) -> Diagnostic:
    return Code.MF004(f"Invalid variable reference `{found}`", file, span, label="expected `${NAME}`",
                      hint="write `${NAME}` to use an ARG; inside double quotes write `\\$` for a literal `$`")


def stray_backslash(file: str, span: Span) -> Diagnostic:
    return Code.MF005("Unexpected backslash", file, span, label="a backslash here is not allowed",
                      hint="a `\\` continues a line only as its last character; for a backslash in a path, "
                           "put the path in double quotes and write `\\\\`")


def expected_directive(file: str, span: Span, found: str, known: Sequence[str]) -> Diagnostic:
    return Code.MF006("Expected a directive", file, span, label="a line must start with a directive",
                      detail=f"found `{found}`", hint=f"directives are {listed(known)}")


def continuation_at_eof(file: str, span: Span) -> Diagnostic:
    return Code.MF007("Line continuation at end of file", file, span, label="nothing follows this `\\`",
                      hint="remove the trailing `\\`, or finish the directive on the next line")


def not_utf8(file: str, span: Span) -> Diagnostic:
    return Code.MF008("The Modelfile is not UTF-8 text", file, span, label="this byte is not UTF-8",
                      hint="save the file as UTF-8")


def control_character(file: str, span: Span, char: str) -> Diagnostic:
    name = f"U+{ord(char):04X}"
    return Code.MF009(f"Control character {name} in the Modelfile", file, span, label="not allowed",
                      hint="remove it; only tabs and line breaks may appear besides printable text")


def missing_space(file: str, span: Span, keyword: str, found: str) -> Diagnostic:
    return Code.MF010(f"Missing space after `{keyword}`", file, span, label="expected a space here",
                      detail=f"found `{found}` right after the directive",
                      hint=f"`{keyword}` takes its arguments after a space: `{keyword} ARGUMENTS`" if found == "="
                      else f"write `{keyword} {found}...`")


def unexpected_character(file: str, span: Span, char: str) -> Diagnostic:
    if char.isprintable() and not char.isspace():
        return Code.MF011(f"Unexpected `{char}`", file, span, label="not allowed here")
    name = unicodedata.name(char, "")
    return Code.MF011(f"Unexpected character U+{ord(char):04X}" + (f" ({name})" if name else ""), file, span,
                      label="invisible character", hint="only spaces and tabs may separate arguments; retype this one")


def too_large(file: str, size: int, limit: int) -> Diagnostic:
    return Code.MF012("The Modelfile is too large", file, None,
                      detail=f"it has {size} bytes; the limit is {limit}", hint="is this really a Modelfile?")


def too_many_pieces(file: str, limit: int) -> Diagnostic:
    return Code.MF013("The Modelfile has too many words", file, None,
                      detail=f"it has more than {limit} words, quotes, `=` signs and lines; the limit is {limit}",
                      hint="a Modelfile is a few dozen lines; is this really a Modelfile?")
