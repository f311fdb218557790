"""The BuildPlan: pure data saying exactly what a build will write.

A plan is computed without reading any weight byte: every layer's media type,
path in the artifact, size and annotations are known from the Modelfile and
file metadata; only the digests of new files are left for the builder. Its
JSON form (``modeloci plan --json``) holds no absolute path, so plans compare
across machines.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from modeloci.diagnostics import Diagnostic


class Role(StrEnum):
    """What a layer is for; the format maps each role to a media type."""

    WEIGHTS = "weights"
    MODEL_FILE = "model_file"
    LICENSE = "license"
    CHAT_TEMPLATE = "chat_template"
    MMPROJ = "mmproj"
    OTHER = "other"


class FileSource(BaseModel):
    """A file in the build context, named relative to it."""

    model_config = ConfigDict(frozen=True)
    kind: Literal["file"] = "file"
    path: str


class BaseSource(BaseModel):
    """A blob carried over from the FROM base, by digest."""

    model_config = ConfigDict(frozen=True)
    kind: Literal["base"] = "base"
    digest: str


class LayerPlan(BaseModel):
    model_config = ConfigDict(frozen=True)
    role: Role
    media_type: str
    filepath: str
    size: int
    source: FileSource | BaseSource = Field(discriminator="kind")
    annotations: dict[str, str]
    line: int | None = Field(default=None, description="Modelfile line that added this layer")


class BasePlan(BaseModel):
    model_config = ConfigDict(frozen=True)
    path: str
    manifest_digest: str
    config_media_type: str
    ref_name: str | None = None


class BuildPlan(BaseModel):
    """Everything ``build`` needs, in order; ``context`` and ``notes`` stay out of the JSON."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)
    modelfile: str
    format: Literal["docker"] = "docker"
    config_media_type: str
    base: BasePlan | None
    layers: list[LayerPlan]
    config: dict[str, Any]
    labels: dict[str, str]
    created: str | None = None
    mtime: str
    reference: str | None = None
    notes: list[str] = Field(default_factory=list)
    context: Path = Field(exclude=True)
    base_path: Path | None = Field(default=None, exclude=True)
    created_epoch: int | None = Field(default=None, exclude=True)
    mtime_epoch: int = Field(default=0, exclude=True)
    warnings: tuple[Diagnostic, ...] = Field(default=(), exclude=True)
    sources: dict[str, str] = Field(default_factory=dict, exclude=True)

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")
