"""Build-time checks for Jinja chat templates, judged by the runtimes' rules.

This module owns :func:`check_chat_template`, which compiles a template and
trial-renders it within limits on the standard conversations
(:mod:`.template_trials`), and returns :class:`TemplateProblem` values. No
jinja2 exception leaves this module through it.

A conversation passes when the template renders it under any of the ways
runtimes call templates (:data:`.template_trials.CONVENTIONS`); when it fails
under all of them, the first convention's failure is reported. A failure is an
error only for the plain user/assistant conversation (or a syntax error, or a
limit passed); a failure in an optional conversation (a system message,
tools) is a warning naming it.

The check runs in a forked worker process (:mod:`.template_worker`) that is
killed when compiling or rendering one conversation (under all conventions)
overruns the time budget, and whose address space is capped; inside it, the
sandbox (:mod:`.template_sandbox`) refuses any string, list or number past the
size limits before making it (:mod:`.template_limits`). The limits are the
module constants below, read at each call (tests lower them), or a
:class:`TemplateLimits` given to the call.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

import jinja2
from jinja2.exceptions import TemplateSyntaxError

from modeloci.model import template_limits, template_worker
from modeloci.model.template_limits import LimitExceeded, TemplateLimits
from modeloci.model.template_sandbox import TemplateRaised, hf_environment, trial_inputs
from modeloci.model.template_trials import (
    OPTIONAL_CONVERSATIONS,
    TRIAL_CONVERSATIONS,
    TrialConversation,
    conventions_for,
)

__all__ = [
    "MAX_INT_BITS", "MAX_OUTPUT_CHARS", "MAX_WORKER_MEMORY_BYTES", "RENDER_TIME_BUDGET_S", "TRIAL_CONVERSATIONS",
    "TemplateLimits", "TemplateProblem", "TemplateRaised", "TrialConversation", "check_chat_template",
    "hf_environment",
]  # fmt: skip

# The limits of a check (TemplateLimits' defaults say why each is what it is), read at call time so tests can
# monkeypatch them.
_DEFAULT_LIMITS = TemplateLimits()
MAX_OUTPUT_CHARS = _DEFAULT_LIMITS.max_chars
RENDER_TIME_BUDGET_S = _DEFAULT_LIMITS.time_budget_s
MAX_INT_BITS = _DEFAULT_LIMITS.max_int_bits
MAX_WORKER_MEMORY_BYTES = _DEFAULT_LIMITS.memory_bytes

_MAX_MESSAGE_CHARS = 500
_COMPILING = "compiling"

ProblemKind = Literal["syntax", "render", "raised", "limit"]


@dataclass(frozen=True, slots=True)
class TemplateProblem:
    """One thing wrong with a chat template, as data; the compiler turns it into a diagnostic."""

    kind: ProblemKind
    message: str  # one line, no trailing period
    line: int | None  # 1-based template line: syntax, and render/raised when Jinja knows it
    conversation: str | None  # the TrialConversation name, for render/raised/limit; None while compiling

    @property
    def is_error(self) -> bool:
        """The template failed, rather than refused an input on purpose with raise_exception (Gemma
        refuses system messages)."""
        return self.kind != "raised"

    @property
    def severity(self) -> str:
        """As a finding (:mod:`modeloci.findings`): an error when it fails a build, else a warning."""
        return "error" if self.fails_build else "warning"

    @property
    def where(self) -> str | None:
        """As a finding: the template line, and the conversation that failed, when known."""
        parts = ([f"line {self.line}"] if self.line else []) + ([self.conversation] if self.conversation else [])
        return ", ".join(parts) or None

    @property
    def fails_build(self) -> bool:
        """The runtimes' rule: a syntax error or a limit passed fails a build, and so does a template that
        cannot render the plain user/assistant conversation. A template failing or refusing an optional
        conversation (a system message, tools) is a warning naming it: many models support neither."""
        return self.kind in ("syntax", "limit") or self.conversation not in OPTIONAL_CONVERSATIONS


# -- the check ---------------------------------------------------------------


def check_chat_template(text: str, *, limits: TemplateLimits | None = None) -> list[TemplateProblem]:
    """Compile ``text`` and trial-render it; problems come syntax first, then by conversation."""
    bounds = limits or TemplateLimits(MAX_OUTPUT_CHARS, MAX_INT_BITS, RENDER_TIME_BUDGET_S, MAX_WORKER_MEMORY_BYTES)
    if not template_worker.can_fork():  # no fork (Windows): the size checks hold, the time budget only at calls
        messages: list[dict[str, Any]] = []
        _check(text, bounds, messages.append)
        return [_problem(m["problem"]) for m in messages if "problem" in m]
    outcome = template_worker.run_in_worker(lambda send: _check(text, bounds, send),
                                            stage_budget_s=bounds.time_budget_s, memory_bytes=bounds.memory_bytes)
    problems = [_problem(m["problem"]) for m in outcome.messages if "problem" in m]
    if any(m.get("done") for m in outcome.messages) or (problems and problems[-1].kind == "limit"):
        return problems  # finished, or stopped at a limit it found itself just before it was killed
    if outcome.timed_out or outcome.failure:
        stage = None if outcome.stage in (None, _COMPILING) else outcome.stage
        doing = "compiling" if stage is None else "rendering"
        message = f"{doing} took longer than {bounds.time_budget_s:g} s" if outcome.timed_out else str(outcome.failure)
        problems.append(TemplateProblem("limit", message, None, stage))
    return problems


def _check(text: str, bounds: TemplateLimits, send: template_worker.Send) -> None:
    """The whole check, reporting stages and problems through ``send`` (in the worker)."""
    with template_limits.in_force(bounds):
        send({"stage": _COMPILING})
        template = _compile(text, bounds, send)
        if template is None:
            return
        for conversation in TRIAL_CONVERSATIONS:
            send({"stage": conversation.name})
            problem = _trial_render(template, conversation, bounds)
            if problem is not None:
                send({"problem": [problem.kind, problem.message, problem.line, problem.conversation]})
                if problem.kind == "limit":
                    break  # one budget spent on a runaway template is enough


def _compile(text: str, bounds: TemplateLimits, send: template_worker.Send) -> jinja2.Template | None:
    try:
        return hf_environment().from_string(text)
    except TemplateSyntaxError as exc:
        problem = _syntax_problem(text, exc)
    except MemoryError:
        problem = TemplateProblem("limit", _out_of_memory(bounds), None, None)
    except Exception as exc:
        problem = TemplateProblem("syntax", f"cannot compile the template: {_describe(exc)}", None, None)
    send({"problem": [problem.kind, problem.message, problem.line, problem.conversation]})
    return None


def _problem(fields: list[Any]) -> TemplateProblem:
    kind, message, line, conversation = fields
    return TemplateProblem(kind, message, line, conversation)


def _trial_render(
    template: jinja2.Template, conversation: TrialConversation, bounds: TemplateLimits
) -> TemplateProblem | None:
    """``conversation`` rendered under each convention in turn, within one time budget: None once one
    renders it, else the first convention's failure. A limit ends the trial at once."""
    first: TemplateProblem | None = None
    with template_limits.deadline(bounds.time_budget_s):
        for convention in conventions_for(conversation):
            problem = _render_once(template, convention.variables(conversation), conversation.name, bounds)
            if problem is None:
                return None
            if problem.kind == "limit":
                return problem  # a runaway template would likely run away again: one budget is enough
            first = first or problem
    return first


