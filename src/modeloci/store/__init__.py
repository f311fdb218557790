"""The local model store: one OCI image layout folder holding every model built or loaded.

``$MODELOCI_HOME`` (default ``$XDG_DATA_HOME/modeloci``, else
``~/.local/share/modeloci``) is a plain OCI layout: ``oci-layout``,
``index.json`` and ``blobs/sha256/``. Blobs are stored once, whichever models
share them. ``index.json`` lists every tagged manifest; each entry carries
``org.opencontainers.image.ref.name`` (and ``io.containerd.image.name``) with
the full reference, so skopeo (``oci:$MODELOCI_HOME:ref``) and containerd read
the store too.

Safe under concurrent processes and crashes:

- blobs are written under temporary names and renamed to their digest only
  when complete, so a real digest name always holds the whole blob;
- ``index.json`` is read, changed and replaced (temp file + rename) under an
  exclusive lock on ``.index.lock``, so two processes tagging at once both land;
- a model's referrers (a signature, provenance, a BOM: manifests whose
  ``subject`` is the model's) are untagged entries of ``index.json``, which
  ``ls`` does not list; they stay while some tag names their subject, and
  leave the index with its last tag (``prune`` then frees their blobs);
- builds hold a shared lock on ``.gc.lock`` while they write blobs, and
  ``prune`` takes it exclusively, so it never deletes a blob a running build
  is about to reference; it also removes temporary files left by killed builds,
  and the temporary folders of killed unpacks, wherever they were
  (:mod:`.leftovers`).
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

from modeloci.errors import ModelociError, UsageError
from modeloci.jsondoc import load_json
from modeloci.oci.digest import Digest
from modeloci.oci.jsonenc import go_json
from modeloci.oci.layout import DirLayout, ReferrerEntry, referrer_entries
from modeloci.oci.manifest import OCI_LAYOUT, REF_NAME, Descriptor, InvalidDocument, parse_descriptor
from modeloci.oci.mediatypes import MediaType
from modeloci.store.leftovers import sweep
from modeloci.store.reach import reachable

CONTAINERD_NAME = "io.containerd.image.name"
TEMP_PREFIX = ".modeloci-"


def default_root() -> Path:
    home = os.environ.get("MODELOCI_HOME")
    if home:
        return Path(home)
    data = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(data) / "modeloci"


class StoreView(DirLayout):
    """The store's layout, seen as holding one model: the one ``selected`` names."""

    def __init__(self, root: Path, selected: Descriptor) -> None:
        super().__init__(root)
        self.selected = selected


@dataclass(frozen=True, slots=True)
class Entry:
    """A tagged model in the store: its reference and its manifest's descriptor."""

    reference: str
    descriptor: Descriptor


