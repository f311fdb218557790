"""Build-time knowledge of the model: shard sets, headers, projectors and chat templates.

Each case builds a small context with real-format files and snapshots the full
rendered diagnostics (errors and warnings), as a user would see them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from modeloci import api
from modeloci.diagnostics import render
from modeloci.errors import ModelfileError
from tests import factories

Setup = Callable[[Path], str]


def _missing_shard(root: Path) -> str:
    factories.gguf(root / "m-00001-of-00003.gguf", split=(0, 3))
    factories.gguf(root / "m-00003-of-00003.gguf", split=(2, 3))
    return "FROM scratch\nWEIGHTS m-00001-of-00003.gguf\n"


def _shard_metadata_mismatch(root: Path) -> str:
    factories.gguf(root / "m-00001-of-00002.gguf", split=(0, 2))
    factories.gguf(root / "m-00002-of-00002.gguf", split=(0, 3))
    return "FROM scratch\nWEIGHTS m-*.gguf\n"


def _unnamed_shard(root: Path) -> str:
    factories.gguf(root / "model.gguf", split=(0, 4))
    return "FROM scratch\nWEIGHTS model.gguf\n"


def _truncated_gguf(root: Path) -> str:
    data = factories.gguf(root / "full.gguf").read_bytes()
    (root / "model.gguf").write_bytes(data[:40])
    (root / "full.gguf").unlink()
    return "FROM scratch\nWEIGHTS model.gguf\n"


def _not_gguf(root: Path) -> str:
    (root / "model.gguf").write_bytes(b"<!DOCTYPE html><html>404 Not Found</html>")
    return "FROM scratch\nWEIGHTS model.gguf\n"


def _mmproj_is_a_model(root: Path) -> str:
    factories.gguf(root / "model.gguf")
    factories.gguf(root / "vision.gguf", arch="qwen2")
    return "FROM scratch\nWEIGHTS model.gguf\nMMPROJ vision.gguf\n"


def _mmproj_not_gguf(root: Path) -> str:
    factories.gguf(root / "model.gguf")
    (root / "proj.bin").write_bytes(b"\x00" * 64)
    return "FROM scratch\nWEIGHTS model.gguf\nMMPROJ proj.bin\n"


def _template_syntax_error(root: Path) -> str:
    factories.gguf(root / "model.gguf")
    (root / "chat.jinja").write_text("{% for m in messages %}\n  {{ m['content'] }\n{% endfor %}\n")
    return "FROM scratch\nWEIGHTS model.gguf\nCHAT_TEMPLATE chat.jinja\n"


def _template_unclosed_block(root: Path) -> str:
    factories.gguf(root / "model.gguf")
    (root / "chat.jinja").write_text("{% for m in messages %}\n{{ m.content }}\n")
    return "FROM scratch\nWEIGHTS model.gguf\nCHAT_TEMPLATE chat.jinja\n"


def _template_render_error(root: Path) -> str:
    factories.gguf(root / "model.gguf")
    (root / "chat.jinja").write_text("{{ messages[0]['content'] + 1 }}\n")
    return "FROM scratch\nWEIGHTS model.gguf\nCHAT_TEMPLATE chat.jinja\n"


def _template_not_text(root: Path) -> str:
    factories.gguf(root / "model.gguf")
    (root / "chat.jinja").write_bytes(b"\xff\xfe{{ x }}")
    return "FROM scratch\nWEIGHTS model.gguf\nCHAT_TEMPLATE chat.jinja\n"


def _safetensors_unreadable(root: Path) -> str:
    (root / "model.safetensors").write_bytes(b"\x10" + b"\x00" * 7 + b"not json")
    return "FROM scratch\nWEIGHTS model.safetensors\n"


def _safetensors_shard_missing(root: Path) -> str:
    factories.safetensors(root / "hf" / "model-00001-of-00003.safetensors")
    factories.safetensors(root / "hf" / "model-00003-of-00003.safetensors")
    (root / "hf" / "config.json").write_text("{}")
    return "FROM scratch\nWEIGHTS hf\n"


def _safetensors_index_mismatch(root: Path) -> str:
    factories.safetensors(root / "hf" / "model-00001-of-00002.safetensors")
    factories.safetensors(root / "hf" / "model-00002-of-00002.safetensors")
    factories.safetensors(root / "hf" / "extra.safetensors")
    index = {"metadata": {"total_size": 16}, "weight_map": {"a": "model-00001-of-00002.safetensors",
                                                             "b": "model-00002-of-00002.safetensors"}}
    (root / "hf" / "model.safetensors.index.json").write_text(json.dumps(index))
    return "FROM scratch\nWEIGHTS hf\n"


def _bad_config_json(root: Path) -> str:
    factories.safetensors(root / "hf" / "model.safetensors")
    (root / "hf" / "config.json").write_text("{not json")
    return "FROM scratch\nWEIGHTS hf\n"


ERRORS: dict[str, Setup] = {
    "missing_shard": _missing_shard,
    "shard_metadata_mismatch": _shard_metadata_mismatch,
    "unnamed_shard": _unnamed_shard,
    "truncated_gguf": _truncated_gguf,
    "not_gguf": _not_gguf,
    "mmproj_is_a_model": _mmproj_is_a_model,
    "mmproj_not_gguf": _mmproj_not_gguf,
    "template_syntax_error": _template_syntax_error,
    "template_unclosed_block": _template_unclosed_block,
    "template_render_error": _template_render_error,
    "template_not_text": _template_not_text,
    "safetensors_unreadable": _safetensors_unreadable,
    "safetensors_shard_missing": _safetensors_shard_missing,
    "safetensors_index_mismatch": _safetensors_index_mismatch,
    "bad_config_json": _bad_config_json,
}


@pytest.mark.parametrize("name", list(ERRORS))
def test_model_errors_render(tmp_path: Path, name: str, snapshot) -> None:
    text = ERRORS[name](tmp_path)
    (tmp_path / "Modelfile").write_text(text)
    with pytest.raises(ModelfileError) as info:
        api.plan(tmp_path / "Modelfile", display="Modelfile")
    assert render(info.value.diagnostics, info.value.sources) == snapshot


def test_template_syntax_error_points_into_the_template_under_the_modelfile_folder(tmp_path: Path) -> None:
    """With ``-f models/x/Modelfile`` the template shows as ``models/x/chat.jinja``, with its own line."""
    folder = tmp_path / "models" / "x"
    folder.mkdir(parents=True)
    (folder / "Modelfile").write_text(_template_syntax_error(folder))
    with pytest.raises(ModelfileError) as info:
        api.plan(folder / "Modelfile", display="models/x/Modelfile")
    (diag,) = info.value.diagnostics
    assert (diag.code, diag.file, diag.span.start.line) == ("MF066", "models/x/chat.jinja", 2)
    assert "models/x/chat.jinja:2:3" in render(info.value.diagnostics, info.value.sources)


def _warnings(root: Path, text: str) -> str:
    (root / "Modelfile").write_text(text)
    plan = api.plan(root / "Modelfile", display="Modelfile")
    return render(plan.warnings, plan.sources)


def test_template_that_raises_on_purpose_is_a_warning(tmp_path: Path, snapshot) -> None:
    factories.gguf(tmp_path / "model.gguf")
    (tmp_path / "chat.jinja").write_text(
        "{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}"
        "{% for m in messages %}{{ m['content'] }}{% endfor %}")
    assert _warnings(tmp_path, "FROM scratch\nWEIGHTS model.gguf\nCHAT_TEMPLATE chat.jinja\n") == snapshot


def test_chat_template_differing_from_the_embedded_one_warns(tmp_path: Path, snapshot) -> None:
    factories.gguf(tmp_path / "model.gguf", metadata=[("tokenizer.chat_template", factories.STRING, "{{ old }}")])
    (tmp_path / "chat.jinja").write_text("{% for m in messages %}{{ m['content'] }}{% endfor %}")
    assert _warnings(tmp_path, "FROM scratch\nWEIGHTS model.gguf\nCHAT_TEMPLATE chat.jinja\n") == snapshot
    (tmp_path / "same.jinja").write_text("{{ old }}\n")
    assert _warnings(tmp_path, "FROM scratch\nWEIGHTS model.gguf\nCHAT_TEMPLATE same.jinja\n") == ""


def test_embedded_template_is_noted_in_the_plan(tmp_path: Path) -> None:
    factories.gguf(tmp_path / "model.gguf", metadata=[("tokenizer.chat_template", factories.STRING, "{{ x }}")])
    (tmp_path / "Modelfile").write_text("FROM scratch\nWEIGHTS model.gguf\n")
    plan = api.plan(tmp_path / "Modelfile")
    assert plan.notes == ["The weights carry a chat template (tokenizer.chat_template in model.gguf); "
                          "with no CHAT_TEMPLATE, runtimes use it."]
    assert plan.to_json()["notes"] == plan.notes


def test_naming_one_shard_takes_the_whole_set_in_order(tmp_path: Path) -> None:
    for i in range(3):
        factories.gguf(tmp_path / f"m-{i + 1:05d}-of-00003.gguf", split=(i, 3))
    (tmp_path / "Modelfile").write_text("FROM scratch\nWEIGHTS m-00002-of-00003.gguf\n")
    plan = api.plan(tmp_path / "Modelfile")
    assert [layer.filepath for layer in plan.layers] == [f"m-0000{i}-of-00003.gguf" for i in (1, 2, 3)]
    assert plan.config["parameters"] == "48" and plan.config["gguf"]["split.count"] == "3"
    assert "split.no" not in plan.config["gguf"]


def test_hf_folder_becomes_layer_per_file_v02(tmp_path: Path) -> None:
    hf = tmp_path / "qwen"
    factories.safetensors(hf / "model-00001-of-00002.safetensors", {"a": ("BF16", [4, 8])}, {"format": "pt"})
    factories.safetensors(hf / "model-00002-of-00002.safetensors", {"b": ("BF16", [8])}, {"format": "pt"})
    (hf / "model.safetensors.index.json").write_text(json.dumps(
        {"metadata": {}, "weight_map": {"a": "model-00001-of-00002.safetensors",
                                        "b": "model-00002-of-00002.safetensors"}}))
    (hf / "config.json").write_text(json.dumps({"model_type": "qwen3", "max_position_embeddings": 32768}))
    for name in ("tokenizer.json", "tokenizer_config.json", "README.md", "LICENSE", "chat_template.jinja"):
        template = "{% for m in messages %}{{ m['content'] }}{% endfor %}"
        (hf / name).write_text(template if name.endswith("jinja") else "x")
    (hf / ".gitattributes").write_text("x")
    (tmp_path / "Modelfile").write_text("FROM scratch\nWEIGHTS qwen\n")
    plan = api.plan(tmp_path / "Modelfile")
    assert plan.config_media_type == "application/vnd.docker.ai.model.config.v0.2+json"
    assert [(layer.role.value, layer.filepath, layer.media_type.rsplit(".", 1)[-1]) for layer in plan.layers] == [
        ("weights", "model-00001-of-00002.safetensors", "safetensors"),
        ("weights", "model-00002-of-00002.safetensors", "safetensors"),
        ("model_file", "README.md", "file"),  # every file, as Docker Model Runner packages a folder
        ("model_file", "config.json", "file"),
        ("model_file", "model.safetensors.index.json", "file"),
        ("model_file", "tokenizer.json", "file"),
        ("model_file", "tokenizer_config.json", "file"),
        ("license", "LICENSE", "license"),
        ("chat_template", "chat_template.jinja", "jinja"),
    ]
    assert {k: v for k, v in plan.config.items() if k != "safetensors"} == {
        "format": "safetensors", "quantization": "BF16", "parameters": "40.00", "architecture": "qwen3",
        "size": plan.config["size"], "context_size": 32768}
    assert plan.config["safetensors"] == {"format": "pt", "tensor_count": "2"}


def test_chat_template_replaces_the_folders_with_a_warning(tmp_path: Path, snapshot) -> None:
    hf = tmp_path / "hf"
    factories.safetensors(hf / "model.safetensors")
    (hf / "chat_template.jinja").write_text("{{ messages }}")
    (tmp_path / "mine.jinja").write_text("{% for m in messages %}{{ m['content'] }}{% endfor %}")
    assert _warnings(tmp_path, "FROM scratch\nWEIGHTS hf\nCHAT_TEMPLATE mine.jinja\n") == snapshot
    plan = api.plan(tmp_path / "Modelfile")
    assert [layer.filepath for layer in plan.layers if layer.role.value == "chat_template"] == ["mine.jinja"]


@pytest.mark.parametrize("name", ["single-gguf", "sharded-vision"])
def test_examples_have_metadata_from_their_headers(name: str) -> None:
    plan = api.plan(Path(__file__).resolve().parents[2] / "examples" / name / "Modelfile")
    assert plan.config["architecture"] == "llama"
    assert plan.config["quantization"] in ("MOSTLY_F32", "MOSTLY_F16")


CORPUS_TEMPLATES = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "chat-templates"


@pytest.mark.parametrize("name", sorted(p.name for p in CORPUS_TEMPLATES.glob("*.jinja")) or ["(corpus absent)"])
def test_every_corpus_template_is_accepted_by_a_build(tmp_path: Path, name: str) -> None:
    if not CORPUS_TEMPLATES.is_dir():
        pytest.skip(f"{CORPUS_TEMPLATES} is absent: the shared corpus is not on this machine")
    factories.gguf(tmp_path / "model.gguf")
    (tmp_path / "chat.jinja").write_bytes((CORPUS_TEMPLATES / name).read_bytes())
    (tmp_path / "Modelfile").write_text("FROM scratch\nWEIGHTS model.gguf\nCHAT_TEMPLATE chat.jinja\n")
    plan = api.plan(tmp_path / "Modelfile")
    warnings = sorted(w.summary for w in plan.warnings)
    if name == "google-gemma-2-2b-it.jinja":
        assert warnings == ["Chat template `chat.jinja` refuses with a system message",
                            "Chat template `chat.jinja` refuses with tools"]
    else:
        assert warnings == []
