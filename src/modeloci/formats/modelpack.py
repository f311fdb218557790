"""CNCF ModelPack (modelpack/model-spec), exactly as REFERENCE.md §2 gives it.

The manifest carries ``artifactType`` ``application/vnd.cncf.model.manifest.v1+json``
and a config of type ``application/vnd.cncf.model.config.v1+json``; every layer
is a raw file (``….v1.raw``) whose kind follows its role: weights and
projectors are ``weight``, chat templates ``weight.config``, licenses ``doc``;
the other files of a model folder take the kind their name says
(:func:`file_media_type`): code ``code``, model cards and other documents
``doc``, configs, tokenizers and anything else ``weight.config``. Layers carry
``org.cncf.model.filepath`` and the normalised file metadata. Descriptors use
the OCI Go types' key order (``mediaType, digest, size, annotations``), as
modctl writes them; the config keys come in the spec's Go order
(``descriptor, modelfs, config``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from modeloci.formats.docker import ANNOTATION_FILEPATH, ANNOTATION_METADATA, ANNOTATION_TITLE, file_metadata
from modeloci.formats.facts import ModelFacts
from modeloci.model.safetensors import precision as safetensors_precision
from modeloci.oci.digest import Digest
from modeloci.oci.jsonenc import go_json, go_map, go_time
from modeloci.oci.manifest import Blob, Descriptor
from modeloci.oci.mediatypes import MediaType

MANIFEST_ARTIFACT_TYPE = MediaType.CNCF_MANIFEST
CONFIG_MEDIA_TYPE = MediaType.CNCF_CONFIG
WEIGHT = MediaType.CNCF_WEIGHT
WEIGHT_CONFIG = MediaType.CNCF_WEIGHT_CONFIG
DOC = MediaType.CNCF_DOC
CODE = MediaType.CNCF_CODE
# ModelPack's annotation names before July 2025, read as today's.
LEGACY_ANNOTATION_FILEPATH = "org.cnai.model.filepath"
LEGACY_ANNOTATION_METADATA = "org.cnai.model.file.metadata+json"
FILEPATH_KEYS = (ANNOTATION_FILEPATH, LEGACY_ANNOTATION_FILEPATH)
METADATA_KEYS = (ANNOTATION_METADATA, LEGACY_ANNOTATION_METADATA)

ROLE_MEDIA_TYPES = {
    "weights": WEIGHT,
    "mmproj": WEIGHT,
    "model_file": WEIGHT_CONFIG,
    "chat_template": WEIGHT_CONFIG,
    "license": DOC,
    "other": DOC,
}

# A model folder's other files, by name: source code (`trust_remote_code` models ship modeling_*.py and
# configuration_*.py), and documents (the model card, its figures, use policies).
CODE_SUFFIXES = (".py", ".pyi", ".ipynb", ".sh", ".js", ".ts", ".c", ".cc", ".cpp", ".h", ".hpp", ".cu", ".cuh",
                 ".go", ".rs", ".java", ".jl", ".lua", ".rb", ".swift", ".kt")
DOC_SUFFIXES = (".md", ".markdown", ".rst", ".adoc", ".html", ".htm", ".pdf", ".png", ".jpg", ".jpeg", ".gif",
                ".svg", ".webp")
DOC_STEMS = frozenset({"readme", "changelog", "citation", "authors", "contributors", "use_policy", "model_card"})


def file_media_type(filepath: str) -> str:
    """The ModelPack media type of a model folder's file that is not weights, a license or a chat template."""
    name = filepath.rsplit("/", 1)[-1].lower()
    if name.endswith(CODE_SUFFIXES):
        return CODE
    if name.endswith(DOC_SUFFIXES) or name.split(".", 1)[0] in DOC_STEMS:
        return DOC
    return WEIGHT_CONFIG


# Go declaration order of the spec's structs (specs-go/v1/config.go).
DESCRIPTOR_FIELDS = ("createdAt", "authors", "family", "name", "docURL", "sourceURL", "datasetsURL", "version",
                     "revision", "vendor", "licenses", "title", "description")
CONFIG_FIELDS = ("architecture", "format", "paramSize", "precision", "quantization", "capabilities")

# GGUF file types that are plain floating point have a precision word; quantized ones do not.
GGUF_PRECISION = {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}

