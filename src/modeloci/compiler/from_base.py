"""FROM a base: what a Modelfile's ``FROM`` names (a model in the store, in a registry, one model of a layout,
an archive or layout folder of the build context) and loading it. Kept apart from :mod:`.compile`, which imports
it only for a Modelfile with a base: it loads the store, the layout reader and the formats' checks, which a model
``FROM scratch`` never needs (start-up time of ``plan`` and ``build``)."""

from __future__ import annotations

import os

from modeloci.compiler.args import Expanded
from modeloci.compiler.base import Base, load_base, split_layout_name
from modeloci.compiler.paths import ContextFile
from modeloci.compiler.state import State
from modeloci.diagnostics import Span
from modeloci.errors import UsageError
from modeloci.model.gguf import MAGIC as GGUF_MAGIC
from modeloci.model.hfdir import WEIGHT_SUFFIXES
from modeloci.modelfile import codes
from modeloci.modelfile.ast import FromDirective
from modeloci.reference import names_host, normalise_tag
from modeloci.sources import LayoutRef, RemoteRef, Source, StoredRef
from modeloci.store import Store

__all__ = ["compile_base"]


def compile_base(directive: FromDirective, expanded: Expanded, state: State) -> None:
    """``FROM X`` where X is not scratch: the stored model, registry model, layout's model or file it names,
    loaded into ``state.base`` (or a diagnostic saying why not)."""
    stored = _stored_model(expanded.text, state)
    if stored is not None:
        state.base = _load_base(stored, str(stored), directive.source.span, state)
        return
    remote = _registry_model(expanded.text, state)
    if remote is not None:
        state.base = _load_base(remote, str(remote), directive.source.span, state)
        return
    split = split_layout_name(expanded.text, state.context.root)
    if split is not None:  # FROM DIR:NAME, one model of a layout folder or archive holding several
        folder = state.context.resolve_one(Expanded(((split[0], False),)), directive.source.span, state.report,
                                           keyword="FROM", allow_dir=True)
        if folder is not None:
            state.base = _load_base(LayoutRef(folder.path, split[1]), f"{folder.rel}:{split[1]}",
                                    directive.source.span, state)
        return
    found = state.context.resolve_one(expanded, directive.source.span, state.report, keyword="FROM", allow_dir=True)
    if found is None:
        return
    what = _weights_not_model(found, state)
    if what is not None:
        state.report.add(codes.from_weights(state.report.file, directive.source.span, found.rel, what))
        return
    state.base = _load_base(found.path, found.rel, directive.source.span, state)


def _load_base(source: Source, rel: str, span: Span, state: State) -> Base | None:
    """The FROM base; a modelcar may be built on a container image too."""
    return load_base(source, rel, span, state.report, images=state.target == "modelcar")


def _weights_not_model(found: ContextFile, state: State) -> str | None:
    """What a FROM path is when it is weights rather than a model (`FROM ./model.gguf`, as in Ollama), else None."""
    if os.path.isdir(found.path):
        if any(os.path.lexists(found.path / name) for name in ("oci-layout", "index.json")):
            return None
        files, _ = state.context.walk(found.rel)
        return "a model folder" if any(f.rel.lower().endswith(WEIGHT_SUFFIXES) for f in files) else None
    suffix = os.path.splitext(found.rel)[1].lower()
    if suffix in WEIGHT_SUFFIXES:
        return f"a {suffix[1:] if suffix == '.safetensors' else suffix[1:].upper()} weights file"
    try:
        with open(found.path, "rb") as f:
            magic = f.read(len(GGUF_MAGIC))
    except OSError:
        return None
    return "a GGUF weights file" if magic == GGUF_MAGIC else None


def _registry_model(text: str, state: State) -> RemoteRef | None:
    """``FROM registry.example/repo:tag``: a model in a registry, named with its registry host.

    Short Docker Hub names are not looked up (write ``docker.io/...``), so a
    missing local file never turns into a network request.
    """
    first = text.split("/", 1)[0]
    if "/" not in text or not names_host(first):
        return None
    if os.path.lexists(state.context.root / first):
        return None
    # Imported when used: they load the registry client (httpx), which a Modelfile without a registry FROM
    # never needs.
    from modeloci.registry.client import RegistryClient
    from modeloci.registry.image_ref import parse_reference

    try:
        reference = parse_reference(text)
    except UsageError:
        return None
    make_client = state.registry_client or RegistryClient
    return RemoteRef(reference, make_client(reference.registry))


def _stored_model(text: str, state: State) -> StoredRef | None:
    """``FROM name[:tag]``: a model in the local store, when no file of the context has that name."""
    if not text or text.startswith(("/", ".")) or os.path.lexists(state.context.root / text):
        return None
    try:
        reference = normalise_tag(text)
    except UsageError:
        return None
    store = state.store or Store()
    return StoredRef(reference, store.root) if store.find(reference) is not None else None
