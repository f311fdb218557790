"""Reading JSON that someone else wrote: bounded nesting, valid Unicode, one error type.

Python's decoder recurses once per nesting level (a document 100,000 arrays
deep raises RecursionError) and accepts ``"\\udfff"``, a lone surrogate that is
valid JSON but not Unicode: such a string cannot be encoded again, so it would
fail much later, when a config is written or a name printed. Every JSON
document that comes from an archive, a layout, a registry or a weight header is
read through :func:`load_json`, which refuses both at once, with the name of
the document in the message.
"""

from __future__ import annotations

import json
import re
from typing import Any

#: Deeper than any manifest, index or config (they nest 4 or 5 levels), shallow enough that every recursive
#: encoder or validator that sees the document later stays far from Python's recursion limit.
MAX_DEPTH = 64

_SURROGATE = re.compile("[\ud800-\udfff]")


class InvalidJSON(ValueError):
    """A JSON document that cannot be read, or must not be: ``str(exc)`` says why, naming the document."""


def load_json(raw: bytes | str, what: str, *, max_depth: int = MAX_DEPTH) -> Any:
    """The document ``raw`` (UTF-8), checked; ``what`` names it in errors ("the config", "index.json")."""
    try:
        doc = json.loads(raw)
    except RecursionError:
        raise InvalidJSON(f"{what} is nested more than {max_depth} levels deep") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidJSON(f"{what} is not valid JSON: {exc}") from None
    check_json(doc, what, max_depth=max_depth)
    return doc


def check_json(doc: Any, what: str, *, max_depth: int = MAX_DEPTH) -> None:
    """Refuse a decoded document nested deeper than ``max_depth`` or holding a lone surrogate.

    Walked with a stack, not recursion, so a deep document cannot exhaust the one thing being protected.
    """
    stack: list[tuple[Any, int]] = [(doc, 0)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            _check_text(value, what)
        elif isinstance(value, (dict, list)):
            if depth >= max_depth:
                raise InvalidJSON(f"{what} is nested more than {max_depth} levels deep")
            if isinstance(value, dict):
                for key, item in value.items():
                    _check_text(key, what)
                    stack.append((item, depth + 1))
            else:
                stack.extend((item, depth + 1) for item in value)


def _check_text(text: str, what: str) -> None:
    if not text.isascii() and (found := _SURROGATE.search(text)):
        raise InvalidJSON(f"{what} holds a lone surrogate (`\\u{ord(found.group()):04x}`), which is not valid Unicode")