# OCI label -> ModelPack descriptor field, for LABELs that say the same thing.
LABEL_FIELDS = {
    ANNOTATION_TITLE: "title",
    "org.opencontainers.image.description": "description",
    "org.opencontainers.image.licenses": "licenses",
    "org.opencontainers.image.authors": "authors",
    "org.opencontainers.image.source": "sourceURL",
    "org.opencontainers.image.documentation": "docURL",
    "org.opencontainers.image.url": "docURL",
    "org.opencontainers.image.revision": "revision",
    "org.opencontainers.image.version": "version",
    "org.opencontainers.image.vendor": "vendor",
}
_LIST_FIELDS = frozenset({"authors", "licenses", "datasetsURL"})


def param_size(count: int) -> str | None:
    """A parameter count in the spec's grammar: the largest prefix worth at least 1, one decimal
    (``8030261248`` -> ``8.0B``, ``494032768`` -> ``494.0M``, ``183`` -> ``0.2K``)."""
    if count <= 0:
        return None
    for unit, scale in (("Q", 1e15), ("T", 1e12), ("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if count >= scale or unit == "K":
            return f"{count / scale:.1f}{unit}"
    raise AssertionError("unreachable")


def layer_annotations(filepath: str, size: int, mtime: int) -> dict[str, str]:
    """``filepath`` and the normalised file metadata, what every raw ModelPack layer needs, and the title oras
    names a pulled file from."""
    name = filepath.rsplit("/", 1)[-1]
    return {ANNOTATION_FILEPATH: filepath, ANNOTATION_METADATA: file_metadata(name, size, mtime),
            ANNOTATION_TITLE: filepath}


def descriptor_json(d: Descriptor) -> dict[str, Any]:
    """A descriptor in the OCI Go types' key order."""
    out: dict[str, Any] = {"mediaType": d.media_type, "digest": str(d.digest), "size": d.size}
    if d.annotations:
        out["annotations"] = go_map(d.annotations)
    if d.artifact_type:
        out["artifactType"] = d.artifact_type
    return out


def manifest_blob(config: Descriptor, layers: Sequence[Descriptor], *,
                  annotations: Mapping[str, str] | None = None) -> Blob:
    doc: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": str(MediaType.OCI_MANIFEST),
        "artifactType": MANIFEST_ARTIFACT_TYPE,
        "config": descriptor_json(config),
        "layers": [descriptor_json(layer) for layer in layers],
    }
    if annotations:
        doc["annotations"] = go_map(annotations)
    return Blob(MediaType.OCI_MANIFEST, go_json(doc))


def config_blob(descriptor: Mapping[str, Any], config: Mapping[str, Any], diff_ids: Sequence[Digest]) -> Blob:
    """The config: ``descriptor``, ``modelfs``, ``config``, each in the spec's field order."""
    doc = {
        "descriptor": _ordered(descriptor, DESCRIPTOR_FIELDS),
        "modelfs": {"type": "layers", "diffIds": [str(d) for d in diff_ids]},
        "config": _ordered(config, CONFIG_FIELDS),
    }
    return Blob(CONFIG_MEDIA_TYPE, go_json(doc))


def _ordered(fields: Mapping[str, Any], order: Sequence[str]) -> dict[str, Any]:
    return {key: fields[key] for key in order if fields.get(key) not in (None, "", [], {})}


def descriptor_fields(*, name: str | None, labels: Mapping[str, str], created: int | None,
                      family: str | None, licenses: Sequence[str] = ()) -> dict[str, Any]:
    """The config's ``descriptor``: a name, LABELs mapped onto their fields, createdAt only when asked."""
    fields: dict[str, Any] = {"name": name, "family": family}
    if created is not None:
        fields["createdAt"] = go_time(created)
    for label, key in LABEL_FIELDS.items():
        if label in labels:
            value = labels[label]
            # A label holds one value (licenses: one SPDX expression); list fields hold it alone.
            fields[key] = [value] if key in _LIST_FIELDS else value
    if licenses and "licenses" not in fields:
        fields["licenses"] = list(licenses)
    return fields


def config_fields(facts: ModelFacts | None) -> dict[str, Any]:
    """The config's ``config`` object from what the weights say, in the spec's vocabulary."""
    if facts is None:
        return {}
    name = facts.file_type_name
    precision = safetensors_precision(facts.dtypes) if facts.dtypes else GGUF_PRECISION.get(name or "")
    quantized = facts.format == "gguf" and name is not None and name not in GGUF_PRECISION
    return {
        "architecture": facts.architecture,
        "format": facts.format,
        "paramSize": param_size(facts.parameter_count or 0),
        "precision": precision,
        "quantization": name if quantized else None,
    }
