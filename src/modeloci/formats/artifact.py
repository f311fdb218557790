"""Reading model artifacts of every kind through one set of interfaces (:mod:`.interfaces`, named here too).

Formats are told apart by content (REFERENCE.md §1.12): the manifest's
``artifactType``, then the config media type, then the config's keys.
Docker v0.1/v0.2, ModelPack, and ModelPack's pre-July-2025 names
(``application/vnd.cnai.*`` media types, ``org.cnai.*`` annotations) are read.
A modelcar (:mod:`.modelcar`) is a container image (an image config) some of
whose layers name a model file under ``models/``; its other layers belong to the
container image under the model (``kind`` ``image``), and a container image
with no model layer at all is read as one only for a modelcar's ``FROM``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from modeloci.errors import ArchiveError
from modeloci.formats import docker, modelcar, modelpack
from modeloci.formats.configs import DockerConfig, ModelcarConfig, ModelPackConfig
from modeloci.formats.interfaces import Format, Image, Model, ModelArtifact, ModelBundle, ModelConfig
from modeloci.formats.roles import Role
from modeloci.jsondoc import InvalidJSON, load_json
from modeloci.oci.digest import Digest
from modeloci.oci.layout import Layout, read_blob, read_manifest
from modeloci.oci.manifest import Descriptor, Manifest
from modeloci.oci.mediatypes import (
    CNAI_MODEL_PREFIX,
    CNCF_MODEL_PREFIX,
    DOCKER_AI_PREFIX,
    DOCKER_CONFIG_TYPES,
    MODELPACK_CONFIGS,
    MODELPACK_MANIFESTS,
    MediaType,
)

# DockerConfig is named too: it was defined here before formats/configs.py, and ops/unpack.py imports it from here.
__all__ = ["Artifact", "DockerConfig", "Format", "Image", "LayerKind", "Model", "ModelArtifact", "ModelBundle",
           "ModelConfig", "ModelLayer", "Packing", "created_of", "detect_format", "epoch_of", "filepath_of",
           "image_packing", "model_layer", "packing_of", "read_artifact", "role_of"]

# What a layer is: a file of a model format (raw, or one of ModelPack's tars), a modelcar's tar around one model
# file, or a layer of the container image under a modelcar's model.
LayerKind = Literal["file", "modelcar", "image"]


_DOCKER_ROLES: dict[str, Role] = {
    MediaType.DOCKER_GGUF: Role.WEIGHTS,
    MediaType.DOCKER_SAFETENSORS: Role.WEIGHTS,
    MediaType.DOCKER_DDUF: Role.WEIGHTS,
    MediaType.DOCKER_LICENSE: Role.LICENSE,
    MediaType.DOCKER_MMPROJ: Role.MMPROJ,
    MediaType.DOCKER_CHAT_TEMPLATE: Role.CHAT_TEMPLATE,
    MediaType.DOCKER_MODEL_FILE: Role.MODEL_FILE,
}


@dataclass(frozen=True, slots=True)
class ModelLayer:
    """A layer with what it is for and where it goes, read from either format.

    ``filepath`` is its path annotation, else its OCI title (all oras writes),
    else a name made from its role, so that no reader drops, or names by its
    digest, a layer a peer pushed unnamed.
    """

    descriptor: Descriptor
    role: Role
    filepath: str
    kind: LayerKind = "file"

    @property
    def metadata(self) -> str | None:
        annotations = self.descriptor.annotations
        return next((annotations[k] for k in modelpack.METADATA_KEYS if k in annotations), None)

    @property
    def packing(self) -> Packing:
        if self.kind != "file":
            return image_packing(self.descriptor.media_type)
        return packing_of(self.descriptor.media_type)

    @property
    def is_file(self) -> bool:
        """Whether the layer holds a model file (every layer but a container image's under a modelcar)."""
        return self.kind != "image"


Packing = Literal["raw", "tar", "tar+gzip", "tar+zstd"]
_PACKINGS: tuple[Packing, ...] = ("tar+gzip", "tar+zstd", "tar", "raw")


def packing_of(media_type: str) -> Packing:
    """How a layer holds its file: ``raw`` (the file itself) or a tar of it, maybe compressed.

    Only ModelPack's media types (``...v1.tar``, ``...v1.tar+gzip``, ``...v1.tar+zstd``; modctl writes ``.tar``)
    wrap files in a tar; Docker's model layers are raw files.
    """
    if media_type.startswith((CNCF_MODEL_PREFIX, CNAI_MODEL_PREFIX)):
        suffix = media_type.rsplit(".v1.", 1)[-1]
        return next((p for p in _PACKINGS if suffix == p), "raw")
    return "raw"


def image_packing(media_type: str) -> Packing:
    """How a container image's layer holds its files (OCI's and Docker's image layer types): a tar, maybe
    compressed."""
    if media_type.endswith(("+gzip", ".tar.gzip")):
        return "tar+gzip"
    return "tar+zstd" if media_type.endswith("+zstd") else "tar"


@dataclass(frozen=True, slots=True)
class Artifact:
    """A model artifact read from a layout: the one implementation of :class:`ModelArtifact`."""

    manifest: Manifest
    config_bytes: bytes
    format: Format
    config: DockerConfig | ModelPackConfig | ModelcarConfig
    layers: tuple[ModelLayer, ...]
    ref_name: str | None = None

    @property
    def digest(self) -> Digest:
        return self.manifest.digest

    @property
    def files(self) -> tuple[ModelLayer, ...]:
        """The layers that hold model files (a modelcar's container image layers left out)."""
        return tuple(layer for layer in self.layers if layer.is_file)


def detect_format(manifest: Manifest, config_doc: Mapping[str, Any]) -> Format | None:
    """Docker or ModelPack, by the rules of REFERENCE.md §1.12; None when it is neither."""
    if manifest.artifact_type in MODELPACK_MANIFESTS:
        return "modelpack"
    media_type = manifest.config.media_type
    if media_type in modelcar.IMAGE_CONFIG_TYPES:
        recorded = modelcar.history_paths(config_doc, len(manifest.layers))
        return "modelcar" if any(modelcar.model_file_path(d.media_type, d.annotations, path)
                                 for d, path in zip(manifest.layers, recorded, strict=True)) else None
    if media_type in DOCKER_CONFIG_TYPES:
        return "docker"
    if media_type in MODELPACK_CONFIGS:
        return "modelpack"
    fields = config_doc.get("config")
    descriptor = config_doc.get("descriptor")
    if "modelfs" in config_doc or (isinstance(fields, dict) and "paramSize" in fields) or (
        isinstance(descriptor, dict) and "createdAt" in descriptor
    ):
        return "modelpack"
    if isinstance(fields, dict) and ("format" in fields or "parameters" in fields):
        return "docker"
    return None


def role_of(descriptor: Descriptor, fmt: Format) -> Role:
    """A layer's role from its media type (and, for ModelPack, its file name, as DMR decides)."""
    media_type = descriptor.media_type
    if fmt == "docker" or media_type.startswith(DOCKER_AI_PREFIX):
        return _DOCKER_ROLES.get(media_type, Role.OTHER)
    kind = media_type.removeprefix(CNAI_MODEL_PREFIX).removeprefix(CNCF_MODEL_PREFIX).split(".v1", 1)[0]
    name = (filepath_of(descriptor) or "").rsplit("/", 1)[-1].lower()
    if kind == "weight":
        return Role.MMPROJ if "mmproj" in name else Role.WEIGHTS
    if kind == "weight.config":
        return Role.CHAT_TEMPLATE if name.endswith(".jinja") or "chat_template" in name else Role.MODEL_FILE
    if kind == "doc":
        return Role.LICENSE if name.startswith(("license", "licence", "copying", "notice")) else Role.OTHER
    return Role.OTHER


def filepath_of(descriptor: Descriptor) -> str | None:
    """The layer's path: its path annotation (either spelling), else its OCI title, which is all oras writes.
    A title is outside input like a path: whoever writes files by it holds it to the same rules."""
    annotations = descriptor.annotations
    keys = (*modelpack.FILEPATH_KEYS, docker.ANNOTATION_TITLE)
    return next((annotations[k] for k in keys if annotations.get(k)), None)


# The name a layer with neither a path nor a title gets, by role; numbered by its place in the manifest, so two
# never meet. The names keep the role for readers that tell roles by name (ModelPack, Docker's bundles).
_ROLE_NAMES = {Role.WEIGHTS: "model-{n}{ext}", Role.MMPROJ: "mmproj-{n}.gguf", Role.CHAT_TEMPLATE: "template-{n}.jinja",
               Role.LICENSE: "LICENSE-{n}", Role.MODEL_FILE: "file-{n}", Role.OTHER: "layer-{n}"}
_WEIGHT_EXTENSIONS: dict[str, str] = {MediaType.DOCKER_GGUF: "gguf", MediaType.DOCKER_SAFETENSORS: "safetensors",
                                      MediaType.DOCKER_DDUF: "dduf"}


def model_layer(descriptor: Descriptor, fmt: Format, number: int, weight_format: str | None = None,
                recorded: str | None = None) -> ModelLayer:
    """Layer ``number`` (from 1) of a manifest, named by its path, its title, or its role (a weight's extension
    from its Docker media type, or the format a config states). A modelcar's layer is a model file's when it
    names one under ``models/`` (or its history entry, ``recorded``, does), else the container image's."""
    if fmt == "modelcar":
        path = modelcar.model_file_path(descriptor.media_type, descriptor.annotations, recorded)
        if path is None:
            return ModelLayer(descriptor, Role.OTHER, "", "image")
        return ModelLayer(descriptor, modelcar.role_of(descriptor.annotations, path), path, "modelcar")
    role = role_of(descriptor, fmt)
    path = filepath_of(descriptor)
    if path is not None:
        return ModelLayer(descriptor, role, path)
    ext = _WEIGHT_EXTENSIONS.get(descriptor.media_type) or weight_format
    suffix = f".{ext}" if ext in ("gguf", "safetensors", "dduf") else ""
    return ModelLayer(descriptor, role, _ROLE_NAMES[role].format(n=number, ext=suffix))


def read_artifact(layout: Layout, *, where: str = "the archive", images: bool = False) -> Artifact:
    """The model artifact in a layout (folder or tar); ArchiveError if it is not one. With ``images``, a
    container image without a model layer is read too (a modelcar with no model files: a modelcar's base)."""
    manifest, ref_name = read_manifest(layout)
    config_bytes = read_blob(layout, manifest.config.digest, size=manifest.config.size)
    try:
        config_doc = load_json(config_bytes, f"the config of {where}")
    except InvalidJSON as exc:
        raise ArchiveError(str(exc)) from None
    if not isinstance(config_doc, dict):
        raise ArchiveError(f"the config of {where} is not a JSON object")
    fmt = detect_format(manifest, config_doc)
    if fmt is None and images and manifest.config.media_type in modelcar.IMAGE_CONFIG_TYPES:
        fmt = "modelcar"
    if fmt is None:
        raise ArchiveError(f"{where} is not a model artifact: its config media type is `{manifest.config.media_type}`")
    fields = config_doc.get("config")
    stated = fields.get("format") if isinstance(fields, dict) else None
    weight_format = stated if isinstance(stated, str) else None
    recorded = modelcar.history_paths(config_doc, len(manifest.layers)) if fmt == "modelcar" \
        else [None] * len(manifest.layers)
    layers = tuple(model_layer(d, fmt, n, weight_format, path)
                   for n, (d, path) in enumerate(zip(manifest.layers, recorded, strict=True), 1))
    weight_bytes = sum(layer.descriptor.size for layer in layers if layer.role is Role.WEIGHTS and layer.is_file)
    if fmt == "docker":
        config: DockerConfig | ModelPackConfig | ModelcarConfig = DockerConfig(config_doc)
    elif fmt == "modelcar":
        config = ModelcarConfig(config_doc, sum(_file_size(layer) for layer in layers if layer.role is Role.WEIGHTS
                                                and layer.is_file))
    else:
        config = ModelPackConfig(config_doc, weight_bytes)
    return Artifact(manifest, config_bytes, fmt, config, layers, ref_name)


def _file_size(layer: ModelLayer) -> int:
    """The size of the file a modelcar layer holds: its metadata's, else the layer's (a tar is a little larger)."""
    try:
        doc = load_json(layer.metadata.encode(), "file metadata") if layer.metadata else None
    except InvalidJSON:
        doc = None
    found = doc.get("size") if isinstance(doc, dict) else None
    return found if isinstance(found, int) and not isinstance(found, bool) and found >= 0 else layer.descriptor.size


def created_of(config_doc: Mapping[str, Any]) -> str | None:
    """The creation time a config records: Docker's ``descriptor.created``, ModelPack's ``createdAt``, or an image
    config's (a modelcar's) ``created``."""
    descriptor = config_doc.get("descriptor")
    if not isinstance(descriptor, dict):
        image = config_doc.get("created") if "rootfs" in config_doc else None
        return image if isinstance(image, str) else None
    value = descriptor.get("created") or descriptor.get("createdAt")
    return value if isinstance(value, str) else None


def epoch_of(created: str | None) -> int | None:
    """Unix seconds of an RFC 3339 time (the archive headers' timestamp), or None."""
    if created is None:
        return None
    try:
        return int(datetime.fromisoformat(created.replace("Z", "+00:00")).astimezone(UTC).timestamp())
    except ValueError:
        return None
