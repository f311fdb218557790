"""The chat templates a build ships are checked where runtimes find them, with the runtimes' rules.

A Hugging Face folder keeps its template in ``*.jinja``, ``chat_template.json``
or the ``chat_template`` key of ``tokenizer_config.json``; each is checked
like a ``CHAT_TEMPLATE`` file, with diagnostics pointing into the JSON. And a
template that fails only an optional conversation builds, with a warning.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modeloci.compiler import chat_template
from tests import factories

CHAT = "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}"
BROKEN = "{% for m in messages %}\n{{ m.content }}\n{% endfor %}{% endif %}"  # an `endif` with no `if`


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A Hugging Face folder `hf` (weights, config) with `WEIGHTS hf` in the Modelfile; no template yet."""
    factories.safetensors(tmp_path / "hf" / "model.safetensors")
    (tmp_path / "hf" / "config.json").write_text("{}")
    (tmp_path / "hf" / "LICENSE").write_text("MIT License\n")
    (tmp_path / "Modelfile").write_text("FROM scratch\nWEIGHTS hf\n")
    return tmp_path


def _write_json(path: Path, doc: object) -> None:
    path.write_text(json.dumps(doc, indent=2) + "\n")


_HELP_SYNTAX = "help: chat templates are Jinja, rendered as Hugging Face transformers does\n"
_LINT_FAILED = "failed: 1 Modelfile checked, 1 with errors, 0 warnings\n"


def test_a_broken_template_in_tokenizer_config_fails_lint_pointing_into_the_json(folder: Path, cli) -> None:
    _write_json(folder / "hf" / "tokenizer_config.json", {"bos_token": "<s>", "chat_template": BROKEN})
    result = cli("lint", "-f", "Modelfile", cwd=folder)
    assert (result.code, result.stdout) == (2, "")
    assert result.stderr == (
        "error[MF066]: Syntax error in chat template\n"
        " --> hf/tokenizer_config.json:3:63\n"
        "  |\n"
        '3 |   "chat_template": "{% for m in messages %}\\n{{ m.content }}\\n{% endfor %}{% endif %}"\n'
        "  |                                                               ^^^^^^^^^^^^^^^^^^^^^^^ "
        "unknown tag 'endif' (line 3 of the template)\n"
        "  |\n" + _HELP_SYNTAX + "\n" + _LINT_FAILED)


def test_a_syntax_error_on_a_later_line_of_a_one_line_json_points_at_that_line(folder: Path, cli) -> None:
    # chat_template.json is often one line; escapes before the error (\", \u00e9, \\n) move the caret.
    template = '{% set q = "\\"é\\"" %}\n' + CHAT + "\n{{ messages | nofilter }}\n"
    (folder / "hf" / "chat_template.json").write_text(json.dumps({"chat_template": template}))
    result = cli("plan", "-f", "Modelfile", cwd=folder)
    source = (folder / "hf" / "chat_template.json").read_text()
    column = source.index("{{ messages | nofilter }}") + 1
    assert result.code == 2
    assert f" --> hf/chat_template.json:1:{column}\n" in result.stderr
    assert "^" * len("{{ messages | nofilter }}") + " No filter named 'nofilter' (line 4 of the template)\n" \
        in result.stderr


def test_a_chat_template_json_is_read_as_json_holding_a_template(folder: Path, cli, shared: Path) -> None:
    # A real template: as Jinja, the JSON around it (escaped quotes in tags) was a false MF066.
    template = (shared / "corpus" / "chat-templates" / "Qwen-Qwen2.5-7B-Instruct.jinja").read_text()
    (folder / "hf" / "chat_template.json").write_text(json.dumps({"chat_template": template}))
    result = cli("lint", "-f", "Modelfile", cwd=folder)
    assert (result.code, result.stderr) == (0, "ok: 1 Modelfile checked, 0 with errors, 0 warnings\n")


def test_a_chat_template_json_that_fails_the_plain_conversation_fails_the_build(folder: Path, cli) -> None:
    _write_json(folder / "hf" / "chat_template.json", {"chat_template": "{{ messages[0]['content'] + 1 }}"})
    result = cli("build", "-f", "Modelfile", "-o", "out.tar", cwd=folder)
    assert (result.code, result.stdout) == (2, "")
    assert result.stderr == (
        "error[MF067]: Chat template `hf/chat_template.json` fails with a system message, without a system message "
        "and with tools\n"
        " --> Modelfile:2:9\n"
        "  |\n"
        "2 | WEIGHTS hf\n"
        "  |         ^^ fails to render\n"
        "  |\n"
        '  = TypeError: can only concatenate str (not "int") to str\n'
        "help: runtimes render this template for every request; fix it or choose another\n"
        "\nerror: 1 problem in the Modelfile\n")
    assert not (folder / "out.tar").exists()


