"""Knowing the model at plan time: headers, shard sets, the projector and the chat template.

Only headers are read (GGUF through a memory map, safetensors through their
JSON prefix), never tensor data, so planning a 100 GB model reads kilobytes.
What the headers say becomes Docker config fields in ``state.derived``; what
is wrong becomes diagnostics; what a user should know becomes plan notes.
"""

from __future__ import annotations

import posixpath
from pathlib import Path

from modeloci.compiler.assemble import WEIGHT_FORMATS, unique, weights_order
from modeloci.compiler.chat_template import check_chat_templates
from modeloci.compiler.state import Planned, State
from modeloci.diagnostics import Span, position_at
from modeloci.errors import ArchiveError
from modeloci.formats import docker_meta as meta
from modeloci.formats.facts import ModelFacts, gguf_facts, safetensors_facts
from modeloci.model.gguf import GGUFError, GGUFHeader, read_gguf_header
from modeloci.model.ggufset import set_members, shard_name, split_problem
from modeloci.model.hfdir import (
    HFConfig,
    HFConfigError,
    check_index,
    check_safetensors_shards,
    read_hf_config,
    read_safetensors_index,
)
from modeloci.model.safetensors import SafetensorsError, SafetensorsHeader, read_safetensors_header
from modeloci.modelfile import codes

_NAME_KEYS = ("general.name", "general.finetune", "general.basename")


def read_model(state: State) -> None:
    """Read and check every model file the plan names; fill ``state.derived``, ``state.facts``
    and ``state.notes``."""
    embedded: tuple[str, str] | None = None
    # A file named twice (`WEIGHTS m.gguf` on two lines) is one layer, so it is read and counted once.
    state.weights = unique(state.weights)
    formats = {WEIGHT_FORMATS.get(Path(p.file.rel).suffix.lower()) for p in state.weights}
    if len(formats) == 1:  # unknown or mixed formats are reported when the layers are laid out
        fmt = formats.pop()
        if fmt == "gguf":
            _expand_gguf_shards(state)
            headers = _gguf_headers(state)
            if headers:
                state.derived, state.facts = meta.gguf_fields(headers), gguf_facts(headers)
                merged = meta.merged_metadata(headers)
                template = merged.get("tokenizer.chat_template")
                if isinstance(template, str) and template.strip():
                    embedded = (template, state.weights[0].file.rel)
                    state.embedded_template = embedded[1]
                state.names = tuple(v for k in _NAME_KEYS if isinstance(v := merged.get(k), str) and v.strip())
        elif fmt == "safetensors":
            state.derived = _safetensors_fields(state)
        elif fmt == "dduf":
            state.derived, state.facts = _dduf_fields(state), ModelFacts("dduf")
    elif not state.weights and state.base is not None and state.base.format != state.target:
        _base_weights(state)
    if state.mmproj is not None:
        _check_mmproj(state.mmproj, state)
    _check_template(state, embedded)


# GGUF ------------------------------------------------------------------------------------------


def _expand_gguf_shards(state: State) -> None:
    """Naming one shard stands for its whole set; every member must exist."""
    present = {p.file.rel for p in state.weights}
    reported: set[str] = set()
    for p in list(state.weights):
        shard = shard_name(p.file.rel)
        if shard is None or shard.pattern in reported:
            continue
        members = set_members(shard)
        found = [rel for rel in members if rel in present or state.context.find(rel)]
        for rel in members:
            if rel not in found:
                reported.add(shard.pattern)
                state.report.add(codes.missing_shard(state.report.file, p.span, rel, len(found), shard.total))
            elif rel not in present:
                file = state.context.find(rel)
                assert file is not None
                state.weights.append(state.planned(file, p.role, p.span, p.keyword))
                present.add(rel)
    state.weights.sort(key=weights_order)


def _gguf_headers(state: State) -> list[GGUFHeader]:
    headers: list[GGUFHeader] = []
    for p in sorted(state.weights, key=weights_order):
        header = _read_gguf(p, state)
        if header is None:
            continue
        problem = split_problem(p.file.rel, header)
        if problem:
            state.report.add(codes.shard_mismatch(state.report.file, p.span, p.file.rel, problem))
        headers.append(header)
    return headers if len(headers) == len(state.weights) else []


def _read_gguf(p: Planned, state: State) -> GGUFHeader | None:
    try:
        return read_gguf_header(p.file.path)
    except GGUFError as exc:
        state.report.add(codes.unreadable_gguf(state.report.file, p.span, p.file.rel, exc.message))
    except OSError as exc:
        state.report.add(codes.unreadable_gguf(state.report.file, p.span, p.file.rel, exc.strerror or str(exc)))
    return None


# safetensors and DDUF --------------------------------------------------------------------------


