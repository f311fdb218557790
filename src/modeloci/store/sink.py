"""Building into the store: blobs as into any layout folder, then the tag, atomically."""

from __future__ import annotations

from collections.abc import Sequence

from modeloci.blobs.sinks import LayoutSink
from modeloci.errors import BuildError
from modeloci.oci.manifest import Descriptor
from modeloci.progress import NO_METER, Meter
from modeloci.store import Store


class StoreSink(LayoutSink):
    """Writes into the local store: blobs as in any layout, then the tag, atomically."""

    def __init__(self, store: Store, *, meter: Meter = NO_METER) -> None:
        super().__init__(store.root, meter=meter)
        self.store = store

    def commit(self, manifest: Descriptor, manifest_bytes: bytes, *, ref_name: str | None,
               referrers: Sequence[Descriptor] = ()) -> None:
        if ref_name is None:
            raise BuildError("a model in the store needs a name", hint="name it with `-t NAME[:TAG]`")
        self.store.tag(ref_name, manifest, referrers=referrers)
