"""A model in a registry, seen as a layout: its manifest and small blobs read over HTTP.

``FROM registry/repository:tag`` plans against the registry's manifest and
config without fetching any layer. Layer bytes are fetched only when they are
needed (:func:`materialize` pulls them into the local store): to write the
output, or at plan time to read the weights' headers of a base in the other
format than the output's. A ``build --push`` to the same registry mounts them
instead.
"""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path
from typing import IO

from modeloci.oci.digest import Digest
from modeloci.oci.layout import DirLayout
from modeloci.oci.manifest import Descriptor
from modeloci.oci.mediatypes import MediaType
from modeloci.sources.pull import pull_to_layout, store_name
from modeloci.sources.refs import RemoteRef, StoredRef
from modeloci.store import Store


class RemoteLayout:
    """Read access to one remote model: the selected manifest and its small blobs."""

    def __init__(self, remote: RemoteRef) -> None:
        self.remote = remote
        client, ref = remote.client, remote.reference
        data, media_type = client.get_manifest(ref)
        self._blobs: dict[str, bytes] = {Digest.of(data).blob_path: data}
        # An index keeps its media type, so that a reader can say a multi-platform image is one.
        kept = media_type if media_type in (MediaType.OCI_INDEX, MediaType.DOCKER_MANIFEST_LIST) else None
        self.selected = Descriptor(str(kept or MediaType.OCI_MANIFEST), Digest.of(data), len(data))
        self._sizes: dict[str, int] = {}
        self._local: DirLayout | None = None  # the store, once the model was pulled into it

    def _fetch(self, name: str) -> bytes:
        """A small blob, read at most to the size the registry gave for it, and checked against its digest."""
        if name not in self._blobs:
            digest = Digest(name.rsplit("/", 1)[-1])
            self._blobs[name] = self.remote.client.get_blob(self.remote.reference.repository, digest,
                                                            self._sizes.get(name))
        return self._blobs[name]

    def exists(self, name: str) -> bool:
        return name.startswith("blobs/sha256/")

    def size(self, name: str) -> int:
        if name in self._blobs:
            return len(self._blobs[name])
        if name not in self._sizes:
            digest = Digest(name.rsplit("/", 1)[-1])
            found = self.remote.client.blob_size(self.remote.reference.repository, digest)
            self._sizes[name] = found if found is not None else -1
        return self._sizes[name]

    def open(self, name: str) -> IO[bytes]:
        if self.size(name) > self.remote.client.limits.small_blob:
            raise OSError(f"{name} is too large to read from the registry into memory")
        return io.BytesIO(self._fetch(name))

    def locate(self, name: str) -> tuple[Path, int, int]:
        """Where a blob's bytes are on this machine: the first call pulls the model into the store (every blob
        checked against its digest), pinned to the manifest read here, so the bytes are this model's."""
        if self._local is None:
            pinned = replace(self.remote.reference, digest=self.selected.digest)
            self._local = DirLayout(materialize(RemoteRef(pinned, self.remote.client)).root)
        return self._local.locate(name)

    def names(self) -> list[str]:
        return []

    def close(self) -> None:
        pass


def materialize(remote: RemoteRef, *, images: bool = False) -> StoredRef:
    """Pull the remote model's blobs into the local store (once) and return it as a stored model. ``images``: the
    base of a modelcar build, which may be a container image with no model in it (only a modelcar's plan takes
    one: any other build's plan refuses it)."""
    store = Store()
    ref = remote.reference
    name = store_name(ref)  # (was `ref.familiar` for name:tag@digest: a name with a digest, invalid in the store)
    pull_to_layout(remote.client, ref, Path(), store=store, name=name, referrers=False,  # a base's are not needed
                   images=images)
    return StoredRef(name, store.root)
