"""Globs over ``/``-separated paths, matched in linear time: the one glob language of Modelfile paths and of layer
selections (``pull --include``, ``unpack --exclude``).

``*``, ``?`` and ``[...]`` match within one path segment, ``**`` any number of
segments; like a shell, a wildcard segment does not match a name starting with
``.`` unless the segment starts with one too, and ``**`` crosses no hidden
folder. Patterns are outside input: a segment is translated for :mod:`re` in
time linear in its length whatever brackets it holds (:func:`literal_brackets`),
and a whole path is matched without recursion or backtracking over the ``**``s
(:func:`path_matcher`), in time bounded by the path's depth times the pattern's.
The compiler walks folders with the same segment matchers
(:mod:`modeloci.compiler.paths`).
"""

from __future__ import annotations

import fnmatch
import glob
import re
from collections.abc import Callable

Matcher = Callable[[str], bool]


def collapse_double_stars(segments: list[str]) -> list[str]:
    """``**/**`` means ``**``, and a final ``**`` means ``**/*``: every ``**`` is then followed by a segment."""
    collapsed: list[str] = []
    for segment in segments:
        if not (segment == "**" and collapsed and collapsed[-1] == "**"):
            collapsed.append(segment)
    return [*collapsed, "*"] if collapsed[-1] == "**" else collapsed


def segment_matcher(segment: str) -> Matcher:
    """What ``fnmatch.fnmatchcase(name, segment)`` answers, with the pattern translated in linear time."""
    match = re.compile(fnmatch.translate(literal_brackets(segment))).match
    return lambda name: match(name) is not None


def literal_brackets(segment: str) -> str:
    """``segment`` with each ``[`` that fnmatch would take literally written ``[[]`` (a set of one ``[``).

    fnmatch looks for the closing ``]`` of every ``[`` from that ``[`` on; when
    there is none it takes the ``[`` literally and moves on by one character, so
    500,000 unclosed ``[`` took over a minute. Here whether a ``]`` is still to
    come is known from the last one, and a set that is closed is skipped whole.
    """
    last_close, parts, i = segment.rfind("]"), [], 0
    while i < len(segment):
        opening = segment.find("[", i)
        if opening < 0:
            parts.append(segment[i:])
            break
        parts.append(segment[i:opening])
        j = opening + 1
        j += segment.startswith("!", j)
        j += segment.startswith("]", j)  # a `]` first in the set is a member, not its end
        if j > last_close:
            parts.append("[[]")
            i = opening + 1
        else:
            i = segment.index("]", j) + 1
            parts.append(segment[opening:i])
    return "".join(parts)


def _one(segment: str) -> Matcher | None:
    """The matcher of one segment that is not ``**``: a literal is compared, a wildcard spares hidden names."""
    if not glob.has_magic(segment):
        return lambda name: name == segment
    match = segment_matcher(segment)
    if segment.startswith("."):
        return match
    return lambda name: not name.startswith(".") and match(name)


def path_matcher(pattern: str) -> Matcher:
    """Whether a relative path matches ``pattern`` (``/``-separated, with ``**``), as a set of positions in the
    pattern advanced segment by segment: no recursion, and at most two positions more per path segment."""
    segments = collapse_double_stars(pattern.split("/"))
    matchers = [None if s == "**" else _one(s) for s in segments]
    end = len(segments)

    def closure(states: set[int]) -> set[int]:
        # A `**` may match no folder: its next segment is reachable too (never two `**` in a row).
        return states | {i + 1 for i in states if i < end and matchers[i] is None}

    def match(path: str) -> bool:
        states = closure({0})
        for name in path.split("/"):
            moved: set[int] = set()
            for i in states:
                if i == end:
                    continue
                one = matchers[i]
                if one is None:
                    if not name.startswith("."):
                        moved.add(i)  # `**` takes one more folder and stays
                elif one(name):
                    moved.add(i + 1)
            if not moved:
                return False
            states = closure(moved)
        return end in states

    return match
