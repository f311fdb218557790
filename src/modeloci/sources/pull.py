"""Pulling a model from a registry into an archive, a layout folder or the store, every blob checked.

Pull fetches the manifest and config, checks the blob sizes the manifest gives
(no blob over ``limits.blob``, and room for them all on the destination's disk)
before anything is written, then streams the layers into the destination in
parallel, checking every digest on the way; archives and layouts are written
atomically, and the store's tag comes last, after the documents got every
check ``verify`` makes. The model's referrers (a signature, provenance, a BOM)
come with it, fetched and checked before anything is written
(:mod:`.remote_referrers`), unless ``referrers=False``. A source level of its
own, below the builder and the verbs: a registry base (``FROM
registry/repo:tag``) is materialised into the store with it, and ``modeloci
pull`` is it.

A pull into the store may take part of a model (a :class:`Selection`:
``--include``, ``--exclude``, ``--role``): only the layers chosen from the
manifest fetched are fetched (with the manifest, config and referrers), so a
registry cannot make it fetch more; the store entry is marked partial while
any layer is absent (:mod:`modeloci.store.partial`). A later pull fetches only
what the store lacks, and the mark goes with the last absent layer.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path

from pydantic import BaseModel

from modeloci.atomic import atomic_output
from modeloci.blobs.sinks import ArchiveSink, LayoutSink
from modeloci.errors import BuildError, UsageError
from modeloci.formats.artifact import created_of, epoch_of, filepath_of, read_artifact
from modeloci.formats.select import PARTIAL, WHOLE, Selection, choose
from modeloci.formats.validate import refuse_unverified
from modeloci.jsondoc import InvalidJSON, load_json
from modeloci.oci.digest import Digest
from modeloci.oci.manifest import Descriptor, InvalidDocument, parse_manifest
from modeloci.oci.mediatypes import MediaType
from modeloci.oci.referrers import Referrer
from modeloci.progress import no_progress
from modeloci.registry.client import RegistryClient, RegistryError
from modeloci.registry.image_ref import Reference
from modeloci.registry.limits import size_text
from modeloci.registry.transfer import download
from modeloci.sources.fetched import MemoryLayout
from modeloci.sources.remote_referrers import fetch
from modeloci.store import Store, StoreView
from modeloci.store.partial import ORIGIN

__all__ = ["ORIGIN", "PullResult", "check_sizes", "chosen_layers", "fetch_manifest", "pull_to_archive",
           "pull_to_layout", "store_name", "store_only"]

Progress = Callable[[int], None]
Fetched = tuple[bytes, Descriptor, bytes]  # a manifest's bytes, its descriptor, its config's bytes


class PullResult(BaseModel):
    reference: str
    digest: str
    output: str
    downloaded: list[str]
    reused: list[str]
    referrers: list[str] = []  # the manifests of the referrers pulled with it (signatures, provenance, BOMs)
    absent: list[str] = []  # the paths of the layers a partial pull left in the registry


def fetch_manifest(client: RegistryClient, reference: Reference) -> tuple[bytes, Descriptor, bytes]:
    """A model's manifest bytes, its descriptor and its config bytes (small: read whole, checked)."""
    data, media_type = client.get_manifest(reference)
    if media_type in (MediaType.OCI_INDEX, MediaType.DOCKER_MANIFEST_LIST):
        raise RegistryError(f"{reference} is an index of several manifests, not a model",
                            hint="pull one of its manifests by digest: name@sha256:...")
    try:
        manifest = parse_manifest(data)
    except InvalidDocument as exc:
        raise RegistryError(client.redact(f"{reference}: {exc}")) from exc
    _refuse_huge(client, reference, [manifest.config, *manifest.layers])
    config = client.get_blob(reference.repository, manifest.config.digest, manifest.config.size,
                             what="the config blob")
    artifact_type = manifest.artifact_type or manifest.config.media_type
    descriptor = Descriptor(str(MediaType.OCI_MANIFEST), Digest.of(data), len(data), artifact_type=artifact_type)
    return data, descriptor, config


def chosen_layers(fetched: Fetched, reference: Reference, selection: Selection, *,
                  images: bool = False) -> list[Descriptor]:
    """The layers a pull fetches: every one, or those ``selection`` takes, by the paths and roles the manifest and
    config fetched give (UsageError naming the layers there are when it takes none; ``images``: a container image
    is read as a modelcar with no model files)."""
    manifest_bytes, descriptor, config = fetched
    layers = list(parse_manifest(manifest_bytes).layers)
    if selection.whole:
        return layers
    artifact = read_artifact(MemoryLayout(descriptor, (manifest_bytes, config)), where=f"`{reference}`",
                             images=images)
    return [layer.descriptor for layer in choose(artifact.layers, selection, f"`{reference}`")]


