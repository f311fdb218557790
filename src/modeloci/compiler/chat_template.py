"""Checking the chat templates a build ships, where runtimes find them, by the runtimes' rules.

The templates checked are ``CHAT_TEMPLATE``'s file; or, without it, those of
each ``WEIGHTS`` folder, in transformers' order of precedence: its ``*.jinja``
files, else ``chat_template.json``, else the ``chat_template`` key of
``tokenizer_config.json`` (a template that another one shadows is never
rendered, so it is not judged). A template kept in JSON is read out of it, and
its diagnostics point into the JSON file.

Each template is checked by :func:`modeloci.model.templates.check_chat_template`;
what it finds becomes MF066 (syntax, pointing into the file), MF067 (the plain
conversation fails, or a limit is passed: the build fails) or MF101 (an
optional conversation, with a system message or with tools, is refused or
fails: a warning naming it). A file too large to be a template is MF073, one
that is not UTF-8 MF068.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from modeloci.compiler.state import Planned, State
from modeloci.diagnostics import Span, span_of
from modeloci.formats import docker_meta as meta
from modeloci.model.template_json import (
    TemplateJSONError,
    source_offset,
    templates_in_json,
)
from modeloci.model.template_trials import WITH_TOOLS
from modeloci.modelfile import codes

MAX_TEMPLATE_BYTES = 1 << 20  # MF073; the largest real chat templates are a few dozen KB
# A tokenizer_config.json holding a template may be larger (its added tokens: Gemma 3's is 1.2 MB); past this
# the template is not checked, with a note (runtimes read such files; a build should not fail on one).
MAX_JSON_HOLDER_BYTES = 16 << 20
_TOKENIZER_CONFIG = "tokenizer_config.json"


@dataclass(frozen=True, slots=True)
class _Template:
    """One template to check: the file it is in, its name in summaries, its text, and where a template
    line is in the file (for MF066)."""

    planned: Planned
    name: str
    text: str
    file_display: str  # the file as diagnostics pointing into it name it
    file_text: str
    locate: Callable[[int], Span]  # template line -> its span in file_text
    part: str | None = None  # for a template kept in JSON: "the template", "the `tool_use` template"
    picked_for: str = "default"  # when transformers renders it: "default", "tool_use" (with tools), or by name


def check_chat_templates(state: State, embedded: tuple[str, str] | None) -> None:
    """Check every template the build ships (see the module docstring); ``embedded`` is the weights'
    own template and the weights file carrying it, when they carry one."""
    files = _template_files(state)
    if not files:
        if embedded is not None:
            state.notes.append(
                f"The weights carry a chat template (tokenizer.chat_template in {embedded[1]}); "
                "with no CHAT_TEMPLATE, runtimes use it."
            )
        return
    for planned in files:
        for template in _read(planned, state):
            _check(template, state)
            chosen = state.chat_template
            if chosen is planned and embedded is not None and meta.go_trim(embedded[0]) != meta.go_trim(template.text):
                state.report.add(codes.template_differs(state.report.file, chosen.span, embedded[1]))


def _template_files(state: State) -> list[Planned]:
    if state.chat_template is not None:
        return [state.chat_template]
    folders: dict[str, list[Planned]] = {}
    holders = [p for p in state.model_files if posixpath.basename(p.file.rel) == _TOKENIZER_CONFIG]
    for p in [*state.folder_templates, *holders]:
        folders.setdefault(posixpath.dirname(p.file.rel), []).append(p)
    chosen: list[Planned] = []
    for found in folders.values():
        jinja = [p for p in found if p in state.folder_templates and not _is_json(p)]
        json_files = [p for p in found if p in state.folder_templates and _is_json(p)]
        chosen += jinja or json_files or [p for p in found if p in holders]
    return chosen


def _is_json(p: Planned) -> bool:
    return p.file.rel.lower().endswith(".json")


def _display(state: State, rel: str) -> str:
    return posixpath.join(state.context_display, rel) if state.context_display else rel


def _read(planned: Planned, state: State) -> Iterator[_Template]:
    """The templates in ``planned``'s file, after reporting why there are none when it cannot be read."""
    rel, holder = planned.file.rel, _is_json(planned)
    limit = MAX_JSON_HOLDER_BYTES if holder else MAX_TEMPLATE_BYTES
    with planned.file.path.open("rb") as f:
        data = f.read(limit + 1)  # never a multi-GB file named by mistake, read whole
    if len(data) > limit:
        size = max(len(data), planned.file.path.stat().st_size)
        if holder:
            state.notes.append(f"{rel} is {size} bytes, more than {limit}: its chat template was not checked.")
        else:
            state.report.add(codes.template_too_large(state.report.file, planned.span, rel, size, limit))
        return
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        state.report.add(codes.template_not_text(state.report.file, planned.span, rel))
        return
    display = _display(state, rel)
    if not holder:
        yield _Template(planned, rel, text, display, text, lambda line: _line_span(text, line))
        return
    if posixpath.basename(rel) == _TOKENIZER_CONFIG and '"chat_template"' not in text:
        return  # most tokenizer configs hold no template: nothing to parse
    yield from _read_json(planned, state, text, display)


