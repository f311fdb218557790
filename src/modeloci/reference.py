"""The image-reference grammar, written once: what ``-t``, stored names, ``FROM`` and ``push`` read.

``[host[:port]/]path[:tag][@sha256:digest]``, as Docker reads it: the first
of several slash-separated components is a registry host when it has a ``.``
or a ``:`` or is ``localhost`` (a host name, an IPv4 address or a bracketed
IPv6 address, with an optional port; the host may have capitals); every other
component is lowercase letters and digits joined by ``.``, ``_``, ``__`` or
dashes; a tag is up to 128 ASCII word characters, dots and dashes, not starting
with a dot or a dash; the name before the tag is at most 255 characters.
:func:`split_reference` reads the text and changes nothing in it.

Two readings sit on it: :func:`normalise_tag` here (a model's name in the
store or an archive: no digest, ``:latest`` added, nothing else changed), and
``registry.image_ref.parse_reference`` (Docker Hub's defaults filled in).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from modeloci.errors import UsageError

MAX_NAME = 255
_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*\Z")
_TAG = re.compile(r"\w[\w.-]{0,127}\Z", re.ASCII)
_LABEL = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?"
_HOST = re.compile(rf"(?:{_LABEL}(?:\.{_LABEL})*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?\Z")
# The digests modeloci reads (oci/digest.py's Digest): sha256 only.
_DIGEST = re.compile(r"sha256:[a-f0-9]{64}\Z")


class InvalidReference(ValueError):
    """Text that is not an image reference; ``reason`` says which part is wrong."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ImageReference:
    """A reference as written: ``host`` is None when the first component names no registry."""

    host: str | None
    path: str
    tag: str | None
    digest: str | None

    @property
    def name(self) -> str:
        """Host and path, as written (what a tag and a digest follow)."""
        return f"{self.host}/{self.path}" if self.host is not None else self.path


def names_host(first: str) -> bool:
    """Whether ``first``, the first of several components, is a registry host rather than part of the path."""
    return "." in first or ":" in first or first == "localhost"


def split_reference(text: str) -> ImageReference:
    """``text`` read by the grammar; InvalidReference names the first part that is wrong (digest, tag, host,
    path, length, in that order)."""
    rest, digest = text, None
    if "@" in rest:
        rest, _, digest = rest.partition("@")
        if not _DIGEST.match(digest):
            raise InvalidReference(f"`{digest}` is not a sha256 digest")
    tag = None
    if ":" in rest.rsplit("/", 1)[-1]:
        rest, _, tag = rest.rpartition(":")
        if not _TAG.match(tag):
            raise InvalidReference(f"`{tag}` is not a valid tag")
    host, path = None, rest.split("/")
    if len(path) > 1 and names_host(path[0]):
        host, path = path[0], path[1:]
        if not _HOST.match(host):
            raise InvalidReference(f"`{host}` is not a registry host")
    if not all(_COMPONENT.match(component) for component in path):
        raise InvalidReference("repository names are lowercase letters, digits and separators (`.`, `_`, `-`)")
    if len(rest) > MAX_NAME:
        raise InvalidReference(f"the name is longer than {MAX_NAME} characters")
    return ImageReference(host, "/".join(path), tag, digest)


def normalise_tag(text: str) -> str:
    """``NAME[:TAG]`` checked, with ``:latest`` added when no tag is given."""
    try:
        reference = split_reference(text)
    except InvalidReference:
        reference = None
    if reference is None or reference.digest is not None:
        raise UsageError(
            f"invalid model name `{text}`",
            hint="use NAME[:TAG] with a lowercase name, for example `ai/smollm2:360M-Q4_K_M`",
        )
    return f"{reference.name}:{reference.tag or 'latest'}"
