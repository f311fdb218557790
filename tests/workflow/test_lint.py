"""``modeloci lint``: every check a build makes, plus the MF11x advice, and nothing written.

The rendered warnings are pinned in full by snapshots; the exit codes (0 ok,
1 with --strict and warnings, 2 errors) and the JSON are asserted directly.
The MF112 check (a registry FROM by tag) needs a registry and is tested in
tests/registry/test_lint_from.py.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from modeloci.compiler.lint import _CHAT_WORD
from tests import factories
from tests.archive_tools import copy_example
from tests.workflow.schemas import LintOutput

STRING, UINT32 = factories.STRING, factories.UINT32


def _tree(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(folder.rglob("*"))}


def _chat_model(folder: Path, *, name: str = "Tiny-Chat-1B-Instruct", context: int = 2048,
                template: str | None = None) -> Path:
    metadata = [("general.name", STRING, name), ("llama.context_length", UINT32, context)]
    if template is not None:
        metadata.append(("tokenizer.chat_template", STRING, template))
    return factories.gguf(folder / "model-Q4_K_M.gguf", metadata=metadata)


@pytest.mark.parametrize("example", ["single-gguf", "sharded-vision", "hf-safetensors"])
def test_examples_lint_clean_and_nothing_is_written(example: str, tmp_path: Path, cli) -> None:
    folder = copy_example(example, tmp_path).parent
    before, store = _tree(folder), Path(os.environ["MODELOCI_HOME"])
    result = cli("lint", "--strict", cwd=folder)
    assert (result.code, result.stdout) == (0, "")
    assert result.stderr == "ok: 1 Modelfile checked, 0 with errors, 0 warnings\n"
    assert _tree(folder) == before
    assert not any(store.rglob("*")), "lint wrote into the store"


def test_every_advice_at_once(tmp_path: Path, cli, snapshot) -> None:
    _chat_model(tmp_path)
    (tmp_path / "Modelfile").write_text("FROM scratch\nWEIGHTS model-Q4_K_M.gguf\nCONFIG context_size=8192\n")
    result = cli("lint", cwd=tmp_path)
    assert result.code == 0, result.stderr
    assert result.stderr == snapshot
    assert [line.split("]")[0] for line in result.stderr.splitlines() if line.startswith("warning[")] == [
        "warning[MF110", "warning[MF111", "warning[MF113"]
    strict = cli("lint", "--strict", cwd=tmp_path)
    # It fails, and says so: it used to print "ok:" and exit 1.
    assert (strict.code, strict.stderr.splitlines()[-1]) == (
        1, "failed: 1 Modelfile checked, 0 with errors, 3 warnings (--strict)")
    quiet = cli("lint", "--strict", "-q", cwd=tmp_path)
    assert quiet.code == 1 and quiet.stderr == result.stderr.rsplit("ok: ", 1)[0]  # the advice, no status line


def test_build_does_not_give_lint_advice(tmp_path: Path, cli) -> None:
    _chat_model(tmp_path)
    (tmp_path / "Modelfile").write_text("FROM scratch\nWEIGHTS model-Q4_K_M.gguf\nCONFIG context_size=8192\n")
    result = cli("build", "-o", "m.tar", "--progress", "quiet", cwd=tmp_path)
    assert result.code == 0 and "MF11" not in result.stderr


@pytest.mark.parametrize(
    ("setup", "silenced"),
    [
        pytest.param(lambda d: (d / "LICENSE").write_text("MIT\n"), "MF110", id="license"),
        pytest.param(lambda d: (d / "t.jinja").write_text("{% for m in messages %}{{ m.content }}{% endfor %}"),
                     "MF111", id="template-file"),
    ],
)
def test_each_fix_silences_its_warning(setup, silenced: str, tmp_path: Path, cli) -> None:
    _chat_model(tmp_path)
    setup(tmp_path)
    lines = ["FROM scratch", "WEIGHTS model-Q4_K_M.gguf", "CONFIG context_size=2048"]
    lines += ["LICENSE LICENSE"] if silenced == "MF110" else ["CHAT_TEMPLATE t.jinja"]
    (tmp_path / "Modelfile").write_text("\n".join(lines) + "\n")
    codes = _codes(cli("lint", "--json", cwd=tmp_path))
    assert silenced not in codes and "MF113" not in codes


def test_an_embedded_template_is_a_chat_template(tmp_path: Path, cli) -> None:
    _chat_model(tmp_path, template="{{ messages[0].content }}")
    (tmp_path / "Modelfile").write_text("FROM scratch\nWEIGHTS model-Q4_K_M.gguf\n")
    assert _codes(cli("lint", "--json", cwd=tmp_path)) == ["MF110"]


def test_a_base_model_is_not_asked_for_a_template(tmp_path: Path, cli) -> None:
    factories.gguf(tmp_path / "model.gguf", metadata=[("general.name", STRING, "Tiny Base 1B")])
    (tmp_path / "Modelfile").write_text("FROM scratch\nWEIGHTS model.gguf\n")
    assert _codes(cli("lint", "--json", cwd=tmp_path)) == ["MF110"]


def test_a_folder_template_in_tokenizer_config_counts(tmp_path: Path, cli) -> None:
    model = tmp_path / "Qwen-Tiny-Instruct"
    factories.safetensors(model / "model.safetensors")
    (model / "config.json").write_text('{"model_type": "qwen2", "max_position_embeddings": 4096}')
    (model / "tokenizer_config.json").write_text(json.dumps({"chat_template": "{{ messages }}"}))
    (model / "LICENSE").write_text("Apache-2.0\n")
    (tmp_path / "Modelfile").write_text("FROM scratch\nWEIGHTS Qwen-Tiny-Instruct\nCONFIG context_size=8192\n")
    doc = LintOutput.model_validate_json(cli("lint", "--json", cwd=tmp_path).stdout)
    (mf113,) = doc.files[0].diagnostics
    assert (mf113.code, mf113.detail) == (
        "MF113", "`Qwen-Tiny-Instruct/config.json` says the model was trained on 4096 tokens")
    (model / "tokenizer_config.json").write_text("{}")
    assert _codes(cli("lint", "--json", cwd=tmp_path)) == ["MF111", "MF113"]


@pytest.mark.parametrize(
    ("name", "chat"),
    [("Qwen2.5-0.5B-Instruct", True), ("gemma-2-2b-it", True), ("Llama-2-7b-chat-hf", True),
     ("Mistral-7B-v0.1", False), ("tiny-llama", False), ("Smollm-Italian", False), ("chatterbox", False)],
)
def test_what_counts_as_a_chat_model_name(name: str, chat: bool) -> None:
    assert bool(_CHAT_WORD.search(name)) is chat


def test_errors_are_reported_like_a_build_and_exit_2(tmp_path: Path, cli) -> None:
    (tmp_path / "Modelfile").write_text("FROM scratch\nWEIGHTS missing.gguf\nCONFIG nope=1\n")
    result = cli("lint", cwd=tmp_path)
    assert result.code == 2
    assert "error[MF048]" in result.stderr and "error[MF028]" in result.stderr
    assert result.stderr.endswith("failed: 1 Modelfile checked, 1 with errors, 0 warnings\n")


def test_several_files_and_folders(tmp_path: Path, cli) -> None:
    for example in ("single-gguf", "sharded-vision"):
        copy_example(example, tmp_path)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "Modelfile").write_text("FROM scratch\n")
    result = cli("lint", "--json", str(tmp_path))
    doc = LintOutput.model_validate_json(result.stdout)
    assert result.code == 2
    assert [(Path(f.path).parent.name, f.ok) for f in doc.files] == [
        ("broken", False), ("sharded-vision", True), ("single-gguf", True)]
    assert [d.code for d in doc.files[0].diagnostics] == ["MF056"]
    assert (doc.errors, doc.warnings) == (1, 0)


def _codes(result) -> list[str]:
    doc = LintOutput.model_validate_json(result.stdout)
    return [d.code for f in doc.files for d in f.diagnostics]
