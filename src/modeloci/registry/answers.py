"""What some of a registry's error answers mean, said in words a user can act on.

:func:`plain_to_tls`: a plain-HTTP request refused by a server that speaks
only HTTPS (Go's ``400 Client sent an HTTP request to an HTTPS server``).
:func:`digest_invalid`: ``DIGEST_INVALID``, the registry's refusal of bytes
that do not match the digest they were sent under; the upload URL it answered
(a session path, a signed state) is not shown, only the blob.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import httpx

from modeloci.oci.digest import Digest
from modeloci.registry.errors import RegistryError
from modeloci.registry.image_ref import is_loopback

INSECURE = "MODELOCI_INSECURE_REGISTRIES"
GO_PLAIN_TO_TLS = b"Client sent an HTTP request to an HTTPS server"  # Go's net/http answer (a 400)
VERIFY_HINT = ("modeloci checked those bytes before it sent them, so they changed on the way (a proxy, a faulty "
               "connection) or the registry is at fault: check the model with `modeloci verify`, then push again")


def plain_to_tls(body: bytes, status: int, registry: str, insecure: Sequence[str]) -> RegistryError | None:
    """The error for a plain-HTTP request that a TLS-only server refused, if ``body`` is that refusal."""
    if status != 400 or GO_PLAIN_TO_TLS not in body:
        return None
    if registry in insecure:
        hint = f"drop `--insecure-registry {registry}` (and take it out of {INSECURE}): it speaks HTTPS"
    elif is_loopback(registry):
        hint = ("modeloci speaks plain HTTP to loopback hosts (localhost, 127.0.0.0/8, ::1): serve the registry "
                "there without TLS, or reach it by a name that is not loopback")
    else:
        hint = None
    return RegistryError(f"{registry} speaks HTTPS, but modeloci spoke plain HTTP to it", status=status, hint=hint)


def digest_invalid(body: bytes, status: int, url: str, registry: str) -> RegistryError | None:
    """The error for a ``DIGEST_INVALID`` answer to the request to ``url``, naming the blob, never the URL."""
    if "DIGEST_INVALID" not in error_codes(body):
        return None
    parsed = httpx.URL(url)
    if "/manifests/" in parsed.path:
        what = "the manifest"
    else:
        # The digest modeloci appended last (a Location may carry a `digest` of the registry's own making).
        given = parsed.params.get_list("digest")
        what = f"blob {_digest_text(given[-1])}" if given else "a blob"
    return RegistryError(f"{registry} refused {what}: the bytes it received do not match the digest "
                         "(DIGEST_INVALID)", status=status, hint=VERIFY_HINT)


def error_codes(body: bytes) -> list[str]:
    """The ``code`` of each entry of a distribution error document (``{"errors": [...]}``); none if it is not one."""
    try:
        errors = json.loads(body).get("errors", [])
        return [str(e.get("code"))[:64] for e in errors if isinstance(e, dict)]
    except (ValueError, AttributeError, TypeError, RecursionError):
        return []


def _digest_text(text: str) -> str:
    try:
        return str(Digest.parse(text))
    except ValueError:
        return "(a digest that is not one)"
