"""The model metadata strings Docker Model Runner writes into its config, reproduced exactly.

DMR derives ``parameters``, ``size``, ``quantization``, ``architecture``,
``context_size`` and the ``gguf``/``safetensors`` maps from the weights with
gpustack/gguf-parser-go and its own code (REFERENCE.md §1.4). Every rule here,
quirks included, follows theirs, so that a model packaged by modeloci carries
the same strings as one packaged by ``docker model package``:

- GGUF ``parameters`` and ``size`` use gguf-parser-go's scalars (two decimals,
  a trailing ``.00`` dropped, IEC units tried before decimal ones for bytes),
  with DMR's space between number and unit removed;
- GGUF ``size`` is the tensor data size as gguf-parser-go measures it, whose
  padding after the header is a whole alignment when already aligned;
- safetensors numbers use go-units' ``CustomSize("%.2f%s", ...)``, which divides
  by 1000 repeatedly.

One deliberate divergence: for sharded safetensors, parameters, dtypes and the
tensor count cover every shard, where DMR reads only the first shard's header.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

from modeloci.model.gguf import GGUFHeader, Value, ValueType
from modeloci.model.hfdir import HFConfig
from modeloci.model.safetensors import SafetensorsHeader

_INT32_MAX = 2**31 - 1

_NUMBER_UNITS = ((1e15, "Q"), (1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K"))
_BYTE_UNITS = (
    (2**50, "Pi"), (1e15, "P"), (2**40, "Ti"), (1e12, "T"), (2**30, "Gi"),
    (1e9, "G"), (2**20, "Mi"), (1e6, "M"), (2**10, "Ki"), (1e3, "K"),
)

# llama.cpp LLAMA_FTYPE_* names (REFERENCE.md §4.6), as gguf-parser-go v0.17+ spells
# them after "MOSTLY_" (value 0 is MOSTLY_F32, 38 is MOSTLY_MXFP4).
FILE_TYPE_NAMES = {
    0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 4: "Q4_1_SOME_F16", 5: "Q4_2", 6: "Q4_3", 7: "Q8_0",
    8: "Q5_0", 9: "Q5_1", 10: "Q2_K", 11: "Q3_K_S", 12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S",
    15: "Q4_K_M", 16: "Q5_K_S", 17: "Q5_K_M", 18: "Q6_K", 19: "IQ2_XXS", 20: "IQ2_XS", 21: "Q2_K_S",
    22: "IQ3_XS", 23: "IQ3_XXS", 24: "IQ1_S", 25: "IQ4_NL", 26: "IQ3_S", 27: "IQ3_M", 28: "IQ2_S",
    29: "IQ2_M", 30: "IQ4_XS", 31: "IQ1_M", 32: "BF16", 33: "Q4_0_4_4", 34: "Q4_0_4_8", 35: "Q4_0_8_8",
    36: "TQ1_0", 37: "TQ2_0", 38: "MXFP4",
}
# ggml tensor type -> file type, for files without general.file_type (gguf-parser-go's guess).
_GGML_TO_FILE_TYPE = {
    1: 1, 2: 2, 3: 3, 6: 8, 7: 9, 8: 7, 10: 10, 16: 19, 17: 20, 18: 23, 19: 24, 20: 25, 21: 26,
    22: 28, 23: 30, 29: 31, 30: 32, 34: 36, 35: 37, 39: 38,
}
_Q3_K, _Q4_K, _Q5_K, _Q6_K, _F32 = 11, 12, 13, 14, 0


def _scalar(value: float, units: Sequence[tuple[float, str]]) -> tuple[str, str]:
    base, unit = 1.0, ""
    for candidate, name in units:
        if value >= candidate:
            base, unit = candidate, name
            break
    text = f"{value / base:.2f}"
    return text.removesuffix(".00"), unit


def gguf_parameters(count: int) -> str:
    """``8030261248`` -> ``8.03B``; ``183`` -> ``183`` (gguf-parser-go, spaces removed by DMR)."""
    if count == 0:
        return "0"
    number, unit = _scalar(count, _NUMBER_UNITS)
    return number + unit


def gguf_bytes(size: int) -> str:
    """``864`` -> ``864B``; ``268800000`` -> ``256.35MiB``; ``1050000000`` -> ``1.05GB``."""
    if size == 0:
        return "0B"
    number, unit = _scalar(size, _BYTE_UNITS)
    return number + unit + "B"


def gguf_model_size(header: GGUFHeader) -> int:
    """Tensor data bytes as gguf-parser-go counts them (its padding is A, not 0, when aligned)."""
    start = header.header_end + header.alignment - header.header_end % header.alignment
    return max(0, header.file_size - start)


def gguf_quantization(file_type: object, headers: Sequence[GGUFHeader], architecture: str) -> str:
    """``general.file_type`` named the way current DMR names it (``MOSTLY_Q4_K_M``)."""
    if isinstance(file_type, int) and not isinstance(file_type, bool):
        if file_type in FILE_TYPE_NAMES:
            return "MOSTLY_" + FILE_TYPE_NAMES[file_type]
        if file_type != 39:
            return f"GGUFFileType({file_type})"
    guessed = _guess_file_type(headers, architecture)
    return "MOSTLY_" + FILE_TYPE_NAMES[guessed] if guessed is not None else "Unknown"


def _guess_file_type(headers: Sequence[GGUFHeader], architecture: str) -> int | None:
    """gguf-parser-go's guess from the most common tensor type of the repeating blocks."""
    counts: Counter[int] = Counter()
    for header in headers:
        for tensor in header.tensors:
            if architecture == "diffusion" and not tensor.name.endswith(".weight"):
                continue
            if architecture != "diffusion" and not tensor.name.startswith("blk."):
                continue
            counts[tensor.ggml_type] += 1
    if not counts:
        return None
    # Ties are broken by type id so the guess never depends on iteration order.
    ranked = [t for t, _ in sorted(counts.items(), key=lambda item: (-item[1], item[0]))]
    if ranked[0] == _F32:
        if len(ranked) == 1:
            return 0
        ranked[0] = ranked[1]  # as gguf-parser-go does: the list becomes [t1, t1, t2, ...]
    top = ranked[0]
    if top == _Q3_K:
        return {_Q4_K: 12, _Q5_K: 13}.get(ranked[1], 11) if len(ranked) > 1 else 11
    if top in (_Q4_K, _Q5_K):
        medium = len(ranked) > 2 and ranked[2] == _Q6_K
        return (15 if medium else 14) if top == _Q4_K else (17 if medium else 16)
    if top == _Q6_K:
        return 18
    return _GGML_TO_FILE_TYPE.get(top)


