"""A build's JSON document (``build --json``, and the core of ``convert --json`` and ``build --push --json``), as
pydantic models: kept apart from the builder so that a build that prints no JSON never imports pydantic."""

from __future__ import annotations

from pydantic import BaseModel

from modeloci.oci.manifest import Descriptor

__all__ = ["BuildReport", "DescriptorReport", "LayerReport"]


class DescriptorReport(BaseModel):
    """A descriptor as the JSON of a build shows it, in OCI's words."""

    mediaType: str
    digest: str
    size: int

    @classmethod
    def of(cls, d: Descriptor) -> DescriptorReport:
        return cls(mediaType=d.media_type, digest=str(d.digest), size=d.size)


class LayerReport(DescriptorReport):
    path: str | None  # the layer's path annotation


class BuildReport(BaseModel):
    """A build's JSON (docs/json/build.schema.json without ``push``, and the core of convert's)."""

    digest: str
    size: int | None
    output: str | None
    reference: str | None
    manifest: DescriptorReport
    config: DescriptorReport
    layers: list[LayerReport]
    up_to_date: bool = False  # the output already held this model, untouched since modeloci wrote it: none written
