"""The BuildPlan: pure data saying exactly what a build will write.

A plan is computed without reading any weight byte: every layer's media type,
path in the artifact, size and annotations are known from the Modelfile and
file metadata; only the digests of new files are left for the builder. Its
JSON form (``modeloci plan --json``) holds no absolute path, so plans compare
across machines.

Plain frozen dataclasses rather than pydantic models: the plan is made on
every ``plan`` and ``build``, and pydantic's class setup alone would add a
tenth of a second to each of those commands.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modeloci.diagnostics import Diagnostic
from modeloci.formats.roles import Role
from modeloci.oci.mediatypes import MediaType
from modeloci.sources import Source

__all__ = ["BasePlan", "BaseSource", "BuildPlan", "FileSource", "LayerPlan", "Role"]


@dataclass(frozen=True, slots=True)
class FileSource:
    """A file in the build context, named relative to it."""

    path: str
    kind: str = "file"

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "path": self.path}


@dataclass(frozen=True, slots=True)
class BaseSource:
    """A blob carried over from the FROM base, by digest."""

    digest: str
    kind: str = "base"

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "digest": self.digest}


@dataclass(frozen=True, slots=True)
class LayerPlan:
    role: Role
    media_type: str
    filepath: str
    size: int
    source: FileSource | BaseSource
    annotations: dict[str, str]
    line: int | None = None  # the Modelfile line that added this layer

    def to_json(self) -> dict[str, Any]:
        return {
            "role": self.role.value,
            "media_type": self.media_type,
            "filepath": self.filepath,
            "size": self.size,
            "source": self.source.to_json(),
            "annotations": dict(self.annotations),
            "line": self.line,
        }


@dataclass(frozen=True, slots=True)
class BasePlan:
    path: str
    manifest_digest: str
    config_media_type: str
    ref_name: str | None = None
    format: str = "docker"

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "format": self.format, "manifest_digest": self.manifest_digest,
                "config_media_type": self.config_media_type, "ref_name": self.ref_name}


@dataclass(frozen=True, slots=True)
class BuildPlan:
    """Everything ``build`` needs, in order. The fields after ``notes`` stay out of the JSON:
    they hold absolute paths, epoch numbers and diagnostics for the CLI."""

    modelfile: str
    config_media_type: str
    base: BasePlan | None
    layers: list[LayerPlan]
    config: dict[str, Any]
    labels: dict[str, str]
    mtime: str
    created: str | None = None
    reference: str | None = None
    format: str = "docker"
    notes: list[str] = field(default_factory=list)
    context: Path = Path(".")
    base_path: Source | None = None  # where the FROM base is read from (a path, stored, layout or registry)
    created_epoch: int | None = None
    mtime_epoch: int = 0
    warnings: tuple[Diagnostic, ...] = ()
    sources: dict[str, str] = field(default_factory=dict)

    @property
    def artifact_type(self) -> str | None:
        """The manifest's ``artifactType``: ModelPack sets one, Docker's format has none."""
        return str(MediaType.CNCF_MANIFEST) if self.format == "modelpack" else None

    def to_json(self) -> dict[str, Any]:
        return {
            "modelfile": self.modelfile,
            "format": self.format,
            "config_media_type": self.config_media_type,
            "base": self.base.to_json() if self.base else None,
            "layers": [layer.to_json() for layer in self.layers],
            "config": self.config,
            "labels": dict(self.labels),
            "created": self.created,
            "mtime": self.mtime,
            "reference": self.reference,
            "notes": list(self.notes),
        }
