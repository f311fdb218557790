"""Failures to reach a registry that no retry mends, told apart from those a retry may.

A refused connection (nothing listens at the host and port) and a TLS
handshake that fails (a plain-HTTP registry spoken to over HTTPS, a
certificate nobody trusts) give the same answer however often they are tried,
so they end a command at once with an error that says what to change. (The
mismatch the other way round, plain HTTP to an HTTPS server, is an answer:
:func:`modeloci.registry.answers.plain_to_tls`.) Resets, timeouts and 5xx stay
with the client's retries.
"""

from __future__ import annotations

import errno
import ssl

import httpx

from modeloci.registry.answers import INSECURE
from modeloci.registry.errors import RegistryError


def permanent_failure(exc: httpx.TransportError, registry: str) -> RegistryError | None:
    """The error to stop with for ``exc``, if retrying cannot help; None if it might."""
    causes = list(_chain(exc))
    if any(isinstance(c, ConnectionRefusedError) or getattr(c, "errno", None) == errno.ECONNREFUSED
           for c in causes):
        return RegistryError(f"cannot connect to {registry}: connection refused",
                             hint=f"is a registry running at {registry}? check the host name and the port")
    for cause in causes:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return RegistryError(f"the TLS certificate of {registry} is not trusted: "
                                 f"{cause.verify_message or cause.reason}",
                                 hint="if a private CA signed it, point SSL_CERT_FILE at that CA's certificate; "
                                      f"a registry without TLS needs `--insecure-registry {registry}`")
        if isinstance(cause, ssl.SSLError):
            return RegistryError(f"{registry} does not answer HTTPS (the TLS handshake failed: "
                                 f"{cause.reason or cause.strerror or 'no reason given'})",
                                 hint=f"if {registry} is a registry without TLS, allow plain HTTP to it with "
                                      f"`--insecure-registry {registry}` (or {INSECURE})")
    return None


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and what caused it (``__cause__``, else ``__context__``), each once."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and not any(current is s for s in seen) and len(seen) < 16:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen
