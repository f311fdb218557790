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

import os
from dataclasses import dataclass, replace

from modeloci.blobs.engine import BlobSource, FileState, hash_wrapped
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


@dataclass(frozen=True, slots=True)
class FileInLayer:
    """Where a modelcar layer's file lies in the layer's blob, and its digest: the one the layer's annotation
    claims (to be checked when the file is read), or, without one, found here with the layer's own digest."""

    offset: int
    size: int
    digest: Digest


# A modelcar layer's tar headers (before the file) and end (after it): kilobytes when modeloci or olot made it.
MAX_WRAPPING = 1 << 20


def file_member(layout: Layout, layer: ModelLayer) -> tuple[BlobSource, Member]:
    """The blob of an uncompressed modelcar layer, and its one file (a byte range of it)."""
    source = layer_source(layout, layer, f"layer {layer.descriptor.digest} ({layer.filepath})")
    if layer.packing != "tar":
        raise ArchiveError(f"layer {layer.descriptor.digest} ({layer.filepath}) is compressed "
                           f"(`{layer.descriptor.media_type}`): its file is not a byte range of it",
                           hint="unpack it (`modeloci unpack SOURCE -o DIR --layout files`) and build from its files")
    member = the_file(source, layer)
    assert member.offset is not None  # an uncompressed tar's member is a byte range
    return source, member


def file_in_layer(layout: Layout, layer: ModelLayer) -> FileInLayer:
    """The file of an uncompressed modelcar layer with its digest: the annotation's, or found in one read that
    checks the layer's digest too (hash_wrapped: the file's range, with the tar bytes around it read first)."""
    source, member = file_member(layout, layer)
    offset = member.offset or 0
    claimed = claimed_digest(layer)
    if claimed is not None:
        return FileInLayer(offset, member.size, claimed)
    end = offset + member.size
    if offset > MAX_WRAPPING or source.size - end > MAX_WRAPPING:
        raise ArchiveError(f"layer {layer.descriptor.digest} ({layer.filepath}): the tar around its file is over "
                           f"{MAX_WRAPPING} bytes")
    head, tail = _read(source, 0, offset), _read(source, end, source.size - end)
    inner = replace(source, offset=source.offset + offset, size=member.size, head=head, tail=tail, expected=None)
    blob, digest = hash_wrapped(inner)
    if blob != layer.descriptor.digest:
        raise ArchiveError(f"reading {source.label}: content does not match its digest {layer.descriptor.digest}",
                           hint="it was damaged or changed after it was written; `modeloci verify` names every "
                                "such blob")
    return FileInLayer(offset, member.size, digest)


def _read(source: BlobSource, start: int, size: int) -> bytes:
    """``size`` bytes at ``start`` of the blob (at most :data:`MAX_WRAPPING`, checked by the caller)."""
    fd = os.open(source.path, os.O_RDONLY)
    try:
        data = os.pread(fd, size, source.offset + start)
    finally:
        os.close(fd)
    if len(data) != size:
        raise ArchiveError(f"reading {source.label}: it ends before its size")
    return data


def tar_mtime(layout: Layout, layers: tuple[ModelLayer, ...]) -> int | None:
    """The mtime of the first uncompressed model layer's first tar header (what ``SOURCE_DATE_EPOCH`` was when the
    modelcar was built), or None when it has none: what a rebuild must give its tars."""
    layer = next((layer for layer in layers if layer.kind == "modelcar" and layer.packing == "tar"), None)
    if layer is None:
        return None
    header = _read(layer_source(layout, layer, str(layer.descriptor.digest)), 0, 512) \
        if layer.descriptor.size >= 512 else b""
    field = header[136:148].rstrip(b"\0 ")
    try:
        return int(field, 8) if field else None
    except ValueError:
        return None
