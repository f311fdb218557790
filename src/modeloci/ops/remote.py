"""``push`` and ``pull``: models to and from registries.

Push sends every blob the registry lacks (a ``HEAD`` first; a cross-repository
mount when the blob is known to live in another repository of the same
registry), several at a time, each hashed as it is read and refused before the
final ``PUT`` if it does not match its digest, then puts the manifest by tag.
Pull fetches the manifest and config, checks the blob sizes the manifest gives
(no blob over ``limits.blob``, and room for them all on the destination's disk)
before anything is written, then streams the layers into the destination (the
store, an archive, a layout folder) in parallel, checking every digest on the
way; archives and layouts are written atomically, the store's tag comes last.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel

from modeloci.atomic import atomic_output
from modeloci.blobs.engine import BlobSource, FileState, run_ordered
from modeloci.blobs.sinks import ArchiveSink, LayoutSink
from modeloci.errors import ArchiveError, BuildError, UsageError
from modeloci.formats.artifact import created_of, epoch_of, read_artifact
from modeloci.jsondoc import InvalidJSON, load_json
from modeloci.oci.digest import Digest
from modeloci.oci.manifest import Descriptor, InvalidDocument, parse_manifest
from modeloci.oci.mediatypes import MediaType
from modeloci.progress import no_progress
from modeloci.registry.client import RegistryClient, RegistryError
from modeloci.registry.limits import size_text
from modeloci.registry.reference import Reference
from modeloci.registry.transfer import download, finish, start_upload, upload
from modeloci.formats.validate import refuse_unverified
from modeloci.store.names import Source, StoreView, open_source

PARALLEL = 4
ORIGIN = "org.modeloci.origin"
Progress = Callable[[int], None]


class PushResult(BaseModel):
    reference: str
    digest: str
    uploaded: list[str]
    skipped: list[str]
    mounted: list[str]


class PullResult(BaseModel):
    reference: str
    digest: str
    output: str
    downloaded: list[str]
    reused: list[str]


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
         parallel: int = PARALLEL, progress: Progress | None = None) -> PushResult:
    """Push the model ``source`` holds to ``reference``; ``mount_from`` names a repository of the
    same registry that may already hold its blobs."""
    counts, progress = _Counts(), progress or no_progress
    with open_source(source) as layout:
        artifact = read_artifact(layout, where=f"`{source}`")
        _check_pinned(reference, Digest.of(artifact.manifest.raw))
        blobs = {d.digest: d for d in (*artifact.manifest.layers, artifact.manifest.config)}
        origin = mount_from or _origin(layout)
        tasks = [(lambda cancel, d=d: _push_blob(client, reference, (layout, f"`{source}`"), d, origin, counts,
                                                 progress, cancel))
                 for d in blobs.values()]
        run_ordered(tasks, threads=parallel)
        digest = client.put_manifest(reference, artifact.manifest.raw, str(MediaType.OCI_MANIFEST))
    return PushResult(reference=str(reference), digest=str(digest), uploaded=counts.uploaded,
                      skipped=counts.skipped, mounted=counts.mounted)


def _check_pinned(reference: Reference, digest: Digest) -> None:
    """A reference pinned to another manifest: refused before any upload (the registry would refuse the manifest
    only after every blob was sent, with DIGEST_INVALID)."""
    if reference.digest is not None and reference.digest != digest:
        raise UsageError(f"`{reference}` names the manifest {reference.digest}, but the model's manifest is {digest}",
                         hint="push to a tag (registry/repository:tag), or pin the model's own digest")


def _origin(layout: object) -> str | None:
    """Where a model pulled into the store came from (recorded at pull), as ``registry/repository``."""
    selected = getattr(layout, "selected", None)
    return selected.annotations.get(ORIGIN) if selected is not None else None


def _push_blob(client: RegistryClient, reference: Reference, layout: tuple[object, str], d: Descriptor,
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


def _stored_blob(layout: object, where: str, d: Descriptor) -> BlobSource:
    """Where ``d`` lies in an archive, layout or the store (named ``where``), checked against the size the
    manifest gives; its bytes are checked against the digest as they are uploaded."""
    path, offset, size = layout.locate(d.digest.blob_path)  # type: ignore[attr-defined]
    if size != d.size:
        raise ArchiveError(f"blob {d.digest} is {size} bytes; the manifest says {d.size}")
    return BlobSource(path, offset, size, where, FileState.from_stat(path.stat()), d.digest)


def fetch_manifest(client: RegistryClient, reference: Reference) -> tuple[bytes, Descriptor, bytes]:
    """A model's manifest bytes, its descriptor and its config bytes (small: read whole, checked)."""
    data, media_type = client.get_manifest(reference)
    if media_type in (MediaType.OCI_INDEX, "application/vnd.docker.distribution.manifest.list.v2+json"):
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
    return data, Descriptor(str(MediaType.OCI_MANIFEST), Digest.of(data), len(data), artifact_type=artifact_type), config


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


