"""Re-deriving what a model is from the blobs of an existing artifact, read in place.

When an artifact changes format (``convert``, or ``FROM`` a base in the other
format), its config is not translated word by word: the facts are read again
from the weights' headers, inside the archive, and each format says them its
own way. Only headers (and a small ``config.json``) are read.
"""

from __future__ import annotations

from pathlib import Path

from modeloci.formats import docker_meta as meta
from modeloci.formats.artifact import Artifact, ModelLayer
from modeloci.formats.facts import ModelFacts, gguf_facts, safetensors_facts
from modeloci.formats.modelcar import file_digest
from modeloci.formats.modelcar_layers import file_member
from modeloci.formats.roles import Role
from modeloci.jsondoc import InvalidJSON, load_json
from modeloci.model.gguf import read_gguf_header
from modeloci.model.hfdir import HF_CONTEXT_KEYS, HFConfig
from modeloci.model.safetensors import read_safetensors_header
from modeloci.oci.digest import Digest
from modeloci.oci.layout import Layout, locate_blob, read_blob

_MAX_CONFIG_JSON = 16 << 20


def weights_format(artifact: Artifact) -> str:
    """gguf, safetensors or dduf: from the config, else from the weight file names."""
    stated = artifact.config.format
    if stated in ("gguf", "safetensors", "dduf"):
        return stated
    names = [layer.filepath or "" for layer in artifact.layers if layer.role is Role.WEIGHTS]
    for fmt in ("safetensors", "dduf"):
        if names and all(name.endswith(f".{fmt}") for name in names):
            return fmt
    return "gguf"


def derive(layout: Layout, artifact: Artifact) -> tuple[ModelFacts, dict[str, object]]:
    """The model's facts and its Docker config fields, from the artifact's own blobs.

    Raises what the header readers raise (GGUFError, SafetensorsError, OSError).
    """
    weights = [layer for layer in artifact.files if layer.role is Role.WEIGHTS]
    places = [_place(layout, layer) for layer in weights]
    fmt = weights_format(artifact)
    if fmt == "gguf":
        headers = [read_gguf_header(path, offset=offset, size=size) for path, offset, size in places]
        return gguf_facts(headers), meta.gguf_fields(headers)
    if fmt == "safetensors":
        st = [read_safetensors_header(path, offset=offset, size=size) for path, offset, size in places]
        hf = _hf_config(layout, artifact)
        total = sum(size for _, _, size in places)
        return safetensors_facts(st, hf), meta.safetensors_fields(st, total, hf)
    name = (weights[0].filepath or "model.dduf").rsplit("/", 1)[-1] if weights else "model.dduf"
    return ModelFacts("dduf"), meta.dduf_fields(name, sum(size for _, _, size in places))


def _place(layout: Layout, layer: ModelLayer) -> tuple[Path, int, int]:
    """Where a weights file's bytes lie: its raw layer's blob, or its range of a modelcar's tar layer."""
    if layer.kind != "modelcar":
        return locate_blob(layout, layer.descriptor)
    source, member = file_member(layout, layer)
    return source.path, source.offset + (member.offset or 0), member.size


def _hf_config(layout: Layout, artifact: Artifact) -> HFConfig | None:
    """The ``config.json`` packaged beside the weights, as DMR reads it for the context length."""
    layer = next((layer for layer in artifact.layers if _is_config_json(layer)), None)
    if layer is None:
        return None
    data = _small_file(layout, layer)
    try:
        doc = load_json(data, "config.json") if data is not None else None
    except InvalidJSON:
        return None
    if not isinstance(doc, dict):
        return None
    context = next((doc[k] for k in HF_CONTEXT_KEYS if _good_length(doc.get(k))), None)
    model_type = doc.get("model_type") if isinstance(doc.get("model_type"), str) else None
    return HFConfig(model_type, (), None, context)


def _small_file(layout: Layout, layer: ModelLayer) -> bytes | None:
    """A file of at most ``_MAX_CONFIG_JSON`` bytes: its raw layer's blob, or its range of a modelcar's tar layer
    (checked against the digest its annotation claims, when it claims one)."""
    if layer.kind != "modelcar":
        if layer.descriptor.size > _MAX_CONFIG_JSON:
            return None
        return read_blob(layout, layer.descriptor.digest, size=layer.descriptor.size, limit=_MAX_CONFIG_JSON)
    source, member = file_member(layout, layer)
    if member.size > _MAX_CONFIG_JSON:
        return None
    with source.path.open("rb") as f:
        f.seek(source.offset + (member.offset or 0))
        data = f.read(member.size)
    claimed = file_digest(layer.descriptor.annotations)
    return data if len(data) == member.size and claimed in (None, Digest.of(data)) else None


def _is_config_json(layer: ModelLayer) -> bool:
    return layer.role is Role.MODEL_FILE and (layer.filepath or "").rsplit("/", 1)[-1] == "config.json"


def _good_length(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= 2**31 - 1
