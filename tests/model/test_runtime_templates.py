"""Chat templates are judged by the runtimes' rules, not stricter ones.

Each test here is made from a construct of a real template that runtimes
render but the check refused: in-place list changes (Kimi K2), variables
llama.cpp passes (FireFunction v2, Llama 3.1), tool-call arguments as JSON
text (Functionary v3.2), ``tojson`` of ``map(...)`` (llama.cpp's DeepSeek R1
template), an inline ``if`` without ``else`` in an output (Gemma 4). Then the
rules: only the plain conversation (and syntax, and the limits) can fail a
build; an optional conversation gives a warning naming it.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path

import pytest

from modeloci.model import template_trials
from modeloci.model.template_sandbox import trial_inputs
from modeloci.model.template_trials import (
    CONVENTIONS,
    TRIAL_CONVERSATIONS,
    conventions_for,
)
from modeloci.model.templates import (
    ProblemKind,
    TemplateProblem,
    check_chat_template,
    hf_environment,
)
from tests import factories
from tests.conftest import SHARED
from tests.model import llama_cpp_corpus

SYSTEM, NO_SYSTEM, TOOLS = "with a system message", "without a system message", "with tools"
CHAT = "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}"


def _conversation(name: str) -> template_trials.TrialConversation:
    return next(c for c in TRIAL_CONVERSATIONS if c.name == name)


def _trial_render(text: str, **variables: object) -> str:
    """Render as a trial render does: what the template is given is protected, what it makes is not."""
    with trial_inputs(variables):
        return hf_environment().from_string(text).render(**variables)


# In-place changes to what the template made (Kimi K2's tool-call id queue) ----------------------------

KIMI_QUEUE = (
    "{% set queue = namespace(ids=[]) %}"
    "{% for m in messages %}{% for call in m.tool_calls or [] %}"
    "{% set _ = queue.ids.append('functions.' + call.function.name + ':0') %}{% endfor %}"
    "{% if m.role == 'tool' %}{{ queue.ids.pop(0) }}{% endif %}{% endfor %}"
)


def test_a_list_the_template_made_can_be_appended_to_and_popped() -> None:
    assert check_chat_template(KIMI_QUEUE) == []
    assert _trial_render(KIMI_QUEUE, **_conversation(TOOLS).variables()) == "functions.get_current_weather:0"


@pytest.mark.parametrize(
    ("text", "output"),
    [
        ("{% set l = [1] %}{% set _ = l.extend([2, 3]) %}{% set _ = l.insert(0, 0) %}{{ l }}", "[0, 1, 2, 3]"),
        ("{% set l = [1, 2, 3] %}{% set _ = l.remove(2) %}{{ l.pop() }}{{ l }}", "3[1]"),
        ("{% set d = {'a': 1} %}{% set _ = d.update({'b': 2}, c=3) %}{{ d.setdefault('e', 4) }}{{ d|tojson }}",
         '4{"a": 1, "b": 2, "c": 3, "e": 4}'),
        ("{% set d = {'a': 1} %}{{ d.pop('a') }}{{ d }}", "1{}"),
        ("{% set l = messages|list %}{% set _ = l.append('x') %}{{ l|length }}", "4"),  # a copy is the template's
        ("{% set l = messages[1:] %}{% set _ = l.clear() %}{{ l }}{{ messages|length }}", "[]3"),
    ],
)
def test_lists_and_dicts_the_template_made_change_in_place(text: str, output: str) -> None:
    assert check_chat_template(text) == []
    assert _trial_render(text, **_conversation(NO_SYSTEM).variables()) == output


@pytest.mark.parametrize(
    "text",
    [
        "{{ messages.append(1) }}",
        "{{ messages[0].update({'role': 'system'}) }}",
        "{% set ns = namespace(m=messages) %}{{ ns.m.pop() }}",
        "{% for m in messages %}{{ m.clear() }}{% endfor %}",
    ],
)
def test_the_conversation_given_to_the_template_stays_immutable(text: str) -> None:
    problems = check_chat_template(text)
    assert [(p.kind, p.conversation) for p in problems] == [
        ("render", SYSTEM), ("render", NO_SYSTEM), ("render", TOOLS)]
    assert all(p.message.startswith("SecurityError: access to attribute") for p in problems)


def test_outside_a_trial_render_nothing_may_change_in_place() -> None:
    with pytest.raises(Exception, match="access to attribute 'append' of 'list' object is unsafe"):
        hf_environment().from_string("{% set l = [] %}{{ l.append(1) }}").render()


@pytest.mark.parametrize(
    "expression",
    ["l.append.__self__", "l.append.__call__", "d.update.__self__", "l.__class__", "l.sort()", "l.reverse()"],
)
def test_mutation_methods_open_no_other_door(expression: str) -> None:
    problems = check_chat_template("{% set l = [2, 1] %}{% set d = {} %}{{ " + expression + " }}")
    assert [p.kind for p in problems] == ["render"] * 3
    assert problems[0].message.startswith("SecurityError: access to attribute")


# Variables a runtime passes besides the conversation ------------------------------------------------

FIREFUNCTION = (  # fireworks-ai llama-3-firefunction-v2: llama.cpp passes `functions` and `datetime`
    "{%- set suffix = 'Available functions as JSON spec:' + '\\n' + functions -%}"
    "{%- set suffix = suffix + '\\nToday is ' + datetime + '.' -%}"
    "{{ suffix }}\n" + CHAT
)
LLAMA_3_1 = (  # Llama 3.x as llama.cpp called it: date_string, tools_in_user_message, builtin_tools
    "{{ 'Today Date: ' + date_string }}{% if not tools_in_user_message %}{{ tools|length }}{% endif %}"
    "{% if tools %}{{ 'Tools: ' + builtin_tools|reject('equalto', 'code_interpreter')|join(', ') }}{% endif %}"
    + CHAT
)
RAG = "{{ 'Document: ' + documents[0]['title'] }}" + CHAT  # Command-R's rag template, without a guard


@pytest.mark.parametrize("text", [FIREFUNCTION, LLAMA_3_1, RAG], ids=["firefunction", "llama-3.1", "documents"])
def test_a_template_reading_what_a_runtime_passes_passes(text: str) -> None:
    assert check_chat_template(text) == []


def test_the_runtime_extras_are_what_llama_cpp_and_transformers_pass() -> None:
    extras = next(c for c in CONVENTIONS if c.name == "runtime extras")
    today = datetime.now()
    plain, tools = extras.variables(_conversation(NO_SYSTEM)), extras.variables(_conversation(TOOLS))
    assert plain["datetime"] in (today.strftime("%b %d %Y"), datetime.now().strftime("%b %d %Y"))
    assert plain["date_string"] in (today.strftime("%d %b %Y"), datetime.now().strftime("%d %b %Y"))
    assert (plain["enable_thinking"], plain["tools_in_user_message"], plain["functions"]) == (True, False, "")
    assert plain["documents"] == [{"title": "Paris", "text": "Paris is the capital and largest city of France."}]
    assert "builtin_tools" not in plain and "custom_tools" not in plain and "tools" not in plain
    assert json.loads(tools["functions"]) == tools["tools"] == tools["custom_tools"]
    assert tools["functions"] == json.dumps(tools["tools"], indent=2)  # as llama.cpp dumps them
    assert tools["builtin_tools"] == ["brave_search", "wolfram_alpha"]


# Tool-call arguments: an object, or JSON text -----------------------------------------------------------

FUNCTIONARY_V3_2 = (  # meetkai functionary-medium-v3.2 adds the arguments to a string
    "{% for m in messages %}{% for call in m.tool_calls or [] %}"
    "{{ '>>>' + call['function']['name'] + '\\n' + call['function']['arguments'] }}{% endfor %}{% endfor %}"
)
ARGUMENTS_AS_OBJECT = (  # Qwen 3, Mistral and most others: `arguments | tojson`, or its items
    "{% for m in messages %}{% for call in m.tool_calls or [] %}"
    "{% for k, v in call.function.arguments.items() %}{{ k }}={{ v }};{% endfor %}{% endfor %}{% endfor %}"
)


@pytest.mark.parametrize("text", [FUNCTIONARY_V3_2, ARGUMENTS_AS_OBJECT], ids=["as text", "as object"])
def test_arguments_are_tried_as_an_object_and_as_json_text(text: str) -> None:
    assert check_chat_template(text) == []


def test_json_text_arguments_are_the_object_dumped() -> None:
    as_text = next(c for c in CONVENTIONS if c.arguments_as_text)
    [call] = as_text.variables(_conversation(TOOLS))["messages"][1]["tool_calls"]
    assert call["function"]["arguments"] == '{"city": "Paris", "unit": "celsius"}'
    assert _trial_render(FUNCTIONARY_V3_2, **as_text.variables(_conversation(TOOLS))) == (
        '>>>get_current_weather\n{"city": "Paris", "unit": "celsius"}')


def test_arguments_conventions_are_tried_only_where_a_tool_is_called() -> None:
    assert [c.name for c in conventions_for(_conversation(NO_SYSTEM))] == ["transformers", "runtime extras"]
    assert [c.name for c in conventions_for(_conversation(TOOLS))] == [
        "transformers", "transformers, arguments as JSON text", "runtime extras",
        "runtime extras, arguments as JSON text"]


def test_a_template_failing_under_every_convention_reports_the_first_one_s_failure() -> None:
    text = ("{% for m in messages %}{% for call in m.tool_calls or [] %}{{ call.function.arguments + 1 }}"
            "{% endfor %}{% endfor %}")
    assert check_chat_template(text) == [
        TemplateProblem("render", "TypeError: unsupported operand type(s) for +: 'dict' and 'int'", 1, TOOLS)]


# tojson of a generator, and an inline if without else --------------------------------------------------


def test_tojson_of_map_renders_a_list() -> None:
    text = "{% if tools %}{{ tools | map(attribute='function') | map(attribute='name') | tojson }}{% endif %}"
    assert check_chat_template(text) == []
    assert _trial_render(text, **_conversation(TOOLS).variables()) == '["get_current_weather"]'
    deepseek = "{% if tools %}{{ tools | map(attribute='function') | tojson(indent=2) }}{% endif %}"  # llama.cpp's R1
    assert check_chat_template(deepseek) == []


def test_an_inline_if_without_else_prints_nothing() -> None:
    # Gemma 4 lists a tool's required parameters with `{{- ',' if not loop.last -}}`.
    text = "{% for i in [1, 2, 3] %}{{ i }}{{- ',' if not loop.last -}}{% endfor %}" + CHAT
    assert check_chat_template(text) == []
    assert _trial_render("{% for i in [1, 2, 3] %}{{ i }}{{- ',' if not loop.last -}}{% endfor %}") == "1,2,3"


# The rules: an optional conversation gives a warning, the plain one an error ------------------------------


def test_a_failure_only_with_tools_does_not_fail_the_build() -> None:
    [problem] = check_chat_template("{% if tools %}{{ tools[0] + 1 }}{% endif %}" + CHAT)
    assert problem == TemplateProblem("render", "TypeError: unsupported operand type(s) for +: 'dict' and 'int'", 1,
                                      TOOLS)
    assert problem.is_error and not problem.fails_build


def test_a_failure_only_with_a_system_message_does_not_fail_the_build() -> None:
    text = "{% if messages[0].role == 'system' %}{{ messages[0].content + 1 }}{% endif %}" + CHAT
    [problem] = check_chat_template(text)
    assert (problem.kind, problem.conversation, problem.fails_build) == ("render", SYSTEM, False)


def test_a_template_that_cannot_render_the_plain_conversation_fails_the_build() -> None:
    problems = check_chat_template("{{ messages[1]['content'] + 1 }}")
    assert [(p.conversation, p.fails_build) for p in problems] == [(SYSTEM, False), (NO_SYSTEM, True), (TOOLS, False)]


def test_a_template_refusing_the_plain_conversation_fails_the_build() -> None:
    text = "{% if messages|length > 2 %}{{ raise_exception('Only one turn is supported') }}{% endif %}" + CHAT
    problems = check_chat_template(text)
    assert [(p.kind, p.conversation, p.fails_build) for p in problems] == [
        ("raised", SYSTEM, False), ("raised", NO_SYSTEM, True), ("raised", TOOLS, False)]


@pytest.mark.parametrize(("kind", "conversation", "fails"), [
    ("syntax", None, True), ("limit", None, True), ("limit", SYSTEM, True), ("limit", TOOLS, True),
    ("render", NO_SYSTEM, True), ("raised", NO_SYSTEM, True), ("render", None, True),
    ("render", SYSTEM, False), ("render", TOOLS, False), ("raised", SYSTEM, False), ("raised", TOOLS, False),
])
def test_what_fails_a_build(kind: ProblemKind, conversation: str | None, fails: bool) -> None:
    assert TemplateProblem(kind, "m", None, conversation).fails_build is fails


# Every real template builds: ../shared/corpus and llama.cpp's own test templates ----------------------

SHARED_TEMPLATES = SHARED / "corpus" / "chat-templates"
_SHARED_NAMES = sorted(p.stem for p in SHARED_TEMPLATES.glob("*.jinja")) if SHARED_TEMPLATES.is_dir() else []
# The only warnings the two corpora give: Gemma 2 knows neither a system message nor a tool turn, and says so.
EXPECTED_WARNINGS = {
    "google-gemma-2-2b-it": ["Chat template `chat.jinja` refuses with a system message",
                             "Chat template `chat.jinja` refuses with tools"],
}


@pytest.fixture(scope="session")
def llama_cpp_templates() -> Path:
    try:
        return llama_cpp_corpus.templates_folder()
    except llama_cpp_corpus.Unavailable as exc:
        if os.environ.get("MODELOCI_REQUIRE_TOOLS"):
            pytest.fail(f"{exc} (MODELOCI_REQUIRE_TOOLS is set: llama.cpp's templates must be tested)")
        pytest.skip(f"llama.cpp's templates are not available: {exc}")


def _build_with(template: Path, tmp_path: Path, cli) -> list[str]:
    """`modeloci build` a tiny GGUF model with ``template`` as CHAT_TEMPLATE; the warnings it prints."""
    factories.gguf(tmp_path / "model.gguf")
    (tmp_path / "chat.jinja").write_bytes(template.read_bytes())
    (tmp_path / "Modelfile").write_text("FROM scratch\nWEIGHTS model.gguf\nCHAT_TEMPLATE chat.jinja\n")
    result = cli("build", "-f", "Modelfile", "-o", "model.tar", "-q", cwd=tmp_path)
    assert (result.code, "error[" in result.stderr) == (0, False), result.stderr
    assert (tmp_path / "model.tar").is_file()
    return sorted(line.split("]: ", 1)[1] for line in result.stderr.splitlines() if line.startswith("warning["))


def _assert_builds(name: str, template: Path, tmp_path: Path, cli) -> None:
    warnings = _build_with(template, tmp_path, cli)
    assert all(w.endswith((f" {SYSTEM}", f" {TOOLS}")) for w in warnings), warnings  # each names its scenario
    assert warnings == EXPECTED_WARNINGS.get(name, [])


def test_the_llama_cpp_sdist_holds_the_templates_named_here(llama_cpp_templates: Path) -> None:
    assert sorted(p.stem for p in llama_cpp_templates.glob("*.jinja")) == sorted(llama_cpp_corpus.NAMES)


@pytest.mark.parametrize("name", llama_cpp_corpus.NAMES)
def test_every_llama_cpp_template_builds(name: str, llama_cpp_templates: Path, tmp_path: Path, cli) -> None:
    _assert_builds(name, llama_cpp_templates / f"{name}.jinja", tmp_path, cli)


@pytest.mark.parametrize("name", _SHARED_NAMES or ["(corpus absent)"])
def test_every_shared_corpus_template_builds(name: str, shared: Path, tmp_path: Path, cli) -> None:
    _assert_builds(name, SHARED_TEMPLATES / f"{name}.jinja", tmp_path, cli)
