"""``WEIGHTS <folder>`` packages a Hugging Face folder the way Docker Model Runner packages one.

The expected layers below were written from Docker Model Runner's
``pkg/distribution/files/classify.go`` and ``builder/from_directory.go`` (docs/formats.md
says the rules): every regular, non-hidden file under the folder is a layer under its
path there; ``.gguf``/``.safetensors``/``.dduf`` are weights, ``.jinja`` or a name
containing ``chat_template`` a chat template, a name containing ``license``,
``licence``, ``copying`` or ``notice`` a license, anything else a ``model.file``;
symlinks and hidden entries are not taken.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from modeloci import api
from modeloci.diagnostics import render
from modeloci.errors import ModelfileError
from tests import factories

SAFETENSORS = "application/vnd.docker.ai.safetensors"
FILE = "application/vnd.docker.ai.model.file"
LICENSE = "application/vnd.docker.ai.license"
TEMPLATE = "application/vnd.docker.ai.chat.template.jinja"
CHAT = "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}"

# What Docker Model Runner's directory packaging gives for the folder `hf_folder` makes, in its walk
# order (each folder's entries by name, bytewise: upper case first; a subfolder where its name comes).
DMR_LAYERS = [
    ("LICENSE", LICENSE),
    ("README.md", FILE),
    ("USE_POLICY.md", FILE),
    ("config.json", FILE),
    ("configuration_qwen2.py", FILE),
    ("figures/benchmark.png", FILE),
    ("generation_config.json", FILE),
    ("merges.txt", FILE),
    ("model-00001-of-00002.safetensors", SAFETENSORS),
    ("model-00002-of-00002.safetensors", SAFETENSORS),
    ("model.safetensors.index.json", FILE),
    ("modeling_qwen2.py", FILE),
    ("tokenizer.json", FILE),
    ("tokenizer_config.json", FILE),
    ("vocab.json", FILE),
]


def hf_folder(root: Path) -> Path:
    """A Qwen2.5-style repository clone: sharded safetensors with their index, config, tokenizer (the chat
    template inside tokenizer_config.json), model card, use policy, license, remote code, a figure, git's
    hidden files and a symlink."""
    hf = root / "qwen"
    factories.safetensors(hf / "model-00001-of-00002.safetensors", {"a": ("BF16", [4, 8])}, {"format": "pt"})
    factories.safetensors(hf / "model-00002-of-00002.safetensors", {"b": ("BF16", [8])}, {"format": "pt"})
    (hf / "model.safetensors.index.json").write_text(json.dumps({"metadata": {"total_size": 80}, "weight_map": {
        "a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}))
    (hf / "config.json").write_text(json.dumps({"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2",
                                                "auto_map": {"AutoModelForCausalLM": "modeling_qwen2.Qwen2ForCausalLM"},
                                                "max_position_embeddings": 32768, "torch_dtype": "bfloat16"}))
    (hf / "tokenizer_config.json").write_text(json.dumps({"chat_template": CHAT, "model_max_length": 32768}))
    for name in ("generation_config.json", "tokenizer.json", "vocab.json"):
        (hf / name).write_text("{}")
    (hf / "merges.txt").write_text("#version: 0.2\n")
    (hf / "README.md").write_text("---\nlicense: apache-2.0\n---\n# Qwen2.5\n")
    (hf / "USE_POLICY.md").write_text("Use it well.\n")
    (hf / "LICENSE").write_text("Apache License 2.0\n")
    (hf / "modeling_qwen2.py").write_text("import torch\n")
    (hf / "configuration_qwen2.py").write_text("from transformers import PretrainedConfig\n")
    (hf / "figures").mkdir()
    (hf / "figures" / "benchmark.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (hf / ".gitattributes").write_text("*.safetensors filter=lfs diff=lfs merge=lfs -text\n")
    (hf / ".cache" / "huggingface").mkdir(parents=True)
    (hf / ".cache" / "huggingface" / "model.safetensors").write_bytes(b"not packaged")
    (hf / "figures" / ".DS_Store").write_bytes(b"\0")
    (hf / "model.safetensors").symlink_to("model-00001-of-00002.safetensors")
    return hf


def _plan(root: Path, text: str, **options: object):
    (root / "Modelfile").write_text(text)
    return api.plan(root / "Modelfile", display="Modelfile", **options)


def _layers(plan) -> list[tuple[str, str]]:
    return [(layer.filepath, layer.media_type) for layer in plan.layers]


def test_a_hugging_face_folder_gives_the_layers_docker_model_runner_gives(tmp_path: Path) -> None:
    hf_folder(tmp_path)
    plan = _plan(tmp_path, "FROM scratch\nWEIGHTS qwen\n")
    assert plan.config_media_type == "application/vnd.docker.ai.model.config.v0.2+json"
    assert sorted(_layers(plan)) == sorted(DMR_LAYERS)
    # modeloci's order: weights first, then the other files and the license, each group in walk order.
    assert [layer.filepath for layer in plan.layers] == [
        "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
        "README.md", "USE_POLICY.md", "config.json", "configuration_qwen2.py", "figures/benchmark.png",
        "generation_config.json", "merges.txt", "model.safetensors.index.json", "modeling_qwen2.py",
        "tokenizer.json", "tokenizer_config.json", "vocab.json", "LICENSE"]
    assert all(layer.source.to_json() == {"kind": "file", "path": f"qwen/{layer.filepath}"} for layer in plan.layers)
    assert render(list(plan.warnings), plan.sources) == (
        "warning[MF119]: WEIGHTS folder `qwen` leaves out 1 symlink\n"
        " --> Modelfile:2:9\n"
        "  |\n"
        "2 | WEIGHTS qwen\n"
        "  |         ^^^^ not regular files\n"
        "  |\n"
        "  = `qwen/model.safetensors` (a symlink): as Docker Model Runner packages a folder, only regular files"
        " are taken; a symlink is never followed\n"
        "help: copy the files into the folder in place of the links (`cp -L`), or name a symlink that stays in"
        " the build context by its path\n\n"
    )


def test_a_hugging_face_folder_in_modelpack_gets_code_doc_and_weight_config(tmp_path: Path) -> None:
    hf_folder(tmp_path)
    plan = _plan(tmp_path, "FROM scratch\nWEIGHTS qwen\n", format="modelpack")
    kind = {path: media_type.removeprefix("application/vnd.cncf.model.").removesuffix(".v1.raw")
            for path, media_type in _layers(plan)}
    assert kind == {
        "model-00001-of-00002.safetensors": "weight", "model-00002-of-00002.safetensors": "weight",
        "README.md": "doc", "USE_POLICY.md": "doc", "figures/benchmark.png": "doc", "LICENSE": "doc",
        "modeling_qwen2.py": "code", "configuration_qwen2.py": "code",
        "config.json": "weight.config", "generation_config.json": "weight.config", "merges.txt": "weight.config",
        "model.safetensors.index.json": "weight.config", "tokenizer.json": "weight.config",
        "tokenizer_config.json": "weight.config", "vocab.json": "weight.config",
    }


def test_a_built_folder_holds_every_file_under_its_path(tmp_path: Path) -> None:
    hf = hf_folder(tmp_path)
    (tmp_path / "Modelfile").write_text("FROM scratch\nWEIGHTS qwen\n")
    api.build(tmp_path / "Modelfile", tmp_path / "qwen.tar")
    assert api.verify(tmp_path / "qwen.tar").ok
    api.unpack(tmp_path / "qwen.tar", tmp_path / "out", layout="files")
    unpacked = {p.relative_to(tmp_path / "out").as_posix(): p.read_bytes()
                for p in (tmp_path / "out").rglob("*") if p.is_file()}
    assert unpacked == {path: (hf / path).read_bytes() for path, _ in DMR_LAYERS}


def test_a_subfolder_comes_where_its_name_comes_in_walk_order(tmp_path: Path) -> None:
    factories.safetensors(tmp_path / "m" / "model.safetensors")
    for name in ("a.json", "a/x.json", "a-b.json", "B.json"):
        (tmp_path / "m" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "m" / name).write_text("{}")
    plan = _plan(tmp_path, "FROM scratch\nWEIGHTS m\n")
    # Go's filepath.Walk: `a` (a folder) sorts before `a-b.json` and `a.json`, and its files come there.
    assert [layer.filepath for layer in plan.layers] == [
        "model.safetensors", "B.json", "a/x.json", "a-b.json", "a.json"]


def test_a_folder_of_gguf_files_is_packaged_too(tmp_path: Path) -> None:
    factories.gguf(tmp_path / "g" / "tiny.gguf")
    (tmp_path / "g" / "README.md").write_text("# tiny\n")
    plan = _plan(tmp_path, "FROM scratch\nWEIGHTS g\n")
    assert plan.config_media_type == "application/vnd.docker.ai.model.config.v0.2+json"
    assert _layers(plan) == [("tiny.gguf", "application/vnd.docker.ai.gguf.v3"), ("README.md", FILE)]
    assert plan.config["format"] == "gguf"


def test_a_file_of_the_folder_named_by_another_directive_takes_that_role(tmp_path: Path) -> None:
    factories.gguf(tmp_path / "g" / "tiny.gguf")
    factories.mmproj(tmp_path / "g" / "mmproj-tiny.gguf")
    (tmp_path / "g" / "chat_template.jinja").write_text(CHAT)
    plan = _plan(tmp_path, "FROM scratch\nWEIGHTS g\nMMPROJ g/mmproj-tiny.gguf\nCHAT_TEMPLATE g/chat_template.jinja\n")
    assert [(layer.role.value, layer.filepath) for layer in plan.layers] == [
        ("weights", "tiny.gguf"), ("chat_template", "chat_template.jinja"), ("mmproj", "mmproj-tiny.gguf")]
    assert plan.warnings == ()  # no MF054 (two roles), no MF103 (the folder's template replaced by itself)


def test_other_files_of_a_folder_are_never_hidden_ones(tmp_path: Path) -> None:
    factories.safetensors(tmp_path / "m" / "model.safetensors")
    (tmp_path / "m" / ".git" / "objects").mkdir(parents=True)
    (tmp_path / "m" / ".git" / "objects" / "ab").write_text("x")
    (tmp_path / "m" / ".hidden.json").write_text("{}")
    (tmp_path / "m" / "sub" / ".env").parent.mkdir()
    (tmp_path / "m" / "sub" / ".env").write_text("TOKEN=x")
    plan = _plan(tmp_path, "FROM scratch\nWEIGHTS m\n")
    assert [layer.filepath for layer in plan.layers] == ["model.safetensors"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
def test_a_fifo_or_a_symlink_leaving_the_context_is_left_out_unread(tmp_path: Path) -> None:
    context = tmp_path / "ctx"
    factories.safetensors(context / "m" / "model.safetensors")
    os.mkfifo(context / "m" / "pipe")
    (tmp_path / "secret.json").write_text("{}")
    (context / "m" / "secret.json").symlink_to(tmp_path / "secret.json")
    plan = _plan(context, "FROM scratch\nWEIGHTS m\n")
    assert [layer.filepath for layer in plan.layers] == ["model.safetensors"]
    assert [(w.code, w.summary, w.detail.split(":")[0]) for w in plan.warnings] == [
        ("MF119", "WEIGHTS folder `m` leaves out 2 entries", "`m/pipe` (a FIFO), `m/secret.json` (a symlink)")]


def test_checkpoints_in_other_formats_are_packaged_with_a_warning_saying_how_to_leave_them_out(tmp_path: Path) -> None:
    hf = tmp_path / "llama"
    factories.safetensors(hf / "model.safetensors")
    (hf / "original").mkdir()
    (hf / "original" / "consolidated.00.pth").write_bytes(bytes(2 << 20))
    (hf / "pytorch_model.bin").write_bytes(bytes(1 << 20))
    (hf / "training_args.bin").write_bytes(bytes(100))
    plan = _plan(tmp_path, "FROM scratch\nWEIGHTS llama\n")
    assert [layer.filepath for layer in plan.layers] == [
        "model.safetensors", "original/consolidated.00.pth", "pytorch_model.bin", "training_args.bin"]
    assert render(list(plan.warnings), plan.sources) == (
        "warning[MF118]: WEIGHTS folder `llama` packages PyTorch, TensorFlow or ONNX files\n"
        " --> Modelfile:2:9\n"
        "  |\n"
        "2 | WEIGHTS llama\n"
        "  |         ^^^^^ 3 such files, 3.1 MB\n"
        "  |\n"
        "  = `llama/original/consolidated.00.pth`, `llama/pytorch_model.bin`, `llama/training_args.bin` become"
        " model files (3.1 MB in all), but runtimes load the safetensors weights; in a Hugging Face folder such"
        " files are mostly the same weights in another format\n"
        "help: leave them out: `EXCLUDE llama/original llama/*.bin`\n"
        "\n"
    )
    plan = _plan(tmp_path, "FROM scratch\nWEIGHTS llama\nEXCLUDE llama/original llama/*.bin\n")
    assert [layer.filepath for layer in plan.layers] == ["model.safetensors"]
    assert plan.warnings == ()


LFS_POINTER = ("version https://git-lfs.github.com/spec/v1\n"
               "oid sha256:4d7a2146e0b7e0e8c2c2a4a5a1f0c5ad9f3f2c9b8e7d6c5b4a3f2e1d0c9b8a7f\nsize 988097824\n")


def _error(root: Path, text: str) -> str:
    (root / "Modelfile").write_text(text)
    with pytest.raises(ModelfileError) as info:
        api.plan(root / "Modelfile", display="Modelfile")
    return render(info.value.diagnostics, info.value.sources)


def test_git_lfs_pointers_in_place_of_safetensors_are_one_clear_error(tmp_path: Path) -> None:
    hf = hf_folder(tmp_path)
    for name in ("model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"):
        (hf / name).write_text(LFS_POINTER)
    assert _error(tmp_path, "FROM scratch\nWEIGHTS qwen\n") == (
        "error[MF063]: 2 files are Git LFS pointers, not the files\n"
        " --> Modelfile:2:9\n"
        "  |\n"
        "2 | WEIGHTS qwen\n"
        "  |         ^^^^ Git LFS pointers\n"
        "  |\n"
        "  = `qwen/model-00001-of-00002.safetensors`, `qwen/model-00002-of-00002.safetensors` hold the few lines"
        " git keeps in place of a file it stores with Git LFS, not the file itself\n"
        "help: this is a Git LFS pointer; run `git lfs pull` in the repository to fetch the files\n"
        "\n"
        "warning[MF119]: WEIGHTS folder `qwen` leaves out 1 symlink\n"
        " --> Modelfile:2:9\n"
        "  |\n"
        "2 | WEIGHTS qwen\n"
        "  |         ^^^^ not regular files\n"
        "  |\n"
        "  = `qwen/model.safetensors` (a symlink): as Docker Model Runner packages a folder, only regular files"
        " are taken; a symlink is never followed\n"
        "help: copy the files into the folder in place of the links (`cp -L`), or name a symlink that stays in"
        " the build context by its path\n"
        "\n"
    )


def test_a_git_lfs_pointer_in_place_of_a_gguf_or_a_projector_is_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / "model.gguf").write_text(LFS_POINTER)
    (tmp_path / "mmproj.gguf").write_text(LFS_POINTER)
    text = _error(tmp_path, "FROM scratch\nWEIGHTS model.gguf\nMMPROJ mmproj.gguf\n")
    assert [line for line in text.splitlines() if line.startswith(("error", "help"))] == [
        "error[MF060]: `model.gguf` is a Git LFS pointer, not the file",
        "help: this is a Git LFS pointer; run `git lfs pull` in the repository to fetch the files",
        "error[MF065]: `mmproj.gguf` is a Git LFS pointer, not the file",
        "help: this is a Git LFS pointer; run `git lfs pull` in the repository to fetch the files",
    ]


def test_a_small_file_that_only_mentions_git_lfs_is_read_as_what_it_is(tmp_path: Path) -> None:
    (tmp_path / "model.gguf").write_text("not version https://git-lfs.github.com/spec/v1\n")
    text = _error(tmp_path, "FROM scratch\nWEIGHTS model.gguf\n")
    assert text.startswith("error[MF060]: Cannot read GGUF file `model.gguf`\n")


def test_lint_names_the_files_a_runtime_misses_when_only_the_shards_are_named(tmp_path: Path) -> None:
    hf_folder(tmp_path)
    (tmp_path / "Modelfile").write_text("FROM scratch\nWEIGHTS qwen/model-*.safetensors\nLICENSE qwen/LICENSE\n")
    plan = api.plan(tmp_path / "Modelfile", display="Modelfile", lint=True)
    assert render(list(plan.warnings), plan.sources) == (
        "warning[MF117]: Only the weights of a model folder are packaged\n"
        " --> Modelfile:2:9\n"
        "  |\n"
        "2 | WEIGHTS qwen/model-*.safetensors\n"
        "  |         ^^^^^^^^^^^^^^^^^^^^^^^^ the weights alone\n"
        "  |\n"
        "  = `qwen/config.json`, `qwen/generation_config.json`, `qwen/merges.txt`,"
        " `qwen/model.safetensors.index.json`, `qwen/tokenizer.json`, `qwen/tokenizer_config.json` and 1 more"
        " beside them are left out, and a runtime loading these weights (vLLM, transformers) reads them\n"
        "help: package the folder: `WEIGHTS qwen` takes every file in it (EXCLUDE leaves some out)\n"
        "\n"
    )
    # Packaged as a folder, nothing is missed; GGUF files carry their tokenizer and need nothing beside them.
    (tmp_path / "Modelfile").write_text("FROM scratch\nWEIGHTS qwen\n")
    assert [w.code for w in api.plan(tmp_path / "Modelfile", lint=True).warnings] == ["MF119"]
    factories.gguf(tmp_path / "g" / "tiny.gguf")
    (tmp_path / "g" / "config.json").write_text("{}")
    (tmp_path / "Modelfile").write_text("FROM scratch\nWEIGHTS g/tiny.gguf\nLICENSE qwen/LICENSE\n")
    assert [w.code for w in api.plan(tmp_path / "Modelfile", lint=True).warnings] == []


@pytest.mark.parametrize("output", ["docker", "modelpack"])
@pytest.mark.parametrize("base_format", ["docker", "modelpack"])
def test_a_folder_rebuilt_on_its_own_model_replaces_its_files(tmp_path: Path, base_format: str, output: str) -> None:
    hf = hf_folder(tmp_path)
    (hf / "OLD_NOTES.md").write_text("gone in the next version\n")
    (tmp_path / "Modelfile").write_text("FROM scratch\nWEIGHTS qwen\n")
    api.build(tmp_path / "Modelfile", tmp_path / "base.tar", format=base_format)
    (hf / "OLD_NOTES.md").unlink()
    (tmp_path / "Modelfile").write_text("FROM base.tar\nWEIGHTS qwen\n")
    plan = api.plan(tmp_path / "Modelfile", format=output)
    # Every file once, from the folder: no MF055 between the base's README, code or license and the folder's,
    # and none of the base's files the folder no longer has (a ModelPack base's docs have no role of their own).
    assert sorted(layer.filepath for layer in plan.layers) == sorted(path for path, _ in DMR_LAYERS)
    assert {layer.source.to_json()["kind"] for layer in plan.layers} == {"file"}


@pytest.mark.parametrize(("name", "what"), [
    ("model.safetensors", "a safetensors weights file"),
    ("model.DDUF", "a DDUF weights file"),
    ("model.bin", "a GGUF weights file"),  # told by its magic bytes
])
def test_from_a_weights_file_says_what_to_write_instead(tmp_path: Path, name: str, what: str) -> None:
    (tmp_path / name).write_bytes(factories.gguf_bytes())
    text = _error(tmp_path, f"FROM {name}\n")
    assert text.splitlines()[0] == f"error[MF076]: `{name}` is {what}, not a model"
    assert text.splitlines()[-2] == f"help: start from nothing and package it: `FROM scratch`, then `WEIGHTS {name}`"


def test_a_folder_file_also_named_for_the_same_role_keeps_its_path_in_the_folder(tmp_path: Path) -> None:
    factories.safetensors(tmp_path / "m" / "sub" / "model.safetensors")
    (tmp_path / "m" / "legal").mkdir()
    (tmp_path / "m" / "legal" / "LICENSE").write_text("MIT\n")
    for order in ("WEIGHTS m\nWEIGHTS m/sub/*.safetensors\nLICENSE m/legal/LICENSE\n",
                  "LICENSE m/legal/LICENSE\nWEIGHTS m/sub/*.safetensors\nWEIGHTS m\n"):
        plan = _plan(tmp_path, f"FROM scratch\n{order}EXCLUDE m/legal\n")
        assert [layer.filepath for layer in plan.layers] == ["sub/model.safetensors", "legal/LICENSE"], order
        # Named by its path, the license is packaged whatever EXCLUDE says (MF116 says the pattern did nothing).
        assert [w.code for w in plan.warnings] == ["MF116"], order
