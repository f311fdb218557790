"""The chat-template checker: real templates pass, broken or hostile ones become problems."""

from __future__ import annotations

import datetime
import json
import time
from pathlib import Path

import pytest

from modeloci.model import templates
from modeloci.model.templates import (
    TRIAL_CONVERSATIONS,
    TemplateProblem,
    TemplateRaised,
    check_chat_template,
    hf_environment,
)

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "chat-templates"
_CORPUS_FILES = sorted(CORPUS.glob("*.jinja")) if CORPUS.is_dir() else []
_CORPUS_PARAMS = [pytest.param(path, id=path.name) for path in _CORPUS_FILES] or [
    pytest.param(None, id="corpus-absent", marks=pytest.mark.skip(
        reason=f"{CORPUS} is absent: the real chat templates are not on this machine"))
]

SYSTEM, NO_SYSTEM, TOOLS = "with a system message", "without a system message", "with tools"


def _render(text: str, **variables: object) -> str:
    return hf_environment().from_string(text).render(**variables)


def _conversation(name: str) -> templates.TrialConversation:
    return next(c for c in TRIAL_CONVERSATIONS if c.name == name)


# -- the real corpus ----------------------------------------------------------


def test_corpus_holds_the_ten_templates() -> None:
    if not CORPUS.is_dir():
        pytest.skip(f"{CORPUS} is absent: the real chat templates are not on this machine")
    assert len(_CORPUS_FILES) == 10


@pytest.mark.parametrize("path", _CORPUS_PARAMS)
def test_corpus_template_has_no_error(path: Path) -> None:
    problems = check_chat_template(path.read_text(encoding="utf-8"))
    assert [p for p in problems if p.is_error] == []


@pytest.mark.parametrize("path", _CORPUS_PARAMS)
def test_corpus_template_renders_the_conversation(path: Path) -> None:
    template = hf_environment().from_string(path.read_text(encoding="utf-8"))
    output = template.render(_conversation(NO_SYSTEM).variables())
    assert "What is the capital of France?" in output
    assert "And of Italy?" in output


@pytest.mark.parametrize("path", [p for p in _CORPUS_PARAMS if p.values[0] is None or "gemma" not in p.values[0].name])
def test_corpus_template_raises_for_nothing_but_gemma(path: Path) -> None:
    assert check_chat_template(path.read_text(encoding="utf-8")) == []


def test_gemma_refuses_system_messages_with_one_warning() -> None:
    path = CORPUS / "google-gemma-2-2b-it.jinja"
    if not path.is_file():
        pytest.skip(f"{path} is absent: the real chat templates are not on this machine")
    problems = check_chat_template(path.read_text(encoding="utf-8"))
    assert [p for p in problems if p.conversation == SYSTEM] == [
        TemplateProblem("raised", "System role not supported", 1, SYSTEM)
    ]
    assert not any(p.is_error for p in problems)
    # Gemma 2 has no tool role either: its alternation check refuses the tool turn.
    assert problems[1:] == [
        TemplateProblem("raised", "Conversation roles must alternate user/assistant/user/assistant/...", 1, TOOLS)
    ]


# -- syntax -------------------------------------------------------------------


def test_unclosed_for_points_at_its_opening_line() -> None:
    text = "{{ bos_token }}\n{% for message in messages %}\n{{ message.content }}\n{{ eos_token }}\n"
    assert check_chat_template(text) == [
        TemplateProblem("syntax", "unclosed 'for' block: unexpected end of template, expected 'endfor' or 'else'",
                        2, None)
    ]


def test_unclosed_block_line_skips_closed_blocks_and_set_statements() -> None:
    text = "{% for m in messages %}{% endfor %}\n{% set a = 1 %}\n{% if a %}\n{% set b %}x{% endset %}\n"
    [problem] = check_chat_template(text)
    assert (problem.kind, problem.line) == ("syntax", 3)
    assert problem.message.startswith(
        "unclosed 'if' block: unexpected end of template, expected 'elif' or 'else' or 'endif'")


def test_unknown_tag() -> None:
    text = "{{ bos_token }}\n{% for m in messages %}{{ m.content }}{% endfor %}\n{% frobnicate %}\n"
    assert check_chat_template(text) == [TemplateProblem("syntax", "unknown tag 'frobnicate'", 3, None)]


def test_nesting_mistake() -> None:
    text = "{% for m in messages %}\n{% if m.content %}\n{{ m.content }}\n{% endfor %}\n"
    assert check_chat_template(text) == [
        TemplateProblem("syntax", "unexpected tag 'endfor', expected 'elif' or 'else' or 'endif'", 4, None)
    ]


def test_unknown_filter_is_a_syntax_problem() -> None:
    assert check_chat_template("x\n{{ messages | nofilter }}") == [
        TemplateProblem("syntax", "No filter named 'nofilter'", 2, None)
    ]


def test_template_python_cannot_compile_is_a_syntax_problem() -> None:
    text = "{% for m in messages %}" * 25 + "x" + "{% endfor %}" * 25
    [problem] = check_chat_template(text)
    assert (problem.kind, problem.line, problem.conversation) == ("syntax", None, None)
    assert problem.message == "cannot compile the template: SyntaxError: too many statically nested blocks"


