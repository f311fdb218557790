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
from modeloci.errors import BuildError
from modeloci.formats.artifact import created_of, epoch_of
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
from modeloci.sources.remote_referrers import fetch
from modeloci.store import Store, StoreView

ORIGIN = "org.modeloci.origin"  # on a pulled model's store entry: where it came from, for mounts on push
Progress = Callable[[int], None]


class PullResult(BaseModel):
    reference: str
    digest: str
    output: str
    downloaded: list[str]
    reused: list[str]
    referrers: list[str] = []  # the manifests of the referrers pulled with it (signatures, provenance, BOMs)


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
    for d in (manifest.config, *manifest.layers):
        if d.size > client.limits.blob:
            raise RegistryError(f"the manifest of {reference} gives blob {d.digest} a size of {size_text(d.size)}, "
                                f"more than modeloci takes for one blob ({size_text(client.limits.blob)})",
                                hint="the registry's manifest is wrong or hostile: no model file is that large")
    config = client.get_blob(reference.repository, manifest.config.digest, manifest.config.size,
                             what="the config blob")
    artifact_type = manifest.artifact_type or manifest.config.media_type
    descriptor = Descriptor(str(MediaType.OCI_MANIFEST), Digest.of(data), len(data), artifact_type=artifact_type)
    return data, descriptor, config


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


def _fetchers(client: RegistryClient, reference: Reference, manifest_bytes: bytes,
              progress: Progress) -> list[tuple[Digest, int, Fetcher]]:
    return [(d.digest, d.size, _fetcher(client, reference, d, progress))
            for d in parse_manifest(manifest_bytes).layers]


def _fetcher(client: RegistryClient, reference: Reference, d: Descriptor, progress: Progress) -> Fetcher:
    def fetch(fd: int, offset: int, cancel: threading.Event) -> Digest:
        return download(client, reference.repository, d.digest, d.size, fd, offset, progress=progress, cancel=cancel)
    return fetch


Fetched = tuple[bytes, Descriptor, bytes]


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
                    referrers: bool = True) -> PullResult:
    """Pull into an archive: the same dual OCI/DMR tar ``build -o`` writes.

    ``fetched``: what :func:`fetch_manifest` already returned, so that the manifest is fetched once (a tag
    moved in between would otherwise give the caller's size for one model and the bytes of another).
    """
    manifest_bytes, descriptor, config = fetched or fetch_manifest(client, reference)
    progress = progress or no_progress
    fetchers = _fetchers(client, reference, manifest_bytes, progress)
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
                   fetched: Fetched | None = None, referrers: bool = True) -> PullResult:
    """Pull into a layout folder, or into the store (``store``): blobs already there are not fetched."""
    manifest_bytes, descriptor, config = fetched or fetch_manifest(client, reference)
    progress = progress or no_progress
    fetchers = _fetchers(client, reference, manifest_bytes, progress)
    extra = _referrers(client, reference, descriptor, referrers)
    root = store.root if store is not None else folder
    blobs = root / "blobs" / "sha256"
    present = {d: size for d, size, _ in fetchers if _holds(blobs, d, size)}
    _check_room(reference, root, [*{d: s for d, s, _ in fetchers if d not in present}.values(), len(config),
                                  len(manifest_bytes)])
    sink = LayoutSink(root)
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
                refuse_unverified(StoreView(root, descriptor), str(reference), verb="store",
                                  hint="the registry's model is inconsistent; `pull -o FILE` copies it as it is")
                entry = Descriptor(descriptor.media_type, descriptor.digest, descriptor.size,
                                   {ORIGIN: reference.name}, descriptor.artifact_type)
                store.tag(tag, entry, referrers=[r.descriptor() for r in extra])
            else:
                sink.commit(descriptor, manifest_bytes, ref_name=tag, referrers=[r.descriptor() for r in extra])
    except BaseException:
        sink.abort()
        raise
    downloaded = [str(d) for d, _, _ in fetchers if str(d) not in reused]
    return PullResult(reference=str(reference), digest=str(descriptor.digest), output=str(root),
                      downloaded=downloaded, reused=reused, referrers=[str(r.digest) for r in extra])


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
