"""OCI descriptors, manifests and indexes: building their exact bytes, and reading them back.

A manifest or config is serialised once; its bytes are kept and its digest is
taken over those bytes (:class:`Blob`). Writers choose the key order of the
tools we interoperate with: descriptors inside manifests in
go-containerregistry's order (``mediaType, size, digest, annotations``) as
Docker Model Runner writes them, index entries in the order REFERENCE.md gives
for modeloci (``mediaType, digest, size, artifactType, annotations``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from modeloci.jsondoc import InvalidJSON, load_json
from modeloci.oci.digest import Digest
from modeloci.oci.jsonenc import go_json, go_map
from modeloci.oci.mediatypes import MediaType

REF_NAME = "org.opencontainers.image.ref.name"


@dataclass(frozen=True, slots=True)
class Descriptor:
    media_type: str
    digest: Digest
    size: int
    annotations: Mapping[str, str] = field(default_factory=dict)
    artifact_type: str | None = None


@dataclass(frozen=True, slots=True)
class Blob:
    """Serialised JSON content with its media type; the digest is of exactly these bytes."""

    media_type: str
    data: bytes

    @property
    def digest(self) -> Digest:
        return Digest.of(self.data)

    def descriptor(self, **extra: Any) -> Descriptor:
        return Descriptor(self.media_type, self.digest, len(self.data), **extra)


@dataclass(frozen=True, slots=True)
class Manifest:
    """A parsed image manifest (with its raw bytes kept for digesting and copying)."""

    raw: bytes
    config: Descriptor
    layers: tuple[Descriptor, ...]
    artifact_type: str | None
    annotations: Mapping[str, str]

    @property
    def digest(self) -> Digest:
        return Digest.of(self.raw)


def _descriptor_json(d: Descriptor) -> dict[str, Any]:
    out: dict[str, Any] = {"mediaType": d.media_type, "size": d.size, "digest": str(d.digest)}
    if d.annotations:
        out["annotations"] = go_map(d.annotations)
    if d.artifact_type:
        out["artifactType"] = d.artifact_type
    return out


def manifest_blob(
    config: Descriptor,
    layers: Sequence[Descriptor],
    *,
    artifact_type: str | None = None,
    annotations: Mapping[str, str] | None = None,
) -> Blob:
    """The bytes of an OCI image manifest for ``config`` and ``layers``."""
    doc: dict[str, Any] = {"schemaVersion": 2, "mediaType": str(MediaType.OCI_MANIFEST)}
    if artifact_type:
        doc["artifactType"] = artifact_type
    doc["config"] = _descriptor_json(config)
    doc["layers"] = [_descriptor_json(layer) for layer in layers]
    if annotations:
        doc["annotations"] = go_map(annotations)
    return Blob(MediaType.OCI_MANIFEST, go_json(doc))


def index_json(manifest: Descriptor, *, ref_name: str | None) -> bytes:
    """``index.json`` of a layout holding one manifest, tagged ``ref_name`` if given."""
    entry: dict[str, Any] = {"mediaType": manifest.media_type, "digest": str(manifest.digest), "size": manifest.size}
    if manifest.artifact_type:
        entry["artifactType"] = manifest.artifact_type
    if ref_name:
        entry["annotations"] = {REF_NAME: ref_name}
    doc = {"schemaVersion": 2, "mediaType": str(MediaType.OCI_INDEX), "manifests": [entry]}
    return go_json(doc)


OCI_LAYOUT = go_json({"imageLayoutVersion": "1.0.0"})


class InvalidDocument(ValueError):
    """A manifest, index or descriptor that does not have the shape the spec requires."""


def parse_manifest(raw: bytes) -> Manifest:
    doc = _object(raw, "manifest")
    if doc.get("schemaVersion") != 2:
        raise InvalidDocument("manifest schemaVersion is not 2")
    media_type = doc.get("mediaType", MediaType.OCI_MANIFEST)
    if media_type != MediaType.OCI_MANIFEST:
        raise InvalidDocument(f"manifest media type is `{media_type}`, expected `{MediaType.OCI_MANIFEST}`")
    layers = doc.get("layers")
    if not isinstance(layers, list):
        raise InvalidDocument("manifest has no `layers` list")
    return Manifest(
        raw=raw,
        config=parse_descriptor(doc.get("config"), "config"),
        layers=tuple(parse_descriptor(item, f"layers[{i}]") for i, item in enumerate(layers)),
        artifact_type=_optional_str(doc, "artifactType"),
        annotations=_string_map(doc.get("annotations"), "manifest annotations"),
    )


def parse_index(raw: bytes) -> list[Descriptor]:
    doc = _object(raw, "index.json")
    manifests = doc.get("manifests")
    if doc.get("schemaVersion") != 2 or not isinstance(manifests, list):
        raise InvalidDocument("index.json is not an OCI image index")
    return [parse_descriptor(item, f"manifests[{i}]") for i, item in enumerate(manifests)]


def parse_descriptor(item: object, where: str) -> Descriptor:
    if not isinstance(item, dict):
        raise InvalidDocument(f"{where} is not a descriptor object")
    media_type, digest, size = item.get("mediaType"), item.get("digest"), item.get("size")
    if not isinstance(media_type, str) or not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise InvalidDocument(f"{where} lacks a valid mediaType or size")
    try:
        parsed = Digest.parse(digest) if isinstance(digest, str) else None
    except ValueError:
        parsed = None
    if parsed is None:
        raise InvalidDocument(f"{where} has an invalid digest `{digest}`")
    return Descriptor(
        media_type,
        parsed,
        size,
        _string_map(item.get("annotations"), f"{where} annotations"),
        _optional_str(item, "artifactType"),
    )


def _object(raw: bytes, what: str) -> dict[str, Any]:
    try:
        doc = load_json(raw, what)
    except InvalidJSON as exc:
        raise InvalidDocument(str(exc)) from None
    if not isinstance(doc, dict):
        raise InvalidDocument(f"{what} is not a JSON object")
    return doc


def _optional_str(doc: Mapping[str, Any], key: str) -> str | None:
    value = doc.get(key)
    return value if isinstance(value, str) else None


def _string_map(value: object, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise InvalidDocument(f"{where} are not a map of strings")
    return dict(value)
