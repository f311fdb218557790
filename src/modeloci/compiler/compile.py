"""COMPILER: Modelfile AST to BuildPlan.

Directives are compiled in order (so ARGs apply to what follows them), each by
the ``_compile_<directive>`` function of its name. Files are resolved in the
build context and ordered; then the layers are assembled in Docker Model
Runner's role order (weights in shard order, licenses, chat template,
projector), merged with the FROM base: WEIGHTS, CHAT_TEMPLATE and MMPROJ
replace the base's layers of that role, LICENSE adds to them, CONFIG and
LABEL override single keys. Every problem is collected; one ModelfileError
carries them all.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from modeloci.diagnostics import Span
from modeloci.formats import docker
from modeloci.modelfile import codes, raise_for_errors
from modeloci.modelfile.ast import (
    ArgDirective,
    ChatTemplateDirective,
    ConfigDirective,
    Directive,
    FromDirective,
    LabelDirective,
    LicenseDirective,
    MmprojDirective,
    Modelfile,
    WeightsDirective,
    Word,
)
from modeloci.modelfile.directives import CONFIG_KEYS, Report
from modeloci.oci.jsonenc import go_time
from modeloci.compiler.args import ArgScope
from modeloci.compiler.base import Base, load_base
from modeloci.compiler.model import BuildPlan, FileSource, LayerPlan, Role
from modeloci.compiler.paths import BuildContext, ContextFile

WEIGHT_FORMATS = {".gguf": "gguf", ".safetensors": "safetensors", ".dduf": "dduf"}
_SHARD = re.compile(r"^(?P<prefix>.*)-(?P<no>\d{5})-of-(?P<total>\d{5})\.gguf$")
# Config fields Docker Model Runner derives from the weights; they go stale
# when a build replaces the base's weights.
_WEIGHT_DERIVED = ("quantization", "parameters", "architecture", "size", "gguf", "safetensors", "diffusers", "context_size")


@dataclass
class _Planned:
    """A context file given a role by a directive."""

    file: ContextFile
    role: Role
    span: Span
    keyword: str


@dataclass
class _State:
    context: BuildContext
    args: ArgScope
    report: Report
    base: Base | None = None
    from_span: Span | None = None
    weights: list[_Planned] = field(default_factory=list)
    licenses: list[_Planned] = field(default_factory=list)
    chat_template: _Planned | None = None
    mmproj: _Planned | None = None
    config: dict[str, object] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    mtime: int = 0


def compile_plan(
    modelfile: Modelfile,
    *,
    context: Path,
    build_args: Mapping[str, str] | None = None,
    reference: str | None = None,
    created: int | None = None,
) -> BuildPlan:
    """Compile a parsed Modelfile into a plan, or raise one ModelfileError with every problem."""
    report = Report(modelfile.path)
    mtime = created or 0
    state = _State(BuildContext(context), ArgScope(modelfile, build_args or {}, report), report, mtime=mtime)
    for directive in modelfile.directives:
        _COMPILERS[type(directive)](directive, state)
    state.args.check_unused_build_args()
    clean = not modelfile.errors and not any(d.is_error for d in report.diagnostics)
    layers = _assemble(state) if clean else []
    config = _config(state, layers) if layers else {}
    raise_for_errors(modelfile, report.diagnostics)
    return BuildPlan(
        modelfile=modelfile.path,
        config_media_type=_config_media_type(state, layers),
        base=state.base.plan if state.base else None,
        layers=layers,
        config=config,
        labels=_labels(state),
        created=go_time(created) if created is not None else None,
        mtime=go_time(mtime),
        reference=reference,
        context=state.context.root,
        base_path=state.base.path if state.base else None,
        created_epoch=created,
        mtime_epoch=mtime,
        warnings=tuple(d for d in [*modelfile.diagnostics, *report.diagnostics] if not d.is_error),
        sources={modelfile.path: modelfile.text},
    )


def _compile_from(directive: FromDirective, state: _State) -> None:
    state.from_span = directive.span
    if directive.is_scratch:
        return
    expanded = state.args.expand(directive.source)
    if expanded is None:
        return
    found = state.context.resolve_one(expanded, directive.source.span, state.report, keyword="FROM", allow_dir=True)
    if found is not None:
        state.base = load_base(found.path, found.rel, directive.source.span, state.report)


def _compile_weights(directive: WeightsDirective, state: _State) -> None:
    for word in directive.paths:
        for file in _files(word, state, "WEIGHTS"):
            state.weights.append(_Planned(file, Role.WEIGHTS, word.span, "WEIGHTS"))


def _compile_license(directive: LicenseDirective, state: _State) -> None:
    for word in directive.paths:
        for file in _files(word, state, "LICENSE"):
            state.licenses.append(_Planned(file, Role.LICENSE, word.span, "LICENSE"))


def _compile_chat_template(directive: ChatTemplateDirective, state: _State) -> None:
    files = _files(directive.path, state, "CHAT_TEMPLATE", single=True)
    if files:
        state.chat_template = _Planned(files[0], Role.CHAT_TEMPLATE, directive.path.span, "CHAT_TEMPLATE")


def _compile_mmproj(directive: MmprojDirective, state: _State) -> None:
    files = _files(directive.path, state, "MMPROJ", single=True)
    if files:
        state.mmproj = _Planned(files[0], Role.MMPROJ, directive.path.span, "MMPROJ")


def _compile_config(directive: ConfigDirective, state: _State) -> None:
    for pair in directive.items:
        expanded = state.args.expand(pair.value)
        if expanded is None:
            continue
        key = CONFIG_KEYS[pair.key]
        value = key.parse(expanded.text)
        if value is None:
            state.report.add(codes.invalid_config_value(state.report.file, pair.value.span if pair.value.pieces else pair.span, pair.key, expanded.text, key.expected))
        else:
            state.config[pair.key] = value


def _compile_label(directive: LabelDirective, state: _State) -> None:
    for pair in directive.items:
        expanded = state.args.expand(pair.value)
        if expanded is not None:
            state.labels[pair.key] = expanded.text


def _compile_arg(directive: ArgDirective, state: _State) -> None:
    state.args.declare(directive)


_COMPILERS: dict[type, Callable[[Directive, _State], None]] = {
    FromDirective: _compile_from,
    WeightsDirective: _compile_weights,
    LicenseDirective: _compile_license,
    ChatTemplateDirective: _compile_chat_template,
    MmprojDirective: _compile_mmproj,
    ConfigDirective: _compile_config,
    LabelDirective: _compile_label,
    ArgDirective: _compile_arg,
}


def _files(word: Word, state: _State, keyword: str, *, single: bool = False) -> list[ContextFile]:
    expanded = state.args.expand(word)
    if expanded is None:
        return []
    if single:
        # A directive that takes one file names it literally; glob characters are plain text.
        found = state.context.resolve_one(expanded, word.span, state.report, keyword=keyword)
        return [found] if found else []
    return state.context.resolve(expanded, word.span, state.report, keyword=keyword)


def _weights_order(file: ContextFile) -> tuple[int, str, int]:
    """GGUF shard sets first, in shard order, then other files in lexical order.

    The order is the same however the Modelfile lists the files, so shards
    named out of order still become layers in shard order.
    """
    match = _SHARD.match(file.rel)
    if match:
        return (0, match["prefix"], int(match["no"]))
    return (1, file.rel, 0)


def _assemble(state: _State) -> list[LayerPlan]:
    """Check roles and formats, then lay out the layers in role order, merged with the base."""
    weights = sorted(_unique(state.weights), key=lambda p: _weights_order(p.file))
    licenses = _unique(state.licenses)
    singles = [p for p in (state.chat_template, state.mmproj) if p is not None]
    _check_roles([*weights, *licenses, *singles], state.report)
    fmt = _weights_format(weights, state)
    new = {role: [p for p in [*weights, *licenses, *singles] if p.role is role] for role in Role}
    base_layers = list(state.base.layers) if state.base else []
    layers: list[LayerPlan] = []
    for role in (Role.WEIGHTS, Role.LICENSE, Role.CHAT_TEMPLATE, Role.MMPROJ, Role.OTHER):
        inherited = [layer for layer in base_layers if layer.role is role]
        if role is not Role.LICENSE and new[role]:
            inherited = []
        layers += inherited + [_file_layer(p, fmt, state) for p in new[role]]
    if not any(layer.role is Role.WEIGHTS for layer in layers):
        state.report.add(codes.no_weights(state.report.file, state.from_span))
    _check_collisions(layers, [*weights, *licenses, *singles], state.report)
    return layers


def _unique(planned: list[_Planned]) -> list[_Planned]:
    seen: set[str] = set()
    out = []
    for p in planned:
        if p.file.rel not in seen:
            seen.add(p.file.rel)
            out.append(p)
    return out


def _check_roles(planned: list[_Planned], report: Report) -> None:
    first: dict[str, _Planned] = {}
    for p in planned:
        other = first.setdefault(p.file.rel, p)
        if other.role is not p.role:
            report.add(codes.two_roles(report.file, p.span, p.file.rel, p.keyword, other.keyword, other.span.start.line))


def _weights_format(weights: list[_Planned], state: _State) -> str:
    fmt: str | None = None
    for p in weights:
        suffix = Path(p.file.rel).suffix.lower()
        found = WEIGHT_FORMATS.get(suffix)
        if found is None:
            state.report.add(codes.unsupported_weights(state.report.file, p.span, p.file.rel, list(WEIGHT_FORMATS)))
        elif fmt is None:
            fmt = found
        elif found != fmt:
            state.report.add(codes.mixed_formats(state.report.file, p.span, p.file.rel, found, fmt))
    if fmt is None and state.base is not None:
        fmt = str(state.base.config.get("format") or "gguf")
    return fmt or "gguf"


def _file_layer(p: _Planned, fmt: str, state: _State) -> LayerPlan:
    if p.role is Role.WEIGHTS:
        media_type = docker.WEIGHT_MEDIA_TYPES.get(WEIGHT_FORMATS.get(Path(p.file.rel).suffix.lower(), fmt))
    else:
        media_type = docker.ROLE_MEDIA_TYPES[p.role.value]
    # v0.2 (safetensors) layers keep their relative path; v0.1 layers use the file name.
    filepath = p.file.rel if fmt == "safetensors" else p.file.rel.rsplit("/", 1)[-1]
    return LayerPlan(
        role=p.role,
        media_type=str(media_type or docker.WEIGHT_MEDIA_TYPES["gguf"]),
        filepath=filepath,
        size=p.file.size,
        source=FileSource(path=p.file.rel),
        annotations=docker.layer_annotations(filepath, p.file.size, state.mtime),
        line=p.span.start.line,
    )


def _check_collisions(layers: list[LayerPlan], planned: list[_Planned], report: Report) -> None:
    spans = {p.file.rel: p.span for p in planned}
    seen: dict[str, LayerPlan] = {}
    for layer in layers:
        other = seen.setdefault(layer.filepath, layer)
        if other.source == layer.source:
            continue  # the same file in two roles: reported by _check_roles
        if isinstance(layer.source, FileSource):
            first = other.source.path if isinstance(other.source, FileSource) else f"{other.filepath} (from the base)"
            report.add(codes.path_collision(report.file, spans[layer.source.path], layer.filepath, first, layer.source.path))


def _config_media_type(state: _State, layers: list[LayerPlan]) -> str:
    if state.base is not None:
        return state.base.plan.config_media_type
    fmt = _format_of(layers)
    return str(docker.CONFIG_MEDIA_TYPES.get(fmt, docker.CONFIG_MEDIA_TYPES["gguf"]))


def _format_of(layers: list[LayerPlan]) -> str:
    for layer in layers:
        for fmt, media_type in docker.WEIGHT_MEDIA_TYPES.items():
            if layer.role is Role.WEIGHTS and layer.media_type == media_type:
                return fmt
    return "gguf"


def _config(state: _State, layers: list[LayerPlan]) -> dict[str, object]:
    config: dict[str, object] = dict(state.base.config) if state.base else {}
    if state.weights:
        dropped = [key for key in _WEIGHT_DERIVED if config.pop(key, None) is not None and key not in state.config]
        if dropped and state.base is not None:
            state.report.add(codes.base_metadata_dropped(state.report.file, state.weights[0].span, dropped))
    config["format"] = _format_of(layers)
    config.update(state.config)
    return config


def _labels(state: _State) -> dict[str, str]:
    labels = dict(state.base.manifest.annotations) if state.base else {}
    labels.update(state.labels)
    return labels
