"""Reading OCI image layouts, as folders or as tar archives (oci-archive).

Also reads Docker Model Runner load tars, which have ``blobs/sha256/*`` and a
root ``manifest.json`` holding the raw manifest but no ``index.json``. Blobs are
looked up by digest and opened as streams, never extracted; small JSON blobs
are read whole and checked against their digest and size.

One member policy holds for every reader (:mod:`.safety`): a tar with a member
at an absolute path, climbing out with ``..`` (in its name or a pax override),
a link, a device or fifo, two members at one path, or data past its end is
refused when it is opened, whatever the command. ``verify`` alone opens it
with ``strict=False``, to list every problem instead. In a layout folder, a
blob reached through a symlink is refused the same way. A blob is used only
at the size its descriptor gives (:func:`locate_blob`), so a descriptor that
claims more bytes than its member holds never reads the bytes that follow.
A tar's members are listed by :mod:`.tarlist` (tarfile's reading of the
headers, bounded) and read through the one descriptor the layout holds open.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

from modeloci.errors import ArchiveError
from modeloci.jsondoc import InvalidJSON, load_json
from modeloci.oci.digest import Digest
from modeloci.oci.manifest import REF_NAME, Descriptor, InvalidDocument, Manifest, parse_index, parse_manifest
from modeloci.oci.mediatypes import MediaType
from modeloci.oci.platforms import INDEXES, PlatformEntry, entries_of, named
from modeloci.oci.referrers import read_referrer
from modeloci.oci.safety import tar_problems
from modeloci.oci.tarlist import list_tar, member_stream

MAX_JSON_BLOB = 16 << 20
# How many untagged index entries are read to tell a referrer from a model, and how large each manifest read for
# it may be: past these, entries count as models, so a hostile index makes a reader read at most 64 MiB for it.
MAX_REFERRER_ENTRIES = 1024
MAX_REFERRER_MANIFEST = 64 << 10


class Layout(Protocol):
    """Read access to the files of an OCI layout, wherever they are stored."""

    def exists(self, name: str) -> bool: ...

    def size(self, name: str) -> int: ...

    def open(self, name: str) -> IO[bytes]: ...

    def names(self) -> list[str]:
        """Every regular file of the layout, by its path in it."""
        ...

    def locate(self, name: str) -> tuple[Path, int, int]:
        """Where a file's bytes are: a path, an offset in it, and a size (for kernel copies)."""
        ...

    def close(self) -> None: ...


class DirLayout:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._real_root = os.path.realpath(root)

    def _path(self, name: str) -> Path:
        """The file ``name`` names; ArchiveError if the way to it passes through a symlink (the file included)."""
        parts = name.split("/")
        path = self.root.joinpath(*parts)
        if os.path.lexists(path) and os.path.realpath(path) != os.path.join(self._real_root, *parts):
            raise ArchiveError(f"refusing to read `{self.root}`: `{name}` is reached through a symlink",
                               path=str(self.root), hint="a layout folder holds its blobs as plain files")
        return path

    def exists(self, name: str) -> bool:
        return self._path(name).is_file()

    def size(self, name: str) -> int:
        return self._path(name).stat().st_size

    def open(self, name: str) -> IO[bytes]:
        return self._path(name).open("rb")

    def locate(self, name: str) -> tuple[Path, int, int]:
        return self._path(name), 0, self.size(name)

    def names(self) -> list[str]:
        """Every regular file, relative, ``/``-separated (symlinks are not followed or listed)."""
        out = []
        for folder, dirs, files in os.walk(self.root):
            dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(folder, d))]
            for name in files:
                full = os.path.join(folder, name)
                if os.path.isfile(full) and not os.path.islink(full):
                    out.append(os.path.relpath(full, self.root).replace(os.sep, "/"))
        return sorted(out)

    def close(self) -> None:
        pass


