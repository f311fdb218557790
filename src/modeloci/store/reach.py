"""Which blobs of the store a tagged model reaches: its manifest, config and layers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from modeloci.errors import ArchiveError
from modeloci.oci.layout import read_blob
from modeloci.oci.manifest import InvalidDocument, parse_manifest

if TYPE_CHECKING:
    from modeloci.store import Store


def reachable(store: Store) -> set[str]:
    """Hex digests of every blob some tag reaches (a manifest that cannot be read keeps only itself)."""
    keep: set[str] = set()
    layout = store.layout()
    for entry in store.entries():
        keep.add(entry.descriptor.digest.hex)
        try:
            manifest = parse_manifest(read_blob(layout, entry.descriptor.digest))
        except (ArchiveError, InvalidDocument, OSError):
            continue
        keep.add(manifest.config.digest.hex)
        keep.update(layer.digest.hex for layer in manifest.layers)
    return keep
