"""Pydantic models of the JSON the CLI prints with ``--json``: tests validate output against them.

``extra="forbid"`` everywhere, so a field added, renamed or dropped in the
output fails the tests until the model here (and the docs) say so.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DiagnosticJson(Strict):
    code: str
    severity: Literal["error", "warning"]
    summary: str
    file: str | None
    line: int | None
    column: int | None
    end_line: int | None
    end_column: int | None
    label: str | None
    detail: str | None
    hint: str | None


class FailureJson(Strict):
    ok: Literal[False]
    error: str
    hint: str | None
    exit_code: int
    diagnostics: list[DiagnosticJson] | None = None


class LintFile(Strict):
    path: str
    ok: bool
    diagnostics: list[DiagnosticJson]


class LintOutput(Strict):
    files: list[LintFile]
    errors: int
    warnings: int


class FmtFile(Strict):
    path: str
    changed: bool
    formatted: bool
    diagnostics: list[DiagnosticJson]


class FmtOutput(Strict):
    files: list[FmtFile]
    changed: int
    failed: int


class InitOutput(Strict):
    folder: str
    weights: str
    mmproj: str | None
    chat_template: str | None
    licenses: list[str]
    alternatives: list[str]
    left_out: list[str]
    modelfile: str | None
    text: str
