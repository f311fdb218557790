"""Laying out the layers and the config, merged with the FROM base.

Layers come in a fixed role order, whatever order the Modelfile names files
in: weights (GGUF shard sets in shard order, then lexical order), the model's
other files (configs, tokenizers), licenses, the chat template, the projector,
then any other layers of the base. New WEIGHTS, CHAT_TEMPLATE and MMPROJ
replace the base's layers of that role, LICENSE adds to them, and CONFIG and
LABEL override single keys.
"""

from __future__ import annotations

import os
import posixpath
from dataclasses import replace

from modeloci.compiler import modelcar as car
from modeloci.compiler.model import FileSource, LayerPlan, Role
from modeloci.compiler.state import Planned, State
from modeloci.formats import docker, modelcar, modelpack
from modeloci.formats import layers as formats
from modeloci.formats.configs import ModelPackConfig
from modeloci.model.ggufset import shard_name
from modeloci.modelfile import codes
from modeloci.modelfile.directives import Report
from modeloci.oci.jsonenc import go_time
from modeloci.oci.mediatypes import MediaType
from modeloci.oci.safety import safe_relative

WEIGHT_FORMATS = {".gguf": "gguf", ".safetensors": "safetensors", ".dduf": "dduf"}
ROLE_ORDER = (Role.WEIGHTS, Role.MODEL_FILE, Role.LICENSE, Role.CHAT_TEMPLATE, Role.MMPROJ, Role.OTHER)
# Config fields Docker Model Runner derives from the weights; they go stale
# when a build replaces the base's weights.
WEIGHT_DERIVED = (
    "quantization", "parameters", "architecture", "size", "gguf", "safetensors", "diffusers", "context_size",
)


def weights_order(p: Planned) -> tuple[int, list[str], int]:
    """GGUF shard sets first, in shard order, then other files in lexical order.

    The order is the same however the Modelfile lists the files, so shards
    named out of order still become layers in shard order. Paths compare folder
    by folder (``a/x`` before ``a.x``), in the order Docker Model Runner walks a folder.
    """
    shard = shard_name(p.file.rel)
    if shard is not None:
        return (0, f"{shard.folder}/{shard.prefix}".split("/"), shard.number)
    return (1, p.file.rel.split("/"), 0)


def unique(planned: list[Planned]) -> list[Planned]:
    seen: set[str] = set()
    out = []
    for p in planned:
        if p.file.rel not in seen:
            seen.add(p.file.rel)
            out.append(p)
    return out


def weights_format(state: State, *, report: bool = False) -> str:
    """The weights' format, from their extensions (mixing formats is reported when ``report``)."""
    fmt: str | None = None
    for p in state.weights:
        found = WEIGHT_FORMATS.get(os.path.splitext(p.file.rel)[1].lower())
        if found is None and report:
            state.report.add(codes.unsupported_weights(state.report.file, p.span, p.file.rel, list(WEIGHT_FORMATS)))
        elif found is not None and fmt is None:
            fmt = found
        elif found is not None and found != fmt and report:
            state.report.add(codes.mixed_formats(state.report.file, p.span, p.file.rel, found, fmt or ""))
    if fmt is None and state.base is not None:
        # The base's weights, in either format (a ModelPack base has no Docker config to ask). Imported only for a
        # base (start-up time): deriving loads the layout reader, which a model FROM scratch never needs.
        from modeloci.formats.derive import weights_format

        fmt = weights_format(state.base.artifact)
    return fmt or "gguf"


def _new_files(state: State) -> dict[Role, list[Planned]]:
    """The files the Modelfile adds, by role, each role in its layer order."""
    return {
        Role.WEIGHTS: sorted(unique(state.weights), key=weights_order),
        Role.MODEL_FILE: unique(state.model_files),
        Role.LICENSE: unique(state.licenses),
        Role.CHAT_TEMPLATE: [state.chat_template] if state.chat_template else state.folder_templates,
        Role.MMPROJ: [state.mmproj] if state.mmproj else [],
        Role.OTHER: [],
    }


