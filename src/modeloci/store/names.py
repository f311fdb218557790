"""Where a model comes from: a path (archive or layout folder) or a name in the local store.

Commands that read a model (inspect, verify, unpack, convert, FROM) take
either. A path that exists wins; otherwise the text is read as a reference
(``name[:tag]``, ``:latest`` by default) and looked up in the store.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from modeloci.errors import UsageError
from modeloci.oci.layout import DirLayout, Layout, open_layout
from modeloci.oci.manifest import Descriptor


@dataclass(frozen=True, slots=True)
class StoredRef:
    """A model in the store, by reference."""

    reference: str
    root: Path

    def __str__(self) -> str:
        return self.reference


Source = Path | StoredRef


class StoreView(DirLayout):
    """The store's layout, seen as holding one model: the one ``selected`` names."""

    def __init__(self, root: Path, selected: Descriptor) -> None:
        super().__init__(root)
        self.selected = selected


def resolve(text: str, *, store_root: Path | None = None) -> Source:
    """A path if it exists, else a stored model; UsageError naming both when it is neither."""
    path = Path(text)
    if path.exists():
        return path
    from modeloci.reference import normalise_tag
    from modeloci.store import Store

    store = Store(store_root)
    try:
        reference = normalise_tag(text)
    except UsageError:
        raise UsageError(f"`{text}` not found", hint="give an archive, a layout folder, or a model in the store") from None
    if store.find(reference) is None:
        raise UsageError(f"`{text}` is neither a file nor a model in the store ({store.root})",
                         hint="see `modeloci ls` for stored models")
    return StoredRef(reference, store.root)


@contextmanager
def open_source(source: Source, *, strict: bool = True) -> Iterator[Layout]:
    """The source as a layout; an archive with unsafe members is refused unless ``strict=False`` (verify)."""
    if isinstance(source, Path):
        with open_layout(source, strict=strict) as layout:
            yield layout
        return
    if not isinstance(source, StoredRef):  # a model in a registry (modeloci.registry.remote.RemoteRef)
        from modeloci.registry.remote import RemoteLayout

        yield RemoteLayout(source)  # type: ignore[misc]
        return
    from modeloci.store import Store

    entry = Store(source.root).get(source.reference)
    layout = StoreView(source.root, entry.descriptor)
    try:
        yield layout
    finally:
        layout.close()