def gguf_value_text(value: Value) -> str | None:
    """A metadata value as DMR's ``gguf`` map shows it; None for arrays it leaves out."""
    if value.type is ValueType.ARRAY:
        if value.count > 50 or value.element_type is ValueType.ARRAY:
            return None if value.count > 50 else ""
        items = value.value if isinstance(value.value, list) else []
        return ", ".join(_text(value.element_type, item) for item in items)
    return _text(value.type, value.value)


def _text(kind: ValueType | None, value: object) -> str:
    if kind is ValueType.STRING:
        return go_trim(str(value))
    if kind is ValueType.BOOL:
        return "true" if value else "false"
    if not isinstance(value, (int, float)):  # the GGUF reader decodes every other kind to a number
        raise TypeError(f"a GGUF {kind} value that is not a number: {value!r}")
    if kind in (ValueType.FLOAT32, ValueType.FLOAT64):
        number = float(value)
        if math.isnan(number):
            return "NaN"
        if math.isinf(number):
            return "+Inf" if number > 0 else "-Inf"
        return f"{number:f}"
    return str(int(value))


_GO_SPACE = ("\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
             "\u2028\u2029\u202f\u205f\u3000")


def go_trim(text: str) -> str:
    """strings.TrimSpace: trims what Go's unicode.IsSpace calls space (not Python's wider set)."""
    return text.strip(_GO_SPACE)


