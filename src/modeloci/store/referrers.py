"""A model's referrers read from a layout, bounded and checked; and a referrer checked before it is written.

Shared by everything that moves referrers (attach, save, load, pull): at most
``MAX_REFERRERS`` referrers of one model, ``MAX_REFERRER_BYTES`` of their blobs
in all (counted from their descriptors, before anything is read), each blob
read at the size its descriptor gives and checked against its digest. A
referrer whose subject is another manifest is not this model's: it is skipped
when read, and refused when written.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from modeloci.errors import ArchiveError, UsageError
from modeloci.oci.digest import Digest
from modeloci.oci.layout import (
    MAX_JSON_BLOB,
    MAX_REFERRER_MANIFEST,
    Layout,
    ReferrerEntry,
    index_entries,
    read_blob,
    referrer_entries,
)
from modeloci.oci.manifest import Descriptor, InvalidDocument, parse_manifest
from modeloci.oci.referrers import Referrer, read_referrer

MAX_REFERRERS = 256  # of one model
MAX_REFERRER_BYTES = 64 << 20  # the blobs of one model's referrers, all together (each at most MAX_JSON_BLOB)

# Reads a blob a descriptor names, at most ``limit`` bytes, checked against its digest and size.
ReadBlob = Callable[[Descriptor, int], bytes]


def in_layout(layout: Layout, subject: Descriptor, where: str) -> list[Referrer]:
    """The referrers of ``subject`` that the index of ``layout`` (an archive or a folder) lists."""
    entries = referrer_entries(layout, index_entries(layout)) if layout.exists("index.json") else []
    return loaded(entries, subject, reader(layout), where)


def check_referrer(referrer: Referrer, subject: Descriptor, where: str) -> None:
    """UsageError unless ``referrer`` refers to ``subject`` and its manifest names exactly the blobs it carries."""
    if len(referrer.manifest) > MAX_REFERRER_MANIFEST:  # no reader would take it for a referrer
        raise UsageError(f"referrer {referrer.digest} has a manifest of {len(referrer.manifest)} bytes; a referrer's "
                         f"is at most {MAX_REFERRER_MANIFEST}", hint="put large content in its layer, not annotations")
    found = read_referrer(referrer.manifest)
    if found is None or found[1].digest != referrer.subject.digest or found[0] != referrer.artifact_type:
        raise UsageError(f"referrer {referrer.digest} is not an artifact referring to {referrer.subject.digest}",
                         hint="make referrers with modeloci.oci.referrers.make_referrer")
    if referrer.subject.digest != subject.digest or referrer.subject.size != subject.size:
        raise UsageError(f"referrer {referrer.digest} ({referrer.artifact_type}) refers to "
                         f"{referrer.subject.digest}, not to the model {subject.digest} of {where}",
                         hint="a signature, provenance or BOM is made for one model: make it for this one")
    for d in _blobs_of(referrer.manifest):
        data = referrer.blobs.get(d.digest)
        if data is None or len(data) != d.size or Digest.of(data) != d.digest:
            raise UsageError(f"referrer {referrer.digest} names blob {d.digest}, which it does not carry",
                             hint="make referrers with modeloci.oci.referrers.make_referrer")


def loaded(entries: Sequence[ReferrerEntry], subject: Descriptor, read: ReadBlob, where: str) -> list[Referrer]:
    """The referrers among ``entries`` whose subject is ``subject`` (others are skipped), each blob read with
    ``read``; ArchiveError past the bounds, before reading anything."""
    mine = of_subject(entries, subject, where)
    total = sum(d.size for e in mine for d in e.blobs)
    if total > MAX_REFERRER_BYTES:
        raise ArchiveError(f"the referrers of {where} hold {total} bytes; modeloci reads at most "
                           f"{MAX_REFERRER_BYTES}", hint="a signature, provenance or BOM is small")
    out = []
    for e in mine:
        try:
            blobs = {d.digest: read(d, MAX_JSON_BLOB) for d in e.blobs}
        except ArchiveError as exc:
            raise ArchiveError(f"referrer {e.descriptor.digest} of {where}: {exc.message}",
                               hint=f"`modeloci verify {where.strip('`')}` checks the model") from None
        out.append(Referrer(e.manifest, e.artifact_type, e.subject, blobs))
    return out


def _reader(layout: Layout) -> ReadBlob:
    return lambda d, limit: read_blob(layout, d.digest, size=d.size, limit=limit)


def of_subject(entries: Sequence[ReferrerEntry], subject: Descriptor, where: str) -> list[ReferrerEntry]:
    """The entries that refer to ``subject``, each once; ArchiveError past ``MAX_REFERRERS`` of them."""
    mine = {e.descriptor.digest: e for e in entries
            if e.subject.digest == subject.digest and e.subject.size == subject.size}
    if len(mine) > MAX_REFERRERS:
        raise ArchiveError(f"{where} lists {len(mine)} referrers of its model; modeloci reads at most "
                           f"{MAX_REFERRERS}", hint="they are not a model's signatures and BOMs")
    return list(mine.values())


def reader(layout: Layout) -> ReadBlob:
    return lambda d, limit: read_blob(layout, d.digest, size=d.size, limit=limit)


def _blobs_of(manifest: bytes) -> tuple[Descriptor, ...]:
    try:
        parsed = parse_manifest(manifest)
    except InvalidDocument as exc:
        raise UsageError(f"a referrer's manifest is not an image manifest: {exc}") from None
    return (parsed.config, *parsed.layers)
