"""The digest cache: SHA-256s of unchanged files are not computed twice.

An entry is keyed on what changes whenever a file's bytes change: device,
inode, size, ``mtime_ns`` and ``ctime_ns`` (a write, or restoring an mtime with
``utime``, moves the ctime, which users cannot set), plus the byte range for a
member of a base archive, and for a blob that wraps the range (a modelcar's tar
layer around a file) a hash of what wraps it. Entries live under ``$XDG_CACHE_HOME/modeloci``
(default ``~/.cache/modeloci``), one small file each, named by a hash of the
key and written to a temporary name then renamed, so concurrent builds never
see half an entry. Each entry repeats its key and carries a checksum: a
corrupt, truncated or foreign entry is a miss, never a wrong digest.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from modeloci.blobs.engine import FileState
from modeloci.oci.digest import Digest

_MAGIC = "modeloci-digest-v1"
_MAX_ENTRY = 1024  # an entry is ~200 characters; a longer file is no entry of ours (a miss), and is not read whole


def default_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "modeloci" / "digests"


def cache_key(state: FileState, offset: int, size: int, wrap: str = "") -> str:
    """``wrap`` names what wraps the range in the blob (empty: the range is the blob)."""
    key = f"{state.dev}:{state.ino}:{state.size}:{state.mtime_ns}:{state.ctime_ns}:{offset}:{size}"
    return f"{key}:{wrap}" if wrap else key


def wrap_key(head: bytes, tail: bytes) -> str:
    """What names the bytes wrapping a range, in a cache key: a hash of them."""
    return hashlib.sha256(b"%d:" % len(head) + head + tail).hexdigest()[:32]


class DigestCache:
    """Digests by file identity; every failure to read or write it is a quiet miss."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root or default_root()

    def _entry(self, key: str) -> str:
        """The entry's file (a str, not a Path: a build of many small files asks once per file)."""
        name = hashlib.sha256(key.encode()).hexdigest()
        return os.path.join(self.root, name[:2], name)

    def get(self, state: FileState, offset: int, size: int, wrap: str = "") -> Digest | None:
        key = cache_key(state, offset, size, wrap)
        try:
            with open(self._entry(key), encoding="ascii") as entry:
                text = entry.read(_MAX_ENTRY)
        except (OSError, UnicodeDecodeError):
            return None
        parts = text.split(" ")
        if len(parts) != 4 or parts[0] != _MAGIC or parts[1] != key:
            return None
        body, check = " ".join(parts[:3]), parts[3].strip()
        if _check(body) != check:
            return None
        try:
            return Digest.parse(parts[2])
        except ValueError:
            return None

    def put(self, state: FileState, offset: int, size: int, digest: Digest, wrap: str = "") -> None:
        key = cache_key(state, offset, size, wrap)
        body = f"{_MAGIC} {key} {digest}"
        path = self._entry(key)
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            fd, temp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-")
        except OSError:
            return  # a cache that cannot be written only costs speed
        try:
            with os.fdopen(fd, "w", encoding="ascii") as out:
                out.write(f"{body} {_check(body)}\n")
            os.replace(temp, path)
        except OSError:
            Path(temp).unlink(missing_ok=True)


def _check(body: str) -> str:
    return hashlib.sha256(body.encode()).hexdigest()[:16]