def gguf_map(headers: Sequence[GGUFHeader]) -> dict[str, str]:
    """Every KV of every shard as text (later shards win), ``split.no`` left out."""
    out: dict[str, str] = {}
    for header in headers:
        for key, value in header.metadata.items():
            text = gguf_value_text(value)
            if text is not None:
                out[key] = text
    out.pop("split.no", None)
    return out


def safetensors_parameters(count: int) -> str:
    """go-units ``CustomSize("%.2f%s", n, 1000, ["", "K", "M", "B", "T"])``: ``494.03M``, ``183.00``."""
    return _custom_size(count, ("", "K", "M", "B", "T"))


def safetensors_size(size: int) -> str:
    """Total weight bytes, ``%.2f`` with decimal units (``988.10MB``); ``n/a`` when zero."""
    if size == 0:
        return "n/a"
    return _custom_size(size, ("B", "kB", "MB", "GB", "TB", "PB", "EB"))


def _custom_size(value: float, units: Sequence[str]) -> str:
    i = 0
    while value >= 1000.0 and i < len(units) - 1:
        value /= 1000.0
        i += 1
    return f"{value:.2f}{units[i]}"


def safetensors_quantization(dtypes: Sequence[str]) -> str:
    """The one dtype all tensors share, ``mixed`` for several, ``unknown`` for none."""
    distinct = {d for d in dtypes if d}
    if not distinct:
        return "unknown"
    return distinct.pop() if len(distinct) == 1 else "mixed"


def merged_metadata(headers: Sequence[GGUFHeader]) -> dict[str, object]:
    """The decoded metadata of every shard, later shards winning (as gguf-parser-go merges them)."""
    merged: dict[str, object] = {}
    for header in headers:
        merged.update({key: value.value for key, value in header.metadata.items()})
    return merged


def gguf_architecture(merged: dict[str, object], headers: Sequence[GGUFHeader]) -> str:
    for key in ("controlvector.model_hint", "general.architecture"):
        value = merged.get(key)
        if isinstance(value, str):
            return go_trim(value)
    names = [t.name for h in headers for t in h.tensors]
    diffusion = any(n.startswith(("model.diffusion_model.", "double_blocks.")) for n in names)
    return "diffusion" if diffusion else "llama"


def gguf_fields(headers: Sequence[GGUFHeader]) -> dict[str, object]:
    """The config fields Docker Model Runner derives from a GGUF model (all its shards, in order)."""
    merged = merged_metadata(headers)
    architecture = gguf_architecture(merged, headers)
    fields: dict[str, object] = {
        "quantization": gguf_quantization(merged.get("general.file_type"), headers, architecture),
        "parameters": gguf_parameters(sum(h.parameter_count for h in headers)),
        "architecture": architecture,
        "size": gguf_bytes(sum(gguf_model_size(h) for h in headers)),
        "gguf": gguf_map(headers),
    }
    context = merged.get(f"{architecture}.context_length")
    if isinstance(context, int) and not isinstance(context, bool) and 0 < context <= _INT32_MAX:
        fields["context_size"] = context
    return fields


def safetensors_fields(headers: Sequence[SafetensorsHeader], total_size: int, hf: HFConfig | None) -> dict[str, object]:
    """The config fields for safetensors weights (every shard), with config.json's model type and context."""
    metadata: dict[str, str] = {}
    for header in headers:
        metadata.update(header.metadata)
    fields: dict[str, object] = {
        "quantization": safetensors_quantization([t.dtype for h in headers for t in h.tensors]),
        "parameters": safetensors_parameters(sum(h.parameter_count for h in headers)),
        "architecture": metadata.get("architecture") or (hf.model_type if hf else None),
        "size": safetensors_size(total_size),
        "safetensors": {**metadata, "tensor_count": str(sum(len(h.tensors) for h in headers))},
    }
    if hf is not None and hf.context_length is not None:
        fields["context_size"] = hf.context_length
    return {k: v for k, v in fields.items() if v is not None}


def dduf_fields(name: str, total_size: int) -> dict[str, object]:
    return {"architecture": "diffusers", "size": safetensors_size(total_size),
            "diffusers": {"layout": "dduf", "dduf_file": name}}
