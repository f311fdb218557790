"""Bearer tokens: where a token may be asked for, with whose credentials, and reading the answer bounded.

A registry's ``WWW-Authenticate: Bearer realm="URL"`` names its token service,
and a hostile registry may name any URL. So:

* the realm must be an HTTP(S) URL; plain HTTP only when the registry itself is
  spoken to over plain HTTP and the realm's host may be too (a loopback host, or
  one named with ``--insecure-registry``), the same rule as for registries;
* the user's credentials for the registry go only to a realm on the registry's
  own host name (any port; Docker Hub's ``auth.docker.io`` counts as its own).
  A realm on another host gets the credentials the user keeps for *that* host
  (``modeloci login HOST``, Docker's config), never the environment's, or none;
* the answer is read up to ``limits.token`` bytes, and the token must be one
  header-safe word; a redirect is not followed (its body is not read either).
"""

from __future__ import annotations

import json
import re
from typing import Protocol

import httpx

from modeloci.registry.auth import AuthError, Credentials
from modeloci.registry.errors import RegistryError
from modeloci.registry.image_ref import may_use_plain_http
from modeloci.registry.limits import Clock, Limits, read_limited

#: Token services known to belong to a registry on another host name.
OWN_TOKEN_HOSTS = {"registry-1.docker.io": ("auth.docker.io",)}
_TOKEN = re.compile(r"[\x21-\x7e]+")  # printable ASCII, no space: safe in an Authorization header


class TokenClient(Protocol):
    """What fetching a token needs of the registry client."""

    registry: str
    host: str
    plain: bool
    insecure: tuple[str, ...]
    credentials: Credentials | None
    http: httpx.Client
    limits: Limits
    clock: Clock
    withheld: str | None

    @property
    def attempts(self) -> int: ...

    def backoff(self, attempt: int, retry_after: str | None = None) -> None: ...

    def credentials_for(self, host: str) -> Credentials | None: ...

    def auth_failed(self) -> AuthError: ...


def fetch_token(client: TokenClient, params: dict[str, str], scope: str) -> str:
    """A token for ``scope`` from the service the challenge ``params`` name."""
    realm = _realm(client, params.get("realm"))
    credentials = _credentials(client, realm)
    pairs = [("service", params["service"])] if "service" in params else []
    query = httpx.QueryParams([*pairs, *(("scope", s) for s in scope.split(" ") if s)])
    headers = {"Authorization": credentials.basic()} if credentials and credentials.password else {}
    for attempt in range(client.attempts):
        try:
            response = client.http.send(client.http.build_request("GET", realm, params=query, headers=headers),
                                        stream=True, follow_redirects=False)
        except httpx.TransportError:
            client.backoff(attempt)
            continue
        if response.status_code >= 500 or response.status_code == 429:
            response.close()
            client.backoff(attempt, response.headers.get("Retry-After"))
            continue
        if response.has_redirect_location:
            response.close()  # unread: a redirect's body may never end
            raise AuthError(f"the token service of {client.registry} answered with a redirect, which modeloci does "
                            "not follow with credentials",
                            hint="the registry's token service must answer at the URL the registry names")
        if response.status_code != 200:
            response.close()
            raise client.auth_failed()
        try:
            data = read_limited(response, client.limits.token, f"the answer of the token service of {client.registry}",
                                deadline=client.clock() + client.limits.read_seconds, clock=client.clock)
        except RegistryError as exc:
            raise AuthError(exc.message, hint=exc.hint) from None
        except httpx.TransportError:
            client.backoff(attempt)
            continue
        return _token_in(data, client.registry)
    raise RegistryError(f"the token service of {client.registry} could not be reached")


def _realm(client: TokenClient, realm: str | None) -> httpx.URL:
    if not realm:
        raise AuthError(f"{client.registry}'s Bearer challenge names no token realm")
    try:
        url = httpx.URL(realm)
    except httpx.InvalidURL:
        raise AuthError(f"{client.registry}'s Bearer challenge names a token realm that is not a URL") from None
    shown = f"`{url.scheme}://{url.netloc.decode('ascii', 'replace')}`"
    if url.scheme not in ("http", "https") or not url.host:
        raise AuthError(f"the token service of {client.registry}, {shown}, is not an HTTPS URL")
    if url.scheme == "http" and not (client.plain and may_use_plain_http(url.netloc.decode("ascii"), client.insecure)):
        raise AuthError(f"the token service of {client.registry}, {shown}, is plain HTTP: refused",
                        hint="modeloci asks a token service over plain HTTP only for a plain-HTTP registry, and only "
                             "on a loopback host or a host named with --insecure-registry")
    return url


def _credentials(client: TokenClient, realm: httpx.URL) -> Credentials | None:
    """The registry's credentials for a realm on its own host name; the realm host's own ones otherwise."""
    own = httpx.URL(f"http://{client.host}").host.lower()
    if realm.host.lower() == own or realm.host.lower() in OWN_TOKEN_HOSTS.get(own, ()):
        return client.credentials
    netloc = realm.netloc.decode("ascii")
    found = client.credentials_for(netloc)
    if found is None and client.credentials is not None:
        client.withheld = netloc
    return found


def _token_in(data: bytes, registry: str) -> str:
    try:
        doc = json.loads(data)
        token = doc.get("token") or doc["access_token"]
    except (ValueError, KeyError, AttributeError, TypeError, RecursionError):
        raise AuthError(f"the token service of {registry} answered without a token") from None
    if not isinstance(token, str) or not _TOKEN.fullmatch(token):
        raise AuthError(f"the token service of {registry} answered with a token that is not one word of "
                        "printable characters")
    return token