def _render_once(template: jinja2.Template, variables: dict[str, Any], name: str,
                 bounds: TemplateLimits) -> TemplateProblem | None:
    chunks = template.generate(variables)
    with trial_inputs(variables):  # what the template may not change: the conversation it was given
        try:
            _drain(chunks, bounds)
        except LimitExceeded as exc:
            return TemplateProblem("limit", str(exc), None, name)
        except MemoryError:
            return TemplateProblem("limit", _out_of_memory(bounds), None, name)
        except TemplateRaised as exc:
            return TemplateProblem("raised", _one_line(exc.message or ""), _template_line(exc), name)
        except Exception as exc:
            return TemplateProblem("render", _describe(exc), _template_line(exc), name)
        finally:
            getattr(chunks, "close", lambda: None)()  # a generator: runs the template's finally blocks now
    return None


def _drain(chunks: Any, bounds: TemplateLimits) -> None:
    """Consume a streaming render, stopping at the size limit or the deadline.

    The deadline is checked between chunks here and at every call in the
    template (``_ChatTemplateSandbox.call``). Work that never yields and calls
    nothing (nested loops over a range made earlier, one slow expression) is
    stopped from outside: the worker running the check is killed.
    """
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > bounds.max_chars:
            raise LimitExceeded(f"output passed {bounds.max_chars} characters")
        template_limits.check_deadline()


def _out_of_memory(bounds: TemplateLimits) -> str:
    return f"the check ran out of memory (its worker may use {bounds.memory_bytes >> 20} MiB more)"


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