class TarLayout:
    """A layout inside a tar. Every member is listed (``members``, by :mod:`.tarlist`) so that checks can refuse
    what a layout must not hold; only regular files are readable by name."""

    def __init__(self, path: Path, *, strict: bool = True) -> None:
        self.path = path
        try:
            self._fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        except OSError as exc:
            raise ArchiveError(f"`{path.name}` is not a readable tar archive: {_reason(exc)}", path=str(path)) from exc
        try:
            listing = list_tar(self._fd, path)
        except BaseException:
            os.close(self._fd)
            raise
        self.members, self.truncated = listing.members, listing.truncated
        if strict:
            self._refuse_unsafe()
        self._members: dict[str, tarfile.TarInfo] = {}
        for member in self.members:
            if member.isreg():  # the first of two members at one path (only verify, not strict, sees two)
                self._members.setdefault(_clean(member.name), member)

    def _refuse_unsafe(self) -> None:
        problems = [f"archive member {unsafe.message}"
                    for unsafe in tar_problems(self.members, os.fstat(self._fd).st_size)]
        if self.truncated:
            problems.append("the archive is cut short: it ends inside a member header")
        if problems:
            self.close()
            raise ArchiveError(f"refusing to read `{self.path.name}`: " + "; ".join(problems), path=str(self.path),
                               hint=f"run `modeloci verify {self.path}` to list every problem")

    def names(self) -> list[str]:
        return sorted(self._members)

    def exists(self, name: str) -> bool:
        return name in self._members

    def size(self, name: str) -> int:
        return self._members[name].size

    def open(self, name: str) -> IO[bytes]:
        member = self._members[name]
        return member_stream(self._fd, member.offset_data, member.size)

    def locate(self, name: str) -> tuple[Path, int, int]:
        member = self._members[name]
        return self.path, member.offset_data, member.size

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def _clean(name: str) -> str:
    return posixpath.normpath(name.removeprefix("./"))


def _reason(exc: BaseException) -> str:
    """tarfile's first line; its message for a non-tar lists every compression it tried."""
    text = str(exc).splitlines()[0].rstrip(":") if str(exc) else type(exc).__name__
    return "not a tar archive" if text == "file could not be opened successfully" else text


@contextmanager
def open_layout(path: Path, *, strict: bool = True) -> Iterator[Layout]:
    """Open a layout folder or a tar archive of one; ``strict=False`` (verify) lets unsafe members be listed."""
    layout: Layout = DirLayout(path) if path.is_dir() else TarLayout(path, strict=strict)
    try:
        yield layout
    finally:
        layout.close()


def locate_blob(layout: Layout, descriptor: Descriptor) -> tuple[Path, int, int]:
    """Where the blob ``descriptor`` names lies (path, offset, size), checked to hold exactly its size."""
    name = descriptor.digest.blob_path
    if not layout.exists(name):
        raise ArchiveError(f"blob {descriptor.digest} is missing")
    path, offset, size = layout.locate(name)
    if size != descriptor.size:
        raise ArchiveError(f"blob {descriptor.digest} is {size} bytes; the manifest says {descriptor.size}")
    return path, offset, size


def read_blob(layout: Layout, digest: Digest, *, size: int | None = None, limit: int = MAX_JSON_BLOB) -> bytes:
    """A small blob's bytes, checked against its digest and, when given, the size its descriptor says."""
    name = digest.blob_path
    if not layout.exists(name):
        raise ArchiveError(f"blob {digest} is missing")
    if size is not None and layout.size(name) != size:
        raise ArchiveError(f"blob {digest} is {layout.size(name)} bytes; its descriptor says {size}")
    if layout.size(name) > limit:
        raise ArchiveError(f"blob {digest} is larger than {limit} bytes")
    with layout.open(name) as stream:
        data = stream.read()
    if hashlib.sha256(data).hexdigest() != digest.hex:
        raise ArchiveError(f"blob {digest} does not match its digest")
    return data


