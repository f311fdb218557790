"""Multi-platform images: the platforms of an image index, how they are named, and an index's bytes.

The one place that says what a platform is called (``os/arch[/variant]``, as
skopeo and docker name them), which entries of an index are images of a
platform (not the ``unknown/unknown`` attestation manifests buildx adds), and
how a multi-platform modelcar's index is written. Pure: the readers in
:mod:`.layout` hand it the index's parsed JSON.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from modeloci.oci.digest import Digest
from modeloci.oci.jsonenc import go_json
from modeloci.oci.manifest import Blob, Descriptor
from modeloci.oci.mediatypes import MediaType

INDEXES = (str(MediaType.OCI_INDEX), str(MediaType.DOCKER_MANIFEST_LIST))
# The keys of an index entry's platform that are carried into the modelcar's index (the OCI image spec's).
PLATFORM_KEYS = ("architecture", "os", "os.version", "os.features", "variant", "features")


@dataclass(frozen=True, slots=True)
class PlatformEntry:
    """One entry of an image index: the manifest it names and its platform as the index gives it."""

    descriptor: Descriptor | None  # None: the entry's descriptor is malformed (it names no manifest to use)
    platform: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return platform_name(self.platform)

    @property
    def is_image(self) -> bool:
        """An image of a platform: not an attestation manifest (buildx lists those as ``unknown/unknown``)."""
        return self.name not in ("unknown", "unknown/unknown")


def platform_name(found: object) -> str:
    """``os/arch[/variant]`` of an index entry's platform; ``unknown`` for an entry that gives none."""
    if not isinstance(found, dict):
        return "unknown"
    parts = [found.get("os"), found.get("architecture"), found.get("variant")]
    return "/".join(p for p in parts if isinstance(p, str) and p) or "unknown"


def named(platforms: Sequence[str]) -> str:
    """``an index of N platforms (a, b, ...)``, at most eight named."""
    more = f" and {len(platforms) - 8} more" if len(platforms) > 8 else ""
    return f"an index of {len(platforms)} platforms ({', '.join(platforms[:8])}{more})"


def entries_of(doc: object) -> list[PlatformEntry] | None:
    """The entries of a parsed image index, in its order; None when ``doc`` is not an index's shape."""
    manifests = doc.get("manifests") if isinstance(doc, dict) else None
    if not isinstance(manifests, list):
        return None
    out = []
    for m in manifests:
        if not isinstance(m, dict):
            continue
        platform = m.get("platform")
        kept = {k: platform[k] for k in PLATFORM_KEYS if k in platform} if isinstance(platform, dict) else {}
        out.append(PlatformEntry(_descriptor(m), kept))
    return out


def _descriptor(entry: dict[str, Any]) -> Descriptor | None:
    media_type, digest, size = entry.get("mediaType"), entry.get("digest"), entry.get("size")
    if not (isinstance(media_type, str) and isinstance(digest, str) and isinstance(size, int) and size >= 0):
        return None
    try:
        return Descriptor(media_type, Digest.parse(digest), size)
    except ValueError:
        return None


def index_blob(manifests: Sequence[tuple[Descriptor, dict[str, Any]]]) -> Blob:
    """The bytes of an OCI image index listing ``manifests`` with their platforms, in order."""
    entries = [{"mediaType": d.media_type, "digest": str(d.digest), "size": d.size, "platform": platform}
               for d, platform in manifests]
    doc = {"schemaVersion": 2, "mediaType": str(MediaType.OCI_INDEX), "manifests": entries}
    return Blob(MediaType.OCI_INDEX, go_json(doc))