def test_named_templates_are_checked_for_the_requests_they_serve(folder: Path, cli) -> None:
    # transformers renders `default` for a chat, `tool_use` for a request with tools, others when asked by name.
    tool_use = "{% if not tools %}{{ raise_exception('tools only') }}{% endif %}{{ tools[0] + 1 }}"
    rag = "{{ documents[0]['text'] + 1 }}"
    _write_json(folder / "hf" / "tokenizer_config.json", {"chat_template": [
        {"name": "default", "template": CHAT}, {"name": "tool_use", "template": tool_use},
        {"name": "rag", "template": rag}]})
    result = cli("build", "-f", "Modelfile", "-o", "out.tar", "-q", cwd=folder)
    assert (result.code, result.stdout.startswith("Built out.tar")) == (0, True)
    assert result.stderr == (
        "warning[MF101]: Chat template `hf/tokenizer_config.json (tool_use)` fails with tools\n"
        " --> Modelfile:2:9\n"
        "  |\n"
        "2 | WEIGHTS hf\n"
        "  |         ^^ fails to render\n"
        "  |\n"
        "  = TypeError: unsupported operand type(s) for +: 'dict' and 'int'\n"
        "help: runtimes will fail such requests; plain conversations are not affected\n\n"
        "warning[MF101]: Chat template `hf/tokenizer_config.json (rag)` fails with a system message, without a system "
        "message and with tools\n"
        " --> Modelfile:2:9\n"
        "  |\n"
        "2 | WEIGHTS hf\n"
        "  |         ^^ fails to render\n"
        "  |\n"
        "  = UndefinedError: 'documents' is undefined\n"
        "help: runtimes will fail such requests; plain conversations are not affected\n\n")
    assert (folder / "out.tar").is_file()


_EXPECTED_SHAPE = 'expected a string, or a list of objects each with a string "name" and "template"'


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"chat_template": 5}, f"`chat_template` in `hf/tokenizer_config.json` is a number; {_EXPECTED_SHAPE}"),
        ({"chat_template": [{"name": "default"}]},
         "`chat_template` in `hf/tokenizer_config.json` is a list whose items are not all {name, template} objects; "
         + _EXPECTED_SHAPE),
    ],
)
def test_a_chat_template_key_of_another_shape_is_an_error_at_the_key(folder: Path, cli, doc: object,
                                                                    message: str) -> None:
    _write_json(folder / "hf" / "tokenizer_config.json", doc)
    result = cli("plan", "-f", "Modelfile", cwd=folder)
    assert result.code == 2
    assert result.stderr.startswith("error[MF066]: Syntax error in chat template\n --> hf/tokenizer_config.json:2:3\n")
    assert f" {message}\n" in result.stderr


def test_a_tokenizer_config_with_a_template_that_is_not_json_is_an_error_where_it_breaks(folder: Path, cli) -> None:
    (folder / "hf" / "tokenizer_config.json").write_text('{\n  "chat_template": "{{ x }}",\n  "bos_token": <s>\n}\n')
    result = cli("plan", "-f", "Modelfile", cwd=folder)
    assert result.code == 2
    assert result.stderr == (
        "error[MF066]: Syntax error in chat template\n"
        " --> hf/tokenizer_config.json:3:16\n"
        "  |\n"
        '3 |   "bos_token": <s>\n'
        "  |                ^^^ `hf/tokenizer_config.json` is not valid JSON: Expecting value\n"
        "  |\n" + _HELP_SYNTAX + "\nerror: 1 problem in the Modelfile\n")


def test_a_tokenizer_config_without_a_template_is_not_read_as_one(folder: Path, cli) -> None:
    (folder / "hf" / "tokenizer_config.json").write_text("this is not even JSON, and holds no template\n")
    result = cli("plan", "-f", "Modelfile", cwd=folder)
    assert (result.code, result.stderr) == (0, "")


def test_a_jinja_file_shadows_the_templates_kept_in_json(folder: Path, cli) -> None:
    # transformers (and so vLLM) takes chat_template.jinja first: the broken ones are never rendered.
    (folder / "hf" / "chat_template.jinja").write_text(CHAT)
    _write_json(folder / "hf" / "tokenizer_config.json", {"chat_template": BROKEN})
    _write_json(folder / "hf" / "chat_template.json", {"chat_template": BROKEN})
    assert cli("lint", "-f", "Modelfile", cwd=folder).stderr == "ok: 1 Modelfile checked, 0 with errors, 0 warnings\n"
    (folder / "hf" / "chat_template.jinja").unlink()
    result = cli("lint", "-f", "Modelfile", cwd=folder)
    assert " --> hf/chat_template.json:2:" in result.stderr and "tokenizer_config" not in result.stderr