def read_manifest(layout: Layout) -> tuple[Manifest, str | None]:
    """The layout's one manifest and its ref name, from ``index.json`` or a root ``manifest.json``."""
    try:
        if layout.exists("index.json") or getattr(layout, "selected", None) is not None:
            return _from_index(layout)
        if layout.exists("manifest.json"):
            with layout.open("manifest.json") as stream:
                return parse_manifest(stream.read(MAX_JSON_BLOB)), None
    except InvalidDocument as exc:
        raise ArchiveError(str(exc)) from exc
    raise ArchiveError("it has neither `index.json` nor `manifest.json`")


def index_entries(layout: Layout) -> list[Descriptor]:
    """The layout's index entries: ``index.json``'s, or the one a view selects (a model in the store)."""
    selected = getattr(layout, "selected", None)
    if selected is not None:
        return [selected]
    with layout.open("index.json") as stream:
        return parse_index(stream.read(MAX_JSON_BLOB))


def _from_index(layout: Layout) -> tuple[Manifest, str | None]:
    manifests = model_entries(layout, index_entries(layout))
    if len(manifests) > 1:
        raise ArchiveError(f"it holds {len(manifests)} models: {names_of(manifests)}",
                           hint="name one after the path, as `PATH:NAME` (as skopeo's `oci:PATH:NAME`)")
    if not manifests and (found := index_platforms(layout)) is not None:
        raise ArchiveError(f"it is a multi-platform image, {named([e.name for e in found[1]])}",
                           hint=MULTI_HINT)
    if len(manifests) != 1:
        raise ArchiveError(f"its index lists {len(manifests)} image manifests; expected exactly one")
    entry: Descriptor = manifests[0]
    manifest = parse_manifest(read_blob(layout, entry.digest, size=entry.size))
    return manifest, entry.annotations.get(REF_NAME)


MULTI_HINT = ("copy one platform out of it, as `skopeo --override-arch ARCH copy oci-archive:PATH oci:DIR:TAG` "
              "(`oci:PATH` for a folder)")


def index_platforms(layout: Layout) -> tuple[Descriptor, list[PlatformEntry]] | None:
    """The image index a layout's one index entry names (a multi-platform image, as skopeo and docker write one,
    and as a modelcar built on one is written) and its entries; None when it names no index. Read bounded, as
    every small blob is; an unreadable one is no answer (the reader's own message stands)."""
    if getattr(layout, "selected", None) is None and not layout.exists("index.json"):
        return None  # a Docker load tar: one manifest, no index
    try:
        entries = index_entries(layout)
        if len(entries) != 1 or entries[0].media_type not in INDEXES:
            return None
        found = entries_of(load_json(read_blob(layout, entries[0].digest, size=entries[0].size), "an index"))
    except (ArchiveError, InvalidDocument, InvalidJSON, OSError):
        return None
    return (entries[0], found) if found is not None else None


DEFAULT_PLATFORM = "linux/amd64"


def platform_view(layout: Layout, wanted: str | None, where: str) -> Layout:
    """One platform's image of the multi-platform image a layout holds, seen as its only model: ``wanted``
    (``os/arch[/variant]``; ``os/arch`` alone takes the one variant the index has), by default linux/amd64;
    ArchiveError naming the platforms when it has none such. Any other layout is itself (``wanted`` is a choice
    among platforms: a single image has none to make)."""
    found = index_platforms(layout) if layout.exists("index.json") and not models(layout) else None
    if found is None:
        return layout
    images = [e for e in found[1] if e.is_image and e.descriptor is not None]
    name = wanted or DEFAULT_PLATFORM
    matches = [e for e in images if e.name == name] or [
        e for e in images if name.count("/") == 1 and e.name.rsplit("/", 1)[0] == name and e.name.count("/") == 2]
    if len(matches) == 1 and matches[0].descriptor is not None:
        return SelectedLayout(layout, matches[0].descriptor)
    which = "several images" if matches else "no image"
    raise ArchiveError(f"`{where}` is {named([e.name for e in found[1]])}, with {which} for {name}",
                       path=where, hint="choose one with `--platform OS/ARCH[/VARIANT]`")


