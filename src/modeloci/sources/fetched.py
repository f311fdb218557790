"""Part of a registry model on this machine without the store: its documents in memory, chosen blobs staged.

``pull --include`` reads the layers' paths and roles from the manifest and
config it fetched (:class:`MemoryLayout`) before it fetches any layer.
``unpack REF`` writes a registry model's files without storing it
(:func:`staged`): the layers it writes are downloaded, several at a time, into
a private folder beside the destination (locked while it runs, recorded for
``prune`` should the process be killed, removed when the unpack ends), each
read at most at the size its descriptor gives and checked against its digest
while it streams; the unpack then reads them there (:class:`StagedLayout`).
No other layer is fetched, or can be read.
"""

from __future__ import annotations

import io
import os
import shutil
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import IO

from modeloci.atomic import TEMP_PREFIX, locked_temp_dir
from modeloci.blobs.engine import run_ordered
from modeloci.errors import ArchiveError, BuildError, describe_os_error
from modeloci.formats.artifact import Artifact
from modeloci.oci.digest import Digest
from modeloci.oci.layout import Layout
from modeloci.oci.manifest import Descriptor
from modeloci.sources.refs import RemoteRef, Source
from modeloci.store import Store
from modeloci.store.leftovers import forget, record

PARALLEL = 4  # downloads at once, as push and pull run them


class MemoryLayout:
    """A manifest (``selected``) and its config held in memory, read as a layout holding that one model."""

    def __init__(self, selected: Descriptor, blobs: Sequence[bytes]) -> None:
        self.selected = selected
        self._blobs = {Digest.of(data).blob_path: data for data in blobs}

    def exists(self, name: str) -> bool:
        return name in self._blobs

    def size(self, name: str) -> int:
        return len(self._blobs[name])

    def open(self, name: str) -> IO[bytes]:
        return io.BytesIO(self._blobs[name])

    def names(self) -> list[str]:
        return sorted(self._blobs)

    def locate(self, name: str) -> tuple[Path, int, int]:
        raise ArchiveError(f"`{name}` was not fetched: only the manifest and config are here")

    def close(self) -> None:
        pass


class StagedLayout:
    """A registry model (``inner``) with some layer blobs downloaded into ``folder``: those are read there, the
    manifest and config (``documents``) from ``inner``; no other blob is here."""

    def __init__(self, inner: Layout, documents: set[str], folder: Path, staged: set[str]) -> None:
        self.inner, self.documents, self.folder, self.staged = inner, documents, folder, staged
        self.selected: Descriptor | None = getattr(inner, "selected", None)

    def _path(self, name: str) -> Path:
        return self.folder / name.rsplit("/", 1)[-1]

    def exists(self, name: str) -> bool:
        return name in self.staged or name in self.documents

    def size(self, name: str) -> int:
        return self._path(name).stat().st_size if name in self.staged else self.inner.size(name)

    def open(self, name: str) -> IO[bytes]:
        return self._path(name).open("rb") if name in self.staged else self.inner.open(name)

    def names(self) -> list[str]:
        return sorted(self.staged | self.documents)

    def locate(self, name: str) -> tuple[Path, int, int]:
        if name not in self.staged:
            raise ArchiveError(f"`{name}` was not fetched: it is not a layer this needs")
        return self._path(name), 0, self._path(name).stat().st_size

    def close(self) -> None:
        pass


@contextmanager
def staged(source: Source, opened: Layout, artifact: Artifact, beside: Path) -> Iterator[Layout]:
    """``opened`` itself when ``source`` is on this machine; for a registry model, a :class:`StagedLayout` of the
    ``artifact``'s layers (the chosen ones), downloaded into a private folder in ``beside`` (or its nearest
    existing parent), removed at the end."""
    if not isinstance(source, RemoteRef):
        yield opened
        return
    while not beside.exists():  # staged in the nearest folder there is: a failed unpack makes no folder
        beside = beside.parent
    try:
        lock, folder = locked_temp_dir(beside, f"{TEMP_PREFIX}fetch.")
    except OSError as exc:
        raise BuildError(f"writing {beside}: {describe_os_error(exc)}", path=str(beside)) from exc
    journal = record(Store().root, folder)  # so that `prune` removes it should this process be killed
    try:
        layers = {layer.descriptor.digest: layer.descriptor for layer in artifact.layers}
        _download(source, list(layers.values()), folder)
        documents = {artifact.manifest.digest.blob_path, artifact.manifest.config.digest.blob_path}
        yield StagedLayout(opened, documents, folder, {d.blob_path for d in layers})
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        os.close(lock)
        forget(journal)


def _download(source: RemoteRef, layers: list[Descriptor], folder: Path) -> None:
    """Each blob into ``folder``, named by its digest, checked against it while it streams (several at a time)."""
    # Imported when used: they load the registry client (httpx), which local unpacks never need.
    from modeloci.registry.transfer import download
    from modeloci.sources.pull import check_sizes

    # Staged, then copied into the unpacked folder beside it: room for both, before anything is written.
    check_sizes(source.client, source.reference, layers, folder, copies=2)

    def fetch(d: Descriptor, cancel: threading.Event) -> None:
        try:
            fd = os.open(folder / d.digest.hex, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as exc:
            raise BuildError(f"writing {folder}: {describe_os_error(exc)}", path=str(folder)) from exc
        try:
            download(source.client, source.reference.repository, d.digest, d.size, fd, 0, cancel=cancel)
        finally:
            os.close(fd)

    run_ordered([partial(fetch, d) for d in layers], threads=PARALLEL)

