"""The limits of one trial render of a chat template, and the checks that hold them.

A template is code someone else wrote. Its loops are bounded by a time budget
(checked here at calls and between output chunks, and enforced from outside by
:mod:`.template_worker`, which kills a render that never reaches a check), and
every string, list and number it makes is bounded *before* it is made: each
check below computes, from its operands, how large a result would be and
raises :class:`LimitExceeded` instead of allocating it. ``"a"|center(3 * 10**9)``,
``"%03000000000d" % 1``, chained ``replace`` and a string doubled in a loop
each reached 3 GB before these checks.

The sandbox (:mod:`.template_sandbox`) calls these functions; the limits in
force are a context variable, set for the duration of a check.
"""

from __future__ import annotations

import contextlib
import contextvars
import itertools
import math
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sized
from dataclasses import dataclass
from typing import Any

from jinja2 import Undefined
from jinja2.utils import Namespace
from markupsafe import Markup


@dataclass(frozen=True, slots=True)
class TemplateLimits:
    """How much one check of a template may take."""

    max_chars: int = 1 << 20  # output, and any one string or list; real chat prompts are a few KiB
    max_int_bits: int = 1 << 16  # `2 ** 10**9` would otherwise compute for minutes inside one expression
    time_budget_s: float = 2.0  # wall time to compile, and per conversation; corpus templates take milliseconds
    memory_bytes: int = 1 << 30  # address space the check's worker may add to what it starts with


class LimitExceeded(Exception):
    """A trial render passed a limit; the message says which, in one line."""


_DEFAULTS = TemplateLimits()
_LIMITS: contextvars.ContextVar[TemplateLimits | None] = contextvars.ContextVar("template_limits", default=None)
_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar("template_deadline", default=None)


def current() -> TemplateLimits:
    """The limits in force (the defaults outside a check)."""
    return _LIMITS.get() or _DEFAULTS


@contextlib.contextmanager
def in_force(limits: TemplateLimits) -> Iterator[None]:
    token = _LIMITS.set(limits)
    try:
        yield
    finally:
        _LIMITS.reset(token)


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """A time budget for what runs inside, checked by :func:`check_deadline`."""
    token = _DEADLINE.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def check_deadline() -> None:
    at = _DEADLINE.get()
    if at is not None and time.monotonic() > at:
        raise LimitExceeded(f"rendering took longer than {current().time_budget_s:g} s")


def refuse(what: str, unit: str, size: int | None = None) -> LimitExceeded:
    """The error for ``what`` making too many ``unit``; ``size`` when it is known exactly."""
    limit = current().max_chars
    if size is None:
        return LimitExceeded(f"{what} would make more than {limit} {unit}")
    return LimitExceeded(f"{what} would make {size} {unit}, more than {limit}")


def check_size(size: float, what: str, unit: str = "characters", *, exact: bool = True) -> None:
    if size > current().max_chars:
        raise refuse(what, unit, int(size) if exact and size != math.inf else None)


# Sizes ---------------------------------------------------------------------------------------


def text_size(value: Any, budget: int | None = None) -> int:
    """About ``len(str(value))`` (at least it, give or take a few characters per item), found
    without making the string: containers are walked without recursion, shared parts counted each
    time they appear (as ``str`` would print them), and the walk stops once past ``budget``."""
    return measure(value, current().max_chars if budget is None else budget)[0]


def measure(value: Any, budget: int) -> tuple[int, int]:
    """(:func:`text_size`, the depth of nesting seen), stopping once the size passes ``budget``."""
    total, deepest, stack = 0, 0, [(value, 0)]
    while stack and total <= budget:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if isinstance(item, str):
            total += len(item) + (2 if depth else 0)
        elif isinstance(item, (bytes, bytearray)):
            total += 4 * len(item) + 3
        elif isinstance(item, bool) or item is None:
            total += 5
        elif isinstance(item, Undefined):
            pass  # prints as "" (and a plain Undefined fails on any attribute lookup, as below)
        elif isinstance(item, int):
            total += item.bit_length() // 3 + 2
        elif isinstance(item, float):
            total += 24
        elif isinstance(item, (list, tuple, set, frozenset)):
            total += 2 + 2 * len(item)
            stack += [(child, depth + 1) for child in item]
        elif isinstance(item, Mapping):
            total += 2 + 4 * len(item)
            stack += [(child, depth + 1) for pair in item.items() for child in pair]
        elif isinstance(item, Namespace):  # jinja's namespace()
            total += 14
            stack.append((object.__getattribute__(item, "_Namespace__attrs"), depth + 1))
        else:
            total += 64  # an object's repr, `<LoopContext 1/3>`
    return total, deepest


