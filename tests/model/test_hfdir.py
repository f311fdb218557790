"""Hugging Face model folders: classification, shard sets, index files and config.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modeloci.model.hfdir import (
    HF_CONTEXT_KEYS,
    MAX_JSON_SIZE,
    FileKind,
    HFConfig,
    HFConfigError,
    SafetensorsIndex,
    ShardProblem,
    check_index,
    check_safetensors_shards,
    classify,
    read_hf_config,
    read_safetensors_index,
)
from modeloci.model.safetensors import SafetensorsError

W, C, T, CT, L = FileKind.WEIGHTS, FileKind.CONFIG, FileKind.TOKENIZER, FileKind.CHAT_TEMPLATE, FileKind.LICENSE

# -- classify ---------------------------------------------------------------------------------------------

# Qwen/Qwen2.5-0.5B-Instruct's files, plus what other repositories add.
REPO_LISTING = {
    ".gitattributes": None,
    "LICENSE": L,
    "README.md": None,
    "config.json": C,
    "generation_config.json": C,
    "merges.txt": T,
    "model.safetensors": W,
    "tokenizer.json": T,
    "tokenizer_config.json": T,
    "vocab.json": T,
    "original/consolidated.00.pth": None,
    "chat_template.jinja": CT,
    "model-00001-of-00002.safetensors": W,
}


def test_classify_a_realistic_repository() -> None:
    assert {path: classify(path) for path in REPO_LISTING} == REPO_LISTING


@pytest.mark.parametrize(("path", "kind"), [
    # weights: only safetensors, in any folder (diffusers layouts) and any case
    ("text_encoder/model.safetensors", W),
    ("MODEL.SafeTensors", W),
    ("pytorch_model.bin", None),
    ("consolidated.00.pth", None),
    ("model.pt", None),
    ("model.Q4_K_M.gguf", None),
    ("onnx/model.onnx", None),
    # configs
    ("preprocessor_config.json", C),
    ("processor_config.json", C),
    ("model.safetensors.index.json", C),
    ("diffusion_pytorch_model.safetensors.index.json", C),
    ("unet/Config.JSON", C),
    ("params.json", None),
    ("adapter_config.json", None),
    # tokenizers
    ("special_tokens_map.json", T),
    ("added_tokens.json", T),
    ("tokenizer.model", T),
    ("vocab.txt", T),
    ("spiece.model", T),
    ("qwen.tiktoken", T),
    ("Tokenizer.JSON", T),
    # chat templates
    ("templates/tool_use.jinja", CT),
    ("chat_template.json", CT),
    ("Chat_Template.txt", CT),
    # licenses
    ("LICENSE.txt", L),
    ("license.md", L),
    ("LICENCE", L),
    ("COPYING", L),
    ("NOTICE.md", L),
    ("LICENSE-MODEL", L),
    ("USE_POLICY.md", None),
    # everything else
    ("README.md", None),
    ("figures/benchmark.png", None),
    ("assets/logo.jpg", None),
    ("quantize_config.json", None),
    # hidden entries, at any depth
    (".gitattributes", None),
    (".cache/huggingface/download/model.safetensors", None),
    ("sub/.hidden.safetensors", None),
    ("../model.safetensors", None),
    # Meta's original-format checkpoint duplicates the HF files, tokenizer included
    ("original/tokenizer.model", None),
    ("original/params.json", None),
    ("Original/model.safetensors", None),
    ("text_encoder/original.safetensors", W),
    # empty path
    ("", None),
])
def test_classify(path: str, kind: FileKind | None) -> None:
    assert classify(path) is kind


def test_classify_normalizes_dot_components() -> None:
    assert classify("./config.json") is C
    assert classify("unet//config.json") is C


def test_file_kinds_are_strings() -> None:
    assert [str(k) for k in FileKind] == ["weights", "config", "tokenizer", "chat_template", "license"]


# -- shard sets -------------------------------------------------------------------------------------------


def test_complete_shard_set_and_plain_files_have_no_problems() -> None:
    names = ["model-00002-of-00003.safetensors", "model-00001-of-00003.safetensors",
             "model-00003-of-00003.safetensors", "adapter.safetensors"]
    assert check_safetensors_shards(names) == []


def test_one_missing_shard() -> None:
    names = ["model-00001-of-00003.safetensors", "model-00003-of-00003.safetensors"]
    assert check_safetensors_shards(names) == [ShardProblem(
        "incomplete shard set: found 2 of 3 shards of `model-*-of-00003.safetensors`; "
        "missing `model-00002-of-00003.safetensors`",
        missing=("model-00002-of-00003.safetensors",),
    )]


def test_two_missing_shards_in_a_subfolder() -> None:
    names = ["text_encoder/model-00003-of-00004.safetensors", "text_encoder/model-00001-of-00004.safetensors"]
    assert check_safetensors_shards(names) == [ShardProblem(
        "incomplete shard set: found 2 of 4 shards of `text_encoder/model-*-of-00004.safetensors`; "
        "missing `text_encoder/model-00002-of-00004.safetensors`, `text_encoder/model-00004-of-00004.safetensors`",
        missing=("text_encoder/model-00002-of-00004.safetensors", "text_encoder/model-00004-of-00004.safetensors"),
    )]


@pytest.mark.parametrize(("name", "message"), [
    ("model-00000-of-00002.safetensors",
     "shard number out of range: `model-00000-of-00002.safetensors` is shard 0, but a set of 2 is numbered 1 to 2"),
    ("model-00003-of-00002.safetensors",
     "shard number out of range: `model-00003-of-00002.safetensors` is shard 3, but a set of 2 is numbered 1 to 2"),
])
def test_shard_number_out_of_range(name: str, message: str) -> None:
    names = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors", name]
    assert check_safetensors_shards(names) == [ShardProblem(message, extra=(name,))]


def test_two_sets_in_one_folder_are_checked_apart() -> None:
    names = [
        "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
        "ema-00002-of-00002.safetensors",
        "model-00001-of-00003.safetensors",
    ]
    assert check_safetensors_shards(names) == [
        ShardProblem("incomplete shard set: found 1 of 2 shards of `ema-*-of-00002.safetensors`; "
                     "missing `ema-00001-of-00002.safetensors`", missing=("ema-00001-of-00002.safetensors",)),
        ShardProblem("incomplete shard set: found 1 of 3 shards of `model-*-of-00003.safetensors`; "
                     "missing `model-00002-of-00003.safetensors`, `model-00003-of-00003.safetensors`",
                     missing=("model-00002-of-00003.safetensors", "model-00003-of-00003.safetensors")),
    ]


def test_same_set_name_in_two_folders_is_two_sets() -> None:
    names = ["a/model-00001-of-00002.safetensors", "a/model-00002-of-00002.safetensors",
             "b/model-00002-of-00002.safetensors"]
    assert [p.missing for p in check_safetensors_shards(names)] == [("b/model-00001-of-00002.safetensors",)]


def test_names_that_only_look_like_shards_are_ignored() -> None:
    assert check_safetensors_shards(["model-0001-of-0002.safetensors", "model-00001-of-00002.gguf",
                                     "-00001-of-00002.safetensors"]) == []


# -- index files ------------------------------------------------------------------------------------------


def write_json(tmp_path: Path, name: str, doc: object) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return path


def test_read_index(tmp_path: Path) -> None:
    doc = {"metadata": {"total_size": 988065664, "total_parameters": 494032768},
           "weight_map": {"lm_head.weight": "model-00002-of-00002.safetensors",
                          "model.embed_tokens.weight": "model-00001-of-00002.safetensors",
                          "model.norm.weight": "model-00002-of-00002.safetensors"}}
    index = read_safetensors_index(write_json(tmp_path, "model.safetensors.index.json", doc))
    assert index == SafetensorsIndex(doc["weight_map"], doc["metadata"])
    assert index.files == ("model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors")


def test_index_without_metadata(tmp_path: Path) -> None:
    index = read_safetensors_index(write_json(tmp_path, "i.json", {"weight_map": {"w": "a.safetensors"}}))
    assert index.metadata == {}


@pytest.mark.parametrize(("content", "message"), [
    ("[]", "expected a JSON object, found a list"),
    ("{}", "`weight_map` is missing"),
    ('{"weight_map": []}', "`weight_map` must be a map of tensor names to file names, not a list"),
    ('{"weight_map": {"w": 3}}', "`weight_map` maps `w` to a number, not a file name"),
    ('{"weight_map": {"w": ""}}', "`weight_map` maps `w` to a string, not a file name"),
    ('{"weight_map": {}, "metadata": 7}', "`metadata` must be an object, not a number"),
    ('{"weight_map": {"w": "a", "w": "b"}}', "the key `w` appears twice in one object"),
    ('{"weight_map": ', "not valid JSON: expecting value (line 1, column 16)"),
    ("[" * 100_000 + "]" * 100_000, "the JSON nests too deeply"),
    ("9" * 5000, "a number has too many digits"),
])
def test_bad_index(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "i.json"
    path.write_text(content)
    with pytest.raises(SafetensorsError) as info:
        read_safetensors_index(path)
    assert info.value.message == message


def test_index_json_error_offset_is_in_bytes(tmp_path: Path) -> None:
    path = tmp_path / "i.json"
    path.write_bytes('\ufeff{"é": x}'.encode())
    with pytest.raises(SafetensorsError) as info:
        read_safetensors_index(path)
    assert info.value.offset == len('\ufeff{"é": '.encode())


def test_index_size_is_capped_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "big.index.json"
    with path.open("wb") as f:
        f.truncate(MAX_JSON_SIZE + 1)  # sparse: no disk used
    with pytest.raises(SafetensorsError) as info:
        read_safetensors_index(path)
    assert info.value.message == f"the file is {MAX_JSON_SIZE + 1} bytes; at most {MAX_JSON_SIZE} are allowed"
    assert info.value.offset == 0


INDEX = SafetensorsIndex({"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors",
                          "c": "model-00002-of-00002.safetensors"}, {})


def test_index_matches_the_files() -> None:
    present = ["sub/model-00002-of-00002.safetensors", "sub/model-00001-of-00002.safetensors",
               "sub/config.json", "sub/model.safetensors.index.json"]
    assert check_index(INDEX, present) == []


def test_index_names_a_missing_file() -> None:
    assert check_index(INDEX, ["model-00002-of-00002.safetensors"]) == [ShardProblem(
        "the index names 1 file that is missing: `model-00001-of-00002.safetensors`",
        missing=("model-00001-of-00002.safetensors",),
    )]


def test_index_misses_a_present_file() -> None:
    present = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors", "consolidated.safetensors"]
    assert check_index(INDEX, present) == [ShardProblem(
        "1 file is not in the index: `consolidated.safetensors`", extra=("consolidated.safetensors",),
    )]


def test_index_with_both_missing_and_extra_files() -> None:
    present = ["model.safetensors", "consolidated.safetensors"]
    assert check_index(INDEX, present) == [
        ShardProblem("the index names 2 files that are missing: `model-00001-of-00002.safetensors`, "
                     "`model-00002-of-00002.safetensors`",
                     missing=("model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors")),
        ShardProblem("2 files are not in the index: `consolidated.safetensors`, `model.safetensors`",
                     extra=("consolidated.safetensors", "model.safetensors")),
    ]


# -- config.json -----------------------------------------------------------------------------------------


def config(tmp_path: Path, doc: object) -> HFConfig:
    return read_hf_config(write_json(tmp_path, "config.json", doc))


def test_read_qwen2_config(tmp_path: Path) -> None:
    doc = {"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "torch_dtype": "bfloat16",
           "max_position_embeddings": 32768, "max_window_layers": 21, "hidden_size": 896}
    assert config(tmp_path, doc) == HFConfig("qwen2", ("Qwen2ForCausalLM",), "bfloat16", 32768)


def test_empty_config(tmp_path: Path) -> None:
    assert config(tmp_path, {}) == HFConfig(None, (), None, None)


def test_newer_transformers_write_dtype(tmp_path: Path) -> None:
    assert config(tmp_path, {"dtype": "float16"}).torch_dtype == "float16"
    assert config(tmp_path, {"dtype": "float16", "torch_dtype": "bfloat16"}).torch_dtype == "bfloat16"


def test_context_key_priority_follows_hf_context_keys(tmp_path: Path) -> None:
    doc = {key: 1000 + i for i, key in enumerate(reversed(HF_CONTEXT_KEYS))}
    assert config(tmp_path, doc).context_length == 1000 + len(HF_CONTEXT_KEYS) - 1  # max_position_embeddings
    assert config(tmp_path, {"model_max_length": 512, "n_positions": 1024}).context_length == 1024
    assert config(tmp_path, {"model_max_length": 512, "max_sequence_length": 256}).context_length == 256


@pytest.mark.parametrize("bad", [0, -1, 2147483648, 10**30, True, 4096.0, "4096", None, [4096]])
def test_context_values_out_of_range_or_of_the_wrong_type_are_skipped(tmp_path: Path, bad: object) -> None:
    assert config(tmp_path, {"max_position_embeddings": bad, "n_ctx": 2048}).context_length == 2048
    assert config(tmp_path, {"max_position_embeddings": bad}).context_length is None


def test_context_upper_bound_is_int32_max(tmp_path: Path) -> None:
    assert config(tmp_path, {"n_ctx": 2147483647}).context_length == 2147483647


def test_loosely_typed_fields_read_as_absent(tmp_path: Path) -> None:
    doc = {"model_type": 7, "architectures": "LlamaForCausalLM", "torch_dtype": ["bfloat16"]}
    assert config(tmp_path, doc) == HFConfig(None, (), None, None)
    assert config(tmp_path, {"architectures": ["A", 3, "B"]}).architectures == ("A", "B")


def test_missing_config_raises_os_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_hf_config(tmp_path / "config.json")


@pytest.mark.parametrize(("content", "message"), [
    (b'{"model_type": "qwen2",}', "not valid JSON: expecting property name enclosed in double quotes "
                                  "(line 1, column 24)"),
    (b"[1]", "expected a JSON object, found a list"),
    (b'{"a": "\xff"}', "not valid UTF-8: invalid start byte"),
    (b"", "not valid JSON: expecting value (line 1, column 1)"),
    (b'{"a": 1, "a": 2}', "the key `a` appears twice in one object"),
])
def test_unreadable_config(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "config.json"
    path.write_bytes(content)
    with pytest.raises(HFConfigError) as info:
        read_hf_config(path)
    assert info.value.message == message


def test_config_with_a_bom_reads(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_bytes(b'\xef\xbb\xbf{"model_type": "llama"}')
    assert read_hf_config(path).model_type == "llama"
