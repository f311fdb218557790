"""``push`` and ``pull``: models to and from registries.

Push sends every blob the registry lacks (a ``HEAD`` first; a cross-repository
mount when the blob is known to live in another repository of the same
registry), several at a time, each hashed as it is read and refused before the
final ``PUT`` if it does not match its digest, then puts the manifest by tag,
then the model's referrers (a signature, provenance, a BOM: their blobs and
manifests, listed by the referrers API or the fallback tag,
:mod:`modeloci.sources.remote_referrers`); their blobs count as uploaded or
already there. ``build --push`` (:func:`push_plan`) does the same from a plan,
mounting a registry base's layers instead of fetching them. Pull is a source's business
(:mod:`modeloci.sources.pull`: a registry base is pulled into the store the same
way); its verbs are re-exported here.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from modeloci.blobs.cache import DigestCache
from modeloci.blobs.engine import BlobSource, FileState, hash_range, run_ordered
from modeloci.builder import BuildResult, ReferrersOf, describe, file_source, local_base
from modeloci.compiler.model import BaseSource, BuildPlan, FileSource
from modeloci.errors import UsageError
from modeloci.formats.artifact import read_artifact
from modeloci.oci.digest import Digest
from modeloci.oci.layout import Layout, locate_blob
from modeloci.oci.manifest import Descriptor
from modeloci.oci.mediatypes import MediaType
from modeloci.oci.referrers import Referrer
from modeloci.ops.reports import PushResult
from modeloci.progress import no_progress
from modeloci.registry.client import RegistryClient, RegistryError
from modeloci.registry.image_ref import Reference
from modeloci.registry.transfer import finish, start_upload, upload
from modeloci.sources.open import open_source
from modeloci.sources.pull import (
    ORIGIN,
    PullResult,
    chosen_layers,
    fetch_manifest,
    pull_to_archive,
    pull_to_layout,
    store_name,
    store_only,
)
from modeloci.sources.referrers import check_referrer, referrers_of
from modeloci.sources.refs import RemoteRef, Source
from modeloci.sources.remote_referrers import send
from modeloci.store.partial import refuse_absent

__all__ = ["PARALLEL", "PullResult", "PushResult", "chosen_layers", "fetch_manifest", "pull_to_archive",
           "pull_to_layout", "push", "push_plan", "store_name", "store_only"]

PARALLEL = 4
Progress = Callable[[int], None]


@dataclass
class _Counts:
    uploaded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    mounted: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, kind: str, digest: Digest) -> None:
        with self.lock:
            getattr(self, kind).append(str(digest))


def push(source: Source, reference: Reference, client: RegistryClient, *, mount_from: str | None = None,
         parallel: int = PARALLEL, progress: Progress | None = None, referrers: bool = True) -> PushResult:
    """Push the model ``source`` holds to ``reference``, with its referrers (unless ``referrers=False``);
    ``mount_from`` names a repository of the same registry that may already hold its blobs."""
    counts, progress = _Counts(), progress or no_progress
    extra = referrers_of(source) if referrers and not isinstance(source, RemoteRef) else []
    with open_source(source) as layout:
        artifact = read_artifact(layout, where=f"`{source}`")
        refuse_absent(layout, artifact.layers, str(source), verb="push")  # before anything is sent
        _check_pinned(reference, Digest.of(artifact.manifest.raw))
        blobs = {d.digest: d for d in (*artifact.manifest.layers, artifact.manifest.config)}
        origin = mount_from or _origin(layout)
        tasks = [(lambda cancel, d=d: _push_blob(client, reference, (layout, f"`{source}`"), d, origin, counts,
                                                 progress, cancel))
                 for d in blobs.values()]
        run_ordered(tasks, threads=parallel)
        digest = client.put_manifest(reference, artifact.manifest.raw, str(MediaType.OCI_MANIFEST))
    _send_referrers(client, reference, digest, extra, counts)
    return PushResult(reference=str(reference), digest=str(digest), uploaded=counts.uploaded,
                      skipped=counts.skipped, mounted=counts.mounted)


def _send_referrers(client: RegistryClient, reference: Reference, subject: Digest, referrers: list[Referrer],
                    counts: _Counts) -> None:
    if referrers:
        sent = send(client, reference, subject, referrers)
        for digest in sent.uploaded:
            counts.add("uploaded", digest)
        for digest in sent.skipped:
            counts.add("skipped", digest)


def _check_pinned(reference: Reference, digest: Digest) -> None:
    """A reference pinned to another manifest: refused before any upload (the registry would refuse the manifest
    only after every blob was sent, with DIGEST_INVALID)."""
    if reference.digest is not None and reference.digest != digest:
        raise UsageError(f"`{reference}` names the manifest {reference.digest}, but the model's manifest is {digest}",
                         hint="push to a tag (registry/repository:tag), or pin the model's own digest")


def _origin(layout: Layout | None) -> str | None:
    """Where a model pulled into the store came from (recorded at pull), as ``registry/repository``."""
    selected = getattr(layout, "selected", None)  # a StoreView's
    return selected.annotations.get(ORIGIN) if selected is not None else None


def _push_blob(client: RegistryClient, reference: Reference, layout: tuple[Layout, str], d: Descriptor,
               origin: str | None, counts: _Counts, progress: Progress, cancel: threading.Event) -> None:
    """``layout``: where the model is, and how to name it in a message."""
    if not _already_there(client, reference, d, origin, counts, progress):
        upload(client, reference.repository, _stored_blob(*layout, d), d.digest, progress=progress, cancel=cancel)
        counts.add("uploaded", d.digest)


def _already_there(client: RegistryClient, reference: Reference, d: Descriptor, origin: str | None, counts: _Counts,
                   progress: Progress) -> bool:
    """Whether the registry holds ``d`` without an upload: it has it already (``HEAD``), or it mounts it from
    ``origin``, another repository of the same registry. Such a blob counts as done, so the progress task ends."""
    prefix = f"{reference.registry}/"
    if client.blob_size(reference.repository, d.digest) == d.size:
        counts.add("skipped", d.digest)
    elif (origin is not None and origin.startswith(prefix) and origin.removeprefix(prefix) != reference.repository
          and client.mount(reference.repository, d.digest, origin.removeprefix(prefix))):
        counts.add("mounted", d.digest)
    else:
        return False
    progress(d.size)
    return True


def _stored_blob(layout: Layout, where: str, d: Descriptor) -> BlobSource:
    """Where ``d`` lies in an archive, layout or the store (named ``where``), checked against the size the
    manifest gives; its bytes are checked against the digest as they are uploaded."""
    path, offset, size = locate_blob(layout, d)
    return BlobSource(path, offset, size, where, FileState.from_stat(path.stat()), d.digest)


def push_plan(plan: BuildPlan, reference: Reference, client: RegistryClient, *, cache: DigestCache | None = None,
              parallel: int = PARALLEL, progress: Progress | None = None,
              referrers: ReferrersOf | None = None) -> PushResult:
    """``build --push``: hash the new layers, then send what the registry lacks, and the referrers that
    ``referrers`` makes for the model (as :func:`modeloci.builder.build` takes them).

    Layers of a FROM base in the same registry are mounted from the base's
    repository, never downloaded; other base layers are sent from where they are.
    """
    remote = plan.base_path if isinstance(plan.base_path, RemoteRef) else None
    if remote is not None and remote.reference.registry != reference.registry:
        plan, remote = local_base(plan), None
    layers = plan.layers
    files = {i: file_source(layer, plan) for i, layer in enumerate(layers) if not isinstance(layer.source, BaseSource)}
    known = {i: cache.get(s.state, 0, s.size) if cache is not None else None for i, s in files.items()}
    todo = [i for i in files if known[i] is None]
    hashed = _hash_all([files[i] for i in todo])
    for i, digest in zip(todo, hashed, strict=True):
        known[i] = digest
        if cache is not None:
            cache.put(files[i].state, 0, files[i].size, digest)
    digests = [found if (found := known.get(i)) is not None else Digest.parse(_base_digest(layer.source))
               for i, layer in enumerate(layers)]
    descriptors, config, manifest = describe(plan, digests)
    _check_pinned(reference, Digest.of(manifest.data))
    made = _made(referrers, plan, descriptors, config.descriptor(), manifest.descriptor(
        artifact_type=plan.artifact_type or config.media_type))
    counts, progress = _Counts(), progress or no_progress
    base = plan.base_path if remote is None else None
    with open_source(base) if base is not None else nullcontext() as layout:
        # A base pulled into the store remembers its registry: mount from there rather than upload.
        origin = remote.reference.name if remote is not None else _origin(layout)
        tasks = [(lambda cancel, d=d, i=i: _send_layer(
            client, reference, d, (layout, f"`{base}`") if i not in files and layout is not None else None,
            files[i].path if i in files else None, origin, counts, progress, cancel))
            for i, d in enumerate(descriptors)]
        run_ordered(tasks, threads=parallel)
    if client.blob_size(reference.repository, config.digest) is None:
        _upload_bytes(client, reference.repository, config.data, config.digest)
        counts.add("uploaded", config.digest)
    digest = client.put_manifest(reference, manifest.data, str(MediaType.OCI_MANIFEST))
    _send_referrers(client, reference, digest, made, counts)
    return PushResult(reference=str(reference), digest=str(digest), uploaded=counts.uploaded, skipped=counts.skipped,
                      mounted=counts.mounted)


def _made(make: ReferrersOf | None, plan: BuildPlan, layers: tuple[Descriptor, ...], config: Descriptor,
          manifest: Descriptor) -> list[Referrer]:
    """The referrers ``make`` makes for the model about to be pushed, checked to refer to it (before any upload)."""
    if make is None:
        return []
    made = list({r.digest: r for r in make(manifest, BuildResult(manifest, config, layers, plan.reference))}.values())
    subject = Descriptor(manifest.media_type, manifest.digest, manifest.size)
    for referrer in made:
        check_referrer(referrer, subject, "this build")
    return made


def _hash_all(sources: list[BlobSource]) -> list[Digest]:
    """The digests of ``sources``, hashed on every core, in order."""
    return run_ordered([partial(hash_range, s) for s in sources])  # each called with the cancel event


def _base_digest(source: FileSource | BaseSource) -> str:
    """A base layer's digest (a layer not made from a file of the build context comes from the base)."""
    assert isinstance(source, BaseSource)
    return source.digest


