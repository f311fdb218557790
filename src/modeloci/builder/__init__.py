"""EXECUTOR: BuildPlan to blobs in a sink, then the config and manifest.

``build`` hands every layer to the sink at once (files of the build context,
blobs of the FROM base or of an archive being converted), which copies and
hashes them in parallel; digests known from the cache are not computed again.
A blob of a base is used only at the size its descriptor gives and is hashed
while it is copied: one whose bytes do not match its digest fails the build
before the output is renamed into place. Then it writes the config and
manifest and commits. ``build_archive`` does that into an atomically written
tar, ``build_layout`` into an OCI layout folder, ``build_store`` into the store.

``referrers`` (a signature, provenance, a BOM) are made once the manifest is
known, by a callback, and written in the same pass, before the commit lists
them beside the model; without it the output is byte for byte as before.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from modeloci.atomic import atomic_output
from modeloci.blobs.cache import DigestCache
from modeloci.blobs.engine import BlobSource, FileState
from modeloci.blobs.sinks import ArchiveSink, BlobSink, LayoutSink
from modeloci.blobs.uptodate import OutputRecords, description, identity, layout_holds
from modeloci.builder import modelcar, platforms
from modeloci.compiler.model import BaseSource, BuildPlan, FileSource, LayerPlan
from modeloci.errors import ArchiveError, BuildError, UsageError, describe_os_error
from modeloci.formats import docker, modelpack
from modeloci.oci.digest import Digest
from modeloci.oci.layout import Layout, locate_blob
from modeloci.oci.manifest import Blob, Descriptor, manifest_blob
from modeloci.oci.referrers import Referrer
from modeloci.progress import NO_METER, Meter
from modeloci.sources import RemoteRef, open_source
from modeloci.store.referrers import check_referrer
from modeloci.store.sink import StoreSink

if TYPE_CHECKING:
    from modeloci.builder.report import BuildReport
    from modeloci.store import Store

__all__ = ["BlobSink", "BuildResult", "ReferrersOf", "build", "build_archive", "build_layout",
           "build_store", "layer_sources"]


@dataclass(frozen=True, slots=True)
class BuildResult:
    """A model written: its manifest, config and layer descriptors, its name, and where it went (``output``,
    with ``output_size`` the archive's or the layout's bytes; None for the store), and the referrers written
    beside it (``up_to_date``: the output already held them; nothing was written). :meth:`report` is its JSON."""

    manifest: Descriptor
    config: Descriptor
    layers: tuple[Descriptor, ...]
    reference: str | None
    output: Path | None = None
    output_size: int | None = None
    referrers: tuple[Referrer, ...] = ()
    up_to_date: bool = False

    def report(self) -> BuildReport:
        """Its JSON (docs/json/build.schema.json): a pydantic model, imported only when asked for (start-up
        time: ``plan`` and an up-to-date ``build`` import no pydantic)."""
        from modeloci.builder.report import BuildReport, DescriptorReport, LayerReport

        return BuildReport(
            digest=str(self.manifest.digest),
            size=self.output_size,
            output=str(self.output) if self.output else None,
            reference=self.reference,
            manifest=DescriptorReport.of(self.manifest),
            config=DescriptorReport.of(self.config),
            layers=[LayerReport(mediaType=d.media_type, digest=str(d.digest), size=d.size,
                                path=d.annotations.get(docker.ANNOTATION_FILEPATH)) for d in self.layers],
            up_to_date=self.up_to_date,
        )


# Makes the referrers of a model (a signature, provenance, a BOM) once its manifest (the subject) is known.
ReferrersOf = Callable[[Descriptor, BuildResult], Sequence[Referrer]]


def build(plan: BuildPlan, sink: BlobSink, *, cache: DigestCache | None = None,
          referrers: ReferrersOf | None = None) -> BuildResult:
    """Write the plan's layers, config and manifest into ``sink``, and the referrers ``referrers`` makes for
    them, and commit it (a modelcar on a multi-platform base: an image per platform, and their index)."""
    if plan.platforms:
        if referrers is not None:
            raise UsageError("a multi-platform modelcar is not signed or attested by modeloci yet",
                             hint="build it without --sign, --provenance and --sbom")
        index, config_of_first, layers_of_first = platforms.build_index(
            plan, sink, lambda merged: put_layers(merged, sink, cache), describe)
        return BuildResult(index, config_of_first, layers_of_first, plan.reference)
    digests, files = put_layers(plan, sink, cache)
    layers, config, manifest = describe(plan, digests, files)
    with _writing("the config"):
        sink.put_bytes(config.data)
    with _writing("the manifest"):
        sink.put_bytes(manifest.data)
    manifest_descriptor = manifest.descriptor(artifact_type=plan.artifact_type or config.media_type)
    result = BuildResult(manifest_descriptor, config.descriptor(), layers, plan.reference)
    made = _referrers(referrers, result, sink) if referrers is not None else ()
    with _writing("the index"):
        sink.commit(manifest_descriptor, manifest.data, ref_name=plan.reference,
                    referrers=[r.descriptor() for r in made])
    return replace(result, referrers=made)


def put_layers(plan: BuildPlan, sink: BlobSink, cache: DigestCache | None) -> tuple[list[Digest], dict[int, Digest]]:
    """Write the plan's layers into ``sink``: their digests, and those of the files a modelcar's layers wrap (by
    place); digests the cache knows are not computed again, and those computed are kept in it."""
    sources = layer_sources(plan)
    found = [modelcar.known(s, cache) if s.wrapped else (s, _known(s, cache), None) for s in sources]
    sources = [source for source, _, _ in found]
    known = [blob for _, blob, _ in found]
    digests = sink.put_layers(sources, known)
    files = {i: inner for i, (_, _, inner) in enumerate(found) if inner is not None} | sink.inner
    if cache is not None:
        for i, (source, digest, was_known) in enumerate(zip(sources, digests, known, strict=True)):
            if was_known is None and source.wrapped:
                modelcar.remember(cache, source, digest, files[i])
            elif was_known is None:
                cache.put(source.state, source.offset, source.size, digest)
    return digests, files


def layer_sources(plan: BuildPlan) -> list[BlobSource]:
    """Every layer's bytes as the build reads them: a file of the context or a blob of the (local) base, wrapped
    in its tar for a modelcar layer made here."""
    with ExitStack() as stack:
        base = stack.enter_context(open_source(plan.base_path)) if plan.base_path else None
        return [_source(layer, plan, base) for layer in plan.layers]


def _referrers(make: ReferrersOf, result: BuildResult, sink: BlobSink) -> tuple[Referrer, ...]:
    """The referrers made for the model, checked to refer to it, their blobs put into ``sink`` (each once)."""
    subject = Descriptor(result.manifest.media_type, result.manifest.digest, result.manifest.size)
    made = tuple({r.digest: r for r in make(result.manifest, result)}.values())
    with _writing("the referrers"):
        for referrer in made:
            check_referrer(referrer, subject, "this build")
            for data in referrer.blobs.values():
                sink.put_bytes(data)
            sink.put_bytes(referrer.manifest)
    return made


@contextmanager
def _writing(what: str) -> Iterator[None]:
    """An OSError (a full disk) while writing ``what`` as a one-line BuildError: `writing the config: no space...`."""
    try:
        yield
    except OSError as exc:
        raise BuildError(f"writing {what}: {describe_os_error(exc)}") from exc


def describe(plan: BuildPlan, digests: Sequence[Digest],
             files: Mapping[int, Digest] | None = None) -> tuple[tuple[Descriptor, ...], Blob, Blob]:
    """The layer descriptors, config and manifest of a plan once its layers' digests are known (``files``: the
    digests of the files a modelcar's layers wrap, by place)."""
    if plan.format == "modelcar":
        return modelcar.describe(plan, digests, files or {})
    layers = tuple(Descriptor(layer.media_type, digest, layer.size, layer.annotations)
                   for layer, digest in zip(plan.layers, digests, strict=True))
    diff_ids = [d.digest for d in layers]
    if plan.format == "modelpack":
        config = modelpack.config_blob(plan.config["descriptor"], plan.config["config"], diff_ids)
        manifest = modelpack.manifest_blob(config.descriptor(), layers, annotations=plan.labels)
    else:
        config = docker.config_blob(plan.config_media_type, plan.config, diff_ids, created=plan.created)
        manifest = manifest_blob(config.descriptor(), layers, annotations=plan.labels)
    return layers, config, manifest


