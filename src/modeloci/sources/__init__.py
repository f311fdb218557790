"""SOURCES: where a model comes from, on one level of its own.

A source is a path (an archive or a layout folder), one model of a layout
(``PATH:NAME``), a name in the local store, or a model in a registry
(:mod:`.refs`). :mod:`.open` resolves what a user typed and opens any source as
a layout; :mod:`.registry` reads a registry model as a layout and materialises it
into the store, with :mod:`.pull`. Everything that reads a model (the compiler's
``FROM``, the builder, the verbs) goes through here; this level imports the
store, the registry client and what is below them, and nothing above.

The names of :mod:`.open` are loaded when first used (start-up time): they
bring the store and the layout reader (tarfile), which a plan or build ``FROM
scratch`` never needs, while the names of sources (:mod:`.refs`) are in every
plan.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from modeloci.sources.refs import LayoutRef, RemoteRef, Source, StoredRef

if TYPE_CHECKING:
    from modeloci.sources.open import layout_ref, open_source, resolve

__all__ = ["LayoutRef", "RemoteRef", "Source", "StoredRef", "layout_ref", "open_source", "resolve"]

_OPENING = frozenset({"layout_ref", "open_source", "resolve"})


def __getattr__(name: str) -> Any:
    if name in _OPENING:
        # Imported on first use (start-up time): see the module's docstring.
        from modeloci.sources import open as opening

        return getattr(opening, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
