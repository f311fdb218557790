"""Models kept in part: the layers a stored model pulled with ``--include``/``--exclude``/``--role`` lacks.

A partial model's index entry carries :data:`~modeloci.formats.select.PARTIAL`
(and :data:`ORIGIN`, where it was pulled from). Its absent layers are expected,
not damage: ``ls`` and ``verify`` name them; ``unpack`` and ``model_files``
take what is there when asked for it by a selection; ``push``, ``save`` and
whatever needs every layer refuse it, saying how to pull the rest. A layer
counts as absent when its blob is not in the store, so a model whose missing
blobs arrived with another one (they share blobs) is whole again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from modeloci.errors import UsageError
from modeloci.formats.artifact import Artifact, ModelLayer
from modeloci.formats.select import PARTIAL, WHOLE, Selection, choose, listing
from modeloci.oci.layout import Layout
from modeloci.oci.manifest import Descriptor

__all__ = ["ORIGIN", "WHOLE", "Selection", "absent", "absent_blobs", "chosen", "entry_of", "is_partial",
           "pull_the_rest", "refuse_absent"]

ORIGIN = "org.modeloci.origin"  # on a pulled model's store entry: where it came from (``registry/repository``)


def is_partial(entry: Descriptor) -> bool:
    """Whether a store entry was pulled in part (whether layers are absent is :func:`absent`'s to say)."""
    return PARTIAL in entry.annotations


def entry_of(layout: Layout) -> Descriptor | None:
    """The store entry a view of one stored model was opened by, when it marks a partial model."""
    selected: Descriptor | None = getattr(layout, "selected", None)  # a StoreView's
    return selected if selected is not None and is_partial(selected) else None


def absent(layout: Layout, layers: Sequence[ModelLayer]) -> list[ModelLayer]:
    """Those of ``layers`` whose blobs a partial stored model lacks; none for any other layout (a blob missing
    there is damage, which the readers report as such)."""
    gone = {d.digest for d in absent_blobs(layout, [layer.descriptor for layer in layers])}
    return [layer for layer in layers if layer.descriptor.digest in gone]


def absent_blobs(layout: Layout, blobs: Sequence[Descriptor]) -> list[Descriptor]:
    """Those of ``blobs`` (a manifest's layers) a partial stored model lacks; none for any other layout."""
    if entry_of(layout) is None:
        return []
    return [d for d in blobs if not layout.exists(d.digest.blob_path)]


def pull_the_rest(entry: Descriptor, reference: str) -> str:
    """How to fetch a partial model's absent layers (only those: what is there is not fetched again)."""
    origin = entry.annotations.get(ORIGIN)
    if origin is None:
        return "pull it again, whole, from the registry it came from"
    return f"pull the rest with `modeloci pull {origin}@{entry.digest} -t {reference}`"


def refuse_absent(layout: Layout, layers: Sequence[ModelLayer], reference: str, *, verb: str,
                  hint: str = "") -> None:
    """UsageError naming the absent ones of ``layers`` (of a partial stored model), and how to fetch them;
    ``hint`` comes before that (``unpack what is there with --include, or ``)."""
    entry, missing = entry_of(layout), absent(layout, layers)
    if entry is None or not missing:
        return
    raise UsageError(f"refusing to {verb} `{reference}`: it was pulled in part, and {len(missing)} of the layers "
                     f"this needs {'is' if len(missing) == 1 else 'are'} absent: {listing(missing)}",
                     hint=hint + pull_the_rest(entry, reference))


def chosen(layout: Layout, artifact: Artifact, selection: Selection, reference: str, *,
           verb: str = "unpack") -> Artifact:
    """``artifact`` (of ``layout``) with only the layers ``selection`` takes: UsageError when it takes none, or
    when a model pulled in part lacks some of them (``verb`` says what for)."""
    layers = choose(artifact.layers, selection, f"`{reference}`")
    hint = "take what is there with --include or --role, or " if selection.whole else ""
    refuse_absent(layout, layers, reference, verb=verb, hint=hint)
    return replace(artifact, layers=layers)
