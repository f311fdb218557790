"""Laying out a modelcar (``--format modelcar``): its layers' tar sizes, its image config and its annotations.

The files and their order are the model formats' (:mod:`.assemble`); a
modelcar wraps each file in a tar layer (:mod:`modeloci.formats.modelcar`), so
a layer's plan records the tar's size and the file's (``file_size``), both
known before any byte is read. The config is an image config: a model-only
image's (``FROM scratch``: linux/amd64, no entrypoint) with the model's facts
as labels, and the same facts, with the Modelfile's LABELs, as the manifest's
annotations. The layers' ``diff_ids`` and one history entry per model layer are
added by the builder once the digests are known.

``FROM`` a container image (a modelcar, or an image with no model at all: a
small base with a shell, as KServe's sidecar mode needs) puts its image layers
first, carried as they are (compressed ones too, with the ``diff_id`` its
config gives), keeps its config (entrypoint, environment, platform) and its
history, merges the labels, and adds the model's layers on top. A model base
in Docker's format or ModelPack's gives its raw layers, each wrapped in a tar.
"""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any

from modeloci.compiler.model import BaseSource, LayerPlan
from modeloci.compiler.state import State
from modeloci.errors import UsageError
from modeloci.formats import modelcar
from modeloci.oci.digest import Digest


def layer_mtime() -> int:
    """The mtime of a modelcar layer's tar entries: ``SOURCE_DATE_EPOCH``, else 0. Not the creation time (a commit's,
    or ``--created``): that would give the same file another layer in each model built at another time."""
    env = os.environ.get("SOURCE_DATE_EPOCH")
    if env and not (env.isascii() and env.isdigit()):
        raise UsageError(f"SOURCE_DATE_EPOCH `{env}` is not a whole number of seconds",
                         hint="set it to Unix seconds, for example `$(git log -1 --format=%ct)`")
    return int(env) if env else 0


def wrapped(layer: LayerPlan, mtime: int) -> LayerPlan:
    """A model format's layer plan of a file as a modelcar's: its size the tar's, the file's kept."""
    return replace(layer, size=modelcar.layer_size(layer.filepath, layer.size, mtime), file_size=layer.size)


def is_image_layer(layer: LayerPlan) -> bool:
    """Whether a base's layer belongs to the container image under a modelcar's model (it names no file)."""
    return not layer.filepath


def image_layers(state: State) -> list[LayerPlan]:
    """The layers of the container image the model is built on, first and as they are (none for a model base)."""
    if state.target != "modelcar" or state.base is None or state.base.format != "modelcar":
        return []
    return [layer for layer in state.base.layers if is_image_layer(layer)]


def from_raw(layer: LayerPlan) -> LayerPlan:
    """A raw layer of a model base (Docker's format, ModelPack) as a modelcar layer wrapping its bytes: the raw
    layer's digest is the file's, checked while it is wrapped."""
    digest = Digest.parse(layer.source.digest) if isinstance(layer.source, BaseSource) else None
    return replace(layer, media_type=str(modelcar.LAYER), file_size=layer.size,
                   size=modelcar.layer_size(layer.filepath, layer.size, 0),
                   annotations=modelcar.carry_annotations(layer.annotations, layer.filepath, layer.role, digest))


def facts(state: State) -> dict[str, str]:
    """The model's facts as labels (architecture, format, parameters, precision, quantization, name, context)."""
    name = state.reference.rsplit(":", 1)[0] if state.reference else (state.facts.name if state.facts else None)
    context_size = state.config.get("context_size", state.derived.get("context_size"))
    return modelcar.fact_labels(state.facts, name=name, context_size=context_size)


def config(state: State, layers: list[LayerPlan]) -> dict[str, Any]:
    """The image config before its layers: the base image's (its platform, entrypoint, environment, labels and
    the history of the layers kept), or a model-only image's; the LABELs and the facts added to its labels."""
    base = state.base.artifact.config.doc if state.base is not None and state.base.format == "modelcar" else None
    doc = dict(base) if base is not None else modelcar.new_config()
    inner = dict(doc.get("config") or {})
    inner["Labels"] = {**(inner.get("Labels") or {}), **state.labels, **facts(state)}
    doc["config"] = inner
    doc["history"] = _kept_history(state, layers) if base is not None else []
    doc.pop("rootfs", None)  # the builder adds it, once the layers' digests are known
    if not doc["history"]:
        del doc["history"]
    return doc


def _kept_history(state: State, layers: list[LayerPlan]) -> list[Any]:
    """The base image's history without the entries of the base's layers this build does not keep (replaced
    model files): an entry that is not ``empty_layer`` belongs to the base's next layer, in order."""
    assert state.base is not None
    history = state.base.artifact.config.doc.get("history")
    if not isinstance(history, list):
        return []
    carried = {layer.source.digest for layer in layers if isinstance(layer.source, BaseSource)}
    base, out, place = state.base.layers, [], 0
    for entry in history:
        empty = isinstance(entry, dict) and entry.get("empty_layer") is True
        layer = base[place] if not empty and place < len(base) else None
        place += 0 if empty else 1
        if layer is None or not isinstance(layer.source, BaseSource) or layer.source.digest in carried:
            out.append(entry)
    return out


def labels(state: State, merged: dict[str, str]) -> dict[str, str]:
    """The manifest's annotations: the base's and the LABELs (``merged``), then the model's facts."""
    return {**merged, **facts(state)}