def pull_to_archive(client: RegistryClient, reference: Reference, output: Path, *, name: str | None = None,
                    progress: Progress | None = None, fetched: Fetched | None = None) -> PullResult:
    """Pull into an archive: the same dual OCI/DMR tar ``build -o`` writes.

    ``fetched``: what :func:`fetch_manifest` already returned, so that the manifest is fetched once (a tag
    moved in between would otherwise give the caller's size for one model and the bytes of another).
    """
    manifest_bytes, descriptor, config = fetched or fetch_manifest(client, reference)
    progress = progress or no_progress
    fetchers = _fetchers(client, reference, manifest_bytes, progress)
    _check_room(reference, output.parent, [*{d: size for d, size, _ in fetchers}.values(), len(config),
                                           len(manifest_bytes)])
    output.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(output) as out:
        sink = ArchiveSink(out.fileno(), mtime=_mtime(config))
        sink.put_fetched(fetchers)
        sink.put_bytes(config)
        sink.put_bytes(manifest_bytes)
        sink.commit(descriptor, manifest_bytes, ref_name=name or reference.familiar)
    return PullResult(reference=str(reference), digest=str(descriptor.digest), output=str(output),
                      downloaded=[str(d) for d, _, _ in fetchers], reused=[])


def pull_to_layout(client: RegistryClient, reference: Reference, folder: Path, *, store: object | None = None,
                   name: str | None = None, progress: Progress | None = None,
                   fetched: Fetched | None = None) -> PullResult:
    """Pull into a layout folder, or into the store (``store``): blobs already there are not fetched."""
    manifest_bytes, descriptor, config = fetched or fetch_manifest(client, reference)
    progress = progress or no_progress
    fetchers = _fetchers(client, reference, manifest_bytes, progress)
    root = store.root if store is not None else folder  # type: ignore[attr-defined]
    blobs = root / "blobs" / "sha256"
    present = {d: size for d, size, _ in fetchers if _holds(blobs, d, size)}
    _check_room(reference, root, [*{d: s for d, s, _ in fetchers if d not in present}.values(), len(config),
                                  len(manifest_bytes)])
    sink = LayoutSink(root)
    reused = [str(d) for d in present]
    progress(sum(present.values()))  # stored already: done, so the progress task ends
    try:
        with (store.writing() if store is not None else _nothing()):  # type: ignore[attr-defined]
            sink.put_fetched(fetchers)
            sink.put_bytes(config)
            sink.put_bytes(manifest_bytes)
            tag = name or (store_name(reference) if store is not None else reference.familiar)
            if store is not None:
                # Every blob was hashed on the way in; the documents get the rest of verify's checks before the
                # tag makes the model visible (untagged blobs are for `prune`).
                refuse_unverified(StoreView(root, descriptor), str(reference), verb="store",
                                  hint="the registry's model is inconsistent; `pull -o FILE` copies it as it is")
                entry = Descriptor(descriptor.media_type, descriptor.digest, descriptor.size,
                                   {ORIGIN: reference.name}, descriptor.artifact_type)
                store.tag(tag, entry)  # type: ignore[attr-defined]
            else:
                sink.commit(descriptor, manifest_bytes, ref_name=tag)
    except BaseException:
        sink.abort()
        raise
    downloaded = [str(d) for d, _, _ in fetchers if str(d) not in reused]
    return PullResult(reference=str(reference), digest=str(descriptor.digest), output=str(root),
                      downloaded=downloaded, reused=reused)


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


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def _mtime(config: bytes) -> int:
    """The archive's header timestamps: the model's creation time, as ``build`` writes them."""
    try:
        doc = load_json(config, "the config")
    except InvalidJSON:
        return 0  # the bytes are copied as they are; only the timestamp is not read
    return (epoch_of(created_of(doc)) if isinstance(doc, dict) else None) or 0