def _send_layer(client: RegistryClient, reference: Reference, d: Descriptor, layout: tuple[Layout, str] | None,
                path: Path | None, origin: str | None, counts: _Counts, progress: Progress,
                cancel: threading.Event) -> None:
    """One layer of ``build --push``: a file of the build context (``path``), or a base layer, mounted from the
    base's repository when it can be, else sent from the base's archive or layout (``layout``)."""
    if _already_there(client, reference, d, origin if path is None else None, counts, progress):
        return
    if path is not None:
        source = BlobSource(path, 0, d.size, f"`{path}`", FileState.from_stat(path.stat()), d.digest)
    elif layout is not None:
        source = _stored_blob(*layout, d)
    else:  # a base in this registry, whose blob could not be mounted, and no local copy
        raise RegistryError(f"blob {d.digest} of the base could not be mounted from {origin}",
                            hint="push with pull rights on the base's repository, or pull the base first")
    upload(client, reference.repository, source, d.digest, progress=progress, cancel=cancel)
    counts.add("uploaded", d.digest)


def _upload_bytes(client: RegistryClient, repository: str, data: bytes, digest: Digest) -> None:
    """A small blob (config, manifest) in one request: POST a session, PUT the bytes with the digest."""
    location = start_upload(client, repository)
    separator = "&" if "?" in location else "?"
    # finish() also copes with a PUT that completed but whose answer was lost (its retry gets 404).
    finish(client, repository, f"{location}{separator}digest={digest}", digest, len(data), body=lambda: data)
