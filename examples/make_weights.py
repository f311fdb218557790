#!/usr/bin/env python3
"""Write the tiny GGUF files the examples package.

They are real GGUF v3 files: a valid header, metadata a runtime would read
(architecture, context length, file type, a small vocabulary), tensor infos
and aligned tensor data, only a few KB each. The values are fixed, so running
this script again rewrites the same bytes; a test checks that the committed
files match it.

    python examples/make_weights.py
"""

from __future__ import annotations

import struct
from pathlib import Path

HERE = Path(__file__).resolve().parent
ALIGNMENT = 32

# GGUF value types (ggml docs/gguf.md)
UINT32, INT32, FLOAT32, BOOL, STRING, ARRAY, UINT16 = 4, 5, 6, 7, 8, 9, 2
GGML_F32, GGML_F16 = 0, 1


def _string(text: str) -> bytes:
    data = text.encode("utf-8")
    return struct.pack("<Q", len(data)) + data


def _value(kind: int, value: object) -> bytes:
    if kind == STRING:
        return _string(value)  # type: ignore[arg-type]
    if kind == ARRAY:
        elem_kind, items = value  # type: ignore[misc]
        return struct.pack("<IQ", elem_kind, len(items)) + b"".join(_value(elem_kind, v) for v in items)
    fmt = {UINT16: "<H", UINT32: "<I", INT32: "<i", FLOAT32: "<f", BOOL: "<?"}[kind]
    return struct.pack(fmt, value)


def _tensor_data(shape: tuple[int, ...], ggml_type: int, seed: int) -> bytes:
    count = 1
    for dim in shape:
        count *= dim
    values = [((i * 37 + seed * 11) % 97 - 48) / 64.0 for i in range(count)]
    fmt = f"<{count}f" if ggml_type == GGML_F32 else f"<{count}e"
    return struct.pack(fmt, *values)


def write_gguf(
    path: Path, metadata: list[tuple[str, int, object]], tensors: list[tuple[str, tuple[int, ...], int]]
) -> None:
    """A GGUF v3 file with the given metadata and tensors (F32 or F16)."""
    header = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(metadata))
    header += b"".join(_string(key) + struct.pack("<I", kind) + _value(kind, value) for key, kind, value in metadata)
    blobs: list[bytes] = []
    offset = 0
    for seed, (name, shape, ggml_type) in enumerate(tensors):
        header += _string(name) + struct.pack("<I", len(shape)) + b"".join(struct.pack("<Q", d) for d in shape)
        header += struct.pack("<IQ", ggml_type, offset)
        data = _tensor_data(shape, ggml_type, seed)
        data += b"\0" * (-len(data) % ALIGNMENT)
        blobs.append(data)
        offset += len(data)
    header += b"\0" * (-len(header) % ALIGNMENT)
    path.write_bytes(header + b"".join(blobs))


VOCAB = ["<unk>", "<s>", "</s>", "<|im_start|>", "<|im_end|>", "▁hello", "▁world", "▁model", "!", "?"]


def _llama_metadata(name: str, file_type: int) -> list[tuple[str, int, object]]:
    return [
        ("general.architecture", STRING, "llama"),
        ("general.name", STRING, name),
        ("general.file_type", UINT32, file_type),
        ("general.alignment", UINT32, ALIGNMENT),
        ("llama.context_length", UINT32, 2048),
        ("llama.embedding_length", UINT32, 8),
        ("llama.block_count", UINT32, 1),
        ("llama.attention.head_count", UINT32, 2),
        ("tokenizer.ggml.model", STRING, "llama"),
        ("tokenizer.ggml.tokens", ARRAY, (STRING, VOCAB)),
        ("tokenizer.ggml.scores", ARRAY, (FLOAT32, [0.0] * len(VOCAB))),
        ("tokenizer.ggml.bos_token_id", UINT32, 1),
        ("tokenizer.ggml.eos_token_id", UINT32, 2),
    ]


def single_gguf() -> None:
    write_gguf(
        HERE / "single-gguf" / "tiny-llama-F32.gguf",
        _llama_metadata("Tiny Llama", 0),
        [("token_embd.weight", (8, len(VOCAB)), GGML_F32), ("output_norm.weight", (8,), GGML_F32)],
    )


def sharded_vision() -> None:
    folder = HERE / "sharded-vision"
    shards = [
        [("token_embd.weight", (8, len(VOCAB)), GGML_F16)],
        [("blk.0.attn_q.weight", (8, 8), GGML_F16), ("output_norm.weight", (8,), GGML_F32)],
    ]
    for number, tensors in enumerate(shards):
        split = [("split.no", UINT16, number), ("split.count", UINT16, len(shards)), ("split.tensors.count", INT32, 3)]
        first = _llama_metadata("Tiny Vision", 1) if number == 0 else [("general.architecture", STRING, "llama")]
        metadata = first + split
        write_gguf(folder / f"tiny-vision-{number + 1:05d}-of-{len(shards):05d}.gguf", metadata, tensors)
    write_gguf(
        folder / "mmproj-tiny-vision-F16.gguf",
        [
            ("general.architecture", STRING, "clip"),
            ("general.type", STRING, "mmproj"),
            ("general.name", STRING, "Tiny Vision projector"),
            ("general.file_type", UINT32, 1),
            ("clip.has_vision_encoder", BOOL, True),
            ("clip.projector_type", STRING, "mlp"),
            ("clip.vision.image_size", UINT32, 32),
        ],
        [("mm.0.weight", (8, 8), GGML_F16), ("mm.0.bias", (8,), GGML_F32)],
    )


def write_safetensors(path: Path, tensors: list[tuple[str, str, tuple[int, ...]]], metadata: dict[str, str]) -> None:
    """A safetensors file: 8-byte header length, JSON header, then the tensors' bytes."""
    import json

    sizes = {"BF16": 2, "F32": 4}
    header: dict[str, object] = {"__metadata__": metadata}
    data = b""
    for seed, (name, dtype, shape) in enumerate(tensors):
        values = _tensor_data(shape, GGML_F32, seed)
        # BF16 is the top half of F32.
        blob = b"".join(values[i + 2 : i + 4] for i in range(0, len(values), 4)) if dtype == "BF16" else values
        assert len(blob) == sizes[dtype] * (len(values) // 4)
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [len(data), len(data) + len(blob)]}
        data += blob
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)


def hf_safetensors() -> None:
    folder = HERE / "hf-safetensors" / "tiny-qwen"
    folder.mkdir(parents=True, exist_ok=True)
    write_safetensors(
        folder / "model.safetensors",
        [("model.embed_tokens.weight", "BF16", (len(VOCAB), 8)), ("model.norm.weight", "BF16", (8,))],
        {"format": "pt"},
    )


if __name__ == "__main__":
    single_gguf()
    sharded_vision()
    hf_safetensors()