def check_text(value: Any, what: str) -> None:
    """``value`` is about to become text: refuse it if that text would pass the limit."""
    check_size(text_size(value), what, exact=False)


def check_result(value: Any, what: str) -> None:
    """A value just made (a filter's or a call's result): refuse it past the limit."""
    if isinstance(value, (str, bytes, list, tuple, dict, set)) and len(value) > current().max_chars:
        unit = "characters" if isinstance(value, (str, bytes)) else "items"
        raise refuse(what, unit, len(value))


# Operators -----------------------------------------------------------------------------------

_SEQUENCES = (str, list, tuple)


def check_binop(operator: str, left: Any, right: Any) -> None:
    """``left <operator> right`` for the operators the sandbox intercepts: ``*``, ``**``, ``+``, ``%``."""
    if operator == "*":
        _check_product(left, right)
    elif operator == "**":
        _check_power(left, right)
    elif operator == "+":
        _check_sum(left, right)
    elif operator == "%" and isinstance(left, str):
        check_format(left, right)


def _check_product(left: Any, right: Any) -> None:
    """Refuse `'x' * 10**10` before it allocates, not after."""
    for sequence, count in ((left, right), (right, left)):
        if isinstance(sequence, _SEQUENCES) and isinstance(count, int):
            check_size(len(sequence) * count, "a repetition", "items")
    if isinstance(left, int) and isinstance(right, int):
        _check_bits(left.bit_length() + right.bit_length(), "a product")


def _check_power(base: Any, exponent: Any) -> None:
    if isinstance(base, int) and isinstance(exponent, int) and exponent > 0 and abs(base) > 1:
        _check_bits(exponent * (abs(base).bit_length() - 1), "a power")


def _check_sum(left: Any, right: Any) -> None:
    if isinstance(left, _SEQUENCES) and isinstance(right, _SEQUENCES):
        unit = "characters" if isinstance(left, str) else "items"
        check_size(len(left) + len(right), "a concatenation", unit)
    elif isinstance(left, int) and isinstance(right, int):
        _check_bits(max(left.bit_length(), right.bit_length()) + 1, "a sum")


def _check_bits(bits: int, what: str) -> None:
    limit = current().max_int_bits
    if bits > limit:
        raise LimitExceeded(f"{what} would need more than {limit} bits")


def check_texts(values: Iterable[Any], what: str, extra: int = 0) -> None:
    """Each of ``values`` is about to become text, and the texts joined (with ``extra`` more)."""
    budget, total = current().max_chars, extra
    for value in values:
        if total > budget:
            break
        total += text_size(value, budget - total)
    check_size(total, what, exact=False)


def check_concat(pieces: tuple[Any, ...]) -> None:
    """``a ~ b ~ c``: each piece becomes text."""
    check_texts(pieces, "a concatenation (`~`)")


def check_join(pieces: list[str], what: str) -> None:
    """Strings about to be joined (a block's output, a macro's result)."""
    check_size(sum(map(len, pieces)), what)


# printf-style formatting: `%[(key)][flags][width][.precision][length]type`
_PERCENT = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d*)(?:\.(\*|\d*))?[hlL]?(.)", re.DOTALL)


def check_format(template: str, args: Any) -> None:
    """``template % args``: the text of the arguments plus every field's width and precision."""
    star = max((abs(a) for a in _values(args) if isinstance(a, int)), default=0)
    size: float = len(template) + text_size(args) * (6 if isinstance(template, Markup) else 1)  # Markup escapes args
    for match in _PERCENT.finditer(template):
        size += max(_number(match[1], star), _number(match[2], star))
        if size > current().max_chars:
            break
    check_size(size, "a `%` format", exact=False)


def check_field(spec: str, value: Any) -> float:
    """The size of ``format(value, spec)`` (a ``str.format`` field), before it is made."""
    match = re.match(r"(?:.?[<>=^])?[-+ ]?z?#?0?(\d*)[,_]?(?:\.(\d*))?", spec)
    width, precision = (_number(match[1], 0), _number(match[2], 0)) if match else (0, 0)
    size = max(text_size(value), width) + precision
    check_size(size, "a `str.format` field", exact=False)
    return size


def _values(args: Any) -> list[Any]:
    if isinstance(args, tuple):
        return list(args)
    return list(args.values()) if isinstance(args, Mapping) else [args]


