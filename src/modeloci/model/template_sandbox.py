"""The sandboxed Jinja2 environment chat templates are rendered in, as Hugging Face renders them.

:func:`hf_environment` renders the way ``transformers`` does (``trim_blocks``,
``lstrip_blocks``, ``loopcontrols``, ``{% generation %}``, ``raise_exception``,
``strftime_now`` and a ``tojson`` that keeps non-ASCII), with deliberate
differences:

- undefined values are lenient (:class:`jinja2.ChainableUndefined`), because
  a real runtime passes variables we cannot know about;
- during a trial render (:func:`trial_inputs`), lists and dicts the template
  made itself may be changed in place (``ns.ids.append(x)``, ``d.update(e)``,
  ``l.pop(0)``), as llama.cpp's engine allows; the conversation it was given,
  and anything outside a trial render, stay immutable, and each change is
  size-checked before it is made;
- an unsafe attribute raises at once instead of becoming an undefined value
  that would print as "";
- everything a template makes is bounded before it is made
  (:mod:`.template_limits`): the operators ``*``, ``**``, ``+`` and ``%``,
  ``~`` concatenation, every filter (:mod:`.template_filters`), string
  methods, ``str.format`` fields, block and macro output and every value
  output; and the time budget is checked at every call;
- nothing is folded into a constant at compile time (``optimized=False``):
  folding ran filters and operators while compiling, outside those checks.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import json
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any

import jinja2
import jinja2.ext
from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError, TemplateError
from jinja2.sandbox import (
    ImmutableSandboxedEnvironment,
    SandboxedEnvironment,
    SandboxedFormatter,
)
from markupsafe import EscapeFormatter, Markup

from modeloci.model import template_filters
from modeloci.model import template_limits as limits


class TemplateRaised(TemplateError):
    """What ``raise_exception(message)`` raises from inside a template."""


# The in-place changes a template may make to a list or dict it made (exact types only: no subclass,
# no set or deque, which no runtime's engine has). llama.cpp's engine allows `append` and `pop`;
# the others are as harmless, and are size-checked in template_limits.check_call.
_TEMPLATE_MUTATIONS: dict[type, frozenset[str]] = {
    list: frozenset({"append", "extend", "insert", "pop", "remove", "clear"}),
    dict: frozenset({"update", "setdefault", "pop", "popitem", "clear"}),
}
# The ids of the lists and dicts a trial render was given (and the variables, holding them alive so no id
# is reused); None outside a trial render, where nothing may be changed.
_INPUTS: contextvars.ContextVar[tuple[frozenset[int], object] | None] = contextvars.ContextVar(
    "template_inputs", default=None)


@contextlib.contextmanager
def trial_inputs(variables: Mapping[str, object]) -> Iterator[None]:
    """While rendering with ``variables``: lists and dicts that are not part of them may be changed."""
    ids: set[int] = set()
    stack: list[object] = list(variables.values())
    while stack:  # the trial conversations are small and made by us: no bound needed
        item = stack.pop()
        if isinstance(item, (list, dict)) and id(item) not in ids:
            ids.add(id(item))
            stack += item.values() if isinstance(item, dict) else item
    token = _INPUTS.set((frozenset(ids), variables))
    try:
        yield
    finally:
        _INPUTS.reset(token)


def _made_by_template(obj: object) -> bool:
    inputs = _INPUTS.get()
    return inputs is not None and id(obj) not in inputs[0]


class _GenerationExtension(jinja2.ext.Extension):
    """``{% generation %}...{% endgeneration %}``: transformers uses it to mask assistant
    tokens for training; rendering only needs its body. The body gets its own scope,
    as inside transformers' call block, so a ``set`` in it does not leak out."""

    tags = {"generation"}  # noqa: RUF012 - Jinja's Extension API

    def parse(self, parser: Any) -> nodes.Node:
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
        return nodes.Scope(body, lineno=lineno)


class _OutputBuffer(list[str]):
    """Where a block, a macro or a `{% filter %}` collects its output: its size and the time
    budget are checked at each piece, not only when it is joined, however long its loop runs."""

    def __init__(self) -> None:
        super().__init__()
        self.size = 0

    def append(self, piece: str) -> None:
        self._grow(len(piece))
        super().append(piece)

    def extend(self, pieces: Iterable[str]) -> None:
        pieces = tuple(pieces)
        self._grow(sum(map(len, pieces)))
        super().extend(pieces)

    def _grow(self, size: int) -> None:
        limits.check_deadline()
        self.size += size
        limits.check_size(self.size, "a block's output")


