"""Jinja's filters, each wrapped so that what it makes is bounded before it is made.

Every filter that turns its input into text has the input's text size checked
first; the filters whose output grows with an argument (``center``,
``indent``, ``wordwrap``, ``replace``, ``format``, ``join``, ``sum``,
``batch``, ``slice``, ``urlize``, ``tojson``, ``pprint``) have that size
worked out from the arguments; and every result is checked after. ``tojson``
of a generator (``map(...)``) is made a list first, as runtimes do. The sizes
and messages come from :mod:`.template_limits`.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from modeloci.model import template_limits as limits

Filter = Callable[..., Any]
# (input, positional arguments after it, keyword arguments) -> the input to call the filter with
Precheck = Callable[[Any, tuple[Any, ...], dict[str, Any]], Any]

# Filters that never turn their input into text, or only into a bounded part of it.
_KEEP_SHAPE = frozenset({
    "abs", "attr", "batch", "count", "d", "default", "dictsort", "first", "float", "groupby", "int", "items",
    "join", "last", "length", "list", "map", "max", "min", "pprint", "random", "reject", "rejectattr", "reverse",
    "round", "select", "selectattr", "slice", "sort", "sum", "tojson", "unique",
})  # fmt: skip


def bounded(filters: Mapping[str, Filter]) -> dict[str, Filter]:
    """Every filter of ``filters``, wrapped."""
    return {name: _wrap(name, func) for name, func in filters.items()}


def _wrap(name: str, func: Filter) -> Filter:
    # Filters marked @pass_environment and the like take that first; functools.wraps
    # copies the mark, so Jinja still passes it to the wrapper.
    skip = 1 if hasattr(func, "jinja_pass_arg") else 0
    what = f"filter `{name}`"
    precheck = _PRECHECKS.get(name)

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if len(args) > skip:
            value, rest = args[skip], args[skip + 1 :]
            if name not in _KEEP_SHAPE:
                limits.check_text(value, what)
            if precheck is not None:
                value = precheck(value, rest, kwargs)
            args = (*args[:skip], value, *rest)
        result = func(*args, **kwargs)
        limits.check_result(result, what)
        return result

    return wrapper


def _arg(args: tuple[Any, ...], kwargs: Mapping[str, Any], index: int, name: str, default: Any) -> Any:
    return args[index] if len(args) > index else kwargs.get(name, default)


def _int(value: Any) -> int:
    return value if isinstance(value, int) else 0


def _center(value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    limits.check_size(max(limits.text_size(value), _int(_arg(args, kwargs, 0, "width", 80))), "filter `center`")
    return value


def _indent(value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    width = _arg(args, kwargs, 0, "width", 4)
    prefix = width if isinstance(width, int) else limits.text_size(width)
    lines = value.count("\n") + 1 if isinstance(value, str) else limits.text_size(value)
    limits.check_size(limits.text_size(value) + lines * max(prefix, 0), "filter `indent`", exact=False)
    return value


def _wordwrap(value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    size, width = limits.text_size(value), max(_int(_arg(args, kwargs, 0, "width", 79)), 1)
    wrapstring = _arg(args, kwargs, 2, "wrapstring", None)
    breaks = size // width + (value.count("\n") if isinstance(value, str) else size) + 1
    limits.check_size(size + breaks * limits.text_size(wrapstring or "\n"), "filter `wordwrap`", exact=False)
    return value


def _replace(value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    old, new = _arg(args, kwargs, 0, "old", ""), _arg(args, kwargs, 1, "new", "")
    count = _arg(args, kwargs, 2, "count", None)
    for part in (old, new):
        limits.check_text(part, "filter `replace`")  # the input was checked by the wrapper
    text, old, new = (x if isinstance(x, str) else str(x) for x in (value, old, new))
    found = text.count(old) if old else len(text) + 1
    if isinstance(count, int) and count >= 0:
        found = min(found, count)
    limits.check_size(len(text) + found * max(0, len(new) - len(old)), "filter `replace`")
    return value


def _format(value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    if isinstance(value, str):
        limits.check_format(value, kwargs or args)
    return value


def _join(value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    items = list(value)  # a generator would be used up by counting it
    separator = limits.text_size(_arg(args, kwargs, 0, "d", ""))
    limits.check_texts(items, "filter `join`", separator * len(items))
    return items


def _sum(value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    items = list(value)
    start = _arg(args, kwargs, 1, "start", 0)
    if isinstance(start, (str, list, tuple)) or any(isinstance(item, (str, list, tuple)) for item in items):
        size = len(start) if isinstance(start, (str, list, tuple)) else 0
        size += sum(len(item) for item in items if isinstance(item, (str, list, tuple)))
        limits.check_size(size, "filter `sum`", "items")
    return items


def _batch(value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    limits.check_size(_int(_arg(args, kwargs, 0, "linecount", 0)), "filter `batch`", "items")
    return value


def _slice(value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    limits.check_size(_int(_arg(args, kwargs, 0, "slices", 0)), "filter `slice`", "items")
    return value


_WORD = re.compile(r"\S+")


def _urlize(value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    text = value if isinstance(value, str) else ""
    extra = sum(limits.text_size(_arg(args, kwargs, i, key, "")) for i, key in ((2, "target"), (3, "rel")))
    words = sum(1 for _ in _WORD.finditer(text))
    limits.check_size(3 * len(text) + words * (extra + 64), "filter `urlize`", exact=False)
    return value


def _tojson(value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    if isinstance(value, Iterator):
        # `tools|map(attribute='function')|tojson`: llama.cpp's engine makes map() a list; Python's json
        # refuses a generator. Made a list here, of at most one item past the limit.
        value = list(itertools.islice(value, limits.current().max_chars + 1))
        limits.check_size(len(value), "filter `tojson`", "items", exact=False)
    indent = _arg(args, kwargs, 1, "indent", None)
    step = indent if isinstance(indent, int) else limits.text_size(indent) if indent is not None else 0
    separators = _arg(args, kwargs, 2, "separators", None)
    extra = limits.text_size(separators) if separators is not None else 0
    size, depth = limits.measure(value, limits.current().max_chars)
    # Non-ASCII is kept (ensure_ascii=False), so the text is about the value's size, plus, for
    # each item (at most one per two characters), its separators and an indent per level.
    limits.check_size(size + size // 2 * (extra + depth * max(step, 0)), "filter `tojson`", exact=False)
    return value


def _pprint(value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    size, depth = limits.measure(value, limits.current().max_chars)
    limits.check_size(size * (depth + 1), "filter `pprint`", exact=False)  # a nested line is indented by its depth
    return value


_PRECHECKS: dict[str, Precheck] = {
    "center": _center, "indent": _indent, "wordwrap": _wordwrap, "replace": _replace, "format": _format,
    "join": _join, "sum": _sum, "batch": _batch, "slice": _slice, "urlize": _urlize, "tojson": _tojson,
    "pprint": _pprint,
}  # fmt: skip
