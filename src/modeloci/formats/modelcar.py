"""KServe's modelcar: a model as an ordinary OCI container image, its files under ``/models``.

A modelcar is what a container runtime pulls and mounts (KServe's sidecar, a
Kubernetes image volume; REFERENCE.md §7.4): an OCI image manifest (no
``artifactType``) whose config is an image config
(``application/vnd.oci.image.config.v1+json``: ``architecture``, ``os``,
``config.Labels``, ``rootfs`` of type ``layers`` with its ``diff_ids``, one
``history`` entry per layer), and whose layers are uncompressed tars
(``application/vnd.oci.image.layer.v1.tar``).

Each model file is one layer holding ``models/<path>``, its parent folders as
entries of their own, with fixed metadata (uid/gid 0, no user names, mode 0444
for the file and 0555 for folders, the build's mtime), so a layer's bytes
depend only on the file's path, its bytes and the mtime: the same file gives
the same layer in every modelcar (blobs shared across models and tags). The
tar is laid out ahead of any byte read (:func:`layer_head`, :func:`layer_tail`:
the sizes are known), so the builder writes the header, kernel-copies the
file behind it and hashes both in one pass.

A model layer's annotations: ``org.cncf.model.filepath`` (the path under
``models/``), ``org.cncf.model.file.metadata+json`` (exactly what the file's
raw layer carries in Docker's format and ModelPack's, so that ``convert``
between the three is lossless; the tar entry's own mode is 0444),
:data:`ANNOTATION_ROLE` (what the file is for) and :data:`ANNOTATION_FILE_DIGEST`
(the file's own SHA-256, computed in the pass that hashes the layer, so that
converting to a model format needs no second hash). olot's
``olot.layer.content.digest`` and ``olot.layer.content.inlayerpath`` are read too.

The model's facts go into the config's ``config.Labels`` and the manifest's
annotations (:func:`fact_labels`), under the names ModelPack's specification
defined for manifests (``org.cnai.model.architecture`` and the rest, renamed
``org.cncf.`` as all its keys were in July 2025), and ``org.modeloci.model.context_size``
for what ModelPack never had. Layers of a container image under the model
(``FROM busybox``) are carried as they are.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping, Sequence
from typing import Any

from modeloci.formats.docker import ANNOTATION_FILEPATH, ANNOTATION_METADATA, file_metadata
from modeloci.formats.facts import ModelFacts
from modeloci.formats.modelpack import GGUF_PRECISION, LEGACY_ANNOTATION_FILEPATH, descriptor_json, param_size
from modeloci.formats.roles import Role
from modeloci.model.safetensors import precision as safetensors_precision
from modeloci.oci.digest import Digest
from modeloci.oci.jsonenc import go_json, go_map, go_time
from modeloci.oci.manifest import Blob, Descriptor
from modeloci.oci.mediatypes import MediaType
from modeloci.oci.tarwriter import entry_headers, padding, tar_end

CONFIG_MEDIA_TYPE = MediaType.OCI_IMAGE_CONFIG
LAYER = MediaType.OCI_LAYER
IMAGE_CONFIG_TYPES = frozenset({MediaType.OCI_IMAGE_CONFIG, MediaType.DOCKER_IMAGE_CONFIG})
# Docker's image layer types too, which a base pulled from Docker Hub may carry (gzip).
LAYER_TYPES = frozenset({MediaType.OCI_LAYER, MediaType.OCI_LAYER_GZIP, MediaType.OCI_LAYER_ZSTD,
                         MediaType.OCI_LAYER_NONDIST, MediaType.OCI_LAYER_NONDIST_GZIP,
                         MediaType.OCI_LAYER_NONDIST_ZSTD, MediaType.DOCKER_LAYER_GZIP,
                         MediaType.DOCKER_LAYER_FOREIGN})

ROOT = "models"
FILE_MODE = 0o444
FOLDER_MODE = 0o555
ANNOTATION_FILE_DIGEST = "org.modeloci.file.digest"
ANNOTATION_ROLE = "org.modeloci.role"
OLOT_FILE_DIGEST = "olot.layer.content.digest"
OLOT_PATH = "olot.layer.content.inlayerpath"
FILE_DIGEST_KEYS = (ANNOTATION_FILE_DIGEST, OLOT_FILE_DIGEST)

# The model's facts, as labels and manifest annotations.
LABEL_ARCHITECTURE = "org.cncf.model.architecture"
LABEL_FORMAT = "org.cncf.model.format"
LABEL_NAME = "org.cncf.model.name"
LABEL_PARAM_SIZE = "org.cncf.model.param.size"
LABEL_PRECISION = "org.cncf.model.precision"
LABEL_QUANTIZATION = "org.cncf.model.quantization"
LABEL_CONTEXT_SIZE = "org.modeloci.model.context_size"
FACT_LABELS = (LABEL_ARCHITECTURE, LABEL_FORMAT, LABEL_NAME, LABEL_PARAM_SIZE, LABEL_PRECISION, LABEL_QUANTIZATION,
               LABEL_CONTEXT_SIZE)
# What a build FROM a container image records about it (OCI's pre-defined annotation keys).
BASE_DIGEST = "org.opencontainers.image.base.digest"
BASE_NAME = "org.opencontainers.image.base.name"

# The platform of a model-only image (FROM scratch): what a Kubernetes node of the most common kind pulls.
DEFAULT_OS = "linux"
DEFAULT_ARCHITECTURE = "amd64"


def member_name(filepath: str) -> str:
    """The tar member a model file at ``filepath`` becomes: ``models/<filepath>``."""
    return f"{ROOT}/{filepath}"


def layer_head(filepath: str, size: int, mtime: int) -> bytes:
    """The header blocks before the file's bytes: ``models/``, each folder on the way, then the file."""
    folders = [ROOT, *(f"{ROOT}/{'/'.join(filepath.split('/')[:i])}" for i in range(1, filepath.count("/") + 1))]
    head = [entry_headers(f"{folder}/", size=0, mtime=mtime, mode=FOLDER_MODE, folder=True) for folder in folders]
    return b"".join(head) + entry_headers(member_name(filepath), size=size, mtime=mtime, mode=FILE_MODE)


