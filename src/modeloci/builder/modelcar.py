"""Building a modelcar's layers: each file wrapped in its tar while it is copied, and the image config.

A modelcar layer (``LayerPlan.file_size`` set) is its file with fixed tar
bytes before and after it (:func:`modeloci.formats.modelcar.layer_head`): the
sink writes the head, copies the file in the kernel behind it, writes the
tail, and one read of the file gives both the layer's digest and the file's
(:func:`modeloci.blobs.engine.hash_wrapped`). The file may be one of the build
context or a raw layer of a model being converted (its digest is then the
file's, checked on that same read). The digest cache keeps the layer's digest
under the file's range and a hash of the wrapping, and the file's under the
range alone, so a warm build reads nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from modeloci.blobs.cache import DigestCache, wrap_key
from modeloci.blobs.engine import BlobSource
from modeloci.compiler.model import BuildPlan, LayerPlan
from modeloci.formats import modelcar
from modeloci.oci.digest import Digest
from modeloci.oci.manifest import Blob, Descriptor


def wrap(source: BlobSource, layer: LayerPlan, plan: BuildPlan) -> BlobSource:
    """``source`` (the file, or a raw layer holding it) wrapped in the layer's tar."""
    size = source.size
    return replace(source, head=modelcar.layer_head(layer.filepath, size, plan.layer_mtime),
                   tail=modelcar.layer_tail(size))


def known(source: BlobSource, cache: DigestCache | None) -> tuple[BlobSource, Digest | None, Digest | None]:
    """The source, and the layer's digest and the file's that this build need not compute: both from the cache,
    or neither (the file's digest is the raw layer's it comes from, when it comes from one: checked when it is
    read). A file whose digest alone the cache knows (a build of it in another format) gets only its layer
    hashed."""
    if cache is None:
        return source, None, None
    blob = cache.get(source.state, source.offset, source.size, wrap_key(source.head, source.tail))
    inner = cache.get(source.state, source.offset, source.size)
    if source.expected is not None and inner != source.expected:
        return source, None, None
    if blob is None and inner is not None:
        return replace(source, cached_range=inner), None, None
    return (source, blob, inner) if blob is not None and inner is not None else (source, None, None)


def remember(cache: DigestCache, source: BlobSource, blob: Digest, inner: Digest) -> None:
    """Keep a wrapped source's digests: the layer's under the wrapping, the file's under its range alone."""
    cache.put(source.state, source.offset, source.size, blob, wrap_key(source.head, source.tail))
    cache.put(source.state, source.offset, source.size, inner)  # checked against ``expected`` when it was read


def describe(plan: BuildPlan, digests: Sequence[Digest],
             files: Mapping[int, Digest]) -> tuple[tuple[Descriptor, ...], Blob, Blob]:
    """The layer descriptors (each made here annotated with its file's digest), the image config (``diff_ids``,
    a history entry per layer made here) and the manifest of a modelcar plan."""
    layers = tuple(Descriptor(layer.media_type, digest, layer.size, _annotations(layer, files.get(i)))
                   for i, (layer, digest) in enumerate(zip(plan.layers, digests, strict=True)))
    diff_ids = [Digest.parse(layer.diff_id) if layer.diff_id else d.digest for layer, d in zip(plan.layers, layers,
                                                                                                strict=True)]
    history = [modelcar.history_entry(layer.filepath, plan.created) for layer in plan.layers
               if layer.file_size is not None]
    config = modelcar.config_blob(plan.config, labels={}, diff_ids=diff_ids, history=history, created=plan.created)
    manifest = modelcar.manifest_blob(config.descriptor(), layers, annotations=plan.labels)
    return layers, config, manifest


def _annotations(layer: LayerPlan, file_digest: Digest | None) -> dict[str, str]:
    if layer.file_size is None or file_digest is None:
        return dict(layer.annotations)
    return {**layer.annotations, modelcar.ANNOTATION_FILE_DIGEST: str(file_digest)}