def _safetensors_fields(state: State) -> dict[str, object]:
    weights = sorted(state.weights, key=weights_order)
    headers: list[SafetensorsHeader] = []
    for p in weights:
        try:
            headers.append(read_safetensors_header(p.file.path))
        except SafetensorsError as exc:
            state.report.add(codes.unreadable_safetensors(state.report.file, p.span, p.file.rel, exc.message))
        except OSError as exc:
            reason = exc.strerror or str(exc)
            state.report.add(codes.unreadable_safetensors(state.report.file, p.span, p.file.rel, reason))
    span = weights[0].span
    for problem in check_safetensors_shards([p.file.rel for p in weights]):
        state.report.add(codes.safetensors_set(state.report.file, span, problem.message))
    _check_indexes(weights, state)
    if len(headers) != len(weights):
        return {}
    hf = _hf_config(weights[0], state)
    state.facts = safetensors_facts(headers, hf)
    return meta.safetensors_fields(headers, sum(p.file.size for p in weights), hf)


def _check_indexes(weights: list[Planned], state: State) -> None:
    """Each ``*.safetensors.index.json`` beside the weights must match the shards packaged."""
    folders = sorted({posixpath.dirname(p.file.rel) for p in weights})
    for folder in folders:
        present = [posixpath.basename(p.file.rel) for p in weights if posixpath.dirname(p.file.rel) == folder]
        directory = state.context.root / folder
        for index_path in sorted(directory.glob("*.safetensors.index.json")):
            try:
                index = read_safetensors_index(index_path)
            except (SafetensorsError, OSError) as exc:
                reason = exc.message if isinstance(exc, SafetensorsError) else exc.strerror or str(exc)
                state.report.add(codes.safetensors_set(state.report.file, weights[0].span,
                                                       f"{index_path.name}: {reason}"))
                continue
            for problem in check_index(index, present):
                state.report.add(codes.safetensors_set(state.report.file, weights[0].span,
                                                       f"{index_path.name}: {problem.message}"))


def _hf_config(first: Planned, state: State) -> HFConfig | None:
    rel = posixpath.join(posixpath.dirname(first.file.rel), "config.json")
    found = state.context.find(rel)
    if found is None:
        return None
    try:
        return read_hf_config(found.path)
    except (HFConfigError, OSError) as exc:
        reason = exc.message if isinstance(exc, HFConfigError) else exc.strerror or str(exc)
        state.report.add(codes.bad_hf_config(state.report.file, first.span, rel, reason))
        return None


def _dduf_fields(state: State) -> dict[str, object]:
    first = sorted(state.weights, key=weights_order)[0]
    return meta.dduf_fields(Path(first.file.rel).name, sum(p.file.size for p in state.weights))


# A base in the other format -------------------------------------------------------------------


def _base_weights(state: State) -> None:
    """Facts and Docker fields from the base's weight blobs, read in place in its archive.

    Needed when the output format differs from the base's: the other format's
    config says things in other words, which are re-derived from the weights'
    headers rather than translated.
    """
    # Imported only for a base (start-up time): opening a source and deriving from it load the store and the
    # layout reader, which a model FROM scratch never needs.
    from modeloci.formats.derive import derive
    from modeloci.sources import open_source

    assert state.base is not None
    try:
        with open_source(state.base.path) as layout:
            state.facts, state.derived = derive(layout, state.base.artifact)
    except (ArchiveError, GGUFError, SafetensorsError, OSError, KeyError) as exc:
        reason = getattr(exc, "message", None) or str(exc)
        span = state.from_span or Span(position_at("", 0), position_at("", 0))
        state.report.add(codes.bad_base(state.report.file, span, state.base.plan.path, f"its weights: {reason}"))
        return
    # A Docker base's context_size that its weights do not say (a CONFIG of the base's build) has no
    # place in ModelPack: say so, as for CONFIG context_size, instead of dropping it silently.
    size = state.base.config.get("context_size")
    if (state.target == "modelpack" and size is not None and "context_size" not in state.config
            and size != state.derived.get("context_size") and state.from_span is not None):
        state.report.add(codes.modelpack_base_context_size(state.report.file, state.from_span, size))


# Projector and chat template --------------------------------------------------------------------


def _check_mmproj(p: Planned, state: State) -> None:
    try:
        header = read_gguf_header(p.file.path)
    except (GGUFError, OSError) as exc:
        reason = exc.message if isinstance(exc, GGUFError) else f"unreadable: {exc.strerror or exc}"
        state.report.add(codes.not_a_projector(state.report.file, p.span, p.file.rel, reason))
        return
    kind, architecture = header.get("general.type"), header.get("general.architecture")
    if kind in ("mmproj", "projector") or architecture == "clip":
        return
    what = f"a `{architecture}` {kind or 'model'}" if architecture else "a GGUF file without general.architecture"
    if kind:
        what += f" (general.type `{kind}`)"
    state.report.add(codes.not_a_projector(state.report.file, p.span, p.file.rel, what))


def _check_template(state: State, embedded: tuple[str, str] | None) -> None:
    check_chat_templates(state, embedded)