def check_sizes(client: RegistryClient, reference: Reference, layers: list[Descriptor], folder: Path, *,
                copies: int = 1) -> None:
    """Refuse, before anything is written, blobs larger than any model file, or more bytes than ``folder`` has
    room for (``copies`` times the distinct blobs)."""
    _refuse_huge(client, reference, layers)
    _check_room(reference, folder, [copies * size for size in {d.digest: d.size for d in layers}.values()])


def _refuse_huge(client: RegistryClient, reference: Reference, blobs: list[Descriptor]) -> None:
    for d in blobs:
        if d.size > client.limits.blob:
            raise RegistryError(f"the manifest of {reference} gives blob {d.digest} a size of {size_text(d.size)}, "
                                f"more than modeloci takes for one blob ({size_text(client.limits.blob)})",
                                hint="the registry's manifest is wrong or hostile: no model file is that large")


def _check_room(reference: Reference, folder: Path, sizes: list[int]) -> None:
    """Refuse, before writing anything, a pull that cannot fit in ``folder`` (which may not exist yet)."""
    need = sum(sizes)
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    try:
        stat = os.statvfs(existing)
    except OSError:
        return  # no answer about space: the writes will tell
    free = stat.f_bavail * stat.f_frsize
    if need > free:
        raise BuildError(f"pulling {reference} needs {size_text(need)} in {folder}, but only {size_text(free)} are "
                         "free", path=str(folder),
                         hint="free some space, or pull to another disk (-o FILE or --layout DIR)")


Fetcher = Callable[[int, int, threading.Event], Digest]


def _fetchers(client: RegistryClient, reference: Reference, layers: list[Descriptor],
              progress: Progress) -> list[tuple[Digest, int, Fetcher]]:
    return [(d.digest, d.size, _fetcher(client, reference, d, progress)) for d in layers]


def _fetcher(client: RegistryClient, reference: Reference, d: Descriptor, progress: Progress) -> Fetcher:
    def fetch(fd: int, offset: int, cancel: threading.Event) -> Digest:
        return download(client, reference.repository, d.digest, d.size, fd, offset, progress=progress, cancel=cancel)
    return fetch


def store_only(selection: Selection) -> None:
    """Archives and layout folders hold whole models (a reader takes a missing blob for damage); the store alone
    keeps part of one, marked as such."""
    if not selection.whole:
        raise UsageError("only the store keeps part of a model: an archive or a layout folder holds whole ones",
                         hint="pull into the store (without -o or --layout), or unpack the files you want: "
                              "`modeloci unpack REF -o DIR --include GLOB`")


def _referrers(client: RegistryClient, reference: Reference, descriptor: Descriptor, wanted: bool) -> list[Referrer]:
    if not wanted:
        return []
    return fetch(client, reference, Descriptor(descriptor.media_type, descriptor.digest, descriptor.size))


def _put(sink: ArchiveSink | LayoutSink, referrers: list[Referrer]) -> None:
    for referrer in referrers:
        for data in referrer.blobs.values():
            sink.put_bytes(data)
        sink.put_bytes(referrer.manifest)


def pull_to_archive(client: RegistryClient, reference: Reference, output: Path, *, name: str | None = None,
                    progress: Progress | None = None, fetched: Fetched | None = None,
                    referrers: bool = True, selection: Selection = WHOLE) -> PullResult:
    """Pull into an archive: the same dual OCI/DMR tar ``build -o`` writes.

    ``fetched``: what :func:`fetch_manifest` already returned, so that the manifest is fetched once (a tag
    moved in between would otherwise give the caller's size for one model and the bytes of another).
    An archive holds whole models: a ``selection`` that is not the whole model is refused.
    """
    store_only(selection)
    manifest_bytes, descriptor, config = fetched or fetch_manifest(client, reference)
    progress = progress or no_progress
    fetchers = _fetchers(client, reference, list(parse_manifest(manifest_bytes).layers), progress)
    extra = _referrers(client, reference, descriptor, referrers)
    _check_room(reference, output.parent, [*{d: size for d, size, _ in fetchers}.values(), len(config),
                                           len(manifest_bytes)])
    output.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(output) as out:
        sink = ArchiveSink(out.fileno(), mtime=_mtime(config))
        sink.put_fetched(fetchers)
        sink.put_bytes(config)
        sink.put_bytes(manifest_bytes)
        _put(sink, extra)
        sink.commit(descriptor, manifest_bytes, ref_name=name or reference.familiar,
                    referrers=[r.descriptor() for r in extra])
    return PullResult(reference=str(reference), digest=str(descriptor.digest), output=str(output),
                      downloaded=[str(d) for d, _, _ in fetchers], reused=[],
                      referrers=[str(r.digest) for r in extra])


