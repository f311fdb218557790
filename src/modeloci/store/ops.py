"""Store verbs with typed results: list, save, load, verify, and the seed's stored ``Model``.

``save`` writes exactly the archive a direct ``build -o`` writes (same entry
order, same headers), copying blobs out of the store by digest and hashing
them on the way: a blob changed in the store fails the save, and the output
is not written. ``load`` lets nothing into the store unverified: the archive's
members, documents and descriptors get every check ``verify`` makes, and each
blob is hashed while it is copied in and named only once it matched. A model's
referrers (a signature, provenance, a BOM) go with it both ways, read bounded
and checked (:mod:`.referrers`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel

from modeloci.atomic import atomic_output
from modeloci.blobs.engine import BlobSource, FileState
from modeloci.blobs.sinks import ArchiveSink, LayoutSink
from modeloci.errors import ArchiveError, UsageError
from modeloci.formats.artifact import Artifact, ModelLayer, created_of, epoch_of, read_artifact
from modeloci.formats.roles import Role
from modeloci.formats.validate import refuse_unverified
from modeloci.oci.layout import Layout, locate_blob, open_layout, read_blob
from modeloci.oci.manifest import Descriptor
from modeloci.oci.mediatypes import MediaType
from modeloci.oci.referrers import Referrer
from modeloci.store import Store, StoreView
from modeloci.store.partial import WHOLE, Selection, absent, chosen, refuse_absent
from modeloci.store.referrers import in_layout, loaded, reader


class StoredModelRow(BaseModel):
    reference: str
    digest: str
    format: str | None
    size: int
    architecture: str | None
    parameters: str | None
    quantization: str | None
    absent: list[str] = []  # a model pulled in part: the paths of the layers the store lacks


def list_models(store: Store) -> list[StoredModelRow]:
    rows = []
    for entry in store.entries():
        layout = StoreView(store.root, entry.descriptor)
        try:
            # A container image a modelcar build pulled as its FROM base is listed too (`rmi` takes it by this
            # name): as a modelcar with no model files, the way a modelcar's base is read.
            artifact = read_artifact(layout, where=f"`{entry.reference}`", images=True)
        except ArchiveError:
            rows.append(StoredModelRow(reference=entry.reference, digest=str(entry.descriptor.digest), format=None,
                                       size=0, architecture=None, parameters=None, quantization=None))
            continue
        c = artifact.config
        blobs = {d.digest: d.size for d in artifact.manifest.layers}
        size = sum(blobs.values()) + artifact.manifest.config.size + len(artifact.manifest.raw)
        gone = [layer.filepath or str(layer.descriptor.digest) for layer in absent(layout, artifact.layers)]
        rows.append(StoredModelRow(reference=entry.reference, digest=str(entry.descriptor.digest),
                                   format=artifact.format, size=size, architecture=c.architecture,
                                   parameters=c.parameters, quantization=c.quantization, absent=gone))
    return rows


def open_layout_of(store: Store, reference: str) -> StoreView:
    return StoreView(store.root, store.get(reference).descriptor)


def save(store: Store, reference: str, output: Path) -> int:
    """Write the stored model and its referrers as an archive, byte for byte what ``build -o`` writes;
    returns its size."""
    entry = store.get(reference)
    layout = StoreView(store.root, entry.descriptor)
    artifact = read_artifact(layout, where=f"`{reference}`")
    refuse_absent(layout, artifact.layers, reference, verb="save")  # an archive holds whole models
    referrers = loaded(store.referrers(), entry.descriptor, reader(layout), f"`{reference}`")
    output.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(output) as out:
        sink = ArchiveSink(out.fileno(), mtime=_mtime(artifact))
        sources = [_source(layout, layer, f"`{reference}`") for layer in artifact.layers]
        sink.put_layers(sources, [None] * len(sources))  # hashed while copied, checked against `expected`
        sink.put_bytes(artifact.config_bytes)
        sink.put_bytes(artifact.manifest.raw)
        _put_referrers(sink, referrers)
        sink.commit(entry.descriptor, artifact.manifest.raw, ref_name=reference,
                    referrers=[r.descriptor() for r in referrers])
    return sink.end


def _put_referrers(sink: ArchiveSink | LayoutSink, referrers: list[Referrer]) -> None:
    for referrer in referrers:
        for data in referrer.blobs.values():
            sink.put_bytes(data)
        sink.put_bytes(referrer.manifest)


def _mtime(artifact: Artifact) -> int:
    """The archive's header timestamps: the model's creation time, as ``build`` wrote them."""
    return epoch_of(created_of(artifact.config.doc)) or 0


def _source(layout: Layout, layer: ModelLayer, where: str) -> BlobSource:
    """The layer's blob, at exactly the size its descriptor gives, to be checked against its digest as it is read."""
    d = layer.descriptor
    try:
        path, offset, size = locate_blob(layout, d)
    except ArchiveError as exc:
        raise ArchiveError(f"{where}: {exc.message}", hint="`modeloci verify` lists every problem") from None
    label = f"{layer.filepath or d.digest} of {where}"
    return BlobSource(path, offset, size, label, FileState.from_stat(os.stat(path)), d.digest)


