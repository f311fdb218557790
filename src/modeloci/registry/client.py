"""A distribution-API client over an injected ``httpx.Client``: requests, auth, retries, manifests.

Every request goes through :meth:`RegistryClient.send`, which attaches
credentials (Basic, or a Bearer token fetched for the request's scope after a
``WWW-Authenticate`` challenge, see :mod:`modeloci.registry.token`), and
retries, with exponential backoff and a bounded number of attempts, on
connection errors, 5xx and 429 (honouring a small ``Retry-After``), but not on
failures no retry mends (a refused connection, a failed TLS handshake: see
:mod:`modeloci.registry.connect`), which end the request at once. Request
bodies are given as a function that makes them, so a retried request sends its
body again from the start. TLS is verified; plain HTTP is used only for
loopback hosts or hosts named as insecure.

What a registry says is not trusted: credentials go only to the registry's own
origin (an upload ``Location`` or a redirect elsewhere gets none), every body
read into memory has a size limit (:mod:`modeloci.registry.limits`), and every
message that quotes a registry is redacted of anything credential-shaped.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urljoin

import httpx

from modeloci.errors import ModelociError
from modeloci.oci.digest import Digest
from modeloci.oci.mediatypes import MediaType
from modeloci.registry.answers import digest_invalid, plain_to_tls
from modeloci.registry.auth import (
    AuthError,
    Credentials,
    find_credentials,
    parse_challenge,
    redact,
)
from modeloci.registry.connect import permanent_failure
from modeloci.registry.errors import RegistryError
from modeloci.registry.image_ref import Reference, may_use_plain_http
from modeloci.registry.limits import (
    Clock,
    Limits,
    Watch,
    read_limited,
    read_prefix,
    size_text,
)
from modeloci.registry.token import fetch_token

__all__ = ["MANIFEST_TYPES", "RegistryClient", "RegistryError", "RetryPolicy"]  # RegistryError: from .errors

TAGS_SHOWN = 10  # a missing tag's hint lists at most this many of the repository's tags
DETAIL = 500  # characters of a registry's error text quoted in a message
MAX_REDIRECTS = 10
MANIFEST_TYPES = (
    str(MediaType.OCI_MANIFEST),
    str(MediaType.OCI_INDEX),
    str(MediaType.DOCKER_MANIFEST),
    str(MediaType.DOCKER_MANIFEST_LIST),
)
Body = Callable[[], bytes | Iterable[bytes]] | None
DEFAULT_LIMITS = Limits()


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 6
    first_delay: float = 0.2
    max_delay: float = 5.0

    def delay(self, attempt: int, retry_after: str | None = None) -> float:
        if retry_after and retry_after.isdigit():
            return min(float(retry_after), self.max_delay)
        return float(min(self.first_delay * 2**attempt, self.max_delay))


class RegistryClient:
    """Talks to one registry host."""

    def __init__(
        self,
        registry: str,
        *,
        http: httpx.Client | None = None,
        insecure: Sequence[str] = (),
        credentials: Credentials | None = None,
        use_stored_credentials: bool = True,
        retry: RetryPolicy = RetryPolicy(),
        sleep: Callable[[float], None] = time.sleep,
        limits: Limits = DEFAULT_LIMITS,
        clock: Clock = time.monotonic,
    ) -> None:
        self.registry = registry
        self.host = Reference(registry, "x").api_host
        self.insecure = tuple(insecure)
        self.plain = may_use_plain_http(registry, self.insecure)
        self.base = f"{'http' if self.plain else 'https'}://{self.host}"
        # Redirects are followed by _once, never by httpx (which reads a redirect's whole body).
        self.http = http or httpx.Client(timeout=httpx.Timeout(60.0, connect=10.0), follow_redirects=False)
        self.credentials = credentials or (find_credentials(registry) if use_stored_credentials else None)
        self.use_stored_credentials = use_stored_credentials
        self.retry, self.sleep, self.limits, self.clock = retry, sleep, limits, clock
        self.other_credentials: list[Credentials] = []  # found for a token service on another host
        self.withheld: str | None = None  # a token service on another host that got no credentials
        self._tokens: dict[str, str] = {}
        self._basic = False
        self._origin = _origin(self.base)

    def close(self) -> None:
        self.http.close()

    # Where requests go ---------------------------------------------------------------------------------------

    def url(self, path: str) -> str:
        return urljoin(self.base + "/", path)

    def own(self, url: str) -> bool:
        """Whether ``url`` is on the registry's own origin (scheme, host and port): the only place that gets
        credentials."""
        return _origin(url) == self._origin

    def location(self, value: str, base: str | None = None, *, what: str = "upload location") -> str:
        """A URL the registry named (an upload ``Location``, a redirect; relative to ``base``, the URL that
        answered), checked: HTTP(S), and plain HTTP only where the registry itself is plain HTTP and the host may
        be too. Another host is allowed, as Docker allows storage hosts: it gets no credentials (see :meth:`own`)."""
        url = urljoin(base or self.base + "/", value)
        try:
            parsed = httpx.URL(url)
        except httpx.InvalidURL:
            raise RegistryError(f"{self.registry} named a {what} that is not a URL") from None
        shown = f"`{parsed.scheme}://{parsed.netloc.decode('ascii', 'replace')}`"
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise RegistryError(f"the {what} {shown} of {self.registry} is not an HTTP URL")
        if parsed.scheme == "http" and not self.own(url) and not (
                self.plain and may_use_plain_http(parsed.netloc.decode("ascii"), self.insecure)):
            raise RegistryError(f"the {what} {shown} of {self.registry} is plain HTTP: refused",
                                hint="modeloci sends and fetches blobs over plain HTTP only for a plain-HTTP "
                                     "registry, and only on loopback hosts or hosts named with --insecure-registry")
        return url

    @property
    def attempts(self) -> int:
        return self.retry.attempts

    def backoff(self, attempt: int, retry_after: str | None = None) -> None:
        self.sleep(self.retry.delay(attempt, retry_after))

    def watch(self, what: str, size: int, *, verb: str) -> Watch:
        return Watch(what, size, self.limits, self.clock, verb=verb)

    def redact(self, text: str) -> str:
        """``text`` (which may quote the registry) without any credential: ours, tokens fetched, any other."""
        text = redact(text, self.credentials, list(self._tokens.values()))
        for other in self.other_credentials:
            text = redact(text, other)
        return text

    # Requests ------------------------------------------------------------------------------------------------

    def send(self, method: str, path: str, *, scope: str, headers: dict[str, str] | None = None, body: Body = None,
             ok: Sequence[int] = (200,), stream: bool = False, limit: int | None = None) -> httpx.Response:
        """One request with auth and retries; a status outside ``ok`` raises RegistryError. Unless ``stream``,
        the answer's body is read, at most ``limit`` bytes (default ``limits.body``)."""
        url = self.url(path)
        last: Exception | None = None
        for attempt in range(self.retry.attempts):
            try:
                response = self._authorised(method, url, scope, headers or {}, body)
                if response.status_code in ok:
                    return response if stream else self._loaded(response, limit or self.limits.body, method, url)
            except httpx.TransportError as exc:
                self.fail_fast(exc)
                last = exc
                self._pause(attempt)
                continue
            if response.status_code == 429 or response.status_code >= 500:
                last = RegistryError(self._describe(response, method, url), status=response.status_code)
                self._pause(attempt, response.headers.get("Retry-After"))
                continue
            raise self._error(response, method, url)
        raise RegistryError(f"{method} {self._path(url)}: gave up after {self.retry.attempts} attempts: "
                            f"{self.redact(str(last))}", hint="is the registry reachable and healthy?")

    def _pause(self, attempt: int, retry_after: str | None = None) -> None:
        """The wait before the next attempt; none after the last, which only gives up."""
        if attempt + 1 < self.retry.attempts:
            self.sleep(self.retry.delay(attempt, retry_after))

    def fail_fast(self, exc: httpx.TransportError) -> None:
        """Raise at once, without retries, if ``exc`` is a failure no retry mends (refused, TLS)."""
        try:
            target = str(exc.request.url)
        except RuntimeError:  # an error raised before any request was made
            target = self.base
        failure = permanent_failure(exc, self.registry if self.own(target) else _origin_text(target))
        if failure is not None:
            raise failure from exc

    def _loaded(self, response: httpx.Response, limit: int, method: str, url: str) -> httpx.Response:
        """``response`` with its body read (bounded), as a response that holds it."""
        data = read_limited(response, limit, f"the answer to {method} {self._path(url)}",
                            deadline=self.clock() + self.limits.read_seconds, clock=self.clock)
        headers = [(k, v) for k, v in response.headers.multi_items()
                   if k.lower() not in ("content-encoding", "transfer-encoding")]
        return httpx.Response(response.status_code, headers=headers, content=data, request=response.request)

    def _authorised(self, method: str, url: str, scope: str, headers: dict[str, str], body: Body) -> httpx.Response:
        """One attempt, answering an authentication challenge once; the answer is streamed (not read)."""
        response = self._once(method, url, scope, headers, body)
        if response.status_code != 401:
            return response
        challenge = parse_challenge(response.headers.get("WWW-Authenticate", ""))
        response.close()
        answered = str(response.request.url)
        if not self.own(answered):
            raise AuthError(f"`{_origin_text(answered)}`, where {self.registry} sent this request, asks for "
                            "credentials",
                            hint=f"modeloci sends credentials only to {self.registry} itself")
        if challenge is None:
            raise AuthError(f"{self.registry} refused the request and says nothing of how to authenticate")
        if challenge.scheme == "basic":
            # Refused only if *this* request carried the credentials: several threads (a push's parallel blob
            # HEADs) meet the first challenge together, and all but the first find ``_basic`` already set.
            if self.credentials is None or "Authorization" in response.request.headers:
                raise self.auth_failed()
            self._basic = True
        elif challenge.scheme == "bearer":
            self._tokens.pop(scope, None)  # expired or short of rights: fetch a new one, once
            self._tokens[scope] = fetch_token(self, challenge.params, scope)
        else:
            raise AuthError(f"{self.registry} asks for `{challenge.scheme[:40]}` authentication, which modeloci "
                            "does not speak")
        response = self._once(method, url, scope, headers, body)
        if response.status_code == 401:
            response.close()
            raise self.auth_failed()
        return response

    def _once(self, method: str, url: str, scope: str, headers: dict[str, str], body: Body) -> httpx.Response:
        """One request, following redirects here rather than in httpx, which reads a redirect's whole body (a
        hostile one never ends): each redirect is closed unread, and its target checked like a Location."""
        first = url
        for _ in range(MAX_REDIRECTS + 1):
            content = body() if body is not None else None
            request = self.http.build_request(method, url, headers=self._credentialed(url, scope, headers),
                                              content=content)
            response = self.http.send(request, stream=True, follow_redirects=False)
            if not response.has_redirect_location:
                return response
            response.close()
            url = self.location(response.headers["Location"], url, what="redirect")
            if response.status_code == 303 or (response.status_code in (301, 302) and method == "POST"):
                method, body = "GET", None  # as browsers and httpx do
                headers = {k: v for k, v in headers.items() if not k.lower().startswith("content-")}
        raise RegistryError(f"{method} {self._path(first)}: more than {MAX_REDIRECTS} redirects")

    def _credentialed(self, url: str, scope: str, headers: dict[str, str]) -> dict[str, str]:
        """``headers`` with our Authorization when ``url`` is the registry's own: never for another host (an
        upload Location or a redirect elsewhere, such as a storage host)."""
        headers = dict(headers)
        if self.own(url):
            if scope in self._tokens:
                headers["Authorization"] = f"Bearer {self._tokens[scope]}"
            elif self._basic and self.credentials is not None:
                headers["Authorization"] = self.credentials.basic()
        return headers

    def auth_failed(self) -> AuthError:
        who = f"as {self.credentials.username}" if self.credentials else "anonymously"
        hint = f"log in with `modeloci login {self.registry}`, or set MODELOCI_USERNAME and MODELOCI_PASSWORD"
        if self.withheld:
            hint = (f"its token service is on another host, `{self.withheld}`, which gets none of your credentials "
                    f"for {self.registry}: if you trust it, `modeloci login {self.withheld}`")
        return AuthError(f"{self.registry} refused access {who}", hint=hint)

    def _path(self, url: str) -> str:
        """How a URL is shown: its path (on another host, with the host); never its query, which may be signed."""
        parsed = httpx.URL(url)
        return parsed.path if self.own(url) else f"{_origin_text(url)}{parsed.path}"

    def _describe(self, response: httpx.Response, method: str, url: str, body: bytes | None = None) -> str:
        """``METHOD /path: 404 Not Found (CODE: message)``: the registry's words, bounded and redacted. ``body``:
        the answer's first bytes, when they were read already."""
        detail = ""
        try:
            errors = json.loads(read_prefix(response, self.limits.error) if body is None else body).get("errors", [])
            detail = "; ".join(f"{e.get('code')}: {e.get('message')}" for e in errors if isinstance(e, dict))
        except (ValueError, AttributeError, RecursionError):
            pass  # not the JSON errors document: the status says enough
        if len(detail) > DETAIL:
            detail = detail[:DETAIL] + "..."
        text = f"{method} {self._path(url)}: {response.status_code} {response.reason_phrase}"
        return self.redact(text + (f" ({detail})" if detail else ""))

    def _error(self, response: httpx.Response, method: str, url: str) -> ModelociError:
        body = read_prefix(response, self.limits.error)
        explained = (plain_to_tls(body, response.status_code, self.registry, self.insecure) if self.plain else None) \
            or digest_invalid(body, response.status_code, url, self.registry)
        if explained is not None:
            return explained
        message = self._describe(response, method, url, body)
        if response.status_code == 403:
            return AuthError(message, hint="the account lacks the right to do this")
        return RegistryError(message, status=response.status_code)

    # Small endpoints -----------------------------------------------------------------------------------------

    def blob_size(self, repository: str, digest: Digest) -> int | None:
        """The size of a blob the repository holds, or None if it does not hold it."""
        response = self.send("HEAD", f"/v2/{repository}/blobs/{digest}", scope=_pull(repository), ok=(200, 404))
        if response.status_code == 404:
            return None
        return int(response.headers.get("Content-Length", -1))

    def mount(self, repository: str, digest: Digest, source_repository: str) -> bool:
        """Ask for a blob of another repository of this registry; True if it was mounted."""
        scope = f"{_push(repository)} {_pull(source_repository)}"
        url = f"/v2/{repository}/blobs/uploads/?mount={digest}&from={source_repository}"
        response = self.send("POST", url, scope=scope, ok=(201, 202))
        if response.status_code == 202 and "Location" in response.headers:
            location = self.location(response.headers["Location"], self.url(url))
            self.send("DELETE", location, scope=_push(repository), ok=(204, 404))
        return response.status_code == 201

    def get_manifest(self, reference: Reference) -> tuple[bytes, str]:
        """The manifest's raw bytes (at most ``limits.manifest``) and media type, checked against a pinned digest."""
        url = f"/v2/{reference.repository}/manifests/{reference.target}"
        response = self.send("GET", url, scope=_pull(reference.repository),
                             headers={"Accept": ", ".join(MANIFEST_TYPES)}, ok=(200, 404), stream=True)
        if response.status_code == 404:
            message = self._describe(response, "GET", self.url(url))
            raise RegistryError(f"{reference} not found: {message}", status=404, hint=self._tags_hint(reference))
        data = read_limited(response, self.limits.manifest, f"the manifest of {reference}",
                            hint=f"a manifest is a small JSON document (registries refuse them over "
                                 f"{size_text(self.limits.manifest)}): this answer is not one",
                            deadline=self.clock() + self.limits.read_seconds, clock=self.clock)
        if reference.digest is not None and Digest.of(data) != reference.digest:
            raise RegistryError(f"{reference}: the registry's manifest does not match the pinned digest")
        return data, response.headers.get("Content-Type", str(MediaType.OCI_MANIFEST)).split(";")[0]

    def get_blob(self, repository: str, digest: Digest, size: int | None, *, what: str = "blob") -> bytes:
        """A small blob (a config) read into memory: at most ``size`` bytes, or ``limits.small_blob`` when the
        size is unknown; checked against its digest."""
        limit = self.limits.small_blob if size is None or size < 0 else size
        named = f"{what} {digest} from {self.registry}"
        if limit > self.limits.small_blob:
            raise RegistryError(f"{what} {digest} is {size_text(limit)}, more than modeloci reads into memory "
                                f"({size_text(self.limits.small_blob)})")
        response = self.send("GET", f"/v2/{repository}/blobs/{digest}", scope=_pull(repository), stream=True)
        data = read_limited(response, limit, named, too_large=f"{named} is longer than its {limit} bytes",
                            deadline=self.clock() + self.limits.read_seconds, clock=self.clock)
        if Digest.of(data) != digest or (size is not None and size >= 0 and len(data) != size):
            raise RegistryError(f"{named} does not match its digest")
        return data

    def _tags_hint(self, reference: Reference) -> str:
        """What a missing tag's error suggests: the tags the repository has (the first page), if it answers."""
        try:
            response = self.send("GET", f"/v2/{reference.repository}/tags/list?n={TAGS_SHOWN + 1}",
                                 scope=_pull(reference.repository), ok=(200, 404))
            tags = (response.json().get("tags") or []) if response.status_code == 200 else []
        except (ModelociError, ValueError, AttributeError, RecursionError, httpx.HTTPError):
            tags = []
        if not tags or not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            return f"check the repository name; {reference.registry}/{reference.repository} has no tag to show"
        shown = ", ".join(t[:128] for t in tags[:TAGS_SHOWN]) + (", ..." if len(tags) > TAGS_SHOWN else "")
        return self.redact(f"the repository's tags: {shown}")

    def put_manifest(self, reference: Reference, data: bytes, media_type: str) -> Digest:
        response = self.send("PUT", f"/v2/{reference.repository}/manifests/{reference.target}",
                             scope=_push(reference.repository), headers={"Content-Type": media_type},
                             body=lambda: data, ok=(201, 200))
        digest = Digest.of(data)
        returned = response.headers.get("Docker-Content-Digest")
        if returned and returned != str(digest):
            raise RegistryError(self.redact(f"{reference}: the registry stored the manifest as {returned[:80]}, "
                                            f"not {digest}"))
        return digest

    def credentials_for(self, host: str) -> Credentials | None:
        """Credentials the user keeps for ``host``, a token service on another host (never the environment's,
        which are for the registry a command names); remembered, so that messages are redacted of them too."""
        if not self.use_stored_credentials:
            return None
        found = find_credentials(host, environment=False) or find_credentials(host.rsplit(":", 1)[0],
                                                                            environment=False)
        if found is not None and found not in self.other_credentials:
            self.other_credentials.append(found)
        return found


def _origin(url: str) -> tuple[str, str, int | None]:
    parsed = httpx.URL(url)
    return parsed.scheme, parsed.host.lower(), parsed.port


def _origin_text(url: str) -> str:
    parsed = httpx.URL(url)
    return f"{parsed.scheme}://{parsed.netloc.decode('ascii', 'replace')}"


def _pull(repository: str) -> str:
    return f"repository:{repository}:pull"


def _push(repository: str) -> str:
    return f"repository:{repository}:pull,push"
