"""Diagnostics as data, and their one text renderer.

A :class:`Diagnostic` is what any stage reports about a user's input: a code,
a one-line summary, an optional source :class:`Span` with a short label under
the caret, a detail saying what was expected and what was found, and a hint.
Stages create them; only :func:`render` turns them into text, in the format
given in DESIGN.md (ruff's layout with HCL's data model)::

    error[MF003]: Unknown directive `WIEGHTS`
     --> examples/llama/Modelfile:3:1
      |
    3 | WIEGHTS ./model.gguf
      | ^^^^^^^ did you mean `WEIGHTS`?
      |
    help: directives are FROM, WEIGHTS, ...

Lines and columns count from 1, in characters.

Nothing from the input reaches the terminal raw: the file name goes through
:func:`modeloci.termsafe.safe_text`; messages and labels show invisible
characters as ``\\u{...}`` escapes (:func:`_safe`, stricter, so that a stray
no-break space in a word is seen too); the source excerpt shows each of them
as one U+FFFD, so the carets under it stay in their columns.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from modeloci.termsafe import safe_text

_TAB = "    "
# At most this many characters of a long source line are shown around a span.
_MAX_SHOWN = 200


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True, order=True)
class Position:
    """A place in a text: 1-based line and column, and the 0-based offset."""

    line: int
    column: int
    offset: int


@dataclass(frozen=True, slots=True, order=True)
class Span:
    """A half-open range of a text, ``start`` included and ``end`` excluded."""

    start: Position
    end: Position

    def __str__(self) -> str:
        return f"{self.start.line}:{self.start.column}-{self.end.line}:{self.end.column}"


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One problem (or warning) found in a user's input."""

    code: str
    summary: str
    file: str | None = None
    span: Span | None = None
    label: str | None = None
    detail: str | None = None
    hint: str | None = None
    severity: Severity = Severity.ERROR

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    @property
    def message(self) -> str:
        """As a finding (:mod:`modeloci.findings`): the summary."""
        return self.summary

    @property
    def where(self) -> str | None:
        """As a finding: ``file:line:col``, or the file alone, or None."""
        if self.span is None:
            return self.file
        return f"{self.file or '<input>'}:{self.span.start.line}:{self.span.start.column}"

    def to_json(self) -> dict[str, object]:
        """The diagnostic for ``--json`` output: 1-based lines and columns, end exclusive."""
        span = self.span
        return {
            "code": self.code,
            "severity": self.severity.value,
            "summary": self.summary,
            "file": self.file,
            "line": span.start.line if span else None,
            "column": span.start.column if span else None,
            "end_line": span.end.line if span else None,
            "end_column": span.end.column if span else None,
            "label": self.label,
            "detail": self.detail,
            "hint": self.hint,
        }

    def sort_key(self) -> tuple[str, int, int, str]:
        start = self.span.start if self.span else Position(0, 0, 0)
        return (self.file or "", start.line, start.column, self.code)


def position_at(text: str, offset: int) -> Position:
    """The :class:`Position` of ``offset`` in ``text`` (LF line breaks)."""
    offset = max(0, min(offset, len(text)))
    line = text.count("\n", 0, offset) + 1
    line_start = text.rfind("\n", 0, offset) + 1
    return Position(line, offset - line_start + 1, offset)


def span_of(text: str, start: int, end: int) -> Span:
    """The :class:`Span` covering ``text[start:end]``."""
    return Span(position_at(text, start), position_at(text, max(start, end)))


def render(diagnostics: Iterable[Diagnostic], sources: Mapping[str, str]) -> str:
    """Render diagnostics as text, each followed by a blank line."""
    # Each source is split into lines once per call: splitting it again for
    # every diagnostic was quadratic for a file with many problems.
    split: dict[str, list[str]] = {}
    return "".join(render_one(d, sources, split) + "\n" for d in diagnostics)