class SelectedLayout:
    """One model of a layout that holds several, seen as the only one: the index entry ``selected`` names it
    (the store's view of one of its models works the same way)."""

    def __init__(self, inner: Layout, selected: Descriptor) -> None:
        self.inner = inner
        self.selected = selected

    def exists(self, name: str) -> bool:
        return self.inner.exists(name)

    def size(self, name: str) -> int:
        return self.inner.size(name)

    def open(self, name: str) -> IO[bytes]:
        return self.inner.open(name)

    def names(self) -> list[str]:
        return self.inner.names()

    def locate(self, name: str) -> tuple[Path, int, int]:
        return self.inner.locate(name)

    def close(self) -> None:
        self.inner.close()


def models(layout: Layout) -> list[Descriptor]:
    """The image manifests the layout's index lists (none for a Docker load tar, which has no index)."""
    if not layout.exists("index.json"):
        return []
    try:
        return model_entries(layout, index_entries(layout))
    except InvalidDocument as exc:
        raise ArchiveError(str(exc)) from exc


@dataclass(frozen=True, slots=True)
class ReferrerEntry:
    """An index entry that refers to another manifest (OCI 1.1 ``subject``): a signature, provenance or BOM
    beside its model, with its manifest's bytes (read whole, checked), subject and blobs (config and layers)."""

    descriptor: Descriptor
    manifest: bytes
    artifact_type: str
    subject: Descriptor
    blobs: tuple[Descriptor, ...]


def referrer_entries(layout: Layout, entries: list[Descriptor], *, bounded: bool = True) -> list[ReferrerEntry]:
    """The untagged image manifests of ``entries`` that refer to another; one that cannot be read is not one.
    Past ``MAX_REFERRER_ENTRIES`` untagged entries none is read (each counts as a model), unless not ``bounded``
    (the store, which is ours)."""
    untagged = [d for d in entries if d.media_type == MediaType.OCI_MANIFEST and REF_NAME not in d.annotations
                and d.size <= MAX_REFERRER_MANIFEST]
    if bounded and len(untagged) > MAX_REFERRER_ENTRIES:
        return []
    found = []
    for d in untagged:
        try:
            data = read_blob(layout, d.digest, size=d.size, limit=MAX_REFERRER_MANIFEST)
            manifest = parse_manifest(data)
        except (ArchiveError, InvalidDocument, OSError):
            continue
        referring = read_referrer(data)
        if referring is not None:
            found.append(ReferrerEntry(d, data, referring[0], referring[1], (manifest.config, *manifest.layers)))
    return found


def model_entries(layout: Layout, entries: list[Descriptor]) -> list[Descriptor]:
    """The image manifests of ``entries`` that are models: not the referrers beside them."""
    referring = {r.descriptor.digest for r in referrer_entries(layout, entries)}
    return [d for d in entries if d.media_type == MediaType.OCI_MANIFEST and d.digest not in referring]


def names_of(entries: list[Descriptor]) -> str:
    """The models of an index as a reader would name them: their ref names, or digests for untagged ones."""
    return ", ".join(f"`{d.annotations.get(REF_NAME) or d.digest}`" for d in entries)


def select(layout: Layout, name: str, where: str) -> Descriptor:
    """The model named ``name`` (its ref name, or its manifest digest) in the layout's index."""
    entries = models(layout)
    found = [d for d in entries if name in (d.annotations.get(REF_NAME), str(d.digest))]
    if len(found) == 1:
        return found[0]
    if not entries:
        raise ArchiveError(f"`{where}` has no index of models to find `{name}` in", path=where)
    if not found:
        raise ArchiveError(f"`{where}` holds no model named `{name}`; it holds {names_of(entries)}", path=where)
    raise ArchiveError(f"`{where}` holds {len(found)} models named `{name}`; name one by its digest: "
                       f"{', '.join(f'`{d.digest}`' for d in found)}", path=where)
