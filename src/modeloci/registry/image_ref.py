"""Registry references: the one grammar (:mod:`modeloci.reference`) with Docker Hub's defaults filled in.

``[registry[:port]/]repository[:tag][@sha256:digest]``: without a registry
host the registry is ``docker.io`` (``index.docker.io`` is its old name), where
a one-component name gets ``library/``. A reference without tag or digest means
``:latest``. The familiar form drops what normalisation added
(``docker.io/library/``), as ``docker images`` shows names.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from modeloci.errors import UsageError
from modeloci.oci.digest import Digest
from modeloci.reference import InvalidReference, split_reference

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"
_DOCKER_HUB_NAMES = (DOCKER_HUB, "index.docker.io")


@dataclass(frozen=True, slots=True)
class Reference:
    registry: str
    repository: str
    tag: str | None = None
    digest: Digest | None = None

    @property
    def api_host(self) -> str:
        """The host the distribution API is served from (Docker Hub's differs from its name)."""
        return DOCKER_HUB_API if self.registry == DOCKER_HUB else self.registry

    @property
    def name(self) -> str:
        return f"{self.registry}/{self.repository}"

    @property
    def target(self) -> str:
        """What the manifest is fetched or put by: the digest if pinned, else the tag."""
        return str(self.digest) if self.digest else (self.tag or "latest")

    def __str__(self) -> str:
        return self.name + (f":{self.tag}" if self.tag else "") + (f"@{self.digest}" if self.digest else "")

    @property
    def familiar(self) -> str:
        """``ai/tiny:1`` for ``docker.io/ai/tiny:1``; ``tiny:1`` for ``docker.io/library/tiny:1``."""
        name = self.name
        if self.registry == DOCKER_HUB:
            name = self.repository.removeprefix("library/") if self.repository.count("/") == 1 else self.repository
        return name + (f":{self.tag}" if self.tag else "") + (f"@{self.digest}" if self.digest else "")


def parse_reference(text: str) -> Reference:
    """Parse and normalise ``text``; UsageError with an example when it is not a reference."""
    try:
        written = split_reference(text)
    except InvalidReference as exc:
        raise _invalid(text, exc.reason) from None
    registry, repository = written.host or DOCKER_HUB, written.path
    if registry in _DOCKER_HUB_NAMES:
        registry = DOCKER_HUB
        repository = repository if "/" in repository else f"library/{repository}"
    digest = Digest.parse(written.digest) if written.digest is not None else None
    tag = "latest" if written.tag is None and digest is None else written.tag
    return Reference(registry, repository, tag, digest)


def _invalid(text: str, why: str) -> UsageError:
    return UsageError(f"invalid reference `{text}`: {why}",
                      hint="write [registry[:port]/]repository[:tag][@sha256:digest], e.g. ghcr.io/acme/tiny:1")


def is_loopback(registry: str) -> bool:
    """localhost and 127.0.0.0/8 (and ::1): the only hosts spoken to over plain HTTP by default."""
    host = registry[1:].split("]", 1)[0] if registry.startswith("[") else registry.split(":", 1)[0]
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def may_use_plain_http(host: str, insecure: Sequence[str]) -> bool:
    """Whether ``host`` (``name[:port]``) may be spoken to over plain HTTP: a loopback host, or one named
    exactly (with its port, if it has one) with ``--insecure-registry`` / MODELOCI_INSECURE_REGISTRIES."""
    return is_loopback(host) or host in insecure
