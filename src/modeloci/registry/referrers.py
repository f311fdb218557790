"""A manifest's referrers in a registry: the referrers API where it has one, else the fallback tag (OCI 1.1).

``GET /v2/<name>/referrers/<digest>`` answers, where the registry has the
API, an image index listing the manifests whose ``subject`` is ``<digest>``;
a registry without it (Distribution 2.8) answers 404. There the index lives
under the tag ``sha256-<hex>`` of the subject (the referrers tag schema):
a pusher reads it, adds what it pushed, and puts it back. Each answer is read
with the manifest limit (``limits.manifest``) and parsed strictly; what the
listed manifests hold is the caller's to check. Referrer manifests are put
by digest, only when the registry lacks them, so a second push puts nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

from modeloci.oci.digest import Digest
from modeloci.oci.manifest import Descriptor, InvalidDocument, parse_index
from modeloci.oci.mediatypes import MediaType
from modeloci.oci.referrers import fallback_tag, referrers_index
from modeloci.registry.client import MANIFEST_TYPES, RegistryClient, RegistryError, _pull, _push
from modeloci.registry.limits import read_limited, size_text
from modeloci.registry.transfer import finish, start_upload

__all__ = ["has_manifest", "listed", "put_blob", "put_by_digest", "put_fallback", "referrers_api"]

INDEX = str(MediaType.OCI_INDEX)


def referrers_api(client: RegistryClient, repository: str, subject: Digest) -> list[Descriptor] | None:
    """What the referrers API lists for ``subject``; None where the registry has no such API (it answers 404,
    or something other than an index)."""
    path = f"/v2/{repository}/referrers/{subject}"
    response = client.send("GET", path, scope=_pull(repository), headers={"Accept": INDEX}, ok=(200, 404),
                           stream=True)
    if response.status_code == 404 or response.headers.get("Content-Type", "").split(";")[0].strip() != INDEX:
        response.close()
        return None
    return _index(client, read_limited(response, client.limits.manifest, f"the referrers of {subject}",
                                       deadline=client.clock() + client.limits.read_seconds, clock=client.clock),
                  f"the referrers API's answer for {subject}")


def fallback_index(client: RegistryClient, repository: str, subject: Digest) -> list[Descriptor]:
    """What the fallback tag of ``subject`` lists (nothing when there is no such tag)."""
    path = f"/v2/{repository}/manifests/{fallback_tag(subject)}"
    response = client.send("GET", path, scope=_pull(repository), headers={"Accept": INDEX}, ok=(200, 404),
                           stream=True)
    if response.status_code == 404:
        response.close()
        return []
    data = read_limited(response, client.limits.manifest, f"the tag {fallback_tag(subject)}",
                        deadline=client.clock() + client.limits.read_seconds, clock=client.clock)
    return _index(client, data, f"the tag {fallback_tag(subject)} of {repository}")


def listed(client: RegistryClient, repository: str, subject: Digest) -> tuple[list[Descriptor], bool]:
    """The referrers the registry lists for ``subject``, and whether it has the referrers API."""
    found = referrers_api(client, repository, subject)
    if found is not None:
        return found, True
    return fallback_index(client, repository, subject), False


def _index(client: RegistryClient, data: bytes, what: str) -> list[Descriptor]:
    try:
        return parse_index(data)
    except InvalidDocument as exc:
        raise RegistryError(client.redact(f"{what} is not an image index: {exc}"),
                            hint="the registry's answer is wrong or hostile; `pull --no-referrers` leaves them") \
            from None


def has_manifest(client: RegistryClient, repository: str, digest: Digest) -> bool:
    """Whether the registry holds the manifest ``digest`` (asked accepting OCI's types: Distribution 2.8 denies
    holding an OCI manifest to a client that does not say it takes one)."""
    response = client.send("HEAD", f"/v2/{repository}/manifests/{digest}", scope=_pull(repository),
                           headers={"Accept": ", ".join(MANIFEST_TYPES)}, ok=(200, 404))
    return response.status_code == 200


def put_by_digest(client: RegistryClient, repository: str, data: bytes, media_type: str) -> None:
    """Put a manifest under its digest (not a tag), unless the registry holds it already."""
    digest = Digest.of(data)
    if has_manifest(client, repository, digest):
        return
    response = client.send("PUT", f"/v2/{repository}/manifests/{digest}", scope=_push(repository),
                           headers={"Content-Type": media_type}, body=lambda: data, ok=(200, 201))
    returned = response.headers.get("Docker-Content-Digest")
    if returned and returned != str(digest):
        raise RegistryError(client.redact(f"{repository}: the registry stored manifest {digest} as "
                                          f"{returned[:80]}"))


def put_blob(client: RegistryClient, repository: str, data: bytes) -> bool:
    """A small blob (a referrer's document), sent in one request unless the registry holds it; True if sent."""
    digest = Digest.of(data)
    if client.blob_size(repository, digest) == len(data):
        return False
    if len(data) > client.limits.small_blob:
        raise RegistryError(f"blob {digest} is {size_text(len(data))}, more than modeloci sends in one request")
    location = start_upload(client, repository)
    separator = "&" if "?" in location else "?"
    finish(client, repository, f"{location}{separator}digest={digest}", digest, len(data), body=lambda: data)
    return True


def put_fallback(client: RegistryClient, repository: str, subject: Digest, referrers: Sequence[Descriptor]) -> bool:
    """Add ``referrers`` to the fallback tag's index of ``subject`` (what it lists stays); True if it changed."""
    existing = fallback_index(client, repository, subject)
    listed_digests = {d.digest for d in existing}
    new = [d for d in referrers if d.digest not in listed_digests]
    if not new:
        return False
    data = referrers_index([*existing, *new])
    path = f"/v2/{repository}/manifests/{fallback_tag(subject)}"
    client.send("PUT", path, scope=_push(repository), headers={"Content-Type": INDEX}, body=lambda: data,
                ok=(200, 201))
    return True
