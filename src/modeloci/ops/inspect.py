"""``inspect`` of model files: what a GGUF file, a safetensors file or a model folder holds.

Only headers are read. The summary carries the config fields Docker Model
Runner would derive (the same functions the compiler uses) and the header
metadata, as typed data for the CLI's table and ``--json``. A model artifact's
summary lists its referrers (a signature, provenance, a BOM), whose manifests
alone are read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from modeloci.errors import ModelociError, UsageError
from modeloci.findings import Problem
from modeloci.formats import docker_meta as meta
from modeloci.formats.artifact import created_of, read_artifact
from modeloci.model.gguf import GGUFError, GGUFHeader, ValueType, read_gguf_header
from modeloci.model.ggufset import set_members, shard_name
from modeloci.model.hfdir import HFConfigError, classify, read_hf_config
from modeloci.model.safetensors import SafetensorsError, SafetensorsHeader, read_safetensors_header
from modeloci.oci.layout import platform_view
from modeloci.sources import Source, StoredRef, open_source
from modeloci.sources.referrers import listed


class FileEntry(BaseModel):
    path: str
    kind: str
    size: int


class MetadataEntry(BaseModel):
    key: str
    type: str
    value: str | None = Field(description="the value as text; None for large arrays, which are not decoded")


class ModelReport(BaseModel):
    """What a model file or folder holds."""

    path: str
    kind: Literal["gguf", "safetensors", "folder"]
    format: str | None = None
    config: dict[str, Any] = Field(default_factory=dict, description="Docker config fields derived from the weights")
    parameter_count: int = 0
    tensor_count: int = 0
    gguf_version: int | None = None
    projector: bool = False
    files: list[FileEntry] = Field(default_factory=list)
    metadata: list[MetadataEntry] = Field(default_factory=list)
    problems: list[Problem] = Field(default_factory=list)


class LayerEntry(BaseModel):
    media_type: str
    role: str
    path: str | None
    size: int
    digest: str


class ReferrerRow(BaseModel):
    """An artifact that refers to the model: its type, and its manifest's digest and size."""

    artifact_type: str
    digest: str
    size: int


class ArtifactReport(BaseModel):
    """What a model archive or layout holds, read from its manifest and config only."""

    source: str
    reference: str | None
    format: str
    manifest_digest: str
    config_media_type: str
    size: int = Field(description="bytes of all blobs: manifest, config and layers")
    layers: list[LayerEntry]
    config: dict[str, Any] = Field(description="format, context size, size, architecture, parameters, quantization")
    labels: dict[str, str] = Field(default_factory=dict)
    created: str | None = Field(default=None, description="the creation time the config records (None: unknown)")
    referrers: list[ReferrerRow] = Field(default_factory=list,
                                         description="artifacts that refer to the model: signatures, provenance, BOMs")


def is_artifact(path: Path) -> bool:
    """An OCI layout folder, or a file that is a tar (by its ``ustar`` magic), rather than model files."""
    if path.is_dir():
        return (path / "oci-layout").is_file() or (path / "index.json").is_file()
    if path.suffix.lower() in (".gguf", ".safetensors"):
        return False
    if path.suffix.lower() == ".tar":
        return True  # named as an archive: read as one, so a broken one is reported as a broken archive
    try:
        with path.open("rb") as f:
            header = f.read(512)
    except OSError:
        return False
    return len(header) == 512 and header[257:262] == b"ustar"


def inspect_artifact(path: Source, *, platform: str | None = None) -> ArtifactReport:
    """Summarise a model archive, layout or stored model without reading its blobs (of a multi-platform modelcar,
    the ``platform`` image; without one, it is refused naming its platforms)."""
    with open_source(path) as whole:
        layout = platform_view(whole, platform, str(path)) if platform else whole
        # The store holds a container image only as a modelcar's base (pulled for `FROM`): read as one there.
        artifact = read_artifact(layout, where=f"`{path}`", images=isinstance(path, StoredRef))
    m = artifact.manifest
    c = artifact.config
    return ArtifactReport(
        source=str(path),
        reference=artifact.ref_name,
        format=artifact.format,
        manifest_digest=str(m.digest),
        config_media_type=m.config.media_type,
        size=len(m.raw) + m.config.size + sum({d.digest: d.size for d in m.layers}.values()),
        layers=[LayerEntry(media_type=layer.descriptor.media_type, role=layer.role.value, path=layer.filepath,
                           size=layer.descriptor.size, digest=str(layer.descriptor.digest))
                for layer in artifact.layers],
        config={"format": c.format, "context_size": c.context_size, "size": c.size, "architecture": c.architecture,
                "parameters": c.parameters, "quantization": c.quantization},
        labels=dict(m.annotations),
        created=created_of(c.doc),
        referrers=[ReferrerRow(artifact_type=d.artifact_type or "", digest=str(d.digest), size=d.size)
                   for d in (listed(path) if layout is whole else ())],  # a platform's image: none (not attested)
    )


