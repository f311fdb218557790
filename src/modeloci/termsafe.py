"""Text from files and registries made safe to show on a terminal: the one escaping rule of the CLI.

A GGUF value, a layer's file name, an archive's ref name or a registry's error
text can hold bytes a terminal obeys: ESC sequences (colours, a screen clear,
OSC 52 writing the clipboard), a newline that starts a forged ``error:`` line,
C1 controls, and bidi overrides that show text in another order than it is
(the "Trojan Source" trick). :func:`safe_text` writes each such character as a
visible escape (``\\n``, ``\\x1b``, ``\\u202e``), as ``ls`` and ``git`` quote odd
names. Everything else, ordinary non-ASCII (``é``, ``中文``) included, is kept.

It is applied per value, at the place a value is put into a line of output, so
the CLI's own line breaks stay. Backslashes are not doubled: the escaped text
is for reading, and ``--json`` (:func:`json_text`) keeps every value exact.
"""

from __future__ import annotations

import json
import re

# C0 controls (tab and newline included: in a value they are not our layout), DEL and C1 controls;
# the Arabic letter mark, LRM/RLM, the bidi embeddings, overrides and isolates; the Unicode line and
# paragraph separators; and lone surrogates, which cannot even be encoded as UTF-8.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff]")
_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    return _NAMED.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def safe_text(value: object) -> str:
    """``str(value)`` with every control, bidi and separator character written as a visible escape."""
    text = str(value)
    return _UNSAFE.sub(_escape, text) if _UNSAFE.search(text) else text


def json_text(document: object, *, indent: int | None = 2) -> str:
    """``document`` as JSON with non-ASCII kept readable and every value exact.

    ``json.dumps`` escapes C0 controls but, with ``ensure_ascii=False``, writes DEL,
    C1 controls, bidi overrides and lone surrogates raw; they are written here as
    ``\\uXXXX`` escapes, which any JSON reader turns back into the same characters.
    """
    text = json.dumps(document, indent=indent, ensure_ascii=False)
    return _UNSAFE.sub(_json_escape, text)


def _json_escape(match: re.Match[str]) -> str:
    char = match.group()
    # C0 controls left in the JSON text are its own layout (indent newlines): those in values are escaped already.
    return char if char < " " else f"\\u{ord(char):04x}"
