"""Test servers for the registry tests: a real Distribution registry, a token server and a fault-injecting proxy.

Everything here listens on 127.0.0.1 only, on ports chosen by binding port 0, waits with hard time limits, and
stops everything it started in ``stop()`` (the conftest calls it at teardown, also when the test failed).

* :class:`RegistryServer` (``registry.py``) runs ``docker-registry serve CONFIG`` (github.com/docker/distribution
  2.8) with a config written here: filesystem storage in a temporary folder, deletes enabled, no auth, htpasswd
  Basic auth or Bearer token auth.  ``requests()`` lists the HTTP requests it served, parsed from its access log.
* :class:`TokenServer` (``tokens.py``) is a Docker token server (``GET /token?service=...&scope=...``) written for
  the tests; it signs ES256 JWTs with a key whose self-signed certificate is the registry's ``rootcertbundle``.
* :class:`FaultProxy` (``proxy.py``, with its schedule of faults in ``faults.py``) forwards HTTP/1.1 requests to a
  registry and injects faults on demand (connection reset in the middle of a request body, canned error
  statuses, delays, corrupted answers); ``wire.py`` is the HTTP/1.1 framing it (and ``helpers.CuttingProxy``)
  speaks on raw sockets.

Imports go one way: ``common`` <- ``wire`` / ``tokens`` / ``faults`` <- ``registry`` / ``proxy`` <- this package.
Only the standard library is needed, except the token server, which needs ``cryptography``.
"""

from .common import LOCALHOST, STOP_TIMEOUT, ServerError, free_port, port_is_open
from .faults import FaultSchedule, ProxyRequest
from .proxy import FaultProxy
from .registry import (
    HTPASSWD_HASH,
    HTPASSWD_PASSWORD,
    HTPASSWD_USER,
    REGISTRY_CANDIDATES,
    START_TIMEOUT,
    LoggedRequest,
    RegistryServer,
    TokenRegistryServer,
    find_registry_binary,
    stop_process,
    write_htpasswd,
)
from .tokens import TOKEN_ISSUER, TOKEN_PASSWORD, TOKEN_SERVICE, TOKEN_USER, TokenRequest, TokenServer, libtrust_key_id
from .wire import PIECE, iter_pieces

__all__ = [
    "HTPASSWD_HASH",
    "HTPASSWD_PASSWORD",
    "HTPASSWD_USER",
    "LOCALHOST",
    "PIECE",
    "REGISTRY_CANDIDATES",
    "START_TIMEOUT",
    "STOP_TIMEOUT",
    "TOKEN_ISSUER",
    "TOKEN_PASSWORD",
    "TOKEN_SERVICE",
    "TOKEN_USER",
    "FaultProxy",
    "FaultSchedule",
    "LoggedRequest",
    "ProxyRequest",
    "RegistryServer",
    "ServerError",
    "TokenRegistryServer",
    "TokenRequest",
    "TokenServer",
    "find_registry_binary",
    "free_port",
    "iter_pieces",
    "libtrust_key_id",
    "port_is_open",
    "stop_process",
    "write_htpasswd",
]
