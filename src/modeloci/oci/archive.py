"""Writing one tar that is both an OCI image layout and a Docker Model Runner load archive.

Entry order is fixed (REFERENCE.md §1.9): ``blobs/``, ``blobs/sha256/``, the
blobs in the order they are added (layers, config, manifest), then
``index.json``, ``oci-layout`` and ``manifest.json`` (a byte copy of the
manifest blob, which is what ``docker model load`` reads). Each blob is
streamed once: hashed as it is written, then named after its digest by
patching its header in place. A blob whose digest was already written is cut
off again, so the archive holds each blob once.
"""

from __future__ import annotations

import hashlib
from typing import BinaryIO

from modeloci.errors import BuildError, describe_os_error
from modeloci.oci.digest import Digest
from modeloci.oci.manifest import OCI_LAYOUT, Descriptor, index_json
from modeloci.oci.tarwriter import TarWriter

CHUNK = 1 << 20
_PLACEHOLDER = Digest("0" * 64).blob_path


class OciArchiveWriter:
    """A blob sink writing the dual OCI/DMR tar into an open, seekable file."""

    def __init__(self, out: BinaryIO, *, mtime: int = 0) -> None:
        self._out = out
        self._tar = TarWriter(out, mtime=mtime)
        self._written: set[Digest] = set()
        self._tar.add_dir("blobs")
        self._tar.add_dir("blobs/sha256")

    def put_stream(self, src: BinaryIO, size: int, *, label: str, expected: Digest | None = None) -> Digest:
        """Copy exactly ``size`` bytes from ``src`` into a blob, hashing them on the way."""
        offset = self._tar.begin_file(_PLACEHOLDER, size)
        digest = Digest(_copy(src, self._out, size, label))
        if expected is not None and digest != expected:
            raise BuildError(f"reading {label}: content does not match its digest {expected}", path=label)
        if digest in self._written:
            self._tar.discard_from(offset)
        else:
            self._tar.end_file(offset, digest.blob_path, size)
            self._written.add(digest)
        return digest

    def put_bytes(self, data: bytes) -> Digest:
        digest = Digest.of(data)
        if digest not in self._written:
            self._tar.add_bytes(digest.blob_path, data)
            self._written.add(digest)
        return digest

    def commit(self, manifest: Descriptor, manifest_bytes: bytes, *, ref_name: str | None) -> None:
        """Write the layout files after the blobs, and the tar's end."""
        self._tar.add_bytes("index.json", index_json(manifest, ref_name=ref_name))
        self._tar.add_bytes("oci-layout", OCI_LAYOUT)
        self._tar.add_bytes("manifest.json", manifest_bytes)
        self._tar.close()


def _copy(src: BinaryIO, out: BinaryIO, size: int, label: str) -> str:
    """Stream ``size`` bytes from ``src`` to ``out``; the sha256 hex of what was copied."""
    hasher = hashlib.sha256()
    buffer = bytearray(min(CHUNK, max(size, 1)))
    view = memoryview(buffer)
    remaining = size
    while remaining:
        try:
            n = src.readinto(view[: min(remaining, len(buffer))])  # type: ignore[attr-defined]
        except OSError as exc:
            raise BuildError(f"reading {label}: {describe_os_error(exc)}", path=label) from exc
        if not n:
            raise BuildError(f"reading {label}: the file shrank while it was being read", path=label,
                             hint="do not change input files during a build")
        chunk = view[:n]
        hasher.update(chunk)
        try:
            out.write(chunk)
        except OSError as exc:
            raise BuildError(f"writing layer {label}: {describe_os_error(exc)}", path=label) from exc
        remaining -= n
    if src.read(1):
        raise BuildError(f"reading {label}: the file grew while it was being read", path=label,
                         hint="do not change input files during a build")
    return hasher.hexdigest()