def _inherited(state: State, role: Role, new: dict[Role, list[Planned]]) -> list[LayerPlan]:
    """The base's layers of ``role`` that survive: all licenses, other roles unless replaced;
    carried into the output's format when the base is in the other one.

    A WEIGHTS folder is a new version of the model's files: its files replace the
    base's other files too (a ModelPack base's code and documents, read back with no
    role of their own), and whatever base layer lies at a path the folder fills.
    """
    if state.base is None or (new[role] and role is not Role.LICENSE):
        return []
    if role is Role.OTHER and any(p.via == "folder" for p in new[Role.MODEL_FILE]):
        return []
    refilled = {p.layer_path for files in new.values() for p in files if p.via == "folder"}
    kept = [layer for layer in state.base.layers if layer.role is role and layer.filepath not in refilled
            and not car.is_image_layer(layer)]
    if state.base.format == state.target:
        return kept
    if state.target == "modelcar":
        return [car.from_raw(layer) for layer in kept]
    fmt = weights_format(state)
    return [
        replace(layer, media_type=formats.media_type(role, state.target, fmt, layer.filepath),
                annotations=formats.carry_annotations(layer.annotations, layer.filepath, state.target))
        for layer in kept
    ]


def check(state: State) -> None:
    """Structural checks before any file is read: roles, format, paths in the artifact, weights present."""
    new = _new_files(state)
    if state.chat_template and state.folder_templates:
        replaced = ", ".join(p.file.rel for p in state.folder_templates)
        state.report.add(codes.template_replaces_folder(state.report.file, state.chat_template.span, replaced))
    planned = [p for role in ROLE_ORDER for p in new[role]]
    _check_roles(planned, state.report)
    weights_format(state, report=True)
    inherited = [layer for role in ROLE_ORDER for layer in _inherited(state, role, new)]
    _check_collisions(inherited, planned, state.report)
    if not new[Role.WEIGHTS] and not any(layer.role is Role.WEIGHTS for layer in inherited):
        state.report.add(codes.no_weights(state.report.file, state.from_span))
    if state.target == "modelpack" and "context_size" in state.config:
        state.report.add(codes.modelpack_context_size(state.report.file, state.config_spans["context_size"]))
    if state.target == "modelpack":
        _check_modelpack_roles(state)


def _check_modelpack_roles(state: State) -> None:
    """ModelPack readers tell a projector and a chat template from other files by name only (as
    modeloci.formats.artifact.role_of does): say so when a name will not tell."""
    report = state.report
    if state.mmproj is not None and "mmproj" not in posixpath.basename(state.mmproj.file.rel).lower():
        report.add(codes.modelpack_role_by_name(report.file, state.mmproj.span, state.mmproj.file.rel, "projector",
                                                "contain `mmproj`"))
    template = state.chat_template
    name = posixpath.basename(template.file.rel).lower() if template else ""
    if template is not None and not (name.endswith(".jinja") or "chat_template" in name):
        report.add(codes.modelpack_role_by_name(report.file, template.span, template.file.rel, "chat template",
                                                "end in `.jinja` or contain `chat_template`"))


def layers(state: State) -> list[LayerPlan]:
    """The layers in role order, merged with the base."""
    new = _new_files(state)
    fmt = weights_format(state)
    return car.image_layers(state) + [
        layer
        for role in ROLE_ORDER
        for layer in _inherited(state, role, new) + [_file_layer(p, fmt, state) for p in new[role]]
    ]


def _check_roles(planned: list[Planned], report: Report) -> None:
    first: dict[str, Planned] = {}
    for p in planned:
        other = first.setdefault(p.file.rel, p)
        if other.role is not p.role:
            report.add(codes.two_roles(report.file, p.span, p.file.rel, p.keyword, other.keyword, other.line))


def _file_layer(p: Planned, fmt: str, state: State) -> LayerPlan:
    own_format = WEIGHT_FORMATS.get(os.path.splitext(p.file.rel)[1].lower(), fmt) if p.role is Role.WEIGHTS else fmt
    layer = LayerPlan(
        role=p.role,
        media_type=formats.media_type(p.role, state.target, own_format, p.layer_path),
        filepath=p.layer_path,
        size=p.file.size,
        source=FileSource(path=p.file.rel),
        annotations=formats.annotations(p.layer_path, p.file.size, state.mtime, state.target, p.role),
        line=p.line,
    )
    return car.wrapped(layer, state.mtime) if state.target == "modelcar" else layer