def pull_to_layout(client: RegistryClient, reference: Reference, folder: Path, *, store: Store | None = None,
                   name: str | None = None, progress: Progress | None = None,
                   fetched: Fetched | None = None, referrers: bool = True, selection: Selection = WHOLE,
                   images: bool = False) -> PullResult:
    """Pull into a layout folder, or into the store (``store``): blobs already there are not fetched. Into the
    store, ``selection`` may take part of the model (the entry is then marked partial). ``images``: a container
    image with no model in it is let into the store too (a modelcar's FROM base, and nothing else)."""
    if store is None:
        store_only(selection)
    manifest_bytes, descriptor, config = fetched = fetched or fetch_manifest(client, reference)
    progress = progress or no_progress
    fetchers = _fetchers(client, reference, chosen_layers(fetched, reference, selection, images=images), progress)
    extra = _referrers(client, reference, descriptor, referrers)
    root = store.root if store is not None else folder
    blobs = root / "blobs" / "sha256"
    present = {d: size for d, size, _ in fetchers if _holds(blobs, d, size)}
    _check_room(reference, root, [*{d: s for d, s, _ in fetchers if d not in present}.values(), len(config),
                                  len(manifest_bytes)])
    sink = LayoutSink(root)
    absent: list[Descriptor] = []  # layers the store lacks once the pull is done
    reused = [str(d) for d in present]
    progress(sum(present.values()))  # stored already: done, so the progress task ends
    try:
        with store.writing() if store is not None else nullcontext():
            sink.put_fetched(fetchers)
            sink.put_bytes(config)
            sink.put_bytes(manifest_bytes)
            _put(sink, extra)
            tag = name or (store_name(reference) if store is not None else reference.familiar)
            if store is not None:
                # Every blob was hashed on the way in; the documents get the rest of verify's checks before the
                # tag makes the model visible (untagged blobs are for `prune`).
                refuse_unverified(StoreView(root, descriptor), str(reference), verb="store", images=images,
                                  hint="the registry's model is inconsistent; `pull -o FILE` copies it as it is")
                absent = [d for d in parse_manifest(manifest_bytes).layers if not _holds(blobs, d.digest, d.size)]
                store.tag(tag, _entry(descriptor, reference, partial=bool(absent)),
                          referrers=[r.descriptor() for r in extra])
            else:
                sink.commit(descriptor, manifest_bytes, ref_name=tag, referrers=[r.descriptor() for r in extra])
    except BaseException:
        sink.abort()
        raise
    downloaded = [str(d) for d, _, _ in fetchers if str(d) not in reused]
    return PullResult(reference=str(reference), digest=str(descriptor.digest), output=str(root),
                      downloaded=downloaded, reused=reused, referrers=[str(r.digest) for r in extra],
                      absent=[filepath_of(d) or str(d.digest) for d in absent])


def _entry(descriptor: Descriptor, reference: Reference, *, partial: bool) -> Descriptor:
    """The store entry of a pulled model: where it came from (for mounts on push, and to pull the rest), and
    whether layers are absent."""
    annotations = {ORIGIN: reference.name, **({PARTIAL: "true"} if partial else {})}
    return Descriptor(descriptor.media_type, descriptor.digest, descriptor.size, annotations,
                      descriptor.artifact_type)


def _holds(blobs: Path, digest: Digest, size: int) -> bool:
    """Whether a layout's blob folder holds ``digest`` already (as LayoutSink will find it)."""
    path = blobs / digest.hex
    return path.is_file() and path.stat().st_size == size


def store_name(reference: Reference) -> str:
    """The name a pulled model gets in the store: its familiar name and tag. A store name has no room for a digest
    (``name@sha256:...`` was stored as name ``name@sha256``, tag ``<hex>``, which no command then accepted), so a
    model pulled by digest alone is tagged ``pinned-<12 hex digits>``."""
    if reference.digest is None:
        return reference.familiar
    tag = reference.tag or f"pinned-{reference.digest.hex[:12]}"
    return Reference(reference.registry, reference.repository, tag).familiar


def _mtime(config: bytes) -> int:
    """The archive's header timestamps: the model's creation time, as ``build`` writes them."""
    try:
        doc = load_json(config, "the config")
    except InvalidJSON:
        return 0  # the bytes are copied as they are; only the timestamp is not read
    return (epoch_of(created_of(doc)) if isinstance(doc, dict) else None) or 0