def push_plan(plan: object, reference: Reference, client: RegistryClient, *, cache: object | None = None,
              parallel: int = PARALLEL, progress: Progress | None = None) -> PushResult:
    """``build --push``: hash the new layers, then send what the registry lacks.

    Layers of a FROM base in the same registry are mounted from the base's
    repository, never downloaded; other base layers are sent from where they are.
    """
    from modeloci.builder import describe, file_source, local_base
    from modeloci.blobs.engine import hash_range
    from modeloci.compiler.model import BaseSource
    from modeloci.registry.remote import RemoteRef

    remote = plan.base_path if isinstance(plan.base_path, RemoteRef) else None  # type: ignore[attr-defined]
    if remote is not None and remote.reference.registry != reference.registry:
        plan, remote = local_base(plan), None  # type: ignore[arg-type]
    layers = plan.layers  # type: ignore[attr-defined]
    files = {i: file_source(layer, plan) for i, layer in enumerate(layers) if not isinstance(layer.source, BaseSource)}
    known = {i: cache.get(s.state, 0, s.size) if cache is not None else None for i, s in files.items()}  # type: ignore[attr-defined]
    todo = [i for i in files if known[i] is None]
    hashed = dict(zip(todo, run_ordered([(lambda cancel, s=files[i]: hash_range(s, cancel)) for i in todo]), strict=True))
    for i in todo:
        if cache is not None:
            cache.put(files[i].state, 0, files[i].size, hashed[i])  # type: ignore[attr-defined]
    digests = [Digest.parse(layer.source.digest) if i not in files else (known[i] or hashed[i])
               for i, layer in enumerate(layers)]
    descriptors, config, manifest = describe(plan, digests)  # type: ignore[arg-type]
    _check_pinned(reference, Digest.of(manifest.data))
    counts, progress = _Counts(), progress or no_progress
    base = plan.base_path if remote is None else None  # type: ignore[attr-defined]
    with (open_source(base) if base is not None else _nothing()) as layout:
        # A base pulled into the store remembers its registry: mount from there rather than upload.
        origin = remote.reference.name if remote is not None else _origin(layout)
        tasks = [(lambda cancel, d=d, i=i: _send_layer(
            client, reference, d, (layout, f"`{base}`") if i not in files else None, files[i].path if i in files else None,
            origin, counts, progress, cancel)) for i, d in enumerate(descriptors)]
        run_ordered(tasks, threads=parallel)
    if client.blob_size(reference.repository, config.digest) is None:
        _upload_bytes(client, reference.repository, config.data, config.digest)
        counts.add("uploaded", config.digest)
    digest = client.put_manifest(reference, manifest.data, str(MediaType.OCI_MANIFEST))
    return PushResult(reference=str(reference), digest=str(digest), uploaded=counts.uploaded, skipped=counts.skipped,
                      mounted=counts.mounted)


def _send_layer(client: RegistryClient, reference: Reference, d: Descriptor, layout: tuple[object, str] | None,
                path: Path | None, origin: str | None, counts: _Counts, progress: Progress,
                cancel: threading.Event) -> None:
    """One layer of ``build --push``: a file of the build context (``path``), or a base layer, mounted from the
    base's repository when it can be, else sent from the base's archive or layout (``layout``)."""
    if _already_there(client, reference, d, origin if path is None else None, counts, progress):
        return
    if path is not None:
        source = BlobSource(path, 0, d.size, f"`{path}`", FileState.from_stat(path.stat()), d.digest)
    elif layout is not None and layout[0] is not None:
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