def render_one(diag: Diagnostic, sources: Mapping[str, str], split: dict[str, list[str]] | None = None) -> str:
    lines = [f"{diag.severity}[{diag.code}]: {_safe(diag.summary)}"]
    text = sources.get(diag.file) if diag.file is not None else None
    if diag.span is not None and text is not None:
        lines += _excerpt(diag, text, {} if split is None else split)
    else:
        if diag.file is not None:
            lines.append(f" --> {safe_text(diag.file)}")
        if diag.detail or diag.hint:
            lines.append("  |")
        if diag.detail:
            lines.append(f"  = {_safe(diag.detail)}")
    if diag.hint:
        lines.append(f"help: {_safe(diag.hint)}")
    return "\n".join(lines) + "\n"


def _excerpt(diag: Diagnostic, text: str, split: dict[str, list[str]]) -> list[str]:
    assert diag.span is not None and diag.file is not None
    start, end = diag.span.start, diag.span.end
    gutter = " " * len(str(start.line))
    if diag.file not in split:
        split[diag.file] = text.split("\n")
    all_lines = split[diag.file]
    # (A line past the end shows as empty rather than raising IndexError.)
    source_line = all_lines[start.line - 1] if 1 <= start.line <= len(all_lines) else ""
    # A span that runs past its first line is underlined to the end of that line.
    end_col = end.column if end.line == start.line else len(source_line) + 1
    source_line, first, last = _clip(source_line, start.column - 1, end_col - 1)
    prefix = _display(source_line[:first])
    marked = _display(source_line[first:last])
    carets = "^" * max(1, len(marked))
    label = f" {_safe(diag.label)}" if diag.label else ""
    out = [
        f"{gutter}--> {safe_text(diag.file)}:{start.line}:{start.column}",
        f"{gutter} |",
        f"{start.line} | {_display(source_line)}".rstrip(),
        f"{gutter} | {' ' * len(prefix)}{carets}{label}",
        f"{gutter} |",
    ]
    if diag.detail:
        out.append(f"{gutter} = {_safe(diag.detail)}")
    return out


def _clip(line: str, first: int, last: int) -> tuple[str, int, int]:
    """A long ``line`` cut to :data:`_MAX_SHOWN` characters around ``line[first:last]``, with ``…``
    where it is cut, and the range's place in the cut line. Showing the whole of a
    megabyte-long line for each of its problems made rendering quadratic."""
    if len(line) <= _MAX_SHOWN:
        return line, first, last
    lo = max(0, min(first - _MAX_SHOWN // 4, len(line) - _MAX_SHOWN))
    hi = lo + _MAX_SHOWN
    head, tail = ("…" if lo > 0 else ""), ("…" if hi < len(line) else "")

    def at(index: int) -> int:
        return len(head) + min(max(index, lo), hi) - lo

    return head + line[lo:hi] + tail, at(first), at(last)


def _safe(text: str) -> str:
    """Message text with invisible characters (user values may hold them) written as escapes."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else f"\\u{{{ord(ch):04X}}}" for ch in text)


def _display(text: str) -> str:
    """Text as shown in an excerpt: tabs expanded, control characters made visible."""
    text = text.replace("\t", _TAB)
    return "".join(ch if ch.isprintable() or ch == " " else "\N{REPLACEMENT CHARACTER}" for ch in text)


def did_you_mean(word: str, candidates: Sequence[str], *, fold_case: bool = True) -> str | None:
    """The candidate closest to ``word`` if its edit distance is under 3, else None."""
    key = word.casefold() if fold_case else word
    best: tuple[int, str] | None = None
    for candidate in candidates:
        other = candidate.casefold() if fold_case else candidate
        distance = edit_distance(key, other)
        if distance < 3 and (best is None or distance < best[0]):
            best = (distance, candidate)
    return best[1] if best else None


def edit_distance(a: str, b: str) -> int:
    """Optimal string alignment distance: insertions, deletions, substitutions, transpositions."""
    if abs(len(a) - len(b)) > 3:
        return abs(len(a) - len(b))
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        prev2, prev = prev, cur
    return prev[len(b)]