def _known(source: BlobSource, cache: DigestCache | None) -> Digest | None:
    """A digest this build need not compute: one the cache already verified for this exact file range.
    The digest a base's blob is stored under is not one: the archive says it, and may lie."""
    if cache is None:
        return None
    digest = cache.get(source.state, source.offset, source.size)
    if digest is not None and source.expected is not None and digest != source.expected:
        return None
    return digest


def file_source(layer: LayerPlan, plan: BuildPlan) -> BlobSource:
    """The BlobSource of a layer made from a file of the build context (checked unchanged since the plan), wrapped
    in its tar for a modelcar."""
    source = layer.source
    assert isinstance(source, FileSource), "a layer of the base has no file in the build context"
    path = plan.context / source.path
    state = _state(path, source.path)
    size = layer.size if layer.file_size is None else layer.file_size
    if state.size != size:
        raise BuildError(f"reading {source.path}: the file changed size since the plan was made",
                         path=source.path, hint="do not change input files during a build")
    found = BlobSource(path, 0, size, source.path, state)
    return modelcar.wrap(found, layer, plan) if layer.file_size is not None else found


def _source(layer: LayerPlan, plan: BuildPlan, base: Layout | None) -> BlobSource:
    if isinstance(layer.source, BaseSource):
        assert base is not None
        size = layer.size if layer.file_size is None else layer.file_size  # a raw layer a modelcar's tar wraps
        within = layer.source.within  # a file in a modelcar's tar layer: that range of the layer's blob
        expected = Digest.parse(layer.source.digest)
        shown = plan.base.path if plan.base is not None else plan.base_path  # as the Modelfile names it
        try:
            path, offset, size = locate_blob(base, Descriptor(layer.media_type, expected,
                                                              within.blob_size if within else size))
        except ArchiveError as exc:
            raise ArchiveError(f"`{shown}`: {exc.message}", path=str(plan.base_path),
                               hint=f"run `modeloci verify {shown}` to list every problem") from None
        if within is not None:  # the file's digest (the layer's annotation) is checked as it is read
            offset, size, expected = offset + within.offset, layer.size, Digest.parse(within.digest)
        label = f"{layer.filepath or expected} of `{shown}`"
        found = BlobSource(path, offset, size, label, _state(path, label), expected)
        return modelcar.wrap(found, layer, plan) if layer.file_size is not None else found
    return file_source(layer, plan)


