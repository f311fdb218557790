"""Resolving what a user typed into a source, and opening any source as a layout.

Commands that read a model (inspect, verify, unpack, convert, push, FROM)
take any source. A path that exists wins; then ``PATH:NAME``, the model named
``NAME`` in the layout at ``PATH`` (as skopeo's ``oci:PATH:NAME``: a layout
folder that two builds wrote into holds two models); otherwise the text is
read as a reference (``name[:tag]``, ``:latest`` by default) and looked up in
the store. Registry references are the compiler's to resolve (``FROM``) and
the registry commands' (push, pull); opened here, they read the registry.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from modeloci.errors import ArchiveError, UsageError
from modeloci.oci.layout import Layout, SelectedLayout, models, names_of, open_layout, select
from modeloci.oci.manifest import REF_NAME
from modeloci.reference import normalise_tag
from modeloci.sources.refs import LayoutRef, RemoteRef, Source, StoredRef
from modeloci.store import Store, StoreView


def resolve(text: str, *, store_root: Path | None = None) -> Source:
    """A path if it exists, else ``PATH:NAME``, else a stored model; UsageError naming both when it is neither."""
    path = Path(text)
    if path.exists():
        return path
    named = layout_ref(text)
    if named is not None:
        return named
    store = Store(store_root)
    try:
        reference = normalise_tag(text)
    except UsageError:
        raise UsageError(f"`{text}` not found",
                         hint="give an archive, a layout folder, or a model in the store") from None
    if store.find(reference) is None:
        raise UsageError(f"`{text}` is neither a file nor a model in the store ({store.root})",
                         hint="see `modeloci ls` for stored models")
    return StoredRef(reference, store.root)


def layout_ref(text: str) -> LayoutRef | None:
    """``PATH:NAME`` when some ``PATH`` before a colon exists (the first one: a name may hold colons, as in
    ``tiny:f32``); None otherwise."""
    at = text.find(":")
    while at > 0:
        if Path(text[:at]).exists() and at + 1 < len(text):
            return LayoutRef(Path(text[:at]), text[at + 1:])
        at = text.find(":", at + 1)
    return None


@contextmanager
def open_source(source: Source, *, strict: bool = True) -> Iterator[Layout]:
    """The source as a layout; an archive with unsafe members is refused unless ``strict=False`` (verify).

    A layout holding several models, opened without naming one, is refused
    with their names (verify, which reports it among its problems, aside).
    """
    if isinstance(source, LayoutRef):
        with open_layout(source.path, strict=strict) as layout:
            yield SelectedLayout(layout, select(layout, source.name, str(source.path)))
        return
    if isinstance(source, Path):
        with open_layout(source, strict=strict) as layout:
            if strict:
                _refuse_several(layout, source)
            yield layout
        return
    if isinstance(source, RemoteRef):
        # Imported when used: it loads the registry client (httpx), which local builds never need.
        from modeloci.sources.registry import RemoteLayout

        yield RemoteLayout(source)
        return
    entry = Store(source.root).get(source.reference)
    layout = StoreView(source.root, entry.descriptor)
    try:
        yield layout
    finally:
        layout.close()


def _refuse_several(layout: Layout, path: Path) -> None:
    entries = models(layout)
    if len(entries) > 1:
        first = entries[0].annotations.get(REF_NAME) or str(entries[0].digest)
        raise ArchiveError(f"`{path}` holds {len(entries)} models: {names_of(entries)}", path=str(path),
                           hint=f"name one after the path, as `{path}:{first}`")
