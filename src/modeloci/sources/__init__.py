"""SOURCES: where a model comes from, on one level of its own.

A source is a path (an archive or a layout folder), one model of a layout
(``PATH:NAME``), a name in the local store, or a model in a registry
(:mod:`.refs`). :mod:`.open` resolves what a user typed and opens any source as
a layout; :mod:`.registry` reads a registry model as a layout and materialises it
into the store, with :mod:`.pull`. Everything that reads a model (the compiler's
``FROM``, the builder, the verbs) goes through here; this level imports the
store, the registry client and what is below them, and nothing above.
"""

from modeloci.sources.open import layout_ref, open_source, resolve
from modeloci.sources.refs import LayoutRef, RemoteRef, Source, StoredRef

__all__ = ["LayoutRef", "RemoteRef", "Source", "StoredRef", "layout_ref", "open_source", "resolve"]