def inspect_model(path: Path) -> ModelReport:
    """Summarise a ``.gguf`` file (with its shard set), a ``.safetensors`` file, or a model folder."""
    if path.is_dir():
        return _folder(path)
    if not path.is_file():
        raise UsageError(f"`{path}` not found", hint="inspect takes a .gguf or .safetensors file, or a model folder")
    suffix = path.suffix.lower()
    if suffix == ".gguf":
        return _gguf(path)
    if suffix == ".safetensors":
        return _safetensors([path], path, [])
    raise UsageError(f"`{path}` is not a model file",
                     hint="inspect takes a .gguf or .safetensors file, or a model folder")


def _gguf(path: Path) -> ModelReport:
    shard = shard_name(path.name)
    paths = [path.parent / Path(rel).name for rel in set_members(shard)] if shard else [path]
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        paths = [path]
    headers = [_read_gguf(p) for p in paths]
    first = headers[0]
    report = ModelReport(
        path=str(path),
        kind="gguf",
        format="gguf",
        config=meta.gguf_fields(headers),
        parameter_count=sum(h.parameter_count for h in headers),
        tensor_count=sum(len(h.tensors) for h in headers),
        gguf_version=first.version,
        projector=_is_projector(first),
        files=[FileEntry(path=p.name, kind="gguf", size=h.file_size) for p, h in zip(paths, headers, strict=True)],
        metadata=_metadata(first),
    )
    report.problems += [Problem(message=f"shard `{name}` is missing") for name in missing]
    return report


def _read_gguf(path: Path) -> GGUFHeader:
    try:
        return read_gguf_header(path)
    except GGUFError as exc:
        raise ModelociError(f"cannot read GGUF file `{path}`: {exc.message}") from exc


def _is_projector(header: GGUFHeader) -> bool:
    return header.get("general.type") in ("mmproj", "projector") or header.get("general.architecture") == "clip"


def _metadata(header: GGUFHeader) -> list[MetadataEntry]:
    entries = []
    for key, value in header.metadata.items():
        kind = value.type.name.lower()
        if value.type is ValueType.ARRAY and value.element_type is not None:
            kind = f"{value.element_type.name.lower()}[{value.count}]"
        entries.append(MetadataEntry(key=key, type=kind, value=meta.gguf_value_text(value)))
    return entries


def _safetensors(paths: list[Path], shown: Path, files: list[FileEntry]) -> ModelReport:
    headers: list[SafetensorsHeader] = []
    for path in paths:
        try:
            headers.append(read_safetensors_header(path))
        except SafetensorsError as exc:
            raise ModelociError(f"cannot read safetensors file `{path}`: {exc.message}") from exc
    hf = None
    config_json = paths[0].parent / "config.json"
    if config_json.is_file():
        try:
            hf = read_hf_config(config_json)
        except HFConfigError:
            hf = None
    total = sum(p.stat().st_size for p in paths)
    metadata = {k: v for h in headers for k, v in h.metadata.items()}
    return ModelReport(
        path=str(shown),
        kind="folder" if shown.is_dir() else "safetensors",
        format="safetensors",
        config=meta.safetensors_fields(headers, total, hf),
        parameter_count=sum(h.parameter_count for h in headers),
        tensor_count=sum(len(h.tensors) for h in headers),
        files=files or [FileEntry(path=p.name, kind="weights", size=p.stat().st_size) for p in paths],
        metadata=[MetadataEntry(key=k, type="string", value=v) for k, v in metadata.items()],
    )


def _folder(path: Path) -> ModelReport:
    entries = sorted(p for p in path.rglob("*") if p.is_file() and not _hidden(p.relative_to(path)))
    ggufs = [p for p in entries if p.suffix.lower() == ".gguf" and p.parent == path]
    if ggufs:
        models = [p for p in ggufs if not _is_projector(_read_gguf(p))] or ggufs
        report = _gguf(next((p for p in models if _first_of_set(p)), models[0]))
        report.path, report.kind = str(path), "folder"
        report.files = [_entry(path, p) for p in entries if p.suffix.lower() == ".gguf" or classify(_rel(path, p))]
        return report
    files = []
    for p in entries:
        kind = classify(p.relative_to(path).as_posix())
        if kind is not None:
            files.append(FileEntry(path=p.relative_to(path).as_posix(), kind=kind.value, size=p.stat().st_size))
    weights = [path / f.path for f in files if f.kind == "weights"]
    if not weights:
        raise UsageError(f"no model weights in `{path}`", hint="a model folder holds .gguf or .safetensors files")
    return _safetensors(weights, path, files)


def _rel(folder: Path, path: Path) -> str:
    return path.relative_to(folder).as_posix()


def _entry(folder: Path, path: Path) -> FileEntry:
    kind = classify(_rel(folder, path))
    shown = _gguf_kind(path) if path.suffix.lower() == ".gguf" else kind.value if kind else "other"
    return FileEntry(path=_rel(folder, path), kind=shown, size=path.stat().st_size)


def _first_of_set(path: Path) -> bool:
    shard = shard_name(path.name)
    return shard is None or shard.number == 1


def _gguf_kind(path: Path) -> str:
    return "mmproj" if _is_projector(_read_gguf(path)) else "weights"


def _hidden(rel: Path) -> bool:
    return any(part.startswith(".") for part in rel.parts)
