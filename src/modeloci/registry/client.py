"""A distribution-API client over an injected ``httpx.Client``: requests, auth, retries, manifests.

Every request goes through :meth:`RegistryClient.send`, which attaches
credentials (Basic, or a Bearer token fetched for the request's scope after a
``WWW-Authenticate`` challenge), and retries, with exponential backoff and a
bounded number of attempts, on connection errors, 5xx and 429 (honouring a
small ``Retry-After``). Request bodies are given as a function that makes
them, so a retried request sends its body again from the start. TLS is
verified; plain HTTP is used only for loopback hosts or hosts named as
insecure. Secrets never appear in errors: messages are redacted.
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
from modeloci.registry.auth import AuthError, Credentials, find_credentials, parse_challenge, redact
from modeloci.registry.reference import Reference, is_loopback

TAGS_SHOWN = 10  # a missing tag's hint lists at most this many of the repository's tags
MANIFEST_TYPES = (
    str(MediaType.OCI_MANIFEST),
    str(MediaType.OCI_INDEX),
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)
Body = Callable[[], bytes | Iterable[bytes]] | None


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 6
    first_delay: float = 0.2
    max_delay: float = 5.0

    def delay(self, attempt: int, retry_after: str | None = None) -> float:
        if retry_after and retry_after.isdigit():
            return min(float(retry_after), self.max_delay)
        return min(self.first_delay * 2**attempt, self.max_delay)


class RegistryError(ModelociError):
    """The registry answered with an error, or could not be reached."""

    def __init__(self, message: str, *, status: int | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.status = status


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
    ) -> None:
        self.registry = registry
        host = Reference(registry, "x").api_host
        plain = is_loopback(registry) or registry in insecure
        self.base = f"{'http' if plain else 'https'}://{host}"
        self.http = http or httpx.Client(timeout=httpx.Timeout(60.0, connect=10.0), follow_redirects=True)
        self.credentials = credentials or (find_credentials(registry) if use_stored_credentials else None)
        self.retry = retry
        self.sleep = sleep
        self._tokens: dict[str, str] = {}
        self._basic = False

    def close(self) -> None:
        self.http.close()

    # Requests ------------------------------------------------------------------------------------

    def url(self, path: str) -> str:
        return urljoin(self.base + "/", path.lstrip("/")) if not path.startswith("http") else path

    def send(self, method: str, path: str, *, scope: str, headers: dict[str, str] | None = None, body: Body = None,
             ok: Sequence[int] = (200,), stream: bool = False) -> httpx.Response:
        """One request with auth and retries; a status outside ``ok`` raises RegistryError."""
        url = self.url(path)
        last: Exception | None = None
        for attempt in range(self.retry.attempts):
            try:
                response = self._authorised(method, url, scope, headers or {}, body, stream)
            except httpx.TransportError as exc:
                last = exc
                self.sleep(self.retry.delay(attempt))
                continue
            if response.status_code in ok:
                return response
            if response.status_code == 429 or response.status_code >= 500:
                last = RegistryError(self._describe(response, method, url), status=response.status_code)
                response.close()
                self.sleep(self.retry.delay(attempt, response.headers.get("Retry-After")))
                continue
            raise self._error(response, method, url)
        raise RegistryError(f"{method} {self._path(url)}: gave up after {self.retry.attempts} attempts: "
                            f"{redact(str(last), self.credentials)}", hint="is the registry reachable and healthy?")

    def _authorised(self, method: str, url: str, scope: str, headers: dict[str, str], body: Body,
                    stream: bool) -> httpx.Response:
        response = self._once(method, url, scope, headers, body, stream)
        if response.status_code != 401:
            return response
        challenge = parse_challenge(response.headers.get("WWW-Authenticate", ""))
        response.close()
        if challenge is None:
            raise AuthError(f"{self.registry} refused the request and says nothing of how to authenticate")
        if challenge.scheme == "basic":
            # Refused only if *this* request carried the credentials: several threads (a push's parallel blob
            # HEADs) meet the first challenge together, and all but the first find ``_basic`` already set.
            if self.credentials is None or "Authorization" in response.request.headers:
                raise self._auth_failed()
            self._basic = True
        elif challenge.scheme == "bearer":
            if scope in self._tokens and self._tokens[scope] != "":
                self._tokens.pop(scope)  # expired or short of rights: fetch a new one, once
            self._tokens[scope] = self._token(challenge.params, scope)
        else:
            raise AuthError(f"{self.registry} asks for `{challenge.scheme}` authentication, which modeloci does not speak")
        response = self._once(method, url, scope, headers, body, stream)
        if response.status_code == 401:
            response.close()
            raise self._auth_failed()
        return response

    def _once(self, method: str, url: str, scope: str, headers: dict[str, str], body: Body,
              stream: bool) -> httpx.Response:
        headers = dict(headers)
        if scope in self._tokens:
            headers["Authorization"] = f"Bearer {self._tokens[scope]}"
        elif self._basic and self.credentials is not None:
            headers["Authorization"] = self.credentials.basic()
        content = body() if body is not None else None
        request = self.http.build_request(method, url, headers=headers, content=content)
        return self.http.send(request, stream=stream)

    def _token(self, params: dict[str, str], scope: str) -> str:
        realm = params.get("realm")
        if not realm:
            raise AuthError(f"{self.registry}'s Bearer challenge names no token realm")
        query: list[tuple[str, str]] = [("service", params["service"])] if "service" in params else []
        query += [("scope", s) for s in scope.split(" ") if s]
        headers = {"Authorization": self.credentials.basic()} if self.credentials and self.credentials.password else {}
        for attempt in range(self.retry.attempts):
            try:
                response = self.http.get(realm, params=query, headers=headers)
            except httpx.TransportError:
                self.sleep(self.retry.delay(attempt))
                continue
            if response.status_code >= 500 or response.status_code == 429:
                self.sleep(self.retry.delay(attempt, response.headers.get("Retry-After")))
                continue
            if response.status_code != 200:
                raise self._auth_failed()
            try:
                doc = response.json()
                return doc.get("token") or doc["access_token"]
            except (ValueError, KeyError, AttributeError):
                raise AuthError(f"the token service of {self.registry} answered without a token") from None
        raise RegistryError(f"the token service of {self.registry} could not be reached")

    def _auth_failed(self) -> AuthError:
        who = f"as {self.credentials.username}" if self.credentials else "anonymously"
        return AuthError(f"{self.registry} refused access {who}",
                         hint=f"log in with `modeloci login {self.registry}`, or set MODELOCI_USERNAME and MODELOCI_PASSWORD")

    def _path(self, url: str) -> str:
        return url.removeprefix(self.base)

    def _describe(self, response: httpx.Response, method: str, url: str) -> str:
        detail = ""
        try:
            errors = json.loads(response.read()).get("errors", [])
            detail = "; ".join(f"{e.get('code')}: {e.get('message')}" for e in errors if isinstance(e, dict))
        except (ValueError, AttributeError, httpx.HTTPError):
            pass
        text = f"{method} {self._path(url)}: {response.status_code} {response.reason_phrase}" + (f" ({detail})" if detail else "")
        return redact(text, self.credentials)

    def _error(self, response: httpx.Response, method: str, url: str) -> RegistryError:
        message = self._describe(response, method, url)
        response.close()
        if response.status_code == 403:
            return AuthError(message, hint="the account lacks the right to do this")  # type: ignore[return-value]
        return RegistryError(message, status=response.status_code)

    # Small endpoints -----------------------------------------------------------------------------

    def ping(self) -> None:
        self.send("GET", "/v2/", scope="", ok=(200,))

    def blob_size(self, repository: str, digest: Digest) -> int | None:
        """The size of a blob the repository holds, or None if it does not hold it."""
        response = self.send("HEAD", f"/v2/{repository}/blobs/{digest}", scope=_pull(repository), ok=(200, 404))
        response.close()
        if response.status_code == 404:
            return None
        return int(response.headers.get("Content-Length", -1))

    def mount(self, repository: str, digest: Digest, source_repository: str) -> bool:
        """Ask for a blob of another repository of this registry; True if it was mounted."""
        scope = f"{_push(repository)} {_pull(source_repository)}"
        response = self.send("POST", f"/v2/{repository}/blobs/uploads/?mount={digest}&from={source_repository}",
                             scope=scope, ok=(201, 202))
        response.close()
        if response.status_code == 202 and "Location" in response.headers:
            self.send("DELETE", response.headers["Location"], scope=_push(repository), ok=(204, 404)).close()
        return response.status_code == 201

    def get_manifest(self, reference: Reference) -> tuple[bytes, str]:
        """The manifest's raw bytes and media type, checked against a pinned digest."""
        url = f"/v2/{reference.repository}/manifests/{reference.target}"
        response = self.send("GET", url, scope=_pull(reference.repository),
                             headers={"Accept": ", ".join(MANIFEST_TYPES)}, ok=(200, 404))
        if response.status_code == 404:
            message = self._describe(response, "GET", self.url(url))
            response.close()
            raise RegistryError(f"{reference} not found: {message}", status=404, hint=self._tags_hint(reference))
        data = response.read()
        if reference.digest is not None and Digest.of(data) != reference.digest:
            raise RegistryError(f"{reference}: the registry's manifest does not match the pinned digest")
        return data, response.headers.get("Content-Type", str(MediaType.OCI_MANIFEST)).split(";")[0]

    def _tags_hint(self, reference: Reference) -> str:
        """What a missing tag's error suggests: the tags the repository has (the first page), if it answers."""
        try:
            response = self.send("GET", f"/v2/{reference.repository}/tags/list?n={TAGS_SHOWN + 1}",
                                 scope=_pull(reference.repository), ok=(200, 404))
            tags = (response.json().get("tags") or []) if response.status_code == 200 else []
        except (ModelociError, ValueError, AttributeError, httpx.HTTPError):
            tags = []
        if not tags or not all(isinstance(t, str) for t in tags):
            return f"check the repository name; {reference.registry}/{reference.repository} has no tag to show"
        shown = ", ".join(tags[:TAGS_SHOWN]) + (", ..." if len(tags) > TAGS_SHOWN else "")
        return f"the repository's tags: {shown}"

    def put_manifest(self, reference: Reference, data: bytes, media_type: str) -> Digest:
        response = self.send("PUT", f"/v2/{reference.repository}/manifests/{reference.target}",
                             scope=_push(reference.repository), headers={"Content-Type": media_type},
                             body=lambda: data, ok=(201, 200))
        response.close()
        digest = Digest.of(data)
        returned = response.headers.get("Docker-Content-Digest")
        if returned and returned != str(digest):
            raise RegistryError(f"{reference}: the registry stored the manifest as {returned}, not {digest}")
        return digest


def _pull(repository: str) -> str:
    return f"repository:{repository}:pull"


def _push(repository: str) -> str:
    return f"repository:{repository}:pull,push"
