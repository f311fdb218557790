"""Which blobs of the store a tagged model reaches: its manifest, config and layers, and its referrers'."""

from __future__ import annotations

from typing import TYPE_CHECKING

from modeloci.errors import ArchiveError
from modeloci.oci.layout import read_blob
from modeloci.oci.manifest import InvalidDocument, parse_manifest

if TYPE_CHECKING:
    from modeloci.store import Store


def reachable(store: Store) -> set[str]:
    """Hex digests of every blob some tag reaches (a manifest that cannot be read keeps only itself), and of
    every blob of a referrer (a signature, provenance, a BOM) whose subject some tag names."""
    keep: set[str] = set()
    layout = store.layout()
    tagged = set()
    for entry in store.entries():
        tagged.add(entry.descriptor.digest)
        keep.add(entry.descriptor.digest.hex)
        try:
            manifest = parse_manifest(read_blob(layout, entry.descriptor.digest))
        except (ArchiveError, InvalidDocument, OSError):
            continue
        keep.add(manifest.config.digest.hex)
        keep.update(layer.digest.hex for layer in manifest.layers)
    for referrer in store.referrers():
        if referrer.subject.digest in tagged:
            keep.update(d.digest.hex for d in (referrer.descriptor, *referrer.blobs))
    return keep
