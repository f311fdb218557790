"""``convert``: re-wrap a model artifact in the other format, carrying every blob by digest.

Only the config and the manifest change. Layers keep their bytes (copied by
the kernel, and hashed on the way, since the source may lie about them) and
their path and file metadata; their media
types follow the target format. The target's config is built from the facts
re-read from the weights' headers inside the archive, plus what the source
config says that the target can also hold. What the target cannot hold is
named in a warning, never dropped silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import Field

from modeloci.builder import BuildReport, BuildResult, build_archive
from modeloci.compiler.base import UNPACK_HINT, tar_layers
from modeloci.compiler.model import BasePlan, BaseSource, BuildPlan, LayerPlan
from modeloci.errors import ArchiveError, ModelociError
from modeloci.formats import docker, modelpack
from modeloci.formats import layers as formats
from modeloci.formats.artifact import (
    Artifact,
    ModelLayer,
    created_of,
    epoch_of,
    read_artifact,
)
from modeloci.formats.configs import DockerConfig, ModelcarConfig, ModelPackConfig
from modeloci.formats.derive import derive, weights_format
from modeloci.formats.facts import ModelFacts
from modeloci.model.gguf import GGUFError
from modeloci.model.safetensors import SafetensorsError
from modeloci.oci.jsonenc import go_time
from modeloci.sources import Source, open_source

# ModelPack descriptor fields that have an OCI label meaning the same thing.
_FIELD_LABELS = {field: label for label, field in reversed(modelpack.LABEL_FIELDS.items())}


@dataclass
class ConvertResult:
    """The archive written, the formats converted from and to, and what the target could not hold."""

    result: BuildResult
    source_format: str
    target_format: str
    warnings: list[str] = field(default_factory=list)

    def report(self) -> ConvertReport:
        """``convert --json`` (docs/json/convert.schema.json): the build's JSON, the formats and the warnings."""
        return ConvertReport(**dict(self.result.report()), from_=self.source_format, to=self.target_format,
                             warnings=self.warnings)


class ConvertReport(BuildReport):
    from_: str = Field(serialization_alias="from")
    to: str
    warnings: list[str]


def convert(source: Source, target: str, output: Path, *, reference: str | None = None) -> ConvertResult:
    """Write ``source`` (archive or layout, either format) as ``target`` format to ``output``."""
    plan, source_format, warnings = plan_conversion(source, target, reference=reference)
    return ConvertResult(build_archive(plan, output), source_format, target, warnings)


def plan_conversion(source: Source, target: str, *, reference: str | None = None) -> tuple[BuildPlan, str, list[str]]:
    try:
        with open_source(source) as layout:
            artifact = read_artifact(layout, where=f"`{source}`")
            _refuse_tar_layers(source, artifact)
            facts, docker_fields = derive(layout, artifact)
    except (GGUFError, SafetensorsError) as exc:
        raise ArchiveError(f"cannot read the weights of `{source}`: {exc.message}", path=str(source)) from exc
    except OSError as exc:
        raise ModelociError(f"reading {source}: {exc.strerror or exc}") from exc
    fmt = weights_format(artifact)
    warnings: list[str] = []
    labels = dict(artifact.manifest.annotations)
    created = _created(artifact)
    if target == "modelpack":
        config = _to_modelpack(artifact, facts, docker_fields, labels, created, reference, warnings)
        media_type: str = modelpack.CONFIG_MEDIA_TYPE
    else:
        config = _to_docker(artifact, facts, docker_fields, fmt, labels, reference or artifact.ref_name, warnings)
        media_type = _docker_media_type(artifact, fmt)
    epoch = epoch_of(created)
    plan = BuildPlan(
        modelfile=str(source),
        config_media_type=media_type,
        base=BasePlan(str(source), str(artifact.manifest.digest), artifact.manifest.config.media_type,
                      artifact.ref_name, artifact.format),
        layers=[_layer(layer, artifact, target, fmt) for layer in artifact.layers],
        config=config,
        labels=labels,
        mtime=go_time(epoch or 0),
        created=created,
        reference=reference or artifact.ref_name,
        format=target,
        base_path=source,
        created_epoch=epoch,
        mtime_epoch=epoch or 0,
    )
    return plan, artifact.format, warnings


def _refuse_tar_layers(source: Source, artifact: Artifact) -> None:
    packed = [layer for layer in artifact.layers if layer.packing != "raw"]
    if packed:
        raise ArchiveError(f"cannot convert `{source}`: {tar_layers(packed)}", path=str(source),
                           hint=UNPACK_HINT.replace("BASE", str(source)))