def _check_collisions(inherited: list[LayerPlan], planned: list[Planned], report: Report) -> None:
    """Two different files may not get the same path in the artifact."""
    seen: dict[str, str] = {layer.filepath: f"{layer.filepath} (from the base)" for layer in inherited}
    for p in planned:
        if safe_relative(p.layer_path) is None:
            # unpack (ours, and other tools on Windows) would refuse it or write it elsewhere.
            report.add(codes.unsafe_layer_path(report.file, p.span, p.layer_path))
            continue
        other = seen.setdefault(p.layer_path, p.file.rel)
        if other != p.file.rel:
            report.add(codes.path_collision(report.file, p.span, p.layer_path, other, p.file.rel))


def config_media_type(state: State, layers: list[LayerPlan]) -> str:
    if state.target == "modelcar":
        return str(modelcar.CONFIG_MEDIA_TYPE)
    if state.target == "modelpack":
        return modelpack.CONFIG_MEDIA_TYPE
    if state.base is not None and state.base.format == "docker":
        return state.base.plan.config_media_type
    if any(p.via == "folder" for p in state.weights):
        # Docker Model Runner packages a folder as v0.2 (layer per file, under its path) whatever its weights.
        return str(MediaType.DOCKER_CONFIG_V02)
    return str(docker.CONFIG_MEDIA_TYPES[weights_format(state)])


def config(state: State, layers: list[LayerPlan]) -> dict[str, object]:
    """The config: Docker's fields, or ModelPack's ``descriptor`` and ``config`` objects."""
    if state.target == "modelpack":
        return _modelpack_config(state)
    if state.target == "modelcar":
        return car.config(state, layers)
    return _docker_config(state)


def _modelpack_config(state: State) -> dict[str, object]:
    facts = state.facts
    name = state.reference.rsplit(":", 1)[0] if state.reference else (facts.name if facts else None)
    version = state.reference.rsplit(":", 1)[1] if state.reference else None
    licenses = [facts.license] if facts and facts.license else []
    base = state.base.artifact.config if state.base else None
    base_pack = base if isinstance(base, ModelPackConfig) else None  # a ModelPack base's sections are kept
    base_descriptor = dict(base_pack.descriptor) if base_pack else {}
    descriptor = {**base_descriptor, **{k: v for k, v in modelpack.descriptor_fields(
        name=name or base_descriptor.get("name") or state.context.root.name, labels=labels(state), created=None,
        family=facts.architecture if facts else None, licenses=licenses).items() if v not in (None, "", [])}}
    if version and version != "latest":
        descriptor.setdefault("version", version)
    if state.created is not None:
        descriptor["createdAt"] = go_time(state.created)
    else:
        descriptor.pop("createdAt", None)
    base_fields = dict(base_pack.fields) if base_pack else {}
    fields = {**base_fields, **{k: v for k, v in modelpack.config_fields(facts).items() if v is not None}}
    return {"descriptor": descriptor, "config": fields}


def _docker_config(state: State) -> dict[str, object]:
    """The config fields: the base's, then what the new weights say, then CONFIG."""
    fields: dict[str, object] = dict(state.base.config) if state.base else {}
    if state.weights:
        dropped = [k for k in WEIGHT_DERIVED
                   if fields.pop(k, None) is not None and k not in state.config and k not in state.derived]
        if dropped and state.base is not None:
            state.report.add(codes.base_metadata_dropped(state.report.file, state.weights[0].span, dropped))
        fields.update(state.derived)
    elif state.base is not None and state.base.format != "docker":
        fields.update(state.derived)  # a ModelPack base: fields re-derived from its weights
    fields["format"] = weights_format(state)
    fields.update(state.config)
    order = {name: i for i, name in enumerate(docker.CONFIG_FIELDS)}
    return dict(sorted(fields.items(), key=lambda item: (order.get(item[0], len(order)), item[0])))


def labels(state: State) -> dict[str, str]:
    merged = dict(state.base.artifact.manifest.annotations) if state.base else {}
    merged.update(state.labels)
    return car.labels(state, merged) if state.target == "modelcar" else merged