@dataclass(frozen=True, slots=True)
class Loaded:
    """What ``load`` did: the name given, the model, and the manifest the name pointed at before, if another."""

    reference: str
    artifact: Artifact
    moved_from: str | None = None


def load(store: Store, archive: Path, *, reference: str | None = None) -> Loaded:
    """Copy an archive's model into the store, checking every blob's digest. A name that pointed at another model
    is moved to this one, and the result says from where (as ``docker load`` does)."""
    with open_layout(archive) as layout:
        artifact = read_artifact(layout, where=f"`{archive}`")
        name = reference or artifact.ref_name
        if name is None:
            raise UsageError(f"`{archive}` carries no name", hint="name the model with `-t NAME[:TAG]`")
        refuse_unverified(layout, str(archive), verb="load", hint=f"`modeloci verify {archive}` lists every problem")
        entry = _entry(archive, artifact)
        referrers = in_layout(layout, entry, f"`{archive}`")
        sink = LayoutSink(store.root)
        try:
            with store.writing():
                sources = [_source(layout, layer, f"`{archive}`") for layer in artifact.layers]
                sink.put_layers(sources, [None] * len(sources))  # hashed on the way in, checked against `expected`
                config = artifact.manifest.config
                sink.put_bytes(read_blob(layout, config.digest, size=config.size))
                sink.put_bytes(artifact.manifest.raw)
                _put_referrers(sink, referrers)
                before = store.find(name)
                store.tag(name, entry, referrers=[r.descriptor() for r in referrers])
        except BaseException:
            sink.abort()
            raise
    if before is None or before.descriptor.digest == artifact.manifest.digest:
        return Loaded(name, artifact)
    return Loaded(name, artifact, str(before.descriptor.digest))


def _entry(archive: Path, artifact: Artifact) -> Descriptor:
    artifact_type = artifact.manifest.artifact_type or artifact.manifest.config.media_type
    return Descriptor(str(MediaType.OCI_MANIFEST), artifact.manifest.digest, len(artifact.manifest.raw),
                      artifact_type=artifact_type)


@dataclass(frozen=True, slots=True)
class StoredModel:
    """A model in the store, with the paths of its files for a runtime (no copies): the seed's ``Model``."""

    store: Store
    artifact: Artifact
    reference: str = ""

    def paths(self, role: Role) -> list[Path]:
        """Blob paths of the layers of ``role``, in layer order (GGUF shards in shard order)."""
        return [self.store.blob_path(layer.descriptor.digest) for layer in self.artifact.layers if layer.role is role]

    @property
    def config_path(self) -> Path:
        return self.store.blob_path(self.artifact.manifest.config.digest)

    def files(self) -> ModelFiles:
        """The typed answer a runtime or a script reads: every file of the model, where it lies in the store.
        A model whose layers are tars (modctl's ``.tar``) has no file to point at: ArchiveError."""
        packed = [layer for layer in self.artifact.layers if layer.packing != "raw"]
        if packed:
            raise ArchiveError(f"`{self.reference}` holds its files in tar layers ({packed[0].descriptor.media_type}); "
                               "their paths in the store are tars, not the files",
                               hint=f"unpack it: `modeloci unpack {self.reference} -o DIR --layout files`")
        def one(role: Role) -> Path | None:
            found = self.paths(role)
            return found[0] if found else None

        named = {layer.filepath: self.store.blob_path(layer.descriptor.digest)
                 for layer in self.artifact.layers if layer.filepath}
        return ModelFiles(reference=self.reference, digest=str(self.artifact.digest), format=self.artifact.format,
                          weights_format=self.artifact.config.format, weights=self.paths(Role.WEIGHTS),
                          mmproj=one(Role.MMPROJ), chat_template=one(Role.CHAT_TEMPLATE),
                          licenses=self.paths(Role.LICENSE), config=self.config_path, files=named)


class ModelFiles(BaseModel):
    """A stored model's files as they lie in the store (blobs named by digest, nothing copied).

    ``weights`` are in layer order: GGUF shards in shard order, safetensors as
    built. ``files`` maps each layer's annotated path (``model.safetensors``,
    ``tokenizer.json``...) to its blob, for runtimes that find files by name.
    The blobs are shared and must not be written to.
    """

    reference: str
    digest: str
    format: str
    weights_format: str | None
    weights: list[Path]
    mmproj: Path | None
    chat_template: Path | None
    licenses: list[Path]
    config: Path
    files: dict[str, Path]


def stored_model(store: Store, reference: str, selection: Selection = WHOLE) -> StoredModel:
    """The stored model ``reference``, with only the layers ``selection`` takes: UsageError when it takes none,
    or when a model pulled in part lacks some of them (whose paths would name no file)."""
    layout = open_layout_of(store, reference)
    artifact = chosen(layout, read_artifact(layout, where=f"`{reference}`"), selection, reference, verb="use")
    return StoredModel(store, artifact, reference)