def layer_tail(size: int) -> bytes:
    """What follows the file's bytes: the padding of its last block, and the end of the tar."""
    return padding(size) + tar_end()


def layer_size(filepath: str, size: int, mtime: int) -> int:
    """The layer's size in bytes, for a file of ``size`` bytes at ``filepath``."""
    return len(layer_head(filepath, size, mtime)) + size + len(layer_tail(size))


def layer_annotations(filepath: str, size: int, mtime: int, role: Role) -> dict[str, str]:
    """A new model layer's annotations (its file digest is added once it is known)."""
    name = filepath.rsplit("/", 1)[-1]
    return {ANNOTATION_FILEPATH: filepath, ANNOTATION_METADATA: file_metadata(name, size, mtime),
            ANNOTATION_ROLE: role.value}


def carry_annotations(existing: Mapping[str, str], filepath: str, role: Role, digest: Digest | None) -> dict[str, str]:
    """The annotations of a model layer made from a raw layer of another format: its path, its metadata as that
    format recorded it, its role and the raw layer's digest (its file's)."""
    out = {ANNOTATION_FILEPATH: filepath, ANNOTATION_ROLE: role.value}
    for key in (ANNOTATION_METADATA, "org.cnai.model.file.metadata+json"):
        if key in existing:
            out[ANNOTATION_METADATA] = existing[key]
            break
    if digest is not None:
        out[ANNOTATION_FILE_DIGEST] = str(digest)
    return out


def model_path(annotations: Mapping[str, str]) -> str | None:
    """The path of a modelcar layer's file under ``models/`` (from the path annotation, or olot's absolute
    ``/models/...``), or None for a layer of the container image under the model."""
    for key in (ANNOTATION_FILEPATH, LEGACY_ANNOTATION_FILEPATH):
        if annotations.get(key):
            return annotations[key]
    olot = annotations.get(OLOT_PATH, "")
    prefix = f"/{ROOT}/"
    return olot[len(prefix):] if olot.startswith(prefix) and len(olot) > len(prefix) else None


def model_file_path(media_type: str, annotations: Mapping[str, str], recorded: str | None = None) -> str | None:
    """:func:`model_path` of a container image layer (a tar, by its media type), else the path its history entry
    records (``recorded``); None for any other layer, even one naming a path (a Docker model's layer under an
    image config is no modelcar's)."""
    return (model_path(annotations) or recorded) if media_type in LAYER_TYPES else None


_HISTORY_PREFIX = "modeloci: /models/"


def history_paths(config_doc: Mapping[str, Any], count: int) -> list[str | None]:
    """The path of each of ``count`` layers' file as the config's history records it (what :func:`history_entry`
    wrote), for a modelcar whose layer annotations a copy dropped (``skopeo copy`` gzips an image's layers and
    drops their annotations; the config stays). A history that does not match the layers says nothing."""
    history = config_doc.get("history")
    entries = [e for e in history if isinstance(e, dict) and e.get("empty_layer") is not True] \
        if isinstance(history, list) else []
    if len(entries) != count:
        return [None] * count
    found = [e.get("created_by") for e in entries]
    return [by[len(_HISTORY_PREFIX):] if isinstance(by, str) and by.startswith(_HISTORY_PREFIX)
            and len(by) > len(_HISTORY_PREFIX) else None for by in found]


def file_digest(annotations: Mapping[str, str]) -> Digest | None:
    """The digest of the file a modelcar layer holds, as an annotation claims it (to be checked when used)."""
    for key in FILE_DIGEST_KEYS:
        try:
            return Digest.parse(annotations[key])
        except (KeyError, ValueError):
            continue
    return None


_ROLES = {role.value: role for role in Role}