# -- rendering ----------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "{{ some_runtime_var }}",
        "{{ a.b.c }}{{ a['b'].c }}",
        "{% if enable_thinking %}think{% endif %}{% for doc in documents %}{{ doc }}{% endfor %}",
        "{% for tool in tools %}{{ tool.function.name }}{% endfor %}",  # Hermes 3 tool_use does this unguarded
    ],
)
def test_undefined_variables_are_not_problems(text: str) -> None:
    assert check_chat_template(text) == []


@pytest.mark.parametrize("text", ["", "{# nothing but a comment #}", "{% if false %}x{% endif %}"])
def test_template_rendering_nothing_reports_nothing(text: str) -> None:
    assert check_chat_template(text) == []


def test_raise_exception_is_a_warning_naming_the_conversation() -> None:
    text = "{{ bos_token }}\n{% if messages[0].role == 'system' %}{{ raise_exception('No system role.') }}{% endif %}"
    problems = check_chat_template(text)
    assert problems == [TemplateProblem("raised", "No system role", 2, SYSTEM)]
    assert not problems[0].is_error


def test_runtime_error_is_a_render_error_in_every_conversation() -> None:
    problems = check_chat_template("{{ bos_token }}\n\n{{ messages[0]['content'] + 1 }}")
    assert [p.conversation for p in problems] == [SYSTEM, NO_SYSTEM, TOOLS]
    for problem in problems:
        assert problem.is_error
        assert (problem.kind, problem.line) == ("render", 3)
        assert problem.message == 'TypeError: can only concatenate str (not "int") to str'


def test_problems_come_in_conversation_order() -> None:
    text = (
        "{% if tools %}{{ tools[0] - 1 }}{% endif %}\n"
        "{% if messages[0].role == 'system' %}{{ raise_exception('no system') }}{% endif %}\n"
    )
    problems = check_chat_template(text)
    assert [(p.kind, p.conversation) for p in problems] == [("raised", SYSTEM), ("render", TOOLS)]


def test_tool_conversation_reaches_the_template() -> None:
    text = (
        "{% for tool in tools %}{{ tool.function.name }}{% endfor %}|"
        "{% for m in messages %}{% for call in m.tool_calls %}{{ call.id }} {{ call.function.arguments | tojson }}"
        "{% endfor %}"
        "{% if m.role == 'tool' %}{{ m.content }}{% endif %}{% endfor %}"
    )
    output = hf_environment().from_string(text).render(_conversation(TOOLS).variables())
    assert output == ('get_current_weather|call12345 {"city": "Paris", "unit": "celsius"}'
                      '{"temperature": 22, "unit": "celsius"}')


def test_conversation_variables_are_fresh_copies() -> None:
    conversation = _conversation(SYSTEM)
    first = conversation.variables()
    first["messages"][0]["content"] = "changed"
    assert conversation.variables()["messages"][0]["content"] == "You are a helpful assistant."
    assert "tools" not in first and first["add_generation_prompt"] is True
    assert {"bos_token", "eos_token", "messages"} <= first.keys()


# -- the sandbox --------------------------------------------------------------


@pytest.mark.parametrize(
    "expression",
    [
        "''.__class__.__mro__[1].__subclasses__()",
        "cycler.__init__.__globals__",
        "cycler.__init__.__globals__.__builtins__.open(MARKER, 'w')",
        "lipsum.__globals__['os'].system('touch ' ~ MARKER)",
        "namespace.__init__.__globals__",
        "messages.append(1)",
    ],
)
def test_sandbox_escapes_are_refused_and_never_run(expression: str, tmp_path: Path) -> None:
    marker = tmp_path / "escaped"
    text = "{% set MARKER = " + json.dumps(str(marker)) + " %}{{ " + expression + " }}"
    problems = check_chat_template(text)
    assert [p.kind for p in problems] == ["render"] * 3
    assert problems[0].message.startswith("SecurityError: access to attribute")
    assert problems[0].message.endswith("is unsafe")
    assert not marker.exists()


# -- limits -------------------------------------------------------------------


# The runaway templates below are sized to end on their own within seconds, so
# that a broken limit fails these tests instead of hanging the run.


def test_output_past_the_size_limit_stops_quickly() -> None:
    text = "{% for i in range(1000) %}{% for j in range(1000) %}xxxxxxxxxx{% endfor %}{% endfor %}"  # 10**7 chars
    started = time.monotonic()
    problems = check_chat_template(text)
    assert time.monotonic() - started < 0.5
    # One limit is enough: the other conversations are not tried.
    assert problems == [
        TemplateProblem("limit", f"output passed {templates.MAX_OUTPUT_CHARS} characters", None, SYSTEM)]


def test_size_limit_is_read_at_call_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(templates, "MAX_OUTPUT_CHARS", 100)
    [problem] = check_chat_template("{% for i in range(50) %}xxxxx{% endfor %}")
    assert (problem.kind, problem.message) == ("limit", "output passed 100 characters")


