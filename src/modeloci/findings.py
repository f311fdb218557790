"""Findings: one thing wrong (or worth a warning) in something modeloci read, whoever found it.

Every checker reports findings of one type: how bad it is (``severity``), what
it is (``message``, one line, no period) and where it is (``where``: a
``file:line:col``, an archive member, a template line, or None). A
Modelfile's :class:`~modeloci.diagnostics.Diagnostic` and a chat template's
``TemplateProblem`` carry more (a code and a source span; the conversation
that failed) and are findings too; everything else (``verify``'s problems, a
model folder's, the archive member policy's) is a :class:`Problem`, which is
also their ``--json`` shape.

:class:`Problem` is a plain frozen dataclass, not a pydantic model: it is made
by the archive member policy on every read of an archive, and importing
pydantic for it alone cost ``plan`` a fifth of its start-up. A report model
(pydantic) that holds problems still validates and dumps them, through
:meth:`Problem.__get_pydantic_core_schema__`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:
    from pydantic import GetCoreSchemaHandler
    from pydantic_core import CoreSchema

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


@dataclass(frozen=True, kw_only=True)
class Problem:
    """A finding with nothing more to say than the protocol; ``where`` is left out of JSON when unknown."""

    severity: Severity = "error"
    message: str
    where: str | None = None

    def model_dump(self, *, mode: str = "python") -> dict[str, Any]:
        """Its JSON shape (``mode`` is accepted as pydantic's is: the fields are all JSON already)."""
        data: dict[str, Any] = {"severity": self.severity, "message": self.message}
        if self.where is not None:
            data["where"] = self.where
        return data

    @classmethod
    def __get_pydantic_core_schema__(cls, source: type[Any], handler: GetCoreSchemaHandler) -> CoreSchema:
        """In a report model: validated as the dataclass it is, dumped by :meth:`model_dump`."""
        # Imported when used (start-up time): only a report model being built needs pydantic.
        from pydantic_core import core_schema

        dump: Callable[[Problem], dict[str, Any]] = cls.model_dump
        return core_schema.no_info_after_validator_function(
            _same, handler(source), serialization=core_schema.plain_serializer_function_ser_schema(dump))


def _same(problem: Problem) -> Problem:
    return problem


def errors(findings: Iterable[Finding]) -> list[Finding]:
    """The findings that are errors (the rest are warnings)."""
    return [f for f in findings if f.severity == "error"]