def role_of(annotations: Mapping[str, str], filepath: str) -> Role:
    """A model layer's role: the one it records, else the one its name says (as Docker Model Runner classifies
    a folder's files, with ``mmproj`` in a GGUF's name for the projector)."""
    recorded = _ROLES.get(annotations.get(ANNOTATION_ROLE, ""))
    if recorded is not None:
        return recorded
    name = posixpath.basename(filepath).lower()
    if name.endswith((".gguf", ".safetensors", ".dduf")):
        return Role.MMPROJ if "mmproj" in name else Role.WEIGHTS
    if name.endswith(".jinja") or "chat_template" in name:
        return Role.CHAT_TEMPLATE
    if name.startswith(("license", "licence", "copying", "notice")):
        return Role.LICENSE
    return Role.MODEL_FILE


def fact_labels(facts: ModelFacts | None, *, name: str | None, context_size: object) -> dict[str, str]:
    """The model's facts as labels: architecture, format, parameters (ModelPack's grammar), precision,
    quantization, name and context size, each only when known."""
    labels: dict[str, str] = {}
    if name:
        labels[LABEL_NAME] = name
    if isinstance(context_size, int) and not isinstance(context_size, bool) and context_size > 0:
        labels[LABEL_CONTEXT_SIZE] = str(context_size)
    if facts is None:
        return labels
    quantized = facts.file_type_name if facts.format == "gguf" else None
    precision = safetensors_precision(facts.dtypes) if facts.dtypes else GGUF_PRECISION.get(quantized or "")
    found = {LABEL_ARCHITECTURE: facts.architecture, LABEL_FORMAT: facts.format,
             LABEL_PARAM_SIZE: param_size(facts.parameter_count or 0), LABEL_PRECISION: precision,
             LABEL_QUANTIZATION: quantized if quantized not in (None, *GGUF_PRECISION) else None}
    labels.update({key: value for key, value in found.items() if value})
    return labels


def history_entry(filepath: str, created: str | None) -> dict[str, Any]:
    """The config's history entry of a model layer (``docker history`` shows ``created_by``)."""
    entry: dict[str, Any] = {"created": created} if created else {}
    entry["created_by"] = f"modeloci: /{member_name(filepath)}"
    return entry


def new_config(*, os_name: str = DEFAULT_OS, architecture: str = DEFAULT_ARCHITECTURE) -> dict[str, Any]:
    """The image config of a model-only image (FROM scratch), before labels, layers and history."""
    return {"architecture": architecture, "os": os_name, "config": {}, "rootfs": {"type": "layers", "diff_ids": []},
            "history": []}


def config_blob(base: Mapping[str, Any], *, labels: Mapping[str, str], diff_ids: Sequence[Digest],
                history: Sequence[Mapping[str, Any]], created: str | None) -> Blob:
    """The image config: ``base`` (a base image's config, or :func:`new_config`) with ``created`` (when given),
    the labels merged into ``config.Labels``, the layers' ``diff_ids`` in order and ``history`` after the base's.
    Keys keep the base's order; a new config's come in the OCI Go struct's order."""
    doc: dict[str, Any] = {}
    if created is not None or "created" in base:
        doc["created"] = created if created is not None else base["created"]
    doc.update({key: value for key, value in base.items() if key != "created"})
    inner = dict(base.get("config") or {})
    merged = {**(inner.get("Labels") or {}), **labels}
    if merged:
        inner["Labels"] = go_map(merged)
    doc["config"] = inner
    doc["rootfs"] = {"type": "layers", "diff_ids": [str(d) for d in diff_ids]}
    doc["history"] = [*(base.get("history") or []), *history]
    if not doc["history"]:
        del doc["history"]
    return Blob(CONFIG_MEDIA_TYPE, go_json(_in_go_order(doc)))


# The OCI image config's Go field order (image-spec specs-go/v1/config.go), for the keys a new config has.
_ORDER = ("created", "author", "architecture", "os", "os.version", "os.features", "variant", "config", "rootfs",
          "history")


def _in_go_order(doc: dict[str, Any]) -> dict[str, Any]:
    known = [key for key in _ORDER if key in doc]
    return {key: doc[key] for key in [*known, *(key for key in doc if key not in _ORDER)]}


def manifest_blob(config: Descriptor, layers: Sequence[Descriptor], *,
                  annotations: Mapping[str, str] | None = None) -> Blob:
    """An image manifest (no ``artifactType``: a container image), descriptors in the OCI Go types' key order."""
    doc: dict[str, Any] = {"schemaVersion": 2, "mediaType": str(MediaType.OCI_MANIFEST),
                           "config": descriptor_json(config), "layers": [descriptor_json(d) for d in layers]}
    if annotations:
        doc["annotations"] = go_map(annotations)
    return Blob(MediaType.OCI_MANIFEST, go_json(doc))


def created_time(epoch: int | None) -> str | None:
    return go_time(epoch) if epoch is not None else None
