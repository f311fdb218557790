"""``convert``: re-wrap a model artifact in another format, carrying every blob by digest.

Only the config and the manifest change. Layers keep their bytes (copied by
the kernel, and hashed on the way, since the source may lie about them) and
their path and file metadata; their media
types follow the target format. The target's config is built from the facts
re-read from the weights' headers inside the archive, plus what the source
config says that the target can also hold. What the target cannot hold is
named in a warning, never dropped silently.

A modelcar wraps each file in a tar layer. Converting to one builds each tar
around the raw layer while copying it (the raw layer's digest is the file's, so
one read gives the layer's digest and checks the file's); converting from one
copies each file's byte range out of its tar, checked against the file digest
the layer's annotation claims (or, without one, found with the layer's own
digest first). The container image under a modelcar's model is not a model
file: a model format keeps none of it, and says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modeloci.builder import BuildResult, build_archive
from modeloci.compiler.base import UNPACK_HINT, tar_layers
from modeloci.compiler.model import BasePlan, BaseSource, BuildPlan, InTar, LayerPlan
from modeloci.compiler.modelcar import layer_mtime
from modeloci.errors import ArchiveError, ModelociError
from modeloci.formats import docker, modelcar, modelpack
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
from modeloci.formats.modelcar_layers import FileInLayer, file_in_layer
from modeloci.model.gguf import GGUFError
from modeloci.model.safetensors import SafetensorsError
from modeloci.oci.jsonenc import go_time
from modeloci.oci.layout import Layout
from modeloci.sources import Source, open_source
from modeloci.store.partial import refuse_absent

if TYPE_CHECKING:
    from modeloci.ops.reports import ConvertReport

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
        """``convert --json`` (docs/json/convert.schema.json): the build's JSON, the formats and the warnings. A
        pydantic model, imported only when asked for (start-up time: a convert that prints no JSON loads no
        pydantic)."""
        from modeloci.ops.reports import ConvertReport

        return ConvertReport(**dict(self.result.report()), from_=self.source_format, to=self.target_format,
                             warnings=self.warnings)


def convert(source: Source, target: str, output: Path, *, reference: str | None = None) -> ConvertResult:
    """Write ``source`` (archive or layout, either format) as ``target`` format to ``output``."""
    plan, source_format, warnings = plan_conversion(source, target, reference=reference)
    return ConvertResult(build_archive(plan, output), source_format, target, warnings)


def plan_conversion(source: Source, target: str, *, reference: str | None = None) -> tuple[BuildPlan, str, list[str]]:
    try:
        with open_source(source) as layout:
            artifact = read_artifact(layout, where=f"`{source}`")
            refuse_absent(layout, artifact.layers, str(source), verb="convert")  # a model pulled in part
            _refuse_tar_layers(source, artifact)
            facts, docker_fields = derive(layout, artifact)
            inside = _files_inside(layout, artifact, target)
    except (GGUFError, SafetensorsError) as exc:
        raise ArchiveError(f"cannot read the weights of `{source}`: {exc.message}", path=str(source)) from exc
    except OSError as exc:
        raise ModelociError(f"reading {source}: {exc.strerror or exc}") from exc
    fmt = weights_format(artifact)
    warnings: list[str] = _image_dropped(artifact, target)
    labels = dict(artifact.manifest.annotations)
    if artifact.format == "modelcar" and target != "modelcar":
        labels = {k: v for k, v in labels.items() if k not in modelcar.FACT_LABELS}  # the target says them its way
    created = _created(artifact)
    if target == "modelcar":
        config = _to_modelcar(artifact, facts, docker_fields, labels, reference or artifact.ref_name)
        media_type: str = str(modelcar.CONFIG_MEDIA_TYPE)
    elif target == "modelpack":
        config = _to_modelpack(artifact, facts, docker_fields, labels, created, reference, warnings)
        media_type = modelpack.CONFIG_MEDIA_TYPE
    else:
        config = _to_docker(artifact, facts, docker_fields, fmt, labels, reference or artifact.ref_name, warnings)
        media_type = _docker_media_type(artifact, fmt)
    epoch = epoch_of(created)
    plan = BuildPlan(
        modelfile=str(source),
        config_media_type=media_type,
        base=BasePlan(str(source), str(artifact.manifest.digest), artifact.manifest.config.media_type,
                      artifact.ref_name, artifact.format),
        layers=[_layer(layer, artifact, target, fmt, inside.get(i)) for i, layer in enumerate(artifact.layers)
                if layer.is_file or target == "modelcar"],
        config=config,
        labels=_modelcar_labels(config, labels) if target == "modelcar" else labels,
        mtime=go_time(epoch or 0),
        created=created,
        reference=reference or artifact.ref_name,
        format=target,
        base_path=source,
        created_epoch=epoch,
        mtime_epoch=epoch or 0,
        layer_mtime=layer_mtime() if target == "modelcar" else 0,
    )
    return plan, artifact.format, warnings


def _refuse_tar_layers(source: Source, artifact: Artifact) -> None:
    packed = [layer for layer in artifact.layers if layer.packing != "raw" and layer.kind == "file"]
    if packed:
        raise ArchiveError(f"cannot convert `{source}`: {tar_layers(packed)}", path=str(source),
                           hint=UNPACK_HINT.replace("BASE", str(source)))


def _files_inside(layout: Layout, artifact: Artifact, target: str) -> dict[int, FileInLayer]:
    """Where each file of a modelcar lies in its layer (and its digest), by layer: for a model format's raw
    layers."""
    if artifact.format != "modelcar" or target == "modelcar":
        return {}
    return {i: file_in_layer(layout, layer) for i, layer in enumerate(artifact.layers) if layer.is_file}


def _image_dropped(artifact: Artifact, target: str) -> list[str]:
    image = [layer for layer in artifact.layers if not layer.is_file]
    if not image or target == "modelcar":
        return []
    return [f"the {len(image)} layer{'s' if len(image) != 1 else ''} of the container image under the model "
            f"{'are' if len(image) != 1 else 'is'} not kept: {target} holds model files only"]


def _layer(layer: ModelLayer, artifact: Artifact, target: str, fmt: str, inside: FileInLayer | None) -> LayerPlan:
    d = layer.descriptor
    if inside is not None:
        return _out_of_tar(layer, target, fmt, inside)
    if target == "modelcar" and artifact.format != "modelcar":
        return LayerPlan(role=layer.role, media_type=str(modelcar.LAYER), filepath=layer.filepath,
                         size=modelcar.layer_size(layer.filepath, d.size, 0), source=BaseSource(digest=str(d.digest)),
                         annotations=modelcar.carry_annotations(d.annotations, layer.filepath, layer.role, d.digest),
                         file_size=d.size)
    same = target == artifact.format
    return LayerPlan(
        role=layer.role,
        media_type=d.media_type if same else formats.media_type(layer.role, target, fmt, layer.filepath or ""),
        filepath=layer.filepath,
        size=d.size,
        source=BaseSource(digest=str(d.digest)),
        annotations=dict(d.annotations) if same else formats.carry_annotations(d.annotations, layer.filepath, target),
    )


def _out_of_tar(layer: ModelLayer, target: str, fmt: str, inside: FileInLayer) -> LayerPlan:
    """A raw layer of a model format holding the file a modelcar's layer wraps: that byte range of its blob."""
    d = layer.descriptor
    return LayerPlan(role=layer.role, media_type=formats.media_type(layer.role, target, fmt, layer.filepath),
                     filepath=layer.filepath, size=inside.size,
                     source=BaseSource(digest=str(d.digest), within=InTar(d.size, inside.offset, str(inside.digest))),
                     annotations=formats.carry_annotations(d.annotations, layer.filepath, target))