def _state(path: Path, label: str) -> FileState:
    try:
        return FileState.from_stat(os.stat(path))
    except OSError as exc:
        raise BuildError(f"reading {label}: {describe_os_error(exc)}", path=label) from exc


def local_base(plan: BuildPlan) -> BuildPlan:
    """A plan whose FROM base is on this machine: a registry base is pulled into the store first."""
    if isinstance(plan.base_path, RemoteRef):
        # Imported when used: it loads the registry client (httpx), which a local build never needs.
        from modeloci.sources.registry import materialize

        return replace(plan, base_path=materialize(plan.base_path, images=plan.format == "modelcar"))
    return plan


def build_archive(plan: BuildPlan, output: Path, *, cache: DigestCache | None = None,
                  meter: Meter = NO_METER, referrers: ReferrersOf | None = None) -> BuildResult:
    """Build into the archive ``output``, written atomically (its folder is created if needed); an archive this
    build would write byte for byte, untouched since modeloci wrote it, is left as it is (blobs/uptodate.py)."""
    plan = local_base(plan)
    ready = planned(plan, cache, referrers) if identity(output) is not None else None
    if ready is not None and cache is not None:
        found = OutputRecords.beside(cache.root).holds(output, _described("archive", plan, ready))
        if found is not None:
            return replace(ready, output=output, output_size=found.size, up_to_date=True)
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        with atomic_output(output) as out:
            sink = ArchiveSink(out.fileno(), mtime=plan.mtime_epoch, meter=meter)
            result = build(plan, sink, cache=cache, referrers=referrers)
    except OSError as exc:
        raise BuildError(f"writing {output}: {describe_os_error(exc)}", path=str(output)) from exc
    if cache is not None:
        OutputRecords.beside(cache.root).remember(output, _described("archive", plan, result))
    return replace(result, output=output, output_size=sink.end)