def _number(digits: str | None, star: int) -> float:
    if digits == "*":
        return star
    if not digits:
        return 0
    # More digits than any limit: `int()` of thousands of digits is slow, and refused anyway.
    return int(digits) if len(digits) <= 18 else math.inf


# Filters, methods and globals whose result size depends on an argument -----------------------


def check_call(func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    """Before a call from a template: str and bytes methods that grow their text, list and dict
    methods that grow them in place, ``int.to_bytes`` and ``lipsum``. Returns the arguments to call
    with (an iterable to join or add, made a list to count it)."""
    owner, name = getattr(func, "__self__", None), getattr(func, "__name__", "")
    what = f"`{name}`"
    if isinstance(owner, (list, dict)):
        return _check_growth(owner, name, args, kwargs, what)
    if isinstance(owner, (str, bytes)):
        if name in ("ljust", "rjust", "center", "zfill"):
            width = _arg(args, kwargs, 0, "width", 0)
            check_size(max(len(owner), width if isinstance(width, int) else 0), what)
        elif name == "expandtabs":
            tabsize = _arg(args, kwargs, 0, "tabsize", 8)
            tabs = owner.count("\t") if isinstance(owner, str) else owner.count(b"\t")
            check_size(len(owner) + tabs * max(tabsize if isinstance(tabsize, int) else 0, 0), what)
        elif name == "replace":
            _check_replace(owner, _arg(args, kwargs, 0, "old", ""), _arg(args, kwargs, 1, "new", ""),
                           _arg(args, kwargs, 2, "count", -1), what)
        elif name == "translate" and isinstance(table := _arg(args, kwargs, 0, "table", None), Mapping):
            longest = max((text_size(v) for v in table.values()), default=1)
            check_size(len(owner) * max(longest, 1), what, exact=False)
        elif name == "join" and args:
            items = list(args[0])  # a generator would be used up by counting it
            check_texts(items, what, len(owner) * len(items))
            return (items, *args[1:])
    elif isinstance(owner, int) and name == "to_bytes":
        length = _arg(args, kwargs, 0, "length", 1)
        check_size(length if isinstance(length, int) else 0, what, "bytes")
    elif getattr(func, "__module__", "") == "jinja2.utils" and name == "generate_lorem_ipsum":
        count, longest = _arg(args, kwargs, 0, "n", 5), _arg(args, kwargs, 3, "max", 100)
        if isinstance(count, int) and isinstance(longest, int):
            check_size(max(count, 0) * max(longest, 0) * 12, "`lipsum`", exact=False)
    return args


# What Jinja's generated code adds to a call's keywords, for its own use (jinja2.runtime.Context.call drops them).
_JINJA_CALL_KEYWORDS = frozenset({"_loop_vars", "_block_vars"})


def _check_growth(owner: list[Any] | dict[Any, Any], name: str, args: tuple[Any, ...], kwargs: dict[str, Any],
                  what: str) -> tuple[Any, ...]:
    """``list.append/insert/extend`` and ``dict.setdefault/update``: the size after, before it is reached."""
    if name in ("append", "insert", "setdefault"):
        check_size(len(owner) + 1, what, "items")
    elif name in ("extend", "update"):
        keywords = len(kwargs.keys() - _JINJA_CALL_KEYWORDS)
        added, exact = (args[0] if args else ()), True
        if not isinstance(added, Sized) and isinstance(added, Iterable):
            # A generator would be used up by counting it, and may not end: take one item past the limit at most.
            room = max(current().max_chars - len(owner) - keywords + 1, 0)
            added = list(itertools.islice(added, room))
            exact = len(added) < room
            args = (added, *args[1:])
        size = len(owner) + keywords + (len(added) if isinstance(added, Sized) else 0)
        check_size(size, what, "items", exact=exact)
    return args


def _check_replace(text: str | bytes, old: Any, new: Any, count: Any, what: str) -> None:
    if isinstance(text, str) and isinstance(old, str) and isinstance(new, str):
        found = text.count(old) if old else len(text) + 1
    elif isinstance(text, bytes) and isinstance(old, bytes) and isinstance(new, bytes):
        found = len(text) + 1 if not old else text.count(old)  # apart from the str branch for the types' sake
    else:
        return  # the call fails with a TypeError
    if isinstance(count, int) and count >= 0:
        found = min(found, count)
    check_size(len(text) + found * max(0, len(new) - len(old)), what)


def _arg(args: tuple[Any, ...], kwargs: Mapping[str, Any], index: int, name: str, default: Any) -> Any:
    return args[index] if len(args) > index else kwargs.get(name, default)
