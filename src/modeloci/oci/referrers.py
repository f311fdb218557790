"""Artifacts that refer to a model: OCI 1.1 manifests with a ``subject``, and the fallback tag that lists them.

A signature, a provenance statement or a bill of materials is its own small
OCI artifact: an image manifest whose ``artifactType`` says what it is, whose
config is the empty descriptor, whose one layer is the document, and whose
``subject`` is the model's manifest. A registry with the referrers API lists
them by the subject's digest; one without it (Distribution 2.8) is given an
index of them under the tag ``sha256-<hex>`` of the subject (OCI distribution
spec 1.1, "referrers tag schema"). Everything here is pure: bytes in, bytes
out, written as Go writes JSON so that digests are reproducible.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from modeloci.jsondoc import InvalidJSON, load_json
from modeloci.oci.digest import Digest
from modeloci.oci.jsonenc import go_json, go_map
from modeloci.oci.manifest import Descriptor, InvalidDocument, parse_descriptor
from modeloci.oci.mediatypes import MediaType

EMPTY_CONFIG = b"{}"
EMPTY = Descriptor(str(MediaType.OCI_EMPTY), Digest.of(EMPTY_CONFIG), len(EMPTY_CONFIG))


@dataclass(frozen=True, slots=True)
class Referrer:
    """One artifact referring to a model: its manifest's bytes, and every blob it names by digest."""

    manifest: bytes
    artifact_type: str
    subject: Descriptor
    blobs: Mapping[Digest, bytes]

    @property
    def digest(self) -> Digest:
        return Digest.of(self.manifest)

    def descriptor(self, annotations: Mapping[str, str] | None = None) -> Descriptor:
        """How an index (a layout's, the fallback tag's) lists it."""
        return Descriptor(str(MediaType.OCI_MANIFEST), self.digest, len(self.manifest), dict(annotations or {}),
                          self.artifact_type)


def make_referrer(subject: Descriptor, artifact_type: str, payload: bytes, payload_media_type: str, *,
                  annotations: Mapping[str, str] | None = None) -> Referrer:
    """An artifact holding ``payload`` (one layer of ``payload_media_type``) that refers to ``subject``."""
    layer = Descriptor(payload_media_type, Digest.of(payload), len(payload))
    doc: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": str(MediaType.OCI_MANIFEST),
        "artifactType": artifact_type,
        "config": _descriptor(EMPTY),
        "layers": [_descriptor(layer)],
        "subject": _descriptor(Descriptor(subject.media_type, subject.digest, subject.size)),
    }
    if annotations:
        doc["annotations"] = go_map(annotations)
    return Referrer(go_json(doc), artifact_type, subject, {EMPTY.digest: EMPTY_CONFIG, layer.digest: payload})


def read_referrer(manifest: bytes) -> tuple[str, Descriptor, list[Descriptor]] | None:
    """``(artifactType, subject, layers)`` of a manifest that refers to another, or None if it does not."""
    try:
        doc = load_json(manifest, "a manifest")
    except InvalidJSON:
        return None
    if not isinstance(doc, dict) or "subject" not in doc:
        return None
    try:
        subject = parse_descriptor(doc["subject"], "subject")
        layers = [parse_descriptor(item, f"layers[{i}]") for i, item in enumerate(doc.get("layers") or [])]
    except InvalidDocument:
        return None
    artifact_type = doc.get("artifactType")
    if not isinstance(artifact_type, str):
        config = doc.get("config")
        artifact_type = config.get("mediaType") if isinstance(config, dict) else None
    return (artifact_type, subject, layers) if isinstance(artifact_type, str) else None


def fallback_tag(subject: Digest) -> str:
    """The tag under which a registry without the referrers API keeps the index of a manifest's referrers."""
    return f"{subject.algorithm}-{subject.hex}"


def referrers_index(referrers: Sequence[Descriptor]) -> bytes:
    """The image index listing ``referrers`` (each with its ``artifactType``), as the referrers API answers."""
    return go_json({"schemaVersion": 2, "mediaType": str(MediaType.OCI_INDEX),
                    "manifests": [_index_entry(d) for d in referrers]})


def _descriptor(d: Descriptor) -> dict[str, Any]:
    return {"mediaType": d.media_type, "digest": str(d.digest), "size": d.size}


def _index_entry(d: Descriptor) -> dict[str, Any]:
    entry = _descriptor(d)
    if d.artifact_type:
        entry["artifactType"] = d.artifact_type
    if d.annotations:
        entry["annotations"] = go_map(d.annotations)
    return entry
