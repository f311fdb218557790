"""Referrers attached to a model wherever it lives, and read back: a signature, provenance, a bill of materials.

A referrer (:class:`~modeloci.oci.referrers.Referrer`) is a small OCI 1.1
artifact whose ``subject`` is the model's manifest. In an archive or a layout
folder it is an untagged entry of ``index.json`` beside the model, as oras and
skopeo keep referrers in an OCI layout (readers of the model skip it:
:func:`~modeloci.oci.layout.model_entries`); in the store, an untagged entry
that lives as long as its subject has a tag (:mod:`modeloci.store`).

:func:`attach` adds referrers: an archive is rewritten atomically (its blobs
copied as they are, in the kernel; the referrers' blobs and entries added
after them), a layout folder and the store gain blobs and index entries.
Attaching a referrer already there does nothing. :func:`referrers_of` reads
them back, bounded and checked (:mod:`modeloci.store.referrers`).
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Sequence
from pathlib import Path

from modeloci.atomic import atomic_output
from modeloci.blobs.engine import BlobSource, FileState
from modeloci.blobs.sinks import ArchiveSink, LayoutSink, with_entries
from modeloci.errors import ArchiveError
from modeloci.oci.digest import Digest
from modeloci.oci.layout import (
    MAX_JSON_BLOB,
    Layout,
    ReferrerEntry,
    SelectedLayout,
    TarLayout,
    index_entries,
    open_layout,
    read_manifest,
    referrer_entries,
    select,
)
from modeloci.oci.manifest import Descriptor
from modeloci.oci.mediatypes import MediaType
from modeloci.oci.referrers import Referrer
from modeloci.sources.refs import LayoutRef, RemoteRef, Source, StoredRef
from modeloci.store import Store
from modeloci.store.referrers import (
    MAX_REFERRER_BYTES,
    MAX_REFERRERS,
    check_referrer,
    in_layout,
    loaded,
    of_subject,
    reader,
)

__all__ = ["MAX_REFERRERS", "MAX_REFERRER_BYTES", "attach", "check_referrer", "listed", "referrers_of"]


def attach(source: Source, referrers: Sequence[Referrer]) -> Source:
    """Add ``referrers`` to the model ``source`` names (an archive, a layout folder or one model of it, a stored
    model); each must refer to that model. Referrers already there are left as they are. Returns ``source``."""
    if isinstance(source, RemoteRef):
        # Imported when used: it loads the registry client (httpx), which local work never needs.
        from modeloci.sources.remote_referrers import send

        subject = _remote_model(source)
        for referrer in referrers:
            check_referrer(referrer, subject, f"`{source}`")
        send(source.client, source.reference, subject.digest, _once(referrers))
        return source
    if isinstance(source, StoredRef):
        _attach_store(source, referrers)
        return source
    path, name = (source.path, source.name) if isinstance(source, LayoutRef) else (source, None)
    with open_layout(path) as layout:
        subject = _model(layout, path, name)
        for referrer in referrers:
            check_referrer(referrer, subject, str(source))
        if not layout.exists("index.json"):
            raise ArchiveError(f"`{path}` has no `index.json` to list referrers in", path=str(path),
                               hint=f"make it an OCI archive first: `modeloci load {path}`, then `modeloci save`")
        listed = {d.digest for d in index_entries(layout)}
        todo = _once([r for r in referrers if r.digest not in listed])
        if not todo:
            return source
        if isinstance(layout, TarLayout):
            _rewrite_archive(layout, todo)
            return source
    sink = LayoutSink(path)
    for referrer in todo:
        _put(sink, referrer)
    sink.add_entries([r.descriptor() for r in todo])
    return source


def referrers_of(source: Source) -> list[Referrer]:
    """The referrers of the model ``source`` names, in index order, their blobs loaded and checked."""
    if isinstance(source, RemoteRef):
        # Imported when used: it loads the registry client (httpx), which local work never needs.
        from modeloci.sources.remote_referrers import fetch

        return fetch(source.client, source.reference, _remote_model(source))
    if isinstance(source, StoredRef):
        store = Store(source.root)
        subject = store.get(source.reference).descriptor
        return loaded(store.referrers(), subject, reader(store.layout()), f"`{source}`")
    path, name = (source.path, source.name) if isinstance(source, LayoutRef) else (source, None)
    with open_layout(path) as layout:
        return in_layout(layout, _model(layout, path, name), f"`{source}`")


def listed(source: Source) -> list[Descriptor]:
    """The referrers of the model ``source`` names as an index lists them (with their ``artifactType``): only
    their manifests are read, at most ``MAX_REFERRERS``."""
    if isinstance(source, RemoteRef):
        return [r.descriptor() for r in referrers_of(source)]
    if isinstance(source, StoredRef):
        store = Store(source.root)
        return _mine(store.referrers(), store.get(source.reference).descriptor, f"`{source}`")
    path, name = (source.path, source.name) if isinstance(source, LayoutRef) else (source, None)
    with open_layout(path) as layout:
        subject = _model(layout, path, name)
        entries = referrer_entries(layout, index_entries(layout)) if layout.exists("index.json") else []
        return _mine(entries, subject, f"`{source}`")


def _mine(entries: Sequence[ReferrerEntry], subject: Descriptor, where: str) -> list[Descriptor]:
    return [Descriptor(e.descriptor.media_type, e.descriptor.digest, e.descriptor.size, artifact_type=e.artifact_type)
            for e in of_subject(entries, subject, where)]


def _remote_model(source: RemoteRef) -> Descriptor:
    """The descriptor of the manifest a registry reference names (fetched, bounded, checked if pinned)."""
    data, _ = source.client.get_manifest(source.reference)
    return Descriptor(str(MediaType.OCI_MANIFEST), Digest.of(data), len(data))


def _model(layout: Layout, path: Path, name: str | None) -> Descriptor:
    """The descriptor of the model's manifest: the one model of the layout, or the one named ``name``."""
    view = SelectedLayout(layout, select(layout, name, str(path))) if name is not None else layout
    manifest, _ = read_manifest(view)
    return Descriptor(str(MediaType.OCI_MANIFEST), manifest.digest, len(manifest.raw))


