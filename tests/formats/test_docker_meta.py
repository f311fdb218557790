"""Docker Model Runner's metadata strings, reproduced exactly (REFERENCE.md §1.4, §4.6)."""

from __future__ import annotations

import struct

import pytest

from modeloci.formats import docker_meta as meta
from modeloci.model.gguf import TensorInfo, Value, ValueType, parse_gguf_header


@pytest.mark.parametrize(("count", "text"), [
    (0, "0"), (183, "183"), (1000, "1K"), (1500, "1.50K"), (136_730_000, "136.73M"),
    (999_999_999, "1000M"), (8_030_261_248, "8.03B"), (1_000_000_000_000_000, "1Q"),
])
def test_gguf_parameters(count: int, text: str) -> None:
    assert meta.gguf_parameters(count) == text


@pytest.mark.parametrize(("size", "text"), [
    (0, "0B"), (864, "864B"), (1000, "1KB"), (1024, "1KiB"), (268_800_000, "256.35MiB"),
    (1_050_000_000, "1.05GB"), (4_920_000_000, "4.58GiB"), (2**40, "1TiB"),
])
def test_gguf_bytes(size: int, text: str) -> None:
    assert meta.gguf_bytes(size) == text


@pytest.mark.parametrize(("count", "text"), [
    (0, "0.00"), (183, "183.00"), (494_032_768, "494.03M"), (8_030_261_248, "8.03B"),
])
def test_safetensors_parameters(count: int, text: str) -> None:
    assert meta.safetensors_parameters(count) == text


@pytest.mark.parametrize(("size", "text"), [(0, "n/a"), (16, "16.00B"), (988_100_000, "988.10MB"), (1500, "1.50kB")])
def test_safetensors_size(size: int, text: str) -> None:
    assert meta.safetensors_size(size) == text


def test_safetensors_quantization() -> None:
    assert meta.safetensors_quantization(["BF16", "BF16"]) == "BF16"
    assert meta.safetensors_quantization(["BF16", "F32"]) == "mixed"
    assert meta.safetensors_quantization([]) == "unknown"


def _header(tensors: list[tuple[str, int]]):
    """A parsed header holding tensors of the given ggml types (no metadata)."""
    import dataclasses

    base = parse_gguf_header(b"GGUF" + struct.pack("<IQQ", 3, 0, 0) + b"\0" * 32)
    infos = tuple(TensorInfo(name, (4, 4), ggml_type, 0) for name, ggml_type in tensors)
    return dataclasses.replace(base, tensors=infos)


@pytest.mark.parametrize(("file_type", "name"), [
    (0, "MOSTLY_F32"), (1, "MOSTLY_F16"), (7, "MOSTLY_Q8_0"), (15, "MOSTLY_Q4_K_M"), (32, "MOSTLY_BF16"),
    (38, "MOSTLY_MXFP4"), (40, "GGUFFileType(40)"), (1024, "GGUFFileType(1024)"),
])
def test_quantization_from_file_type(file_type: int, name: str) -> None:
    assert meta.gguf_quantization(file_type, [], "llama") == name


def test_quantization_guessed_from_block_tensors_when_file_type_is_absent() -> None:
    q4k_m = _header([("blk.0.a", 12), ("blk.0.b", 12), ("blk.0.c", 12), ("blk.0.d", 14), ("blk.0.e", 0),
                     ("blk.0.f", 0), ("token_embd.weight", 8)])
    assert meta.gguf_quantization(None, [q4k_m], "llama") == "MOSTLY_Q4_K_M"
    q8 = _header([("blk.0.a", 8), ("output.weight", 1)])
    assert meta.gguf_quantization(None, [q8], "llama") == "MOSTLY_Q8_0"
    all_f32 = _header([("blk.0.a", 0)])
    assert meta.gguf_quantization(None, [all_f32], "llama") == "MOSTLY_F32"
    assert meta.gguf_quantization(None, [_header([])], "llama") == "Unknown"
    assert meta.gguf_quantization(39, [_header([])], "llama") == "Unknown"  # 39 is always guessed


def test_gguf_value_text_follows_dmr() -> None:
    assert meta.gguf_value_text(Value(ValueType.FLOAT32, 1e-5)) == "0.000010"
    assert meta.gguf_value_text(Value(ValueType.FLOAT64, float("inf"))) == "+Inf"
    assert meta.gguf_value_text(Value(ValueType.BOOL, True)) == "true"
    assert meta.gguf_value_text(Value(ValueType.INT32, -3)) == "-3"
    assert meta.gguf_value_text(Value(ValueType.STRING, "\n {{ x }}\n\n")) == "{{ x }}"
    assert meta.gguf_value_text(Value(ValueType.ARRAY, [1, 2], ValueType.UINT32, 2)) == "1, 2"
    assert meta.gguf_value_text(Value(ValueType.ARRAY, [0.5], ValueType.FLOAT32, 1)) == "0.500000"
    assert meta.gguf_value_text(Value(ValueType.ARRAY, None, ValueType.STRING, 51)) is None
    assert meta.gguf_value_text(Value(ValueType.ARRAY, None, ValueType.ARRAY, 2)) == ""


def test_go_trim_is_go_whitespace_only() -> None:
    assert meta.go_trim("\u00a0 x \u200b") == "x \u200b"  # U+200B is not space to Go


def test_model_size_uses_gguf_parser_go_padding() -> None:
    header = _header([])
    import dataclasses

    aligned = dataclasses.replace(header, header_end=64, file_size=1000, alignment=32)
    assert aligned.data_offset == 64 and aligned.tensor_data_size == 936
    assert meta.gguf_model_size(aligned) == 1000 - 96  # a whole alignment more when already aligned
    unaligned = dataclasses.replace(header, header_end=70, file_size=1000, alignment=32)
    assert meta.gguf_model_size(unaligned) == 1000 - 96
