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
them back, every blob checked against its digest. What is read is bounded:
at most ``MAX_REFERRERS`` referrers of one model, ``MAX_REFERRER_BYTES`` of
their blobs in all, each read at the size its descriptor gives. A referrer
whose subject is another manifest is not this model's: it is skipped when
read, and refused when attached.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Callable, Sequence
from pathlib import Path

from modeloci.atomic import atomic_output
from modeloci.blobs.engine import BlobSource, FileState
from modeloci.blobs.sinks import ArchiveSink, LayoutSink, with_entries
from modeloci.errors import ArchiveError, UsageError
from modeloci.oci.digest import Digest
from modeloci.oci.layout import (
    MAX_JSON_BLOB,
    Layout,
    ReferrerEntry,
    SelectedLayout,
    TarLayout,
    index_entries,
    open_layout,
    read_blob,
    read_manifest,
    referrer_entries,
    select,
)
from modeloci.oci.manifest import Descriptor, InvalidDocument, parse_manifest
from modeloci.oci.mediatypes import MediaType
from modeloci.oci.referrers import Referrer, read_referrer
from modeloci.sources.refs import LayoutRef, RemoteRef, Source, StoredRef
from modeloci.store import Store

__all__ = ["MAX_REFERRERS", "MAX_REFERRER_BYTES", "attach", "check_referrer", "loaded", "referrers_of"]

MAX_REFERRERS = 256  # of one model
MAX_REFERRER_BYTES = 64 << 20  # the blobs of one model's referrers, all together (each at most MAX_JSON_BLOB)

# Reads a blob a descriptor names, at most ``limit`` bytes, checked against its digest and size.
ReadBlob = Callable[[Descriptor, int], bytes]


def attach(source: Source, referrers: Sequence[Referrer]) -> Source:
    """Add ``referrers`` to the model ``source`` names (an archive, a layout folder or one model of it, a stored
    model); each must refer to that model. Referrers already there are left as they are. Returns ``source``."""
    if isinstance(source, RemoteRef):
        raise UsageError(f"referrers cannot be attached to `{source}` in place",
                         hint="attach them to a local copy, then push it")
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
        raise UsageError(f"reading the referrers of `{source}` needs a pull", hint="pull it, then read them")
    if isinstance(source, StoredRef):
        store = Store(source.root)
        subject = store.get(source.reference).descriptor
        return loaded(store.referrers(), subject, _reader(store.layout()), f"`{source}`")
    path, name = (source.path, source.name) if isinstance(source, LayoutRef) else (source, None)
    with open_layout(path) as layout:
        subject = _model(layout, path, name)
        entries = referrer_entries(layout, index_entries(layout)) if layout.exists("index.json") else []
        return loaded(entries, subject, _reader(layout), f"`{source}`")


def check_referrer(referrer: Referrer, subject: Descriptor, where: str) -> None:
    """UsageError unless ``referrer`` refers to ``subject`` and its manifest names exactly the blobs it carries."""
    found = read_referrer(referrer.manifest)
    if found is None or found[1].digest != referrer.subject.digest or found[0] != referrer.artifact_type:
        raise UsageError(f"referrer {referrer.digest} is not an artifact referring to {referrer.subject.digest}",
                         hint="make referrers with modeloci.oci.referrers.make_referrer")
    if referrer.subject.digest != subject.digest or referrer.subject.size != subject.size:
        raise UsageError(f"referrer {referrer.digest} ({referrer.artifact_type}) refers to "
                         f"{referrer.subject.digest}, not to the model {subject.digest} of {where}",
                         hint="a signature, provenance or BOM is made for one model: make it for this one")
    for d in _blobs_of(referrer.manifest):
        data = referrer.blobs.get(d.digest)
        if data is None or len(data) != d.size or Digest.of(data) != d.digest:
            raise UsageError(f"referrer {referrer.digest} names blob {d.digest}, which it does not carry",
                             hint="make referrers with modeloci.oci.referrers.make_referrer")


def loaded(entries: Sequence[ReferrerEntry], subject: Descriptor, read: ReadBlob, where: str) -> list[Referrer]:
    """The referrers among ``entries`` whose subject is ``subject`` (others are skipped), each blob read with
    ``read``; ArchiveError past the bounds, before reading anything."""
    mine = [e for e in entries if e.subject.digest == subject.digest and e.subject.size == subject.size]
    mine = list({e.descriptor.digest: e for e in mine}.values())
    if len(mine) > MAX_REFERRERS:
        raise ArchiveError(f"{where} lists {len(mine)} referrers of its model; modeloci reads at most "
                           f"{MAX_REFERRERS}", hint="they are not a model's signatures and BOMs")
    total = sum(d.size for e in mine for d in e.blobs)
    if total > MAX_REFERRER_BYTES:
        raise ArchiveError(f"the referrers of {where} hold {total} bytes; modeloci reads at most "
                           f"{MAX_REFERRER_BYTES}", hint="a signature, provenance or BOM is small")
    out = []
    for e in mine:
        try:
            blobs = {d.digest: read(d, MAX_JSON_BLOB) for d in e.blobs}
        except ArchiveError as exc:
            raise ArchiveError(f"referrer {e.descriptor.digest} of {where}: {exc.message}",
                               hint=f"`modeloci verify {where.strip('`')}` checks the model") from None
        out.append(Referrer(e.manifest, e.artifact_type, e.subject, blobs))
    return out


def _reader(layout: Layout) -> ReadBlob:
    return lambda d, limit: read_blob(layout, d.digest, size=d.size, limit=limit)


def _blobs_of(manifest: bytes) -> tuple[Descriptor, ...]:
    try:
        parsed = parse_manifest(manifest)
    except InvalidDocument as exc:
        raise UsageError(f"a referrer's manifest is not an image manifest: {exc}") from None
    return (parsed.config, *parsed.layers)


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
