"""Build-time checks for Jinja chat templates, in the Hugging Face rendering environment.

This module owns three things:

- :func:`hf_environment`, a sandboxed Jinja2 environment that renders chat
  templates the way ``transformers`` does (``trim_blocks``, ``lstrip_blocks``,
  ``loopcontrols``, ``{% generation %}``, ``raise_exception``, ``strftime_now``
  and a ``tojson`` that keeps non-ASCII), with two deliberate differences:
  undefined values are lenient (:class:`jinja2.ChainableUndefined`), because a
  real runtime passes variables we cannot know about, and an unsafe attribute
  raises at once instead of becoming an undefined value that would print as "";
- :data:`TRIAL_CONVERSATIONS`, the few standard conversations a template is
  tried on;
- :func:`check_chat_template`, which compiles a template, trial-renders it
  within output-size and time limits, and returns :class:`TemplateProblem`
  values. No jinja2 exception leaves this module through it.
"""

from __future__ import annotations

import contextvars
import copy
import functools
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import jinja2
import jinja2.ext
from jinja2 import nodes
from jinja2.exceptions import SecurityError, TemplateError, TemplateSyntaxError
from jinja2.sandbox import ImmutableSandboxedEnvironment

__all__ = [
    "MAX_INT_BITS", "MAX_OUTPUT_CHARS", "RENDER_TIME_BUDGET_S", "TRIAL_CONVERSATIONS", "TemplateProblem",
    "TemplateRaised", "TrialConversation", "check_chat_template", "hf_environment",
]  # fmt: skip

# Limits of one trial render. Module constants, read at call time, so tests can
# monkeypatch them.
MAX_OUTPUT_CHARS = 1 << 20  # 1 Mi characters; real chat prompts are a few KiB
RENDER_TIME_BUDGET_S = 2.0  # wall time per conversation; corpus templates take milliseconds
MAX_INT_BITS = 1 << 16  # `2 ** 10**9` would otherwise compute for minutes inside one expression

_MAX_MESSAGE_CHARS = 500

ProblemKind = Literal["syntax", "render", "raised", "limit"]


@dataclass(frozen=True, slots=True)
class TemplateProblem:
    """One thing wrong with a chat template, as data; the compiler turns it into a diagnostic."""

    kind: ProblemKind
    message: str  # one line, no trailing period
    line: int | None  # 1-based template line: syntax, and render/raised when Jinja knows it
    conversation: str | None  # the TrialConversation name, for render/raised/limit

    @property
    def is_error(self) -> bool:
        # A template calling raise_exception is refusing an input on purpose
        # (Gemma refuses system messages): worth a warning, never a failed build.
        return self.kind != "raised"


class TemplateRaised(TemplateError):
    """What ``raise_exception(message)`` raises from inside a template."""


class _LimitExceeded(Exception):
    """A trial render passed a size or time limit; never escapes this module."""


# -- the environment ---------------------------------------------------------

# The deadline of the render in progress in this thread or task (None outside a
# trial render), read by the environment's hooks.
_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar("template_deadline", default=None)


def _check_deadline() -> None:
    deadline = _DEADLINE.get()
    if deadline is not None and time.monotonic() > deadline:
        raise _LimitExceeded(f"rendering took longer than {RENDER_TIME_BUDGET_S:g} s")


class _GenerationExtension(jinja2.ext.Extension):
    """``{% generation %}...{% endgeneration %}``: transformers uses it to mask assistant
    tokens for training; rendering only needs its body. The body gets its own scope,
    as inside transformers' call block, so a ``set`` in it does not leak out."""

    tags = {"generation"}

    def parse(self, parser: Any) -> nodes.Node:
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
        return nodes.Scope(body, lineno=lineno)


class _ChatTemplateSandbox(ImmutableSandboxedEnvironment):
    """The transformers sandbox, plus limits a trial render can enforce mid-expression."""

    # Intercepting these also stops Jinja from constant-folding them at compile time.
    intercepted_binops = frozenset({"*", "**"})

    def unsafe_undefined(self, obj: Any, attribute: str) -> jinja2.Undefined:
        # The base class returns an undefined value that fails only when used;
        # a ChainableUndefined would then print `{{ x.__class__ }}` as "" and hide
        # the escape attempt. Refuse it where it happens.
        raise SecurityError(f"access to attribute {attribute!r} of {type(obj).__name__!r} object is unsafe")

    def call(self, context: Any, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        # Every call in a template passes here (macros, range, methods, globals):
        # this reaches loops that produce no output, which the between-chunks
        # check in _drain never sees.
        _check_deadline()
        return super().call(context, obj, *args, **kwargs)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            _check_product(left, right)
        else:
            _check_power(left, right)
        return super().call_binop(context, operator, left, right)


def _check_product(left: Any, right: Any) -> None:
    """Refuse `'x' * 10**10` before it allocates, not after."""
    for sequence, count in ((left, right), (right, left)):
        if isinstance(sequence, (str, list, tuple)) and isinstance(count, int):
            if len(sequence) * count > MAX_OUTPUT_CHARS:
                raise _LimitExceeded(f"a repetition would make {len(sequence) * count} items, more than {MAX_OUTPUT_CHARS}")
    if isinstance(left, int) and isinstance(right, int):
        if left.bit_length() + right.bit_length() > MAX_INT_BITS:
            raise _LimitExceeded(f"a product would need more than {MAX_INT_BITS} bits")


def _check_power(base: Any, exponent: Any) -> None:
    if isinstance(base, int) and isinstance(exponent, int) and exponent > 0 and abs(base) > 1:
        if exponent * (abs(base).bit_length() - 1) > MAX_INT_BITS:
            raise _LimitExceeded(f"a power would need more than {MAX_INT_BITS} bits")


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
    )
    env.filters["tojson"] = _tojson
    env.globals["raise_exception"] = _raise_exception
    env.globals["strftime_now"] = _strftime_now
    return env