def _once(referrers: Sequence[Referrer]) -> list[Referrer]:
    return list({r.digest: r for r in referrers}.values())


def _put(sink: ArchiveSink | LayoutSink, referrer: Referrer) -> None:
    for data in referrer.blobs.values():
        sink.put_bytes(data)
    sink.put_bytes(referrer.manifest)


def _rewrite_archive(layout: TarLayout, referrers: Sequence[Referrer]) -> None:
    """The archive again, atomically: its blobs copied as they are (in member order, in the kernel, not re-read:
    attaching vouches for nothing in them), then the referrers' blobs, then ``index.json`` listing them too."""
    path = layout.path
    with layout.open("index.json") as stream:
        index = stream.read(MAX_JSON_BLOB)
    docker = None
    if layout.exists("manifest.json"):
        with layout.open("manifest.json") as stream:
            docker = stream.read(MAX_JSON_BLOB)
    mtime = int(next(m.mtime for m in layout.members if _clean(m.name) == "index.json"))
    state = FileState.from_stat(os.stat(path))
    sources, digests = [], []
    for name in dict.fromkeys(_clean(m.name) for m in layout.members if m.isreg()):
        digest = _blob_digest(name)
        if digest is not None:
            _, offset, size = layout.locate(name)
            sources.append(BlobSource(path, offset, size, f"{name} of `{path}`", state))
            digests.append(digest)
    with atomic_output(path) as out:
        sink = ArchiveSink(out.fileno(), mtime=mtime)
        sink.put_layers(sources, digests)
        for referrer in referrers:
            _put(sink, referrer)
        sink.finish(with_entries(index, [r.descriptor() for r in referrers]), docker)


def _clean(name: str) -> str:
    return posixpath.normpath(name.removeprefix("./"))


def _blob_digest(name: str) -> Digest | None:
    folder, _, hex_digest = name.rpartition("/")
    if folder != "blobs/sha256":
        return None
    try:
        return Digest(hex_digest)
    except ValueError:
        return None


def _attach_store(source: StoredRef, referrers: Sequence[Referrer]) -> None:
    store = Store(source.root)
    subject = store.get(source.reference).descriptor
    for referrer in referrers:
        check_referrer(referrer, subject, f"`{source}`")
    sink = LayoutSink(store.root)
    try:
        with store.writing():
            listed = {r.descriptor.digest for r in store.referrers()}
            todo = _once([r for r in referrers if r.digest not in listed])
            for referrer in todo:
                _put(sink, referrer)
            if todo:
                store.attach(subject.digest, [r.descriptor() for r in todo])
    except BaseException:
        sink.abort()
        raise