def planned(plan: BuildPlan, cache: DigestCache | None, referrers: ReferrersOf | None) -> BuildResult | None:
    """The model a build of ``plan`` writes, made without reading a layer: None unless the digest cache knows
    every layer's digest."""
    if cache is None or plan.platforms:  # a multi-platform modelcar is written again (its index is not planned)
        return None
    found = [modelcar.known(s, cache) if s.wrapped else (s, _known(s, cache), None) for s in layer_sources(plan)]
    digests = [digest for _, digest, _ in found]
    if not all(digests):
        return None
    files = {i: inner for i, (_, _, inner) in enumerate(found) if inner is not None}
    layers, config, manifest = describe(plan, [d for d in digests if d is not None], files)
    descriptor = manifest.descriptor(artifact_type=plan.artifact_type or config.media_type)
    result = BuildResult(descriptor, config.descriptor(), layers, plan.reference)
    made = tuple({r.digest: r for r in referrers(descriptor, result)}.values()) if referrers is not None else ()
    return replace(result, referrers=made)


def _described(kind: str, plan: BuildPlan, result: BuildResult) -> str:
    return description(kind, result.manifest.digest, plan.reference, plan.mtime_epoch,
                       [r.digest for r in result.referrers])


def build_layout(plan: BuildPlan, folder: Path, *, cache: DigestCache | None = None, link: bool = False,
                 meter: Meter = NO_METER, referrers: ReferrersOf | None = None) -> BuildResult:
    """Build into the OCI layout folder ``folder``: new blobs added, ``index.json`` replaced last; nothing is
    written when the ``index.json`` modeloci wrote there lists the model and every blob is in (blobs/uptodate.py)."""
    plan = local_base(plan)
    kind = "layout+link" if link else "layout"
    ready = planned(plan, cache, referrers) if identity(folder / "index.json") is not None else None
    if ready is not None and cache is not None and _layout_holds(folder, plan, ready, cache, kind):
        return replace(ready, output=folder, output_size=sum(_sizes(ready).values()), up_to_date=True)
    sink = LayoutSink(folder, link=link, meter=meter)
    try:
        result = build(plan, sink, cache=cache, referrers=referrers)
    except OSError as exc:
        sink.abort()
        raise BuildError(f"writing {folder}: {describe_os_error(exc)}", path=str(folder)) from exc
    except BaseException:
        sink.abort()
        raise
    if cache is not None:
        OutputRecords.beside(cache.root).remember(folder / "index.json", _described(kind, plan, result))
    return replace(result, output=folder, output_size=sum(_sizes(result).values()))


def _layout_holds(folder: Path, plan: BuildPlan, ready: BuildResult, cache: DigestCache, kind: str) -> bool:
    """Whether ``folder``'s index.json is the one a build described as ``ready`` wrote, and every blob is in."""
    if not layout_holds(folder, ready.manifest.digest, plan.reference, _sizes(ready)):
        return False
    return OutputRecords.beside(cache.root).holds(folder / "index.json", _described(kind, plan, ready)) is not None


def _sizes(result: BuildResult) -> dict[Digest, int]:
    """Every blob of the model and its referrers, by digest, with its size."""
    sizes = {d.digest: d.size for d in (*result.layers, result.config, result.manifest)}
    for referrer in result.referrers:
        sizes |= {digest: len(data) for digest, data in (*referrer.blobs.items(), (referrer.digest, referrer.manifest))}
    return sizes


def build_store(plan: BuildPlan, store: Store, *, cache: DigestCache | None = None,
                meter: Meter = NO_METER, referrers: ReferrersOf | None = None) -> BuildResult:
    """Build into the local store (blobs shared with the models already there) and tag it."""
    platforms.refuse_store(plan)
    if plan.reference is None:
        raise UsageError("a model in the store needs a name",
                         hint="name it with `-t NAME[:TAG]`, or write `-o OUT.tar`")
    plan = local_base(plan)
    sink = StoreSink(store, meter=meter)
    try:
        with store.writing():
            result = build(plan, sink, cache=cache, referrers=referrers)
    except OSError as exc:
        sink.abort()
        raise BuildError(f"writing into the store ({store.root}): {describe_os_error(exc)}", path=str(store.root)) \
            from exc
    except BaseException:
        sink.abort()
        raise
    return replace(result, output=store.root, output_size=None)
