"""Tiny, real-format model files for tests: GGUF (via examples/make_weights.py) and safetensors."""

from __future__ import annotations

import importlib.util
import json
import struct
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("make_weights", REPO / "examples" / "make_weights.py")
assert _spec is not None and _spec.loader is not None
make_weights = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_weights)

STRING, UINT32, UINT16, INT32, BOOL = (
    make_weights.STRING, make_weights.UINT32, make_weights.UINT16, make_weights.INT32, make_weights.BOOL
)


def gguf(path: Path, *, arch: str = "llama", metadata: list | None = None, tensors: list | None = None,
         split: tuple[int, int] | None = None) -> Path:
    """Write a small valid GGUF v3 file; ``split`` = (0-based shard number, shard count)."""
    kvs = [("general.architecture", STRING, arch), ("general.file_type", UINT32, 0)]
    kvs += metadata or []
    if split is not None:
        kvs += [("split.no", UINT16, split[0]), ("split.count", UINT16, split[1]), ("split.tensors.count", INT32, 1)]
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = tensors if tensors is not None else [("blk.0.w", (4, 4), make_weights.GGML_F32)]
    make_weights.write_gguf(path, kvs, tensors)
    return path


def mmproj(path: Path) -> Path:
    metadata = [("general.type", STRING, "mmproj"), ("clip.has_vision_encoder", BOOL, True)]
    return gguf(path, arch="clip", metadata=metadata)


def safetensors(path: Path, tensors: dict[str, tuple[str, list[int]]] | None = None,
                metadata: dict[str, str] | None = None) -> Path:
    """Write a small valid safetensors file: each tensor ``name: (dtype, shape)``, zero-filled."""
    sizes = {"F32": 4, "F16": 2, "BF16": 2, "I8": 1, "U8": 1, "I64": 8}
    header: dict[str, object] = {"__metadata__": metadata} if metadata else {}
    offset = 0
    for name, (dtype, shape) in (tensors or {"w": ("F16", [2, 2])}).items():
        count = 1
        for dim in shape:
            count *= dim
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + count * sizes[dtype]]}
        offset += count * sizes[dtype]
    blob = json.dumps(header).encode()
    blob += b" " * (-len(blob) % 8)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(struct.pack("<Q", len(blob)) + blob + b"\0" * offset)
    return path


def gguf_bytes(**kwargs: object) -> bytes:
    """The bytes of a small valid GGUF file (see :func:`gguf`)."""
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        return gguf(Path(folder) / "m.gguf", **kwargs).read_bytes()  # type: ignore[arg-type]
