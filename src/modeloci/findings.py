"""Findings: one thing wrong (or worth a warning) in something modeloci read, whoever found it.

Every checker reports findings of one type: how bad it is (``severity``), what
it is (``message``, one line, no period) and where it is (``where``: a
``file:line:col``, an archive member, a template line, or None). A
Modelfile's :class:`~modeloci.diagnostics.Diagnostic` and a chat template's
``TemplateProblem`` carry more (a code and a source span; the conversation
that failed) and are findings too; everything else (``verify``'s problems, a
model folder's, the archive member policy's) is a :class:`Problem`, which is
also their ``--json`` shape.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, model_serializer

Severity = Literal["error", "warning"]


@runtime_checkable
class Finding(Protocol):
    """What every finding says: its severity (``"error"`` or ``"warning"``), its message, and where it is."""

    @property
    def severity(self) -> str: ...

    @property
    def message(self) -> str: ...

    @property
    def where(self) -> str | None: ...


class Problem(BaseModel):
    """A finding with nothing more to say than the protocol; ``where`` is left out of JSON when unknown."""

    model_config = ConfigDict(frozen=True)

    severity: Severity = "error"
    message: str
    where: str | None = None

    @model_serializer(mode="wrap")
    def _json(self, handler: Any) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        if data.get("where") is None:
            data.pop("where", None)
        return data


def errors(findings: Iterable[Finding]) -> list[Finding]:
    """The findings that are errors (the rest are warnings)."""
    return [f for f in findings if f.severity == "error"]