class Store:
    """The store at ``root`` (created on first write)."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root or default_root()
        self.blobs = self.root / "blobs" / "sha256"

    # Locks -------------------------------------------------------------------------------------

    @contextmanager
    def _lock(self, name: str, kind: int) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root / name, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, kind)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def writing(self) -> AbstractContextManager[None]:
        """Held (shared) while blobs are written that the index does not reference yet."""
        return self._lock(".gc.lock", fcntl.LOCK_SH)

    # The index ---------------------------------------------------------------------------------

    def _descriptors(self) -> list[Descriptor]:
        """Every entry of the index that parses, in index order."""
        try:
            doc = load_json((self.root / "index.json").read_bytes(), "the store's index.json")
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as exc:
            raise ModelociError(f"the store's index.json cannot be read: {exc}", hint=f"check {self.root}") from exc
        out = []
        for i, item in enumerate(doc.get("manifests", []) if isinstance(doc, dict) else []):
            try:
                out.append(parse_descriptor(item, f"manifests[{i}]"))
            except InvalidDocument:
                continue
        return out

    def entries(self) -> list[Entry]:
        """Every tagged manifest, in index order."""
        return [Entry(reference, d) for d in self._descriptors() if (reference := d.annotations.get(REF_NAME))]

    def referrers(self) -> list[ReferrerEntry]:
        """Every referrer the index lists (untagged, with a ``subject``), whoever its subject is."""
        return referrer_entries(self.layout(), [d for d in self._descriptors() if REF_NAME not in d.annotations],
                                bounded=False)

    def find(self, reference: str) -> Entry | None:
        return next((e for e in self.entries() if e.reference == reference), None)

    def get(self, reference: str) -> Entry:
        entry = self.find(reference)
        if entry is None:
            names = ", ".join(e.reference for e in self.entries()[:5]) or "none"
            raise UsageError(f"no model `{reference}` in the store", hint=f"stored models: {names} (see `modeloci ls`)")
        return entry

    def tag(self, reference: str, manifest: Descriptor, *, referrers: Sequence[Descriptor] = ()) -> None:
        """Point ``reference`` at ``manifest`` (replacing what it named), atomically, with ``referrers`` (whose
        blobs are in) beside it. A model that loses its last tag here loses its referrers."""
        annotations = {**manifest.annotations, REF_NAME: reference, CONTAINERD_NAME: reference}
        entry = Descriptor(manifest.media_type or MediaType.OCI_MANIFEST, manifest.digest, manifest.size,
                           annotations, manifest.artifact_type)
        with self._lock(".index.lock", fcntl.LOCK_EX):
            kept = [e for e in self.entries() if e.reference != reference]
            self._write_index([*(e.descriptor for e in kept), entry], referrers)

    def untag(self, references: list[str]) -> list[str]:
        """Remove tags (and the referrers of a model whose last tag goes); returns those that were not there."""
        with self._lock(".index.lock", fcntl.LOCK_EX):
            entries = self.entries()
            missing = [r for r in references if r not in {e.reference for e in entries}]
            self._write_index([e.descriptor for e in entries if e.reference not in references])
        return missing

    def attach(self, subject: Digest, referrers: Sequence[Descriptor]) -> None:
        """List ``referrers`` (whose blobs are in) beside the tagged model ``subject``, each once."""
        with self._lock(".index.lock", fcntl.LOCK_EX):
            tagged = [e.descriptor for e in self.entries()]
            if subject not in {d.digest for d in tagged}:
                raise UsageError(f"no model {subject} is tagged in the store", hint="see `modeloci ls`")
            self._write_index(tagged, referrers)

    def _drop_orphans(self) -> None:
        """Rewrite the index without referrers whose subject no tag names (with ``.index.lock`` held)."""
        tagged = [e.descriptor for e in self.entries()]
        if len(tagged) + len(self._kept(tagged, ())) != len(self._descriptors()):
            self._write_index(tagged)

    def _kept(self, tagged: list[Descriptor], new: Sequence[Descriptor]) -> list[Descriptor]:
        """The referrers listed now, then ``new`` ones, each once, that refer to a model ``tagged`` names."""
        subjects = {d.digest for d in tagged}
        listed = [r.descriptor for r in self.referrers() if r.subject.digest in subjects]
        seen = {d.digest for d in listed}
        return [*listed, *(d for d in new if d.digest not in seen)]

    def _write_index(self, tagged: list[Descriptor], referrers: Sequence[Descriptor] = ()) -> None:
        manifests = []
        for d in [*tagged, *self._kept(tagged, referrers)]:
            item: dict[str, object] = {"mediaType": d.media_type, "digest": str(d.digest), "size": d.size}
            if d.artifact_type:
                item["artifactType"] = d.artifact_type
            if d.annotations:
                item["annotations"] = dict(sorted(d.annotations.items()))
            manifests.append(item)
        doc = {"schemaVersion": 2, "mediaType": str(MediaType.OCI_INDEX), "manifests": manifests}
        self._replace("index.json", go_json(doc))
        if not (self.root / "oci-layout").exists():
            self._replace("oci-layout", OCI_LAYOUT)

    def _replace(self, name: str, data: bytes) -> None:
        fd, temp = tempfile.mkstemp(dir=self.root, prefix=TEMP_PREFIX, suffix=".partial")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())  # the index is small; a crash must not lose tags
            os.chmod(temp, 0o644)
            os.replace(temp, self.root / name)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise

    # Blobs --------------------------------------------------------------------------------------

    def layout(self) -> DirLayout:
        return DirLayout(self.root)

    def blob_path(self, digest: Digest) -> Path:
        return self.blobs / digest.hex

    def prune(self) -> tuple[int, int]:
        """Delete blobs no tagged model reaches, and leftovers of killed builds and unpacks: (files, bytes) freed."""
        with self._lock(".gc.lock", fcntl.LOCK_EX), self._lock(".index.lock", fcntl.LOCK_EX):
            self._drop_orphans()
            keep = reachable(self)
            files = freed = 0
            for path in sorted(self.blobs.iterdir()) if self.blobs.is_dir() else []:
                if path.name in keep:
                    continue
                freed += path.stat().st_size
                path.unlink()
                files += 1
            for path in self.root.glob(f"{TEMP_PREFIX}*"):
                if path.is_file():
                    freed += path.stat().st_size
                    path.unlink()
                    files += 1
        folders, unpacked = sweep(self.root)
        return files + folders, freed + unpacked