def test_the_sandbox_refuses_ranges_past_max_range() -> None:
    # transformers' sandbox has the same MAX_RANGE (100000): such a template fails there too.
    [problem, *_] = check_chat_template("{% for i in range(10**7) %}xxxxxxxxxx{% endfor %}")
    assert problem.kind == "render"
    assert problem.message.startswith("OverflowError: Range too big")


def test_time_budget_is_checked_between_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(templates, "RENDER_TIME_BUDGET_S", 0.05)
    monkeypatch.setattr(templates, "MAX_OUTPUT_CHARS", 10**9)
    # No call inside the loops: only the chunks of output can stop it.
    text = "{% set r = range(10000) %}{% for i in range(1000) %}{% for j in r %}x{% endfor %}{% endfor %}"
    started = time.monotonic()
    problems = check_chat_template(text)
    assert time.monotonic() - started < 0.5
    assert problems == [TemplateProblem("limit", "rendering took longer than 0.05 s", None, SYSTEM)]


def test_time_budget_is_checked_at_calls_when_nothing_is_output(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(templates, "RENDER_TIME_BUDGET_S", 0.05)
    # No output at all: only the check at each call of range() can stop it.
    text = "{% for i in range(2000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}"
    started = time.monotonic()
    problems = check_chat_template(text)
    assert time.monotonic() - started < 0.5
    assert problems == [TemplateProblem("limit", "rendering took longer than 0.05 s", None, SYSTEM)]


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("'x' * 10**5", "a repetition would make 100000 items, more than 100"),
        ("messages * 1000", "a repetition would make 4000 items, more than 100"),
        ("2 ** 100000", "a power would need more than 1000 bits"),
        ("(2 ** 900) * (2 ** 900)", "a product would need more than 1000 bits"),
    ],
)
def test_huge_values_are_refused_before_they_are_built(
    expression: str, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Small limits, so that a broken check renders something modest instead of
    # allocating gigabytes; the defaults refuse `'x' * 10**10` the same way.
    monkeypatch.setattr(templates, "MAX_OUTPUT_CHARS", 100)
    monkeypatch.setattr(templates, "MAX_INT_BITS", 1000)
    problems = check_chat_template("{{ " + expression + " }}")
    assert problems == [TemplateProblem("limit", message, None, SYSTEM)]


def test_ordinary_arithmetic_still_works() -> None:
    assert _render("{{ '=' * 3 }}{{ 2 ** 10 }}{{ [1] * 2 }}{{ 3 * 4 }}") == "===1024[1, 1]12"


# -- the environment ----------------------------------------------------------


def test_tojson_keeps_non_ascii_and_does_not_escape_html() -> None:
    assert _render('{{ "é" | tojson }}') == '"é"'
    assert _render("{{ '<tool>' | tojson }}") == '"<tool>"'


def test_tojson_accepts_transformers_arguments() -> None:
    value = {"b": 1, "a": ["é", None]}
    assert _render("{{ v | tojson(indent=2, sort_keys=True) }}", v=value) == json.dumps(
        value, ensure_ascii=False, indent=2, sort_keys=True
    )
    assert _render("{{ v | tojson(separators=(',', ':')) }}", v=value) == '{"b":1,"a":["é",null]}'


def test_generation_block_renders_its_body_in_its_own_scope() -> None:
    text = "{% set x = 'outer' %}{% generation %}{% set x = 'inner' %}{{ x }} {{ 1 + 1 }}{% endgeneration %} {{ x }}"
    assert _render(text) == "inner 2 outer"


def test_strftime_now_gives_the_current_year() -> None:
    year = _render('{{ strftime_now("%Y") }}')
    assert len(year) == 4 and year.isdigit()
    assert int(year) in {datetime.date.today().year, datetime.date.today().year + 1}  # a render at midnight


def test_raise_exception_raises_its_own_type() -> None:
    with pytest.raises(TemplateRaised, match="stop here"):
        _render("{{ raise_exception('stop here') }}")


def test_whitespace_control_and_loop_controls_match_transformers() -> None:
    text = ("  {% for i in range(5) %}\n{% if i == 3 %}{% break %}{% endif %}\n"
            "{% if i == 1 %}{% continue %}{% endif %}\n{{ i }}\n  {% endfor %}\n")
    assert _render(text) == "0\n2\n"


def test_undefined_values_are_lenient() -> None:
    assert _render("[{{ a.b.c }}][{{ a['b'] }}][{{ 'yes' if a.b is not defined }}]") == "[][][yes]"


def test_environment_is_built_once() -> None:
    assert hf_environment() is hf_environment()


@pytest.mark.parametrize(("kind", "is_error"), [("syntax", True), ("render", True), ("limit", True), ("raised", False)])
def test_only_raised_problems_are_warnings(kind: str, is_error: bool) -> None:
    assert TemplateProblem(kind, "m", None, None).is_error is is_error  # type: ignore[arg-type]


def test_problems_are_immutable_values() -> None:
    problem = TemplateProblem("render", "m", 1, SYSTEM)
    with pytest.raises(AttributeError):
        problem.message = "other"  # type: ignore[misc]
    assert problem == TemplateProblem("render", "m", 1, SYSTEM)