def test_chat_template_naming_a_json_file_reads_the_template_in_it(tmp_path: Path, cli) -> None:
    factories.gguf(tmp_path / "model.gguf")
    _write_json(tmp_path / "chat_template.json", {"chat_template": CHAT})
    (tmp_path / "Modelfile").write_text("FROM scratch\nWEIGHTS model.gguf\nCHAT_TEMPLATE chat_template.json\n")
    assert cli("plan", "-f", "Modelfile", cwd=tmp_path).code == 0
    _write_json(tmp_path / "chat_template.json", {"chat_template": BROKEN})
    result = cli("plan", "-f", "Modelfile", cwd=tmp_path)
    assert (result.code, result.stderr.splitlines()[:2]) == (
        2, ["error[MF066]: Syntax error in chat template", " --> chat_template.json:2:63"])


def test_a_template_in_json_over_the_size_limit_is_mf073_and_a_huge_holder_a_note(
        folder: Path, cli, monkeypatch: pytest.MonkeyPatch) -> None:
    _write_json(folder / "hf" / "tokenizer_config.json", {"chat_template": CHAT + " " * 2000})
    monkeypatch.setattr(chat_template, "MAX_TEMPLATE_BYTES", 1000)
    result = cli("plan", "-f", "Modelfile", cwd=folder)
    assert result.code == 2
    assert result.stderr.startswith("error[MF073]: Chat template `hf/tokenizer_config.json` is too large\n")
    monkeypatch.setattr(chat_template, "MAX_JSON_HOLDER_BYTES", 1000)
    result = cli("plan", "-f", "Modelfile", cwd=folder)
    assert (result.code, result.stderr) == (0, "")
    size = (folder / "hf" / "tokenizer_config.json").stat().st_size
    assert f"hf/tokenizer_config.json is {size} bytes, more than 1000: its chat template was not checked." in \
        " ".join(result.stdout.split())


# The runtimes' rules, through a build ----------------------------------------------------------------


@pytest.fixture
def gguf_context(tmp_path: Path) -> Path:
    factories.gguf(tmp_path / "model.gguf")
    (tmp_path / "Modelfile").write_text("FROM scratch\nWEIGHTS model.gguf\nCHAT_TEMPLATE chat.jinja\n")
    return tmp_path


def test_a_template_failing_only_with_tools_builds_with_a_warning_naming_the_scenario(gguf_context: Path, cli) -> None:
    (gguf_context / "chat.jinja").write_text("{% if tools %}{{ tools[0] + 1 }}{% endif %}" + CHAT)
    result = cli("build", "-f", "Modelfile", "-o", "out.tar", "-q", cwd=gguf_context)
    assert (result.code, result.stdout.startswith("Built out.tar")) == (0, True)
    assert result.stderr == (
        "warning[MF101]: Chat template `chat.jinja` fails with tools\n"
        " --> Modelfile:3:15\n"
        "  |\n"
        "3 | CHAT_TEMPLATE chat.jinja\n"
        "  |               ^^^^^^^^^^ fails to render\n"
        "  |\n"
        "  = TypeError: unsupported operand type(s) for +: 'dict' and 'int'\n"
        "help: runtimes will fail such requests; plain conversations are not affected\n\n")
    assert (gguf_context / "out.tar").is_file()


def test_a_template_refusing_the_plain_conversation_fails_the_build(gguf_context: Path, cli) -> None:
    (gguf_context / "chat.jinja").write_text("{{ raise_exception('This model cannot chat') }}")
    result = cli("build", "-f", "Modelfile", "-o", "out.tar", cwd=gguf_context)
    assert (result.code, result.stdout) == (2, "")
    assert result.stderr == (
        "error[MF067]: Chat template `chat.jinja` fails with a system message, without a system message and with "
        "tools\n"
        " --> Modelfile:3:15\n"
        "  |\n"
        "3 | CHAT_TEMPLATE chat.jinja\n"
        "  |               ^^^^^^^^^^ fails to render\n"
        "  |\n"
        "  = This model cannot chat\n"
        "help: runtimes render this template for every request; fix it or choose another\n"
        "\nerror: 1 problem in the Modelfile\n")
    assert not (gguf_context / "out.tar").exists()
