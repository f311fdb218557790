"""Content digests as a type: ``Digest.parse("sha256:...")``, never loose strings."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

_ENCODED = re.compile(r"[a-f0-9]{64}\Z")


@dataclass(frozen=True, slots=True, order=True)
class Digest:
    """A sha256 content digest (the only algorithm OCI registries all accept)."""

    hex: str
    algorithm: str = "sha256"

    def __post_init__(self) -> None:
        if self.algorithm != "sha256" or not _ENCODED.match(self.hex):
            raise ValueError(f"not a sha256 digest: {self.algorithm}:{self.hex}")

    @classmethod
    def parse(cls, text: str) -> Digest:
        algorithm, sep, encoded = text.partition(":")
        if not sep:
            raise ValueError(f"not a digest: {text!r}")
        return cls(encoded, algorithm)

    @classmethod
    def of(cls, data: bytes) -> Digest:
        return cls(hashlib.sha256(data).hexdigest())

    @property
    def blob_path(self) -> str:
        """The blob's path inside an OCI layout: ``blobs/sha256/<hex>``."""
        return f"blobs/{self.algorithm}/{self.hex}"

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"
