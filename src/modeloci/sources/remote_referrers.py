"""A model's referrers to and from a registry: read for a pull, sent with a push.

Reading (:func:`fetch`): the registry's list (its referrers API, else the
fallback tag: :mod:`modeloci.registry.referrers`) is taken as a claim. At most
``MAX_REFERRERS`` image manifests of at most ``MAX_REFERRER_MANIFEST`` bytes
are fetched, each checked against its digest; one whose ``subject`` is not
the model's is dropped, as a listing the model does not own; the blobs of the
rest are fetched bounded (``MAX_REFERRER_BYTES`` in all, counted before any is
fetched) and checked against their digests.

Sending (:func:`send`): each referrer's blobs the registry lacks, then its
manifest by digest (if the registry lacks it), then, where the registry has no
referrers API, the fallback tag, merged with what it lists already. Nothing
is sent twice: a second push sends nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from modeloci.oci.digest import Digest
from modeloci.oci.layout import MAX_REFERRER_MANIFEST, ReferrerEntry
from modeloci.oci.manifest import Descriptor, InvalidDocument, parse_manifest
from modeloci.oci.mediatypes import MediaType
from modeloci.oci.referrers import Referrer, fallback_tag, read_referrer
from modeloci.registry import referrers as api
from modeloci.registry.client import RegistryClient, RegistryError
from modeloci.registry.image_ref import Reference
from modeloci.store.referrers import MAX_REFERRERS, loaded

__all__ = ["Sent", "fetch", "send"]


def fetch(client: RegistryClient, reference: Reference, subject: Descriptor) -> list[Referrer]:
    """The referrers of the model ``subject`` (the manifest ``reference`` names) in the registry, checked."""
    repository = reference.repository
    found, _ = api.listed(client, repository, subject.digest)
    candidates = list({d.digest: d for d in found if d.media_type == MediaType.OCI_MANIFEST
                       and d.size <= MAX_REFERRER_MANIFEST}.values())
    where = f"{reference.registry}/{repository}"
    if len(candidates) > MAX_REFERRERS:
        raise RegistryError(f"{where} lists {len(candidates)} referrers of {subject.digest}; modeloci reads at most "
                            f"{MAX_REFERRERS}", hint="`pull --no-referrers` leaves them")
    entries = [e for d in candidates if (e := _entry(client, reference, d)) is not None]
    return loaded(entries, subject, lambda d, _limit: client.get_blob(repository, d.digest, d.size,
                                                                      what="referrer blob"), where)


def _entry(client: RegistryClient, reference: Reference, d: Descriptor) -> ReferrerEntry | None:
    """The listed manifest ``d`` as a referrer (fetched, checked against its digest), or None if it is none."""
    pinned = Reference(reference.registry, reference.repository, None, d.digest)
    data, _ = client.get_manifest(pinned)
    found = read_referrer(data)
    try:
        manifest = parse_manifest(data)
    except InvalidDocument:
        return None
    if found is None or len(data) != d.size:
        return None
    return ReferrerEntry(d, data, found[0], found[1], (manifest.config, *manifest.layers))


@dataclass
class Sent:
    """What a push of referrers did: blobs sent and already there, and where they are listed."""

    uploaded: list[Digest] = field(default_factory=list)
    skipped: list[Digest] = field(default_factory=list)
    listed_by: str = ""  # "the referrers API" or "the tag sha256-..."


def send(client: RegistryClient, reference: Reference, subject: Digest, referrers: Sequence[Referrer]) -> Sent:
    """Push ``referrers`` of the model ``subject`` (pushed already) into the repository of ``reference``."""
    repository, sent = reference.repository, Sent()
    for referrer in referrers:
        for digest, data in referrer.blobs.items():
            (sent.uploaded if api.put_blob(client, repository, data) else sent.skipped).append(digest)
        api.put_by_digest(client, repository, referrer.manifest, str(MediaType.OCI_MANIFEST))
    if api.referrers_api(client, repository, subject) is not None:
        sent.listed_by = "the referrers API"
    else:
        api.put_fallback(client, repository, subject, [r.descriptor() for r in referrers])
        sent.listed_by = f"the tag {fallback_tag(subject)}"
    return sent
