"""The kinds of source a model comes from, as values: a path, a stored name, one model of a layout, a registry.

``Source`` is their union. A path is an archive or a layout folder; the other
three are references resolved by :mod:`.open` (``PATH:NAME``, a stored name)
or by the compiler (``registry/repository:tag``). Defining them here costs no
import of the registry client: ``RemoteRef`` names its client's type only for
the type checker.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from modeloci.registry.client import RegistryClient
    from modeloci.registry.image_ref import Reference


@dataclass(frozen=True, slots=True)
class StoredRef:
    """A model in the store, by reference."""

    reference: str
    root: Path

    def __str__(self) -> str:
        return self.reference


@dataclass(frozen=True, slots=True)
class LayoutRef:
    """One model of a layout folder or archive, by its ref name (or its manifest digest)."""

    path: Path
    name: str

    def __str__(self) -> str:
        return f"{self.path}:{self.name}"


@dataclass(frozen=True, slots=True)
class RemoteRef:
    """A model in a registry, pinned to the manifest digest found at plan time."""

    reference: Reference
    client: RegistryClient

    def __str__(self) -> str:
        return str(self.reference)


Source = Path | StoredRef | LayoutRef | RemoteRef