class _BoundedCodeGenerator(CodeGenerator):
    """Jinja's code generator, with ``a ~ b`` joined, and block output collected, through the
    environment, which checks the sizes."""

    def buffer(self, frame: Frame) -> None:
        frame.buffer = self.temporary_identifier()
        self.writeline(f"{frame.buffer} = environment.output_buffer()")

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        if frame.eval_ctx.volatile:
            join = "(markup_join if context.eval_ctx.volatile else str_join)"
        else:
            join = "markup_join" if frame.eval_ctx.autoescape else "str_join"
        self.write(f"environment.bounded_concat({join}, (")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class _BoundedFormatter(SandboxedFormatter):
    """``str.format`` in the sandbox, with each field's size checked before it is formatted."""

    def __init__(self, env: jinja2.Environment, **kwargs: Any) -> None:
        super().__init__(env, **kwargs)
        self._made = 0

    def format_field(self, value: Any, format_spec: str) -> Any:
        self._made += int(min(limits.check_field(format_spec, value), limits.current().max_chars + 1))
        limits.check_size(self._made, "a `str.format`", exact=False)
        return super().format_field(value, format_spec)


class _BoundedEscapeFormatter(_BoundedFormatter, EscapeFormatter):
    pass


class _ChatTemplateSandbox(ImmutableSandboxedEnvironment):
    """The transformers sandbox, plus limits a trial render can enforce mid-expression."""

    code_generator_class = _BoundedCodeGenerator
    # Intercepted operators go through call_binop; the rest cannot grow a value past what
    # their operands hold (comparisons, `/`, `//`, unary minus).
    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if attr in _TEMPLATE_MUTATIONS.get(type(obj), ()) and _made_by_template(obj):
            return SandboxedEnvironment.is_safe_attribute(self, obj, attr, value)  # skip only the immutability rule
        return super().is_safe_attribute(obj, attr, value)

    def unsafe_undefined(self, obj: Any, attribute: str) -> jinja2.Undefined:
        # The base class returns an undefined value that fails only when used;
        # a ChainableUndefined would then print `{{ x.__class__ }}` as "" and hide
        # the escape attempt. Refuse it where it happens.
        raise SecurityError(f"access to attribute {attribute!r} of {type(obj).__name__!r} object is unsafe")

    def call(self, context: Any, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        # Every call in a template passes here (macros, range, methods, globals):
        # this reaches loops that produce no output, which the between-chunks
        # check of a trial render never sees.
        limits.check_deadline()
        args = limits.check_call(obj, args, kwargs)
        result = super().call(context, obj, *args, **kwargs)
        limits.check_result(result, f"`{getattr(obj, '__name__', 'a call')}`")
        return result

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        limits.check_binop(operator, left, right)
        return super().call_binop(context, operator, left, right)

    def wrap_str_format(self, value: Any) -> Any:
        # The base class builds its own formatter; this one checks each field first.
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        text: str = value.__self__
        formatter = (_BoundedEscapeFormatter(self, escape=text.escape) if isinstance(text, Markup)
                     else _BoundedFormatter(self))
        is_format_map = value.__name__ == "format_map"

        @functools.wraps(value)
        def bounded(*args: Any, **kwargs: Any) -> str:
            if is_format_map:
                if kwargs or len(args) != 1:
                    raise TypeError("format_map() takes exactly one positional argument")
                return type(text)(formatter.vformat(text, (), args[0]))
            return type(text)(formatter.vformat(text, args, kwargs))

        return bounded

    @staticmethod
    def output_buffer() -> list[str]:
        return _OutputBuffer()

    @staticmethod
    def bounded_concat(join: Any, pieces: tuple[Any, ...]) -> str:
        limits.check_concat(pieces)
        result: str = join(pieces)
        return result

    @staticmethod
    def concat(pieces: Iterable[str]) -> str:
        # What a `{% set %}` block, a macro, a `{% filter %}` block and render() join their output with.
        parts = list(pieces)
        limits.check_join(parts, "a block's output")
        return "".join(parts)


def _finalize(value: Any) -> Any:
    """Every `{{ value }}` passes here before it becomes text."""
    limits.check_text(value, "an output value")
    return value


def _raise_exception(message: Any) -> None:
    raise TemplateRaised(str(message))


def _strftime_now(format: str) -> str:
    return datetime.now().strftime(format)


def _tojson(value: Any, ensure_ascii: bool = False, indent: int | str | None = None,
            separators: tuple[str, str] | None = None, sort_keys: bool = False) -> str:  # fmt: skip
    # Same signature and output as transformers' filter: Jinja's own tojson
    # escapes HTML characters and non-ASCII, which would change the prompt.
    return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


@functools.cache
def hf_environment() -> jinja2.Environment:
    """The shared HF-compatible sandbox (built once; callers must not modify it)."""
    env = _ChatTemplateSandbox(
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=[jinja2.ext.loopcontrols, _GenerationExtension],
        undefined=jinja2.ChainableUndefined,
        finalize=_finalize,
        optimized=False,
    )
    env.filters["tojson"] = _tojson
    env.filters = template_filters.bounded(env.filters)
    env.globals["raise_exception"] = _raise_exception
    env.globals["strftime_now"] = _strftime_now
    return env

