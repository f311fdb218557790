"""Image references, parsed and normalised as Docker does.

``[registry[:port]/]repository[:tag][@sha256:digest]``: the first component
is a registry when it has a ``.`` or a ``:`` or is ``localhost``; otherwise the
registry is ``docker.io``, where a one-component name gets ``library/``. A
reference without tag or digest means ``:latest``. The familiar form drops what
normalisation added (``docker.io/library/``), as ``docker images`` shows names.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass

from modeloci.errors import UsageError
from modeloci.oci.digest import Digest

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"
_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*\Z")
_TAG = re.compile(r"[\w][\w.-]{0,127}\Z")
_HOST = re.compile(r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*"
                   r"|\[[0-9a-fA-F:]+\])(?::[0-9]+)?\Z")


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

    def with_tag(self, tag: str) -> Reference:
        return Reference(self.registry, self.repository, tag, None)

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
    rest, digest = text, None
    if "@" in rest:
        rest, _, encoded = rest.partition("@")
        try:
            digest = Digest.parse(encoded)
        except ValueError:
            raise _invalid(text, f"`{encoded}` is not a sha256 digest") from None
    tag = None
    last = rest.rsplit("/", 1)[-1]
    if ":" in last:
        rest, _, tag = rest.rpartition(":")
        if not _TAG.match(tag):
            raise _invalid(text, f"`{tag}` is not a valid tag")
    parts = rest.split("/")
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        registry, path = parts[0], parts[1:]
        if not _HOST.match(registry):
            raise _invalid(text, f"`{registry}` is not a registry host")
    else:
        registry, path = DOCKER_HUB, parts
        if len(path) == 1:
            path = ["library", *path]
    if not path or not all(_COMPONENT.match(p) for p in path):
        raise _invalid(text, "repository names are lowercase letters, digits and separators (`.`, `_`, `-`)")
    if tag is None and digest is None:
        tag = "latest"
    return Reference(registry, "/".join(path), tag, digest)


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
