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
from modeloci.sources.refs import Source

__all__ = ["BasePlan", "BaseSource", "BuildPlan", "FileSource", "InTar", "LayerPlan", "PlatformPlan", "Role"]


@dataclass(frozen=True, slots=True)
class FileSource:
    """A file in the build context, named relative to it."""

    path: str
    kind: str = "file"

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "path": self.path}


@dataclass(frozen=True, slots=True)
class InTar:
    """A file read out of a tar layer of the base (a modelcar's): where its bytes lie in the layer's blob of
    ``blob_size`` bytes, and its digest (the layer's annotation's, or found with the layer's own; checked while it
    is copied)."""

    blob_size: int
    offset: int
    digest: str

    def to_json(self) -> dict[str, Any]:
        return {"blob_size": self.blob_size, "offset": self.offset, "digest": self.digest}


@dataclass(frozen=True, slots=True)
class BaseSource:
    """A blob carried over from the FROM base, by digest; or, ``within`` it, a file its tar layer holds."""

    digest: str
    kind: str = "base"
    within: InTar | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "digest": self.digest}
        if self.within is not None:
            out["within"] = self.within.to_json()
        return out


@dataclass(frozen=True, slots=True)
class LayerPlan:
    role: Role
    media_type: str
    filepath: str
    size: int
    source: FileSource | BaseSource
    annotations: dict[str, str]
    line: int | None = None  # the Modelfile line that added this layer
    # A modelcar layer made here: the size of the one file its tar wraps (``size`` is the tar's). None: the
    # layer is its source's bytes (a raw file, or a layer carried as it is).
    file_size: int | None = None
    # A compressed layer carried from a container image: the digest of the tar inside (the config's diff_id).
    diff_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        out = {
            "role": self.role.value,
            "media_type": self.media_type,
            "filepath": self.filepath,
            "size": self.size,
            "source": self.source.to_json(),
            "annotations": dict(self.annotations),
            "line": self.line,
        }
        if self.file_size is not None:
            out["file_size"] = self.file_size
        if self.diff_id is not None:
            out["diff_id"] = self.diff_id
        return out


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
class PlatformPlan:
    """One platform of a modelcar built on a multi-platform image: the index entry's ``platform``, that platform's
    base, and the layers, config and manifest annotations of its image (the model's layers the same in each)."""

    platform: dict[str, Any]
    base: BasePlan
    layers: list[LayerPlan]
    config: dict[str, Any]
    labels: dict[str, str]


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
    # The mtime of a modelcar layer's tar entries: SOURCE_DATE_EPOCH, else 0 (not the creation time, so that the
    # same file gives the same layer in every modelcar).
    layer_mtime: int = 0
    # A modelcar on a multi-platform base: one image per platform, the first being this plan's own base, layers,
    # config and labels; the build writes an image index of them. Empty for every other build.
    platforms: tuple[PlatformPlan, ...] = ()

    @property
    def artifact_type(self) -> str | None:
        """The manifest's ``artifactType``: ModelPack sets one, Docker's format and a modelcar (an image) none."""
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
