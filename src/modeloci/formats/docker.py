"""Docker's model artifact format, exactly as Docker Model Runner reads and writes it.

REFERENCE.md §1 is the source: media types by role, the three layer
annotations on every layer, and the config JSON (``config``, ``descriptor``,
``rootfs`` in that order, Go struct field order inside ``config``).

Every layer also carries ``org.opencontainers.image.title``, in both formats:
oras (oras-go, oras-py) names a pulled file from it and nothing else, and
Docker Model Runner ignores annotations it does not know (REFERENCE.md §7.1).
It holds the layer's path, the base name for a file at the top of the model:
a nested file's base name alone (``text_encoder/config.json`` beside
``vae/config.json``) would make oras write two layers to one file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from modeloci.oci.digest import Digest
from modeloci.oci.jsonenc import go_json, go_map, go_time
from modeloci.oci.manifest import Blob
from modeloci.oci.mediatypes import MediaType

ANNOTATION_FILEPATH = "org.cncf.model.filepath"
ANNOTATION_METADATA = "org.cncf.model.file.metadata+json"
ANNOTATION_UNTESTED = "org.cncf.model.file.mediatype.untested"
ANNOTATION_TITLE = "org.opencontainers.image.title"

# Go declaration order of DMR's types.Config; `gguf`, `safetensors` and
# `diffusers` are Go maps and so get sorted keys.
CONFIG_FIELDS = (
    "format",
    "quantization",
    "parameters",
    "architecture",
    "size",
    "gguf",
    "safetensors",
    "diffusers",
    "context_size",
)
_MAP_FIELDS = frozenset({"gguf", "safetensors", "diffusers"})

WEIGHT_MEDIA_TYPES = {
    "gguf": MediaType.DOCKER_GGUF,
    "safetensors": MediaType.DOCKER_SAFETENSORS,
    "dduf": MediaType.DOCKER_DDUF,
}
ROLE_MEDIA_TYPES = {
    "model_file": MediaType.DOCKER_MODEL_FILE,
    "license": MediaType.DOCKER_LICENSE,
    "chat_template": MediaType.DOCKER_CHAT_TEMPLATE,
    "mmproj": MediaType.DOCKER_MMPROJ,
}
# DMR writes v0.2 (layer-per-file, nested paths) for safetensors, v0.1 otherwise.
CONFIG_MEDIA_TYPES = {
    "gguf": MediaType.DOCKER_CONFIG_V01,
    "dduf": MediaType.DOCKER_CONFIG_V01,
    "safetensors": MediaType.DOCKER_CONFIG_V02,
}


def file_metadata(name: str, size: int, mtime: int, mode: int = 0o644) -> str:
    """The ``org.cncf.model.file.metadata+json`` value: a JSON string in Go field order."""
    doc = {"name": name, "mode": mode, "uid": 0, "gid": 0, "size": size, "mtime": go_time(mtime), "typeflag": 0}
    return go_json(doc).decode("utf-8")


def layer_annotations(filepath: str, size: int, mtime: int) -> dict[str, str]:
    """The three annotations DMR sets on every layer, with normalised file metadata, and the title oras reads."""
    name = filepath.rsplit("/", 1)[-1]
    return {
        ANNOTATION_FILEPATH: filepath,
        ANNOTATION_METADATA: file_metadata(name, size, mtime),
        ANNOTATION_UNTESTED: "false",
        ANNOTATION_TITLE: filepath,
    }


def titled(annotations: Mapping[str, str], existing: Mapping[str, str], filepath: str) -> dict[str, str]:
    """A carried layer's annotations with a title: the one it had (a peer's may differ from its path), else its
    path."""
    return {**annotations, ANNOTATION_TITLE: existing.get(ANNOTATION_TITLE) or filepath}


def config_blob(
    media_type: str,
    fields: Mapping[str, Any],
    diff_ids: Sequence[Digest],
    *,
    created: int | str | None,
) -> Blob:
    """The config blob: known ``config`` fields in Go order, unknown ones after them, sorted."""
    config: dict[str, Any] = {}
    for key in [*CONFIG_FIELDS, *sorted(set(fields) - set(CONFIG_FIELDS))]:
        value = fields.get(key)
        if value is None or value in ("", {}):
            continue  # Go's omitempty
        config[key] = go_map(value) if key in _MAP_FIELDS else value
    if isinstance(created, int):
        created = go_time(created)
    descriptor = {"created": created} if created is not None else {}
    doc = {
        "config": config,
        "descriptor": descriptor,
        "rootfs": {"type": "rootfs", "diff_ids": [str(d) for d in diff_ids]},
    }
    return Blob(media_type, go_json(doc))