def _read_json(planned: Planned, state: State, text: str, display: str) -> Iterator[_Template]:
    rel = planned.file.rel
    try:
        found = templates_in_json(text, f"`{rel}`", required=posixpath.basename(rel) != _TOKENIZER_CONFIG)
    except TemplateJSONError as exc:
        state.sources[display] = text
        state.report.add(codes.template_syntax(display, _span_at(text, exc.offset), exc.message))
        return
    for item in found:
        name = rel if item.name is None else f"{rel} ({item.name})"
        size = len(item.text.encode("utf-8"))
        if size > MAX_TEMPLATE_BYTES:
            state.report.add(codes.template_too_large(state.report.file, planned.span, name, size, MAX_TEMPLATE_BYTES))
            continue
        part = "the template" if item.name is None else f"the `{item.name}` template"
        yield _Template(planned, name, item.text, display, text, _json_locator(text, item.offset), part,
                        item.name or "default")


def _check(template: _Template, state: State) -> None:
    from modeloci.model.templates import (
        check_chat_template,  # jinja2 is only needed here (start-up time)
    )

    failures: dict[tuple[str, str], list[tuple[str, bool]]] = {}
    for problem in check_chat_template(template.text):
        if template.picked_for == "tool_use" and problem.conversation not in (None, WITH_TOOLS):
            continue  # transformers renders a `tool_use` template only for requests with tools
        if problem.kind == "syntax":
            line = problem.line or 1
            message = (problem.message if template.part is None
                       else f"{problem.message} (line {line} of {template.part})")
            state.sources[template.file_display] = template.file_text
            state.report.add(codes.template_syntax(template.file_display, template.locate(line), message))
        else:
            # One diagnostic per distinct failure, naming every conversation it happens in.
            conversation = problem.conversation or "to compile"  # a limit passed while compiling
            # A named template other than `default` serves only requests that ask for it: none is required.
            fails = problem.fails_build if template.picked_for == "default" else problem.kind == "limit"
            failures.setdefault((problem.kind, problem.message), []).append((conversation, fails))
    for (kind, message), found in failures.items():
        where = _join([conversation for conversation, _ in found])
        if any(fails for _, fails in found):
            make = codes.template_render
        else:
            make = codes.template_raises if kind == "raised" else codes.template_fails_optionally
        state.report.add(make(state.report.file, template.planned.span, template.name, where, message))


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _line_span(text: str, line: int) -> Span:
    """The span of a template line's text (leading blanks excluded), for the caret."""
    lines = text.split("\n")
    line = max(1, min(line, len(lines)))
    start = sum(len(item) + 1 for item in lines[: line - 1])
    return _span_between(text, start, start + len(lines[line - 1]))


def _json_locator(source: str, start: int) -> Callable[[int], Span]:
    """Template line -> its span inside the JSON string starting at ``start`` (up to its ``\\n``)."""
    def locate(line: int) -> Span:
        first, after = source_offset(source, start, line), source_offset(source, start, line + 1)
        return _span_between(source, first, after - 2 if source.startswith("\\n", after - 2) else after)
    return locate


def _span_at(text: str, offset: int) -> Span:
    """The span of the rest of the line at ``offset``."""
    offset = max(0, min(offset, len(text)))
    end = text.find("\n", offset)
    return _span_between(text, offset, len(text) if end < 0 else end)


def _span_between(text: str, start: int, end: int) -> Span:
    """``text[start:end]`` without its leading and trailing blanks, at least one character wide."""
    content = text[start:end]
    first = start + len(content) - len(content.lstrip())
    return span_of(text, first, max(start + len(content.rstrip()), first + 1))
