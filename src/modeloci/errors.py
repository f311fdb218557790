"""The exception tree of modeloci.

Every failure that can reach a user is one of these; the CLI renders them and
chooses the exit code, nothing else does::

    ModelociError                  root; exit 1 unless a subclass says otherwise
    ├── UsageError                 bad command-line use (exit 2)
    ├── ModelfileError             a Modelfile with problems: carries every Diagnostic (exit 2)
    ├── ArchiveError               an OCI archive or layout that cannot be read or is not a model
    └── BuildError                 a build that failed while running (I/O, inputs changed)

Exceptions carry structured fields, not only text, so callers and tests can
look at what went wrong without parsing messages.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from modeloci.diagnostics import Diagnostic


class ModelociError(Exception):
    """Root of every error modeloci raises on purpose."""

    exit_code = 1
    hint: str | None = None

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if hint is not None:
            self.hint = hint


class UsageError(ModelociError):
    """The command line asked for something impossible or malformed."""

    exit_code = 2


class ModelfileError(ModelociError):
    """A Modelfile (or what it names) has problems; every one is in ``diagnostics``.

    ``sources`` maps each file name a diagnostic points into to its text, so the
    error can be rendered with source excerpts long after parsing.
    """

    exit_code = 2

    def __init__(self, diagnostics: Iterable[Diagnostic], sources: Mapping[str, str]) -> None:
        self.diagnostics = tuple(diagnostics)
        self.sources = dict(sources)
        errors = sum(1 for d in self.diagnostics if d.is_error)
        noun = "problem" if errors == 1 else "problems"
        super().__init__(f"{errors} {noun} in the Modelfile")


class ArchiveError(ModelociError):
    """An archive or layout is unreadable, inconsistent, or not a model artifact."""

    def __init__(self, message: str, *, path: str | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.path = path


class BuildError(ModelociError):
    """A build failed while it ran: reading inputs or writing the output."""

    def __init__(self, message: str, *, path: str | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.path = path


def describe_os_error(exc: OSError) -> str:
    """The lowercase reason of an OSError, e.g. ``no space left on device``."""
    reason = exc.strerror or str(exc)
    return reason[:1].lower() + reason[1:]
