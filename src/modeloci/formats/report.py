"""What ``verify`` found: the report every check of :mod:`.validate` and :mod:`.blobcheck` adds its problems to."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from modeloci.findings import Problem
from modeloci.oci.manifest import Descriptor, Manifest


@dataclass(kw_only=True)
class VerifyReport:
    """What ``verify`` found. A plain dataclass, not a pydantic model: nothing on ``verify``'s path needs pydantic
    then, and importing it was a third of ``verify``'s start-up (:meth:`model_dump` is its ``--json`` shape)."""

    source: str
    format: str | None = None
    manifest_digest: str | None = None
    blobs_checked: int = 0
    bytes_checked: int = 0
    problems: list[Problem] = field(default_factory=list)
    # A multi-platform image: the index ``index.json`` names and each platform's manifest (not in the JSON: its
    # ``manifest_digest`` is the index's, the problems of a platform's image start with the platform's name).
    index: Descriptor | None = field(default=None, repr=False)
    platforms: list[tuple[str, Manifest]] = field(default_factory=list, repr=False)

    @property
    def ok(self) -> bool:
        return not any(p.severity == "error" for p in self.problems)

    def model_dump(self, *, mode: str = "python") -> dict[str, Any]:
        """Its JSON shape, the fields in order (``mode`` is accepted as pydantic's is: all are JSON already)."""
        return {"source": self.source, "format": self.format, "manifest_digest": self.manifest_digest,
                "blobs_checked": self.blobs_checked, "bytes_checked": self.bytes_checked,
                "problems": [p.model_dump() for p in self.problems]}


def error(report: VerifyReport, message: str) -> None:
    report.problems.append(Problem(message=message))


def warn(report: VerifyReport, message: str) -> None:
    report.problems.append(Problem(severity="warning", message=message))
