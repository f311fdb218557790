"""Where a build's blobs go: one tar (OCI layout + Docker Model Runner archive), or a layout folder.

Both sinks take all layers at once, so their bytes can be hashed and copied
in parallel (:mod:`.engine`), then the config and manifest, then ``commit``.

The tar's entries have fixed sizes, so every layer's place in the file is
known before any byte is read: each layer is copied straight to its offset by
the kernel while another thread hashes it, and its header, which names the
blob by digest, is written once the digest is known. Two layers that turn out
to have the same content are stored once: the later copy is cut out and what
follows moves up. Entry order: ``blobs/``, ``blobs/sha256/``, layers in
manifest order, config, manifest, ``index.json``, ``oci-layout``,
``manifest.json`` (REFERENCE.md §1.9).

The layout folder is content-addressed: a blob already there under its
digest is not written again, which makes a warm rebuild into the same folder
cost only the config and manifest.

A wrapped source (a modelcar's tar layer around one file) is written as its
head, its file and its tail, and hashed in one read of the file for both the
blob's digest and the file's; ``put_layers`` keeps the files' digests in
``inner`` (by the source's place in the call), for the layers' annotations.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Sequence, Sized
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Protocol, TypeVar

from modeloci.atomic import TEMP_PREFIX, atomic_output, locked_temp, remove_stale_temps
from modeloci.blobs.engine import BlobSource, copy_range, hash_range, hash_wrapped, move_range, run_ordered
from modeloci.blobs.pace import WINDOW, Pace
from modeloci.errors import BuildError, describe_os_error
from modeloci.jsondoc import load_json
from modeloci.oci.digest import Digest
from modeloci.oci.jsonenc import go_json
from modeloci.oci.manifest import OCI_LAYOUT, REF_NAME, Descriptor, index_json
from modeloci.oci.mediatypes import MediaType
from modeloci.oci.referrers import referrers_index
from modeloci.oci.tarwriter import BLOCK, file_headers, ustar_header
from modeloci.progress import NO_METER, Advance, Meter, no_progress

_PLACEHOLDER = Digest("0" * 64).blob_path
# Writes a blob whose digest is known at (fd, offset), checking it; raises if the bytes do not match.
Fetcher = Callable[[int, int, threading.Event], object]
# Copies one layer into the sink, reporting bytes written.
Copy = Callable[[threading.Event, Advance], None]
T = TypeVar("T")


class BlobSink(Protocol):
    inner: dict[int, Digest]  # the file digests of the wrapped sources the last put_layers hashed, by place

    def put_layers(self, sources: Sequence[BlobSource], known: Sequence[Digest | None]) -> list[Digest]: ...

    def put_bytes(self, data: bytes) -> Digest: ...

    def commit(self, manifest: Descriptor, manifest_bytes: bytes, *, ref_name: str | None,
               referrers: Sequence[Descriptor] = ()) -> None:
        """Name the model (its index entry, ``ref_name``); ``referrers``' manifests, already put, are listed
        after it, untagged (a signature, provenance or BOM beside the model, as OCI 1.1 layouts hold them)."""
        ...


def index_entries(descriptors: Sequence[Descriptor]) -> list[dict[str, Any]]:
    """Index entries (as JSON objects) of referrer manifests, as :func:`referrers_index` spells them."""
    entries = load_json(referrers_index(descriptors), "an index").get("manifests", [])
    return [entry for entry in entries if isinstance(entry, dict)]


def with_entries(index: bytes, descriptors: Sequence[Descriptor]) -> bytes:
    """``index`` (an ``index.json``'s bytes) with entries for ``descriptors`` after its own, each digest once."""
    doc = load_json(index, "index.json")
    assert isinstance(doc, dict) and isinstance(doc.get("manifests"), list)  # the caller parsed it already
    listed = {entry.get("digest") for entry in doc["manifests"] if isinstance(entry, dict)}
    doc["manifests"] = [*doc["manifests"], *index_entries([d for d in descriptors if str(d.digest) not in listed])]
    return go_json(doc)


def _digests(sources: Sequence[BlobSource], known: Sequence[Digest | None], copies: dict[int, Copy],
             meter: Meter = NO_METER, inner: dict[int, Digest] | None = None, window: int = WINDOW) -> list[Digest]:
    """Run the copies and the hashes of unknown digests together; digests in source order (the file digest of
    each wrapped source hashed goes into ``inner``, by its place).

    A blob's copy and hash are queued side by side and kept within a window
    of each other (:class:`~modeloci.blobs.pace.Pace`), so both read its pages
    while they are in the page cache: the file is read from disk once, however
    large it is.
    """
    hashing = [i for i, digest in enumerate(known) if digest is None]
    hash_total, copy_total = sum(sources[i].size for i in hashing), sum(sources[i].blob_size for i in copies)
    hashed = meter.task(f"hashing {_count(hashing, 'file')}", hash_total) if hashing else no_progress
    written = meter.task(f"writing {_count(copies, 'layer')}", copy_total) if copies else no_progress
    tasks: list[Callable[[threading.Event], Digest | None]] = []
    for i, source in enumerate(sources):
        pace = Pace(window) if i in copies and known[i] is None else None
        if i in copies:
            tasks.append(pace.task(0, copies[i], written) if pace else _reporting(copies[i], written))
        if known[i] is None:
            digest = _hash(source, inner if inner is not None else {}, i)
            tasks.append(pace.task(1, digest, hashed) if pace else _reporting(digest, hashed))
    # A copy gives None and a hash its digest, so the digests found are the results that are not None, in order.
    computed = iter([digest for digest in run_ordered(tasks) if digest is not None])
    return [k if k is not None else next(computed) for k in known]


def _reporting(run: Callable[[threading.Event, Advance], T], advance: Advance) -> Callable[[threading.Event], T]:
    """A copy or a hash as a task of the engine, reporting to ``advance``."""
    return lambda cancel: run(cancel, advance)


def _hash(source: BlobSource, inner: dict[int, Digest], place: int) -> Callable[[threading.Event, Advance], Digest]:
    """Hashing the source: its blob's digest (a wrapped source's file digest is kept in ``inner`` at ``place``)."""
    if not source.wrapped:
        return lambda cancel, advance: hash_range(source, cancel, advance)

    def wrapped(cancel: threading.Event, advance: Advance) -> Digest:
        blob, inner[place] = hash_wrapped(source, cancel, advance)
        return blob

    return wrapped


def _count(items: Sized, noun: str) -> str:
    return f"{len(items)} {noun}{'s' if len(items) != 1 else ''}"


@dataclass
class _Entry:
    source: int
    header: int
    header_size: int
    size: int

    @property
    def end(self) -> int:
        return self.header + self.header_size + self.size + (-self.size % BLOCK)


class ArchiveSink:
    """Writes the dual OCI/DMR tar into an open, seekable, empty file."""

    def __init__(self, fd: int, *, mtime: int = 0, meter: Meter = NO_METER) -> None:
        self._fd = fd
        self.meter = meter
        self._mtime = mtime
        self._written: set[Digest] = set()
        self.inner: dict[int, Digest] = {}
        self._pwrite(ustar_header("blobs/", size=0, mtime=mtime, typeflag=b"5", mode=0o755), 0)
        self._pwrite(ustar_header("blobs/sha256/", size=0, mtime=mtime, typeflag=b"5", mode=0o755), BLOCK)
        self.end = 2 * BLOCK

    def _pwrite(self, data: bytes, offset: int) -> None:
        view = memoryview(data)
        while view:
            try:
                n = os.pwrite(self._fd, view, offset)
            except OSError as exc:
                raise BuildError(f"writing the archive: {describe_os_error(exc)}") from exc
            view, offset = view[n:], offset + n

    def put_layers(self, sources: Sequence[BlobSource], known: Sequence[Digest | None]) -> list[Digest]:
        entries: list[_Entry] = []
        placed: set[Digest] = set(self._written)
        position = self.end
        for i, (source, digest) in enumerate(zip(sources, known, strict=True)):
            if digest is not None and digest in placed:
                continue  # identical content already placed: stored once
            if digest is not None:
                placed.add(digest)
            size = len(file_headers(_PLACEHOLDER, source.blob_size, self._mtime))
            entries.append(_Entry(i, position, size, source.blob_size))
            position = entries[-1].end
        copies: dict[int, Copy] = {
            e.source: partial(copy_range, sources[e.source], self._fd, e.header + e.header_size) for e in entries
        }
        self.inner = {}
        digests = _digests(sources, known, copies, self.meter, self.inner)
        self.end = self._finish(entries, digests)
        return digests

    def put_fetched(self, items: Sequence[tuple[Digest, int, Fetcher]]) -> None:
        """Place blobs whose digests are known (pulled ones): each fetcher fills its place in parallel."""
        entries: list[_Entry] = []
        digests: list[Digest] = []
        fetchers: list[tuple[Fetcher, int]] = []
        position = self.end
        for digest, size, fetch in items:
            if digest in self._written or digest in digests:
                continue
            header = len(file_headers(_PLACEHOLDER, size, self._mtime))
            entries.append(_Entry(len(digests), position, header, size))
            digests.append(digest)
            fetchers.append((fetch, position + header))
            position = entries[-1].end
        run_ordered([partial(fetch, self._fd, at) for fetch, at in fetchers])
        self.end = self._finish(entries, digests)

    def _finish(self, entries: list[_Entry], digests: list[Digest]) -> int:
        """Name each placed blob after its digest; cut out late-found duplicates."""
        position = self.end
        for entry in entries:
            digest = digests[entry.source]
            if digest in self._written:
                continue
            self._written.add(digest)
            if entry.header != position:
                move_range(self._fd, entry.header + entry.header_size, position + entry.header_size, entry.size)
                entry.header = position
            self._pwrite(file_headers(digest.blob_path, entry.size, self._mtime), entry.header)
            position = entry.end
        return position

    def _append(self, name: str, data: bytes) -> None:
        self._pwrite(file_headers(name, len(data), self._mtime) + data + b"\0" * (-len(data) % BLOCK), self.end)
        self.end += len(file_headers(name, len(data), self._mtime)) + len(data) + (-len(data) % BLOCK)

    def put_bytes(self, data: bytes) -> Digest:
        digest = Digest.of(data)
        if digest not in self._written:
            self._append(digest.blob_path, data)
            self._written.add(digest)
        return digest

    def commit(self, manifest: Descriptor, manifest_bytes: bytes, *, ref_name: str | None,
               referrers: Sequence[Descriptor] = ()) -> None:
        index = index_json(manifest, ref_name=ref_name)
        self.finish(with_entries(index, referrers) if referrers else index, manifest_bytes)

    def finish(self, index: bytes, manifest_json: bytes | None) -> None:
        """Write ``index.json``, ``oci-layout`` and, for Docker Model Runner, ``manifest.json`` (when given),
        and end the archive."""
        self._append("index.json", index)
        self._append("oci-layout", OCI_LAYOUT)
        if manifest_json is not None:
            self._append("manifest.json", manifest_json)
        self._pwrite(b"\0" * (2 * BLOCK), self.end)
        self.end += 2 * BLOCK
        os.ftruncate(self._fd, self.end)


class LayoutSink:
    """Writes an OCI image layout folder; blobs already present are kept, not rewritten."""

    def __init__(self, root: Path, *, link: bool = False, meter: Meter = NO_METER) -> None:
        self.root = root
        self.meter = meter
        self.blobs = root / "blobs" / "sha256"
        self.link = link
        self._temps: dict[Path, int] = {}  # each temporary file, and the descriptor holding its lock
        self.inner: dict[int, Digest] = {}
        try:
            self.blobs.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise BuildError(f"writing {root}: {describe_os_error(exc)}", path=str(root)) from exc
        remove_stale_temps(self.blobs, TEMP_PREFIX)  # blobs of killed builds into this layout

    def _present(self, digest: Digest, size: int) -> bool:
        path = self.blobs / digest.hex
        return path.is_file() and path.stat().st_size == size

    def put_layers(self, sources: Sequence[BlobSource], known: Sequence[Digest | None]) -> list[Digest]:
        todo = [i for i, (s, k) in enumerate(zip(sources, known, strict=True))
                if k is None or not self._present(k, s.blob_size)]
        self.inner = {}
        if self.link:
            # A hard link needs the name first: hash, then link (or copy when linking is not possible).
            digests = _digests(sources, known, {}, self.meter, self.inner)
            for i in todo:
                self._link_or_copy(sources[i], digests[i])
            return digests
        temps = {i: self._temp() for i in todo}
        copies: dict[int, Copy] = {i: partial(self._copy_into, sources[i], temps[i]) for i in todo}
        digests = _digests(sources, known, copies, self.meter, self.inner)
        for i, temp in temps.items():
            self._place(temp, digests[i])
        return digests

    def _temp(self) -> Path:
        fd, path = locked_temp(self.blobs, TEMP_PREFIX)
        self._temps[path] = fd
        return path

    def _release(self, temp: Path) -> None:
        os.close(self._temps.pop(temp))

    def _copy_into(self, source: BlobSource, temp: Path, cancel: threading.Event | None = None,
                   advance: Advance = no_progress) -> None:
        fd = os.open(temp, os.O_WRONLY)
        try:
            copy_range(source, fd, 0, cancel, advance)
        finally:
            os.close(fd)

    def _place(self, temp: Path, digest: Digest) -> None:
        final = self.blobs / digest.hex
        if final.exists():
            temp.unlink()
        else:
            os.chmod(temp, 0o644)
            os.replace(temp, final)
        self._release(temp)

    def _link_or_copy(self, source: BlobSource, digest: Digest) -> None:
        final = self.blobs / digest.hex
        if final.exists():
            return
        whole = source.offset == 0 and source.size == source.state.size and not source.wrapped
        if whole:
            try:
                os.link(source.path, final)
                return
            except OSError:
                pass  # another filesystem, or links not allowed: copy instead
        temp = self._temp()
        self._copy_into(source, temp)
        self._place(temp, digest)

    def put_fetched(self, items: Sequence[tuple[Digest, int, Fetcher]]) -> None:
        """Blobs whose digests are known (pulled ones): those not already here are fetched in parallel."""
        todo = {digest: (size, fetch) for digest, size, fetch in items if not self._present(digest, size)}
        temps = {digest: self._temp() for digest in todo}

        def run(cancel: threading.Event, digest: Digest) -> None:
            fd = os.open(temps[digest], os.O_WRONLY)
            try:
                todo[digest][1](fd, 0, cancel)
            finally:
                os.close(fd)

        run_ordered([partial(run, digest=d) for d in todo])
        for digest, temp in temps.items():
            self._place(temp, digest)

    def put_bytes(self, data: bytes) -> Digest:
        digest = Digest.of(data)
        if not self._present(digest, len(data)):
            temp = self._temp()
            temp.write_bytes(data)
            self._place(temp, digest)
        return digest

    def commit(self, manifest: Descriptor, manifest_bytes: bytes, *, ref_name: str | None,
               referrers: Sequence[Descriptor] = ()) -> None:
        entry = json.loads(index_json(manifest, ref_name=ref_name))["manifests"][0]
        new = {str(d.digest) for d in referrers}
        others = [m for m in self._existing_index()
                  if m.get("annotations", {}).get(REF_NAME) != ref_name and m.get("digest") not in new]
        index = {"schemaVersion": 2, "mediaType": str(MediaType.OCI_INDEX),
                 "manifests": [*others, entry, *index_entries(referrers)]}
        self._write_atomically("oci-layout", OCI_LAYOUT)
        self._write_atomically("index.json", go_json(index))

    def add_entries(self, descriptors: Sequence[Descriptor]) -> None:
        """List ``descriptors`` (referrers, whose blobs are in) in ``index.json`` after what it lists, each once."""
        index = {"schemaVersion": 2, "mediaType": str(MediaType.OCI_INDEX), "manifests": self._existing_index()}
        self._write_atomically("index.json", with_entries(go_json(index), descriptors))

    def _existing_index(self) -> list[dict[str, Any]]:
        try:
            manifests = load_json((self.root / "index.json").read_bytes(), "index.json").get("manifests", [])
        except (OSError, ValueError, AttributeError):
            return []
        return [m for m in manifests if isinstance(m, dict)]

    def _write_atomically(self, name: str, data: bytes) -> None:
        with atomic_output(self.root / name, mode=0o644) as out:
            out.write(data)

    def abort(self) -> None:
        """Remove the temporary files of an unfinished build (named blobs are complete and stay)."""
        for temp in list(self._temps):
            temp.unlink(missing_ok=True)
            self._release(temp)