def _layer(layer: ModelLayer, artifact: Artifact, target: str, fmt: str) -> LayerPlan:
    d = layer.descriptor
    same = target == artifact.format
    return LayerPlan(
        role=layer.role,
        media_type=d.media_type if same else formats.media_type(layer.role, target, fmt, layer.filepath or ""),
        filepath=layer.filepath,
        size=d.size,
        source=BaseSource(digest=str(d.digest)),
        annotations=dict(d.annotations) if same else formats.carry_annotations(d.annotations, layer.filepath, target),
    )


def _to_modelpack(artifact: Artifact, facts: ModelFacts, derived: dict[str, object], labels: dict[str, str],
                  created: str | None, reference: str | None, warnings: list[str]) -> dict[str, Any]:
    if isinstance(artifact.config, ModelPackConfig):
        return {"descriptor": dict(artifact.config.descriptor), "config": dict(artifact.config.fields)}
    config = artifact.config  # a DockerConfig: a ModelPack one returned above
    if config.context_size is not None and config.context_size != derived.get("context_size"):
        # (one the weights say comes back from them; only another one, a CONFIG of the build, is lost)
        warnings.append(f"context_size {config.context_size} is not kept: ModelPack has no field for it")
    for key in ("gguf", "safetensors", "diffusers"):
        if config.fields.get(key):
            warnings.append(f"the `{key}` metadata map is not kept: ModelPack has no field for it "
                            "(the weights still carry it)")
    descriptor = _descriptor(facts, labels, reference or artifact.ref_name)
    if created is not None:
        descriptor["createdAt"] = created
    fields = {k: v for k, v in modelpack.config_fields(facts).items() if v is not None}
    return {"descriptor": descriptor, "config": fields}


def _descriptor(facts: ModelFacts, labels: dict[str, str], reference: str | None) -> dict[str, Any]:
    """A ModelPack descriptor as ``build --format modelpack`` writes it (compiler/assemble.py): the name without
    its tag, the tag as ``version`` unless it is ``latest`` (a LABEL wins), LABELs, family and license from the
    weights."""
    name, _, tag = (reference or "").rpartition(":")
    if not name or "/" in tag:  # no tag; `host:port/repo` is a name
        name, tag = reference or "", ""
    descriptor = {k: v for k, v in modelpack.descriptor_fields(
        name=name or facts.name or "model", labels=labels, created=None, family=facts.architecture,
        licenses=[facts.license] if facts.license else []).items() if v not in (None, "", [])}
    if tag and tag != "latest":
        descriptor.setdefault("version", tag)
    return descriptor


def _to_docker(artifact: Artifact, facts: ModelFacts, derived: dict[str, object], fmt: str, labels: dict[str, str],
               reference: str | None, warnings: list[str]) -> dict[str, Any]:
    if isinstance(artifact.config, DockerConfig):
        return dict(artifact.config.fields)
    config = artifact.config
    if isinstance(config, ModelcarConfig):
        return {**derived, "format": fmt}  # a modelcar's facts are its labels, derived again from the weights
    # What converting back says by itself (from the tag, the labels and the weights) needs no label: adding one
    # would give the model back with an annotation it never had.
    again = _descriptor(facts, dict(labels), reference)
    for key, value in config.descriptor.items():
        if key == "createdAt" or again.get(key) == value:
            continue  # createdAt becomes `created`
        label = _FIELD_LABELS.get(key)
        text = ", ".join(value) if isinstance(value, list) else value
        if label and isinstance(text, str):
            labels.setdefault(label, text)
        else:
            warnings.append(f"descriptor.{key} is not kept: Docker's model format has no field for it")
    for key in config.fields:
        if key not in ("architecture", "format", "paramSize", "precision", "quantization"):
            warnings.append(f"config.{key} is not kept: Docker's model format has no field for it")
    return {**derived, "format": fmt}


def _docker_media_type(artifact: Artifact, fmt: str) -> str:
    if isinstance(artifact.config, DockerConfig):
        return artifact.manifest.config.media_type
    return str(docker.CONFIG_MEDIA_TYPES.get(fmt, docker.CONFIG_MEDIA_TYPES["gguf"]))


def _created(artifact: Artifact) -> str | None:
    return created_of(artifact.config.doc)
