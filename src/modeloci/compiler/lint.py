"""LINT: advice about a Modelfile that builds (``modeloci lint``), as MF11x warnings.

These checks run after a clean compile, on what the compiler learnt: the
laid-out layers (the base's included), the weights' own metadata, and the
FROM reference. None of them stops a build; ``build`` does not run them, so
that the advice is given where it is asked for (``lint``, pre-commit, CI).
"""

from __future__ import annotations

import posixpath
import re
import sys
from collections.abc import Sequence

from modeloci.compiler.model import LayerPlan, Role
from modeloci.compiler.state import State
from modeloci.jsondoc import load_json
from modeloci.model.hfdir import MAX_JSON_SIZE, is_runtime_file
from modeloci.modelfile import codes
from modeloci.sources.refs import RemoteRef

# Words that mark a model tuned for chat in the names model publishers use:
# "Qwen2.5-0.5B-Instruct", "gemma-2-2b-it", "Llama-2-7b-chat".
_CHAT_WORD = re.compile(r"(?i)(?<![a-z])(instruct|chat|it|assistant|conversational)(?![a-z])")


def lint(state: State, layers: Sequence[LayerPlan]) -> None:
    """Add the lint warnings for a compiled Modelfile to ``state.report``."""
    roles = {layer.role for layer in layers}
    anchor = state.weights[0].span if state.weights else state.from_span
    if Role.LICENSE not in roles:
        state.report.add(codes.no_license(state.report.file, anchor))
    if state.weights and Role.CHAT_TEMPLATE not in roles and not _has_template(state):
        why = _chat_evidence(state)
        if why is not None:
            state.report.add(codes.no_chat_template(state.report.file, anchor, why))
    _check_pinned(state)
    _check_context(state)
    _check_folder_left_behind(state)


def _has_template(state: State) -> bool:
    """A template the weights carry: GGUF metadata, or a folder's tokenizer_config.json."""
    if state.embedded_template is not None:
        return True
    for p in state.model_files:
        if posixpath.basename(p.file.rel) == "tokenizer_config.json":
            try:
                with p.file.path.open("rb") as f:  # bounded: a huge or hostile file is not read whole
                    data = f.read(MAX_JSON_SIZE + 1)
                doc = load_json(data, "tokenizer_config.json", max_depth=sys.getrecursionlimit()) \
                    if len(data) <= MAX_JSON_SIZE else None
            except (OSError, ValueError):
                continue
            if isinstance(doc, dict) and doc.get("chat_template"):
                return True
    return False


def _chat_evidence(state: State) -> str | None:
    """Why the model looks tuned for chat, or None: its names say so."""
    named = [(name, "the weights call it") for name in state.names]
    named += [(p.file.rel, "the weights file is") for p in state.weights]
    for name, source in named:
        match = _CHAT_WORD.search(name)
        if match:
            return f"{source} `{name}` (`{match.group(1)}`), but no chat template is packaged or embedded"
    return None


def _check_pinned(state: State) -> None:
    base = state.base
    if base is None or not isinstance(base.path, RemoteRef) or base.path.reference.digest is not None:
        return
    ref = base.path.reference
    pinned = f"{ref}@{base.plan.manifest_digest}"
    span = state.from_span
    if span is not None:
        state.report.add(codes.unpinned_from(state.report.file, span, str(ref), pinned))


def _check_context(state: State) -> None:
    size, trained = state.config.get("context_size"), state.derived.get("context_size")
    if isinstance(size, int) and isinstance(trained, int) and size > trained:
        first = state.weights[0].file.rel if state.weights else None
        if first is None:
            where = "the base's weights"
        elif first.endswith(".gguf"):
            where = f"`{first}`"
        else:  # safetensors: the length is in the folder's config.json
            where = f"`{posixpath.join(posixpath.dirname(first), 'config.json')}`"
        state.report.add(codes.context_beyond_training(state.report.file, state.config_spans["context_size"], size,
                                                       trained, where))


def _check_folder_left_behind(state: State) -> None:
    """MF117: safetensors named one by one (``WEIGHTS model-*.safetensors``) while their folder also holds the
    config and tokenizer a runtime reads beside them, which nothing packages."""
    named = [p for p in state.weights if p.via != "folder" and p.file.rel.lower().endswith(".safetensors")]
    if not named:
        return
    packaged = {p.file.rel for p in (*state.weights, *state.model_files, *state.licenses, *state.folder_templates)}
    packaged |= {p.file.rel for p in (state.chat_template, state.mmproj) if p is not None}
    for folder in dict.fromkeys(posixpath.dirname(p.file.rel) for p in named):
        missed = [rel for rel in state.context.files_in(folder) if is_runtime_file(rel) and rel not in packaged]
        if missed:
            span = next(p.span for p in named if posixpath.dirname(p.file.rel) == folder)
            state.report.add(codes.runtime_files_left_out(state.report.file, span, folder or ".", missed))
