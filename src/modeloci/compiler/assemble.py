"""Laying out the layers and the config, merged with the FROM base.

Layers come in a fixed role order, whatever order the Modelfile names files
in: weights (GGUF shard sets in shard order, then lexical order), the model's
other files (configs, tokenizers), licenses, the chat template, the projector,
then any other layers of the base. New WEIGHTS, CHAT_TEMPLATE and MMPROJ
replace the base's layers of that role, LICENSE adds to them, and CONFIG and
LABEL override single keys.
"""

from __future__ import annotations

from pathlib import Path

from modeloci.compiler.model import FileSource, LayerPlan, Role
from modeloci.compiler.state import Planned, State
from modeloci.formats import docker
from modeloci.model.ggufset import shard_name
from modeloci.modelfile import codes
from modeloci.modelfile.directives import Report

WEIGHT_FORMATS = {".gguf": "gguf", ".safetensors": "safetensors", ".dduf": "dduf"}
ROLE_ORDER = (Role.WEIGHTS, Role.MODEL_FILE, Role.LICENSE, Role.CHAT_TEMPLATE, Role.MMPROJ, Role.OTHER)
# Config fields Docker Model Runner derives from the weights; they go stale
# when a build replaces the base's weights.
WEIGHT_DERIVED = ("quantization", "parameters", "architecture", "size", "gguf", "safetensors", "diffusers", "context_size")


def weights_order(p: Planned) -> tuple[int, str, int]:
    """GGUF shard sets first, in shard order, then other files in lexical order.

    The order is the same however the Modelfile lists the files, so shards
    named out of order still become layers in shard order.
    """
    shard = shard_name(p.file.rel)
    if shard is not None:
        return (0, f"{shard.folder}/{shard.prefix}", shard.number)
    return (1, p.file.rel, 0)


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
        found = WEIGHT_FORMATS.get(Path(p.file.rel).suffix.lower())
        if found is None and report:
            state.report.add(codes.unsupported_weights(state.report.file, p.span, p.file.rel, list(WEIGHT_FORMATS)))
        elif found is not None and fmt is None:
            fmt = found
        elif found is not None and found != fmt and report:
            state.report.add(codes.mixed_formats(state.report.file, p.span, p.file.rel, found, fmt or ""))
    if fmt is None and state.base is not None:
        fmt = str(state.base.config.get("format") or "gguf")
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
    """The base's layers of ``role`` that survive: all licenses, other roles unless replaced."""
    if state.base is None or (new[role] and role is not Role.LICENSE):
        return []
    return [layer for layer in state.base.layers if layer.role is role]


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


def layers(state: State) -> list[LayerPlan]:
    """The layers in role order, merged with the base."""
    new = _new_files(state)
    fmt = weights_format(state)
    return [
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
    if p.role is Role.WEIGHTS:
        media_type = docker.WEIGHT_MEDIA_TYPES[WEIGHT_FORMATS.get(Path(p.file.rel).suffix.lower(), fmt)]
    else:
        media_type = docker.ROLE_MEDIA_TYPES[p.role.value]
    return LayerPlan(
        role=p.role,
        media_type=str(media_type),
        filepath=p.layer_path,
        size=p.file.size,
        source=FileSource(path=p.file.rel),
        annotations=docker.layer_annotations(p.layer_path, p.file.size, state.mtime),
        line=p.line,
    )


def _check_collisions(inherited: list[LayerPlan], planned: list[Planned], report: Report) -> None:
    """Two different files may not get the same path in the artifact."""
    seen: dict[str, str] = {layer.filepath: f"{layer.filepath} (from the base)" for layer in inherited}
    for p in planned:
        other = seen.setdefault(p.layer_path, p.file.rel)
        if other != p.file.rel:
            report.add(codes.path_collision(report.file, p.span, p.layer_path, other, p.file.rel))


def config_media_type(state: State, layers: list[LayerPlan]) -> str:
    if state.base is not None:
        return state.base.plan.config_media_type
    return str(docker.CONFIG_MEDIA_TYPES[format_of(layers)])


def format_of(layers: list[LayerPlan]) -> str:
    for layer in layers:
        for fmt, media_type in docker.WEIGHT_MEDIA_TYPES.items():
            if layer.role is Role.WEIGHTS and layer.media_type == media_type:
                return fmt
    return "gguf"


def config(state: State, layers: list[LayerPlan]) -> dict[str, object]:
    """The config fields: the base's, then what the new weights say, then CONFIG."""
    fields: dict[str, object] = dict(state.base.config) if state.base else {}
    if state.weights:
        dropped = [k for k in WEIGHT_DERIVED if fields.pop(k, None) is not None and k not in state.config and k not in state.derived]
        if dropped and state.base is not None:
            state.report.add(codes.base_metadata_dropped(state.report.file, state.weights[0].span, dropped))
        fields.update(state.derived)
    fields["format"] = format_of(layers)
    fields.update(state.config)
    order = {name: i for i, name in enumerate(docker.CONFIG_FIELDS)}
    return dict(sorted(fields.items(), key=lambda item: (order.get(item[0], len(order)), item[0])))


def labels(state: State) -> dict[str, str]:
    merged = dict(state.base.manifest.annotations) if state.base else {}
    merged.update(state.labels)
    return merged