# -- the trial conversations -------------------------------------------------

# Placeholders for what every runtime passes besides the conversation
# (transformers passes all the tokenizer's special tokens; llama.cpp these two).
_RUNTIME_VARIABLES: dict[str, Any] = {"bos_token": "<s>", "eos_token": "</s>"}

_WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_current_weather",
        "description": "Get the current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "The city, e.g. Paris"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"], "description": "The temperature unit"},
            },
            "required": ["city"],
        },
    },
}

# Mistral's templates require tool call ids of exactly 9 alphanumeric characters.
_CALL_ID = "call12345"
# An assistant turn that only calls a tool has content "" rather than None or
# no key: several templates (Granite, Phi-3.5, gpt-oss) concatenate or search
# the content unguarded, and transformers' examples pass a string.
_WEATHER_CALL = {"name": "get_current_weather", "arguments": {"city": "Paris", "unit": "celsius"}}
_TOOL_CALL_TURN = {
    "role": "assistant",
    "content": "",
    "tool_calls": [{"id": _CALL_ID, "type": "function", "function": _WEATHER_CALL}],
}
_TOOL_RESULT_TURN = {
    "role": "tool",
    "tool_call_id": _CALL_ID,
    "name": "get_current_weather",
    "content": '{"temperature": 22, "unit": "celsius"}',
}


@dataclass(frozen=True, slots=True)
class TrialConversation:
    """A standard conversation a template is rendered with; ``name`` completes "fails ..."."""

    name: str
    messages: tuple[dict[str, Any], ...]
    tools: tuple[dict[str, Any], ...] | None = None
    add_generation_prompt: bool = True

    def variables(self) -> dict[str, Any]:
        """Fresh copies of everything the template sees, so no render can affect the next."""
        variables = {**_RUNTIME_VARIABLES, "messages": list(self.messages)}
        variables["add_generation_prompt"] = self.add_generation_prompt
        # Without tools, `tools` stays undefined rather than None: llama.cpp (what
        # Docker Model Runner runs) sets it only when there are tools, and
        # transformers picks a model's "tool_use" template only when tools are
        # given. Hermes 3's tool_use template loops over `tools` unguarded, so
        # None would report an error no runtime produces.
        if self.tools is not None:
            variables["tools"] = list(self.tools)
        return copy.deepcopy(variables)


_CHAT = (
    {"role": "user", "content": "What is the capital of France?"},
    {"role": "assistant", "content": "The capital of France is Paris."},
    {"role": "user", "content": "And of Italy?"},
)

TRIAL_CONVERSATIONS: tuple[TrialConversation, ...] = (
    TrialConversation("with a system message", ({"role": "system", "content": "You are a helpful assistant."}, *_CHAT)),
    TrialConversation("without a system message", _CHAT),
    TrialConversation(
        "with tools",
        ({"role": "user", "content": "What is the weather in Paris?"}, _TOOL_CALL_TURN, _TOOL_RESULT_TURN),
        tools=(_WEATHER_TOOL,),
    ),
)


# -- the check ---------------------------------------------------------------


def check_chat_template(text: str) -> list[TemplateProblem]:
    """Compile ``text`` and trial-render it; problems come syntax first, then by conversation."""
    try:
        template = hf_environment().from_string(text)
    except TemplateSyntaxError as exc:
        return [_syntax_problem(text, exc)]
    except Exception as exc:  # noqa: BLE001 - Python itself refusing the generated code
        return [TemplateProblem("syntax", f"cannot compile the template: {_describe(exc)}", None, None)]
    problems: list[TemplateProblem] = []
    for conversation in TRIAL_CONVERSATIONS:
        problem = _trial_render(template, conversation)
        if problem is not None:
            problems.append(problem)
            if problem.kind == "limit":
                break  # a runaway template would likely run away again: one budget is enough
    return problems


