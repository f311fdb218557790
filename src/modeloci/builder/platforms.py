"""Building a modelcar on a multi-platform base: an image per platform, and an OCI image index of them.

Every platform's layers are written in one pass, each blob once (the model's
layers are the same in every platform's image); then each platform's config
(its base's config, with the labels, ``diff_ids`` and history) and manifest;
then the index, listing the manifests with the base index's platforms in its
order. ``index.json`` names the index (nested, as ``skopeo copy --all``
writes a multi-platform image into a layout), tagged with the reference.
An archive gets no Docker ``manifest.json``: that file holds one manifest
for ``docker model load``, and listing one platform there would load that
platform silently on every other. The store holds one manifest per model,
so a multi-platform modelcar is refused there, before anything is written.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

from modeloci.blobs.sinks import ArchiveSink, BlobSink, LayoutSink
from modeloci.compiler.model import BuildPlan, LayerPlan
from modeloci.errors import UsageError
from modeloci.oci.digest import Digest
from modeloci.oci.manifest import Blob, Descriptor, index_json
from modeloci.oci.platforms import index_blob
from modeloci.store.sink import StoreSink

PutLayers = Callable[[BuildPlan], tuple[list[Digest], dict[int, Digest]]]
Describe = Callable[[BuildPlan, Sequence[Digest], Mapping[int, Digest]], tuple[tuple[Descriptor, ...], Blob, Blob]]

STORE_REFUSAL = "a multi-platform modelcar can be written to an archive or a layout, not into the store"
STORE_HINT = "build it with `-o OUT.tar` or `--layout DIR`; push it with `skopeo copy --all`"


def refuse_store(plan: BuildPlan) -> None:
    """The store holds one image manifest per model: a multi-platform modelcar is refused before any write."""
    if plan.platforms:
        raise UsageError(STORE_REFUSAL, hint=STORE_HINT)


def plans(plan: BuildPlan) -> list[BuildPlan]:
    """The plan of each platform's image."""
    return [replace(plan, base=p.base, layers=p.layers, config=p.config, labels=p.labels, platforms=())
            for p in plan.platforms]


def merged(plan: BuildPlan) -> tuple[BuildPlan, list[list[int]]]:
    """One plan holding every platform's layers once (the first time each is met), and for each platform the
    places of its layers in it."""
    unique: dict[str, int] = {}
    layers: list[LayerPlan] = []
    places = []
    for p in plan.platforms:
        row = []
        for layer in p.layers:
            key = json.dumps(layer.to_json(), sort_keys=True)
            if key not in unique:
                unique[key] = len(layers)
                layers.append(layer)
            row.append(unique[key])
        places.append(row)
    return replace(plan, layers=layers, platforms=()), places


def build_index(plan: BuildPlan, sink: BlobSink, put: PutLayers,
                describe: Describe) -> tuple[Descriptor, Descriptor, tuple[Descriptor, ...]]:
    """Write every platform's image and their index into ``sink`` and commit it: the index's descriptor, and the
    first platform's config and layers (what a build's report shows)."""
    together, places = merged(plan)
    digests, files = put(together)
    described = []
    for one, row in zip(plans(plan), places, strict=True):
        own_files = {j: files[i] for j, i in enumerate(row) if i in files}
        described.append(describe(one, [digests[i] for i in row], own_files))
    for _, config, manifest in described:
        sink.put_bytes(config.data)
        sink.put_bytes(manifest.data)
    index = index_blob([(manifest.descriptor(), p.platform)
                        for (_, _, manifest), p in zip(described, plan.platforms, strict=True)])
    sink.put_bytes(index.data)
    _commit(sink, index, plan.reference)
    layers, config, _ = described[0]
    return index.descriptor(), config.descriptor(), layers


def _commit(sink: BlobSink, index: Blob, reference: str | None) -> None:
    if isinstance(sink, StoreSink):  # a layout sink too, whose index lists one manifest per model
        raise UsageError(STORE_REFUSAL, hint=STORE_HINT)
    if isinstance(sink, ArchiveSink):
        sink.finish(index_json(index.descriptor(), ref_name=reference), None)
    elif isinstance(sink, LayoutSink):
        sink.commit(index.descriptor(), index.data, ref_name=reference)
    else:
        raise UsageError(STORE_REFUSAL, hint=STORE_HINT)
