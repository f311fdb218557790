"""Reading a modelcar's model layers: the one file each holds, found by its tar headers, under the member policy.

A modelcar made by anyone is outside input. Its model layer must hold exactly
one regular file, at ``models/<path>`` where ``<path>`` is the layer's path
annotation; every other member may only be a folder on the way to it; no
member may be a link, a device, absolute, climb out with ``..`` or run past the
layer's end (:func:`modeloci.formats.layertar.list_members` applies the archive
member policy). Headers are read by seeking from one to the next, never the
file's bytes, so finding a file in a 100 GB layer reads kilobytes.
"""

from __future__ import annotations

from modeloci.blobs.engine import BlobSource, FileState
from modeloci.errors import ArchiveError
from modeloci.formats.artifact import ModelLayer
from modeloci.formats.layertar import MAX_INFLATE_RATIO, Member, list_members
from modeloci.formats.modelcar import file_digest, member_name
from modeloci.oci.digest import Digest
from modeloci.oci.layout import Layout, locate_blob
from modeloci.oci.safety import safe_relative


def layer_source(layout: Layout, layer: ModelLayer, label: str) -> BlobSource:
    """The layer's blob, at the size its descriptor gives, to be checked against its digest when read."""
    path, offset, size = locate_blob(layout, layer.descriptor)
    return BlobSource(path, offset, size, label, FileState.from_stat(path.stat()), layer.descriptor.digest)


def the_file(source: BlobSource, layer: ModelLayer, *, max_ratio: int = MAX_INFLATE_RATIO) -> Member:
    """The one file the modelcar layer ``source`` holds, at ``models/<layer.filepath>``; ArchiveError naming every
    way the layer breaks the rules otherwise."""
    problems = file_problems(source, layer, max_ratio=max_ratio)
    if isinstance(problems, Member):
        return problems
    raise ArchiveError(f"layer {layer.descriptor.digest} ({layer.filepath}): " + "; ".join(problems))


def file_problems(source: BlobSource, layer: ModelLayer, *, max_ratio: int = MAX_INFLATE_RATIO) -> Member | list[str]:
    """The layer's one file, or what is wrong with the layer (every problem)."""
    wanted = safe_relative(layer.filepath)
    if wanted is None:
        return [f"its path `{layer.filepath}` is not a relative path inside the model"]
    folders: list[str] = []
    members, problems = list_members(source, layer.packing, max_ratio=max_ratio, folders=folders)
    if problems:
        return problems
    name = member_name(wanted)
    files = [m for m in members if m.path == name]
    others = [m.path for m in members if m.path != name]
    if others:
        problems.append(f"it holds `{others[0]}`{_more(others)} besides `{name}`; a modelcar layer holds one file")
    if len(files) != 1:
        problems.append(f"it holds no file `{name}`" if not files else f"it holds `{name}` {len(files)} times")
    problems += _on_the_way(folders, name)
    return problems or files[0]


def _more(items: list[str]) -> str:
    return f" (and {len(items) - 1} more)" if len(items) > 1 else ""


def _on_the_way(folders: list[str], name: str) -> list[str]:
    """Folder members must be ``models/`` or a folder on the way to the file (nothing else may be made)."""
    parts = name.split("/")
    allowed = {"/".join(parts[:i]) for i in range(1, len(parts))}
    stray = [folder for folder in folders if folder not in allowed]
    return [f"it makes the folder `{stray[0]}`{_more(stray)}, which is not on the way to `{name}`"] if stray else []


def unpacked(source: BlobSource, layer: ModelLayer, *, max_ratio: int = MAX_INFLATE_RATIO) -> list[Member]:
    """What ``unpack`` writes of a modelcar's layer: its one file, at the layer's path (its name in the tar kept
    for a compressed layer, read as a stream); nothing of a layer of the container image under the model."""
    if not layer.is_file:
        return []
    try:
        found = the_file(source, layer, max_ratio=max_ratio)
    except ArchiveError as exc:
        raise ArchiveError(f"refusing to unpack: {exc.message}") from None
    return [Member(layer.filepath, found.size, found.offset, found.path)]


def claimed_digest(layer: ModelLayer) -> Digest | None:
    """The file digest a modelcar layer's annotation claims (checked against the file as it is written), or None
    for any other layer."""
    return file_digest(layer.descriptor.annotations) if layer.kind == "modelcar" else None
