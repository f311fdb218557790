"""COMPILER: Modelfile AST to BuildPlan.

Directives are compiled in order (so ARGs apply to what follows them), each by
the ``_compile_<directive>`` function of its name, into a :class:`State`.
Then, if nothing is wrong so far, the model files are read and checked
(:mod:`.metadata`: headers, shard sets, projector, chat template) and the
layers are laid out and merged with the FROM base (:mod:`.assemble`). Every
problem is collected; one ModelfileError carries them all.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import assert_never

from modeloci.compiler import assemble, folders, metadata, modelcar, pointers
from modeloci.compiler.args import ArgScope, Expanded
from modeloci.compiler.lint import lint as run_lint
from modeloci.compiler.model import BuildPlan, PlatformPlan, Role
from modeloci.compiler.paths import BuildContext, ContextFile
from modeloci.compiler.state import State
from modeloci.modelfile import codes, raise_for_errors
from modeloci.modelfile.ast import (
    ArgDirective,
    ChatTemplateDirective,
    ConfigDirective,
    Directive,
    ExcludeDirective,
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


def compile_plan(
    modelfile: Modelfile,
    *,
    context: Path,
    build_args: Mapping[str, str] | None = None,
    reference: str | None = None,
    created: int | None = None,
    context_display: str = "",
    target_format: str = "docker",
    lint: bool = False,
) -> BuildPlan:
    """Compile a parsed Modelfile into a plan, or raise one ModelfileError with every problem.

    ``context_display`` is the build context as the user names it (``examples/x``);
    diagnostics about other files in the context (chat templates) show paths under it.
    ``lint`` adds the advice of :mod:`.lint` to the plan's warnings.
    """
    report = Report(modelfile.path)
    mtime = created or 0
    args = ArgScope(modelfile, build_args or {}, report)
    state = State(BuildContext(context), args, report, mtime=mtime, context_display=context_display,
                  target=target_format, reference=reference, created=created)
    state.sources[modelfile.path] = modelfile.text
    for directive in modelfile.directives:
        _compile(directive, state)
    state.args.check_unused_build_args()
    folders.settle(state)
    layers, config = [], {}
    # Cheap structural checks first; files are only read for a Modelfile that makes sense.
    if _clean(modelfile, report):
        assemble.check(state)
    if _clean(modelfile, report):
        pointers.check(state)
    if _clean(modelfile, report):
        metadata.read_model(state)
    platforms: tuple[PlatformPlan, ...] = ()
    if _clean(modelfile, report):
        layers = assemble.layers(state)
        config = assemble.config(state, layers)
        platforms = _platforms(state)
    if lint and _clean(modelfile, report):
        run_lint(state, layers)
    errors = [d for d in report.diagnostics if d.is_error]
    if errors or modelfile.errors:
        raise_for_errors(modelfile, report.diagnostics, sources=state.sources)
    return BuildPlan(
        modelfile=modelfile.path,
        format=target_format,
        config_media_type=assemble.config_media_type(state, layers),
        base=state.base.plan if state.base else None,
        layers=layers,
        config=config,
        labels=assemble.labels(state),
        created=go_time(created) if created is not None else None,
        mtime=go_time(mtime),
        reference=reference,
        notes=state.notes,
        context=state.context.root,
        base_path=state.base.path if state.base else None,
        created_epoch=created,
        mtime_epoch=mtime,
        warnings=tuple(d for d in [*modelfile.diagnostics, *report.diagnostics] if not d.is_error),
        sources=state.sources,
        layer_mtime=modelcar.layer_mtime() if target_format == "modelcar" else 0,
        platforms=platforms,
    )


def _platforms(state: State) -> tuple[PlatformPlan, ...]:
    """A modelcar on a multi-platform base: each platform's image laid out on that platform's base (the model's
    layers planned the same way for each); none for any other build."""
    first = state.base
    if first is None or first.platform is None:
        return ()
    out = []
    try:
        for base in (first, *first.others):
            state.base = base
            layers = assemble.layers(state)
            out.append(PlatformPlan(base.platform or {}, base.plan, layers, assemble.config(state, layers),
                                    assemble.labels(state)))
    finally:
        state.base = first
    return tuple(out)


def _clean(modelfile: Modelfile, report: Report) -> bool:
    return not modelfile.errors and not any(d.is_error for d in report.diagnostics)


def _compile_from(directive: FromDirective, state: State) -> None:
    state.from_span = directive.span
    if directive.is_scratch:
        return
    expanded = state.args.expand(directive.source)
    if expanded is None or expanded.text == "scratch":  # `ARG BASE=scratch` / `FROM ${BASE}` starts from nothing too
        return
    # Imported only for a base (start-up time): it loads the store, the layout reader and the formats' checks,
    # which a model `FROM scratch` never needs.
    from modeloci.compiler.from_base import compile_base

    compile_base(directive, expanded, state)


def _compile_weights(directive: WeightsDirective, state: State) -> None:
    for word in directive.paths:
        expanded = state.args.expand(word)
        if expanded is None:
            continue
        if not expanded.is_glob and _is_folder(state.context, expanded):
            folders.compile_folder(word, expanded, state)
            continue
        via = "glob" if expanded.is_glob else "path"
        for file in state.context.resolve(expanded, word.span, state.report, keyword="WEIGHTS"):
            state.weights.append(state.planned(file, Role.WEIGHTS, word.span, "WEIGHTS", via=via))


def _is_folder(context: BuildContext, expanded: Expanded) -> bool:
    rel = os.path.normpath(expanded.text) if expanded.text else ""
    # os.path.isdir, not Path.is_dir: a path longer than the file system allows is no folder, not an error.
    return bool(rel) and not rel.startswith(("/", "..")) and os.path.isdir(context.root / rel)


def _compile_license(directive: LicenseDirective, state: State) -> None:
    for word in directive.paths:
        expanded = state.args.expand(word)
        if expanded is None:
            continue
        via = "glob" if expanded.is_glob else "path"
        for file in state.context.resolve(expanded, word.span, state.report, keyword="LICENSE"):
            state.licenses.append(state.planned(file, Role.LICENSE, word.span, "LICENSE", via=via))


def _compile_chat_template(directive: ChatTemplateDirective, state: State) -> None:
    files = _file(directive.path, state, "CHAT_TEMPLATE")
    if files:
        state.chat_template = state.planned(files[0], Role.CHAT_TEMPLATE, directive.path.span, "CHAT_TEMPLATE")


def _compile_mmproj(directive: MmprojDirective, state: State) -> None:
    files = _file(directive.path, state, "MMPROJ")
    if files:
        state.mmproj = state.planned(files[0], Role.MMPROJ, directive.path.span, "MMPROJ")


def _compile_config(directive: ConfigDirective, state: State) -> None:
    for pair in directive.items:
        expanded = state.args.expand(pair.value)
        if expanded is None:
            continue
        key = CONFIG_KEYS[pair.key]
        value = key.parse(expanded.text)
        if value is None:
            span = pair.value.span if pair.value.pieces else pair.span
            state.report.add(codes.invalid_config_value(state.report.file, span, pair.key, expanded.text, key.expected))
        else:
            state.config[pair.key] = value
            state.config_spans[pair.key] = pair.span


def _compile_label(directive: LabelDirective, state: State) -> None:
    for pair in directive.items:
        expanded = state.args.expand(pair.value)
        if expanded is not None:
            state.labels[pair.key] = expanded.text


def _compile_arg(directive: ArgDirective, state: State) -> None:
    state.args.declare(directive)


def _compile(directive: Directive, state: State) -> None:
    """One directive, by the ``_compile_<directive>`` function of its name (mypy checks that none is missed)."""
    match directive:
        case FromDirective():
            _compile_from(directive, state)
        case WeightsDirective():
            _compile_weights(directive, state)
        case LicenseDirective():
            _compile_license(directive, state)
        case ExcludeDirective():
            folders.compile_exclude(directive, state)
        case ChatTemplateDirective():
            _compile_chat_template(directive, state)
        case MmprojDirective():
            _compile_mmproj(directive, state)
        case ConfigDirective():
            _compile_config(directive, state)
        case LabelDirective():
            _compile_label(directive, state)
        case ArgDirective():
            _compile_arg(directive, state)
        case _:
            assert_never(directive)


def _file(word: Word, state: State, keyword: str) -> list[ContextFile]:
    expanded = state.args.expand(word)
    if expanded is None:
        return []
    # A directive that takes one file names it literally; glob characters are plain text.
    found = state.context.resolve_one(expanded, word.span, state.report, keyword=keyword)
    return [found] if found else []
