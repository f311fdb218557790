"""Outputs modeloci wrote, remembered: a build whose output already holds its model writes nothing.

When an archive (or a layout folder's ``index.json``) is written, a record is
kept of the file's identity right after the write (device, inode, size,
``mtime_ns``, ``ctime_ns``: what the digest cache keys input files on) and of
a *description*: a digest of everything that decides the output's bytes (what
is written: an archive or a layout and how; the manifest's digest, which
names the config and every layer's digest and size; the name; the time the
archive's entries carry; the referrers written beside the model; the version
of modeloci that wrote it). A later build with an equal description, to a
file with the recorded identity, has nothing to write.

Any write to the file, a ``touch``, a ``chmod`` or a replacement by another
program moves its ctime (which users cannot set) or its inode, and any change
of an input, a flag or the Modelfile changes the description: either one
defeats the check and the build runs as usual. Records live beside the digest
cache (``$XDG_CACHE_HOME/modeloci/outputs``), one small file per output named
by a hash of its absolute path, written to a temporary name then renamed, each
repeating its key (the hash), and compared whole with the record the output
would have: a corrupt, truncated or foreign record is a miss, never a wrong
"up to date".
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from modeloci.oci.digest import Digest
from modeloci.version import __version__

__all__ = ["Identity", "OutputRecords", "description", "identity", "layout_holds"]

_MAGIC = "modeloci-output-v1"
_REF_NAME = "org.opencontainers.image.ref.name"
_MAX_INDEX = 16 << 20  # an index.json larger than this is not read here (the build reads it as it always does)


@dataclass(frozen=True, slots=True)
class Identity:
    """A regular file as it is now: any write, touch, chmod or replacement changes one of these."""

    dev: int
    ino: int
    size: int
    mtime_ns: int
    ctime_ns: int

    def text(self) -> str:
        return f"{self.dev}:{self.ino}:{self.size}:{self.mtime_ns}:{self.ctime_ns}"


def identity(path: Path) -> Identity | None:
    """The identity of the regular file at ``path`` (a symlink is not followed: it is no output modeloci wrote);
    None when there is none."""
    try:
        found = os.stat(path, follow_symlinks=False)
    except OSError:
        return None
    if not stat.S_ISREG(found.st_mode):
        return None
    return Identity(found.st_dev, found.st_ino, found.st_size, found.st_mtime_ns, found.st_ctime_ns)


def description(kind: str, manifest: Digest, reference: str | None, mtime: int,
                referrers: Sequence[Digest]) -> str:
    """What decides an output's bytes, as one digest: ``kind`` says what is written and how (``archive``,
    ``layout``, ``layout+link``), ``manifest`` the model, ``mtime`` the time its entries carry, ``referrers``
    the manifests written beside it, in order."""
    parts = [_MAGIC, __version__, kind, str(manifest), reference or "", str(mtime), *map(str, referrers)]
    return hashlib.sha256("\n".join(f"{len(p)}:{p}" for p in parts).encode()).hexdigest()


class OutputRecords:
    """The outputs this machine's builds wrote, by absolute path; every failure to read or write one is a miss."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @classmethod
    def beside(cls, cache_root: Path) -> OutputRecords:
        """The records kept beside a digest cache (its root's sibling ``outputs``)."""
        return cls(cache_root.parent / "outputs")

    def _entry(self, key: str) -> Path:
        return self.root / key[:2] / key

    def holds(self, path: Path, wanted: str) -> Identity | None:
        """The identity of ``path`` when it is the file a build described by ``wanted`` wrote and nothing has
        touched it since; else None."""
        key = _key(path)
        now = identity(path)
        if now is None:
            return None
        try:
            text = self._entry(key).read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError):
            return None
        # Compared whole with the record this output would have: a corrupt, truncated or foreign one is a miss.
        return now if text == _body(key, now, wanted) else None

    def remember(self, path: Path, written: str) -> None:
        """Record ``path`` as it is now as the output of the build described by ``written``."""
        key = _key(path)
        now = identity(path)
        entry = self._entry(key)
        try:
            if now is None:
                entry.unlink(missing_ok=True)
                return
            entry.parent.mkdir(parents=True, exist_ok=True)
            fd, temp = tempfile.mkstemp(dir=entry.parent, prefix=".tmp-")
        except OSError:
            return  # a record that cannot be written only costs the next build its work
        body = _body(key, now, written)
        try:
            with os.fdopen(fd, "w", encoding="ascii") as out:
                out.write(body)
            os.replace(temp, entry)
        except OSError:
            Path(temp).unlink(missing_ok=True)


def _key(path: Path) -> str:
    """An output's key: a hash of its absolute path's bytes (any name, undecodable ones too)."""
    return hashlib.sha256(os.fsencode(os.path.abspath(path))).hexdigest()


def _body(key: str, found: Identity, wanted: str) -> str:
    return f"{_MAGIC} {key} {found.text()} {wanted}\n"


def layout_holds(folder: Path, manifest: Digest, reference: str | None, sizes: Mapping[Digest, int]) -> bool:
    """Whether the layout ``folder``'s ``index.json`` lists ``manifest`` (under ``reference``, when given) and
    every blob of ``sizes`` is a file of its size (their bytes are not read: they were checked when written)."""
    try:
        with open(folder / "index.json", "rb") as index:
            data = index.read(_MAX_INDEX + 1)
        entries = json.loads(data)["manifests"] if len(data) <= _MAX_INDEX else []
    except (OSError, ValueError, TypeError, KeyError):
        return False
    listed = isinstance(entries, list) and any(
        isinstance(e, dict) and e.get("digest") == str(manifest)
        and (reference is None or (e.get("annotations") or {}).get(_REF_NAME) == reference) for e in entries)
    return listed and all(_size(folder / "blobs" / d.algorithm / d.hex) == n for d, n in sizes.items())


def _size(path: Path) -> int | None:
    found = identity(path)
    return None if found is None else found.size
