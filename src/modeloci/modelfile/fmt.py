"""The canonical layout of a Modelfile (``modeloci fmt``).

Formatting works on the grammar's nodes (:class:`Line` and :class:`Comment`),
not on the typed directives, so a Modelfile with semantic errors (a missing
file, an unknown CONFIG key) still formats; only text that does not parse is
refused. The canonical form:

* keywords in the directive table's spelling (``CHAT_TEMPLATE``), unknown
  keywords upper-cased;
* no indentation, one space between words, no trailing blanks;
* a logical line that was continued with ``\\`` stays continued, one argument
  per line, indented by four spaces; a single-line one stays on one line;
* quotes only where they change meaning or are needed: a quoted run of plain
  characters (no glob character, ``=``, blank, quote, backslash, ``$`` or
  ``#``) is written bare, the rest is one double-quoted run with the minimal
  escapes. Quoted text never globs, so ``"*.gguf"`` keeps its quotes;
* comments kept verbatim (trailing blanks removed), inline comments after one
  space; at most one blank line in a row, none at the start or the end, LF
  line breaks and one final newline.

Every rule keeps the meaning: the words, their pieces and which characters may
glob are the same after formatting, which the property test checks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from modeloci.diagnostics import Diagnostic
from modeloci.modelfile.ast import Comment, Equals, Line, Text, VarRef, Word, piece_text
from modeloci.modelfile.directives import KEYWORDS
from modeloci.modelfile.syntax import decode, parse_lines

INDENT = "    "
_CANONICAL = {keyword.upper(): keyword for keyword in KEYWORDS}
# Characters a quoted run may consist of and still be written bare with the
# same meaning: nothing that globs, splits key=value, ends a word or starts a
# comment, quote, escape or reference.
_PLAIN = re.compile(r"[A-Za-z0-9_.,/:@%+~^!&'()<>|;{}\]-]+")


@dataclass(frozen=True, slots=True)
class Formatted:
    """The outcome of formatting one file: the new text, or why there is none."""

    source: str
    text: str | None
    diagnostics: tuple[Diagnostic, ...]

    @property
    def changed(self) -> bool:
        return self.text is not None and self.text != self.source


def format_modelfile(data: bytes, *, path: str = "Modelfile") -> Formatted:
    """Format Modelfile bytes; ``text`` is None when the file does not parse."""
    source = data.decode("utf-8", errors="replace")
    text, decode_diags = decode(data, path)
    nodes, syntax_diags = parse_lines(text, path)
    diagnostics = tuple(sorted([*decode_diags, *syntax_diags], key=Diagnostic.sort_key))
    if any(d.is_error for d in diagnostics):
        return Formatted(source, None, diagnostics)
    return Formatted(source, format_nodes(nodes), diagnostics)


def format_nodes(nodes: list[Line | Comment]) -> str:
    out: list[str] = []
    previous_end: int | None = None
    for node in nodes:
        if previous_end is not None and node.span.start.line > previous_end + 1:
            out.append("")
        out.append(_comment(node.text) if isinstance(node, Comment) else _line(node))
        previous_end = node.span.end.line
    text = "".join(line + "\n" for line in out)
    # A first keyword starting with U+FEFF (after a BOM: `\ufeff\ufeffFROM`) would be read
    # back as a BOM and dropped (found by tests/modelfile/test_fuzz.py): a BOM keeps it.
    return "\ufeff" + text if text.startswith("\ufeff") else text


def _comment(text: str) -> str:
    return text.rstrip()


def _line(line: Line) -> str:
    keyword = _CANONICAL.get(line.keyword.upper(), line.keyword.upper())
    words = [format_word(word) for word in line.args]
    comment = f" {_comment(line.comment)}" if line.comment else ""
    continued = line.span.end.line > line.span.start.line
    if continued and len(words) > 1:
        rest = "".join(f" \\\n{INDENT}{word}" for word in words[1:])
        return f"{keyword} {words[0]}{rest}{comment}"
    return " ".join([keyword, *words]) + comment


def format_word(word: Word) -> str:
    """One word in canonical quoting; empty quoted pieces vanish unless the word is empty."""
    parts: list[str] = []
    run: list[Text | VarRef] = []
    for piece in word.pieces:
        if not isinstance(piece, Equals) and piece.quoted:  # an `=` is never quoted: in quotes it is text
            run.append(piece)
            continue
        parts.append(_quoted_run(run))
        run = []
        parts.append(piece_text(piece))
    parts.append(_quoted_run(run))
    text = "".join(parts) or '""'
    # `""#x` with its empty quotes dropped would start with `#` and turn the rest of
    # the line into a comment (found by tests/modelfile/test_fuzz.py): keep them.
    return '""' + text if text.startswith("#") else text


def _quoted_run(run: list[Text | VarRef]) -> str:
    texts = [p.value for p in run if isinstance(p, Text)]
    if len(texts) == len(run):
        text = "".join(texts)
        if not text or _PLAIN.fullmatch(text):
            return text
    inner = "".join("${" + p.name + "}" if isinstance(p, VarRef) else _escape(p.value) for p in run)
    return f'"{inner}"'


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")


def literal_word(text: str) -> str:
    """``text`` as a canonical word that means exactly that text: never globbed, never split at ``=``."""
    return text if _PLAIN.fullmatch(text) else f'"{_escape(text)}"'