def _to_modelcar(artifact: Artifact, facts: ModelFacts, derived: dict[str, object], labels: dict[str, str],
                 reference: str | None) -> dict[str, Any]:
    """A modelcar's image config before its layers: a modelcar's own, or a model-only image's with the facts."""
    if isinstance(artifact.config, ModelcarConfig):
        return {k: v for k, v in artifact.config.doc.items() if k != "rootfs"}
    doc = {k: v for k, v in modelcar.new_config().items() if k not in ("rootfs", "history")}
    name = reference.rsplit(":", 1)[0] if reference and ":" in reference.rsplit("/", 1)[-1] else reference
    context = artifact.config.context_size or derived.get("context_size")
    doc["config"] = {"Labels": {**labels, **modelcar.fact_labels(facts, name=name or facts.name,
                                                                 context_size=context)}}
    return doc


def _modelcar_labels(config: dict[str, Any], labels: dict[str, str]) -> dict[str, str]:
    """A modelcar's manifest annotations: the source's, and the facts its labels state."""
    stated = config.get("config", {}).get("Labels") or {}
    return {**labels, **{k: v for k, v in stated.items() if k in modelcar.FACT_LABELS}}


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
    if isinstance(config, ModelcarConfig):  # its facts are its labels: derived again from the weights
        return {**derived, "format": fmt, **({"context_size": config.context_size} if config.context_size else {})}
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
