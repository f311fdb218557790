"""The registry's error: raised by every module of ``modeloci.registry`` when a registry answers wrongly."""

from __future__ import annotations

from modeloci.errors import ModelociError


class RegistryError(ModelociError):
    """The registry answered with an error, or could not be reached, or broke a rule of the protocol."""

    def __init__(self, message: str, *, status: int | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.status = status
