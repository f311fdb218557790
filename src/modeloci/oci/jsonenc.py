"""Byte-exact JSON as Go's ``encoding/json`` writes it (REFERENCE.md §1.7).

Digests are taken over these bytes, so the encoding is part of the format:
compact separators, no trailing newline, non-ASCII kept, ``< > &`` and
U+2028/U+2029 escaped as Go does. Key order is the caller's: dicts are written
in insertion order, so builders insert struct fields in Go declaration order
and sort map keys themselves (:func:`go_map`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

_GO_ESCAPES = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}


def go_json(value: Any) -> bytes:
    """Encode ``value`` exactly as Go's json.Marshal would (given Go's field order)."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    if any(ch in text for ch in _GO_ESCAPES):
        # These characters only occur inside strings in JSON text, so a plain
        # replacement cannot touch structure.
        for ch, escaped in _GO_ESCAPES.items():
            text = text.replace(ch, escaped)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        # A file name that was not UTF-8 reaches us as lone surrogates; Go writes
        # each invalid byte as U+FFFD.
        raw = text.encode("utf-8", errors="surrogateescape")
        return raw.decode("utf-8", errors="replace").encode("utf-8")


def go_map(mapping: Mapping[str, Any]) -> dict[str, Any]:
    """A Go map's JSON order: keys sorted bytewise (by UTF-8 bytes)."""
    return {key: mapping[key] for key in sorted(mapping, key=lambda k: k.encode("utf-8", "surrogatepass"))}


def go_time(seconds: int, nanos: int = 0) -> str:
    """A UTC time as Go's time.Time marshals it (RFC 3339 with trimmed nanoseconds, ``Z``)."""
    moment = datetime.fromtimestamp(seconds, tz=UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if nanos:
        text += "." + f"{nanos:09d}".rstrip("0")
    return text + "Z"
