"""``convert`` into the store or a layout folder: a format change there is a new config and manifest.

Docker's model format and ModelPack carry the same raw layers, so a model
converted inside the store (``convert NAME --format modelpack -t NAME2``) or
inside a layout folder (``--layout DIR`` naming the folder it is in) shares
every blob with its source: only the config and the manifest are written, and
the name added. The blobs the destination already holds are not read again:
they were checked against their digests when they entered it, and the digest
a manifest names for them is the one they are stored under, so a new manifest
over them claims nothing the old one did not. Their sizes are checked against
the files. A blob that is not there yet (a source elsewhere, a modelcar's tar
made around a file, a file cut out of a modelcar's tar) is streamed in and
hashed as it is copied, as a build does; into an archive (``-o``) every blob is
copied and hashed (ops/convert.py).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from modeloci.blobs.cache import DigestCache
from modeloci.blobs.engine import FileState
from modeloci.builder import build_layout, build_store
from modeloci.compiler.model import BaseSource, BuildPlan
from modeloci.errors import UsageError
from modeloci.oci.digest import Digest
from modeloci.ops.convert import ConvertResult, convert, plan_conversion
from modeloci.sources import Source
from modeloci.store import Store

__all__ = ["HeldBlobs", "convert_to"]


class HeldBlobs(DigestCache):
    """The digests of the blobs a destination layout already holds, for the build to take without reading them:
    only for a file that is that blob (same device and inode), whole, at the size its descriptor gives. It keeps
    nothing new."""

    def __init__(self, plan: BuildPlan, blobs: Path) -> None:
        super().__init__()
        self.held: dict[tuple[int, int], tuple[Digest, int]] = {}
        for layer in plan.layers:
            if isinstance(layer.source, BaseSource) and layer.source.within is None:
                digest = Digest.parse(layer.source.digest)
                size = layer.size if layer.file_size is None else layer.file_size
                self._hold(blobs / digest.algorithm / digest.hex, digest, size)

    def _hold(self, path: Path, digest: Digest, size: int) -> None:
        try:
            found = os.stat(path, follow_symlinks=False)
        except OSError:
            return
        if stat.S_ISREG(found.st_mode) and found.st_size == size:
            self.held[(found.st_dev, found.st_ino)] = (digest, size)

    def get(self, state: FileState, offset: int, size: int, wrap: str = "") -> Digest | None:
        held = self.held.get((state.dev, state.ino))
        if held is None or wrap or offset != 0 or size != held[1] or state.size != held[1]:
            return None
        return held[0]

    def put(self, state: FileState, offset: int, size: int, digest: Digest, wrap: str = "") -> None:
        return  # only what the destination holds is vouched for: nothing read here is remembered


def convert_to(source: Source, target: str, *, output: Path | None = None, layout: Path | None = None,
               reference: str | None = None) -> ConvertResult:
    """Convert ``source`` to the ``target`` format into the archive ``output``, the layout folder ``layout``, or
    (neither) the store under ``reference``."""
    if output is not None and layout is not None:
        raise UsageError("give one output: -o OUT.tar or --layout DIR",
                         hint="write an archive with `-o model.tar`, or into a layout folder with `--layout DIR`")
    if output is not None:
        return convert(source, target, output, reference=reference)
    if reference is None:
        where = "a layout folder" if layout is not None else "the store"
        raise UsageError(f"a model converted into {where} needs a name",
                         hint="name it with `-t NAME[:TAG]`, or write an archive with `-o OUT.tar`")
    plan, source_format, warnings = plan_conversion(source, target, reference=reference)
    if layout is not None:
        result = build_layout(plan, layout, cache=HeldBlobs(plan, layout / "blobs"))
    else:
        store = Store()
        result = build_store(plan, store, cache=HeldBlobs(plan, store.root / "blobs"))
    return ConvertResult(result, source_format, target, warnings)