def _trial_render(template: jinja2.Template, conversation: TrialConversation) -> TemplateProblem | None:
    chunks = template.generate(conversation.variables())
    deadline = _DEADLINE.set(time.monotonic() + RENDER_TIME_BUDGET_S)
    try:
        _drain(chunks)
    except _LimitExceeded as exc:
        return TemplateProblem("limit", str(exc), None, conversation.name)
    except TemplateRaised as exc:
        return TemplateProblem("raised", _one_line(exc.message or ""), _template_line(exc), conversation.name)
    except Exception as exc:  # noqa: BLE001 - any failure of the template is a finding
        return TemplateProblem("render", _describe(exc), _template_line(exc), conversation.name)
    finally:
        chunks.close()
        _DEADLINE.reset(deadline)
    return None


def _drain(chunks: Iterator[str]) -> None:
    """Consume a streaming render, stopping at the size limit or the deadline.

    The deadline is checked between chunks here and at every call in the
    template (``_ChatTemplateSandbox.call``). Neither can interrupt work that
    never yields and calls nothing: a single slow expression, a filter over a
    huge value, or nested loops with no output and no call over an iterable
    made earlier. Such a render finishes (or fails) before it is noticed.
    """
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > MAX_OUTPUT_CHARS:
            raise _LimitExceeded(f"output passed {MAX_OUTPUT_CHARS} characters")
        _check_deadline()


# -- messages ----------------------------------------------------------------

_UNKNOWN_TAG = re.compile(r"Encountered unknown tag '(?P<tag>[^']+)'")
_EXPECTED_TAGS = re.compile(r"(?:currently looking for|looking for the following tags:) (?P<tags>.+?)\.(?: |$)")
_INNERMOST_BLOCK = re.compile(r"The innermost block that needs to be closed is '(?P<block>\w+)'")
# Tags that open a block closed by "end<tag>" (set only without "=").
_BLOCK_TAGS = frozenset({"for", "if", "macro", "call", "filter", "set", "block", "with", "autoescape", "generation"})


def _syntax_problem(text: str, exc: TemplateSyntaxError) -> TemplateProblem:
    """Jinja's multi-sentence block messages, shortened; other messages kept, on one line."""
    raw = " ".join((exc.message or str(exc)).split())
    expected = _EXPECTED_TAGS.search(raw)
    suffix = f", expected {expected['tags']}" if expected else ""
    line = exc.lineno
    if raw.startswith("Unexpected end of template"):
        message = "unexpected end of template" + suffix
        if innermost := _INNERMOST_BLOCK.search(raw):
            # Jinja reports the last line; the useful place is the unclosed opening tag.
            message = f"unclosed '{innermost['block']}' block: {message}"
            line = _unclosed_block_line(text, innermost["block"]) or line
    elif unknown := _UNKNOWN_TAG.match(raw):
        adjective = "unexpected" if "nesting mistake" in raw else "unknown"
        message = f"{adjective} tag '{unknown['tag']}'{suffix}"
    else:
        message = _one_line(raw)
    return TemplateProblem("syntax", message, line, None)


def _unclosed_block_line(text: str, block: str) -> int | None:
    """The line of the innermost still-open ``block`` tag, found by lexing ``text`` again."""
    open_blocks: list[tuple[str, int]] = []
    statement: list[tuple[int, str, str]] | None = None
    try:
        for lineno, kind, value in hf_environment().lex(text):
            if kind == "block_begin":
                statement = []
            elif kind == "block_end":
                if statement:
                    _track_block(open_blocks, statement)
                statement = None
            elif statement is not None and kind != "whitespace":
                statement.append((lineno, kind, value))
    except TemplateSyntaxError:
        return None
    return next((line for tag, line in reversed(open_blocks) if tag == block), None)


def _track_block(open_blocks: list[tuple[str, int]], statement: list[tuple[int, str, str]]) -> None:
    lineno, kind, tag = statement[0]
    if kind != "name":
        return
    if tag.startswith("end") and open_blocks and open_blocks[-1][0] == tag[3:]:
        open_blocks.pop()
    elif tag in _BLOCK_TAGS and not (tag == "set" and any(value == "=" for _, _, value in statement)):
        open_blocks.append((tag, lineno))


def _describe(exc: BaseException) -> str:
    detail = exc.msg if isinstance(exc, SyntaxError) else str(exc)
    detail = _one_line(detail)
    return f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__


def _one_line(text: str) -> str:
    """Whitespace collapsed, one trailing period dropped (an ellipsis kept), length capped."""
    line = " ".join(text.split())
    if line.endswith(".") and not line.endswith(".."):
        line = line[:-1]
    if len(line) > _MAX_MESSAGE_CHARS:
        line = line[: _MAX_MESSAGE_CHARS - 1].rstrip() + "…"
    return line


def _template_line(exc: BaseException) -> int | None:
    """The template line of the innermost template frame, from Jinja's rewritten traceback."""
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line
