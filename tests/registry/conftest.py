"""Fixtures for tests against a real OCI registry (github.com/docker/distribution 2.8, ``docker-registry``).

Registries (module-scoped: one process per test module, shared by its tests; use a repository name of your own
per test, e.g. from ``repo_name``, and ``registry.mark()``/``requests(since=...)`` to look at your own requests):

* ``registry``       anonymous registry
* ``auth_registry``  htpasswd Basic auth: ``.username`` ("alice") / ``.password``
* ``token_registry`` Bearer token auth backed by a token server written for the tests: ``.realm``,
  ``.username`` ("bob") / ``.password`` ("hunter2"), ``.token_requests``, ``.token_server``

Each has ``.host`` ("127.0.0.1:PORT"), ``.url``, ``.root`` (storage folder), ``.log_path`` (the registry's JSON
log), ``.access_log_path``, ``.requests(since=0)`` (``LoggedRequest`` tuples ``(method, path, status)``, with
``.query``/``.uri``), ``.mark()``, ``.wait_for_request(pred)``, ``.log_entries()``, ``.stop()``.

Function-scoped:

* ``registry_factory(auth=None|"htpasswd"|"token", relative_urls=False)``: a fresh registry for one test;
* ``proxy(target)``: a :class:`~tests.registry.servers.FaultProxy` in front of a registry (or "host:port");
* ``hostile(attack="honest", auth=None)``: a started :class:`~tests.registry.hostile.HostileRegistry`;
* ``repo_name``: a repository name unique to the test;
* (autouse) credentials isolated: ``XDG_CONFIG_HOME`` and ``DOCKER_CONFIG`` of the test's own, no MODELOCI_* secrets.

When ``docker-registry`` (or ``cryptography``, for token auth) is missing these fixtures skip, or fail when
``MODELOCI_REQUIRE_TOOLS`` is set (as CI does).  Everything started here is stopped at teardown.
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from .hostile import HostileRegistry
from .servers import (
    HTPASSWD_PASSWORD,
    HTPASSWD_USER,
    FaultProxy,
    RegistryServer,
    ServerError,
    TokenRegistryServer,
    TokenServer,
    find_registry_binary,
    write_htpasswd,
)


def _missing(reason: str) -> None:
    if os.environ.get("MODELOCI_REQUIRE_TOOLS"):
        pytest.fail(f"{reason} (MODELOCI_REQUIRE_TOOLS is set)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def registry_binary() -> str:
    """Path of the ``docker-registry`` binary (Debian package ``docker-registry``)."""
    binary = find_registry_binary()
    if binary is None:
        _missing("docker-registry (github.com/docker/distribution) is not installed: apt-get install docker-registry")
    assert binary is not None
    return binary


def _require_cryptography() -> None:
    try:
        import cryptography  # noqa: F401
    except ImportError:
        _missing("the token server needs the 'cryptography' package: pip install cryptography")


def _start_registry(
    workdir: Path, binary: str, auth: str | None = None, relative_urls: bool = False, name: str = "registry"
) -> RegistryServer:
    """A started registry; stop it with ``.stop()``.  auth: None, "htpasswd" or "token"."""
    workdir.mkdir(parents=True, exist_ok=True)
    server: RegistryServer
    if auth is None:
        server = RegistryServer(workdir, binary=binary, relative_urls=relative_urls, name=name)
    elif auth == "htpasswd":
        htpasswd = write_htpasswd(workdir / "htpasswd")
        server = RegistryServer(
            workdir,
            auth={"htpasswd": {"realm": "modeloci-test", "path": str(htpasswd)}},
            binary=binary,
            relative_urls=relative_urls,
            name=name,
        )
        server.username, server.password = HTPASSWD_USER, HTPASSWD_PASSWORD
    elif auth == "token":
        _require_cryptography()
        token_server = TokenServer(workdir / "token").start()
        server = TokenRegistryServer(
            workdir, token_server, binary=binary, relative_urls=relative_urls, name=name
        )
    else:
        raise ValueError(f"unknown auth {auth!r}")
    try:
        server.start()
    except BaseException:
        server.stop()
        raise
    return server


@pytest.fixture(scope="module")
def registry(registry_binary: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    """An anonymous registry, shared by the tests of a module."""
    yield from _module_registry(registry_binary, tmp_path_factory, None)


@pytest.fixture(scope="module")
def auth_registry(registry_binary: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    """A registry with htpasswd Basic auth (``.username``/``.password``), shared by the tests of a module."""
    yield from _module_registry(registry_binary, tmp_path_factory, "htpasswd")


@pytest.fixture(scope="module")
def token_registry(
    registry_binary: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TokenRegistryServer]:
    """A registry with Bearer token auth and its token server, shared by the tests of a module."""
    for server in _module_registry(registry_binary, tmp_path_factory, "token"):
        assert isinstance(server, TokenRegistryServer)
        yield server


def _module_registry(
    binary: str, tmp_path_factory: pytest.TempPathFactory, auth: str | None
) -> Iterator[RegistryServer]:
    name = auth or "anon"
    try:
        server = _start_registry(tmp_path_factory.mktemp(f"registry-{name}"), binary, auth, name=name)
    except ServerError as exc:
        pytest.fail(f"could not start the {name} registry: {exc}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def registry_factory(registry_binary: str, tmp_path: Path) -> Iterator[Callable[..., RegistryServer]]:
    """``registry_factory(auth=None, relative_urls=False)``: a fresh registry for this test only."""
    started: list[RegistryServer] = []
    counter = itertools.count()

    def make(auth: str | None = None, relative_urls: bool = False) -> RegistryServer:
        name = f"{auth or 'anon'}-{next(counter)}"
        try:
            server = _start_registry(tmp_path / f"registry-{name}", registry_binary, auth, relative_urls, name)
        except ServerError as exc:
            pytest.fail(f"could not start registry {name}: {exc}", pytrace=False)
        started.append(server)
        return server

    try:
        yield make
    finally:
        for server in started:
            server.stop()


@pytest.fixture
def proxy() -> Iterator[Callable[[Any], FaultProxy]]:
    """``proxy(target)``: a fault-injecting proxy in front of ``target`` (a registry, or "host:port")."""
    started: list[FaultProxy] = []

    def make(target: Any) -> FaultProxy:
        p = FaultProxy(target if isinstance(target, str) else target.host).start()
        started.append(p)
        return p

    try:
        yield make
    finally:
        errors = []
        for p in started:
            try:
                p.stop()
            except ServerError as exc:
                errors.append(str(exc))
        if errors:
            pytest.fail("; ".join(errors), pytrace=False)


@pytest.fixture
def hostile() -> Iterator[Callable[..., HostileRegistry]]:
    """``hostile(attack="honest", auth=None)``: a started HostileRegistry, stopped at teardown."""
    started: list[HostileRegistry] = []

    def make(attack: str = "honest", auth: str | None = None) -> HostileRegistry:
        started.append(HostileRegistry(attack, auth=auth).start())
        return started[-1]

    yield make
    for server in started:
        server.stop()


@pytest.fixture(autouse=True)
def _isolated_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """No test reads or writes the developer's credentials: ``modeloci login`` saves under a ``XDG_CONFIG_HOME``
    and Docker's ``config.json`` is looked for in a ``DOCKER_CONFIG`` of the test's own; no MODELOCI_* secrets."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("config")))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path_factory.mktemp("docker-config")))
    for name in ("MODELOCI_USERNAME", "MODELOCI_PASSWORD", "MODELOCI_INSECURE_REGISTRIES"):
        monkeypatch.delenv(name, raising=False)


_counter = itertools.count()


@pytest.fixture
def repo_name(request: pytest.FixtureRequest) -> str:
    """A repository name unique to this test (valid per the distribution spec), e.g. ``test/push-blob-3``."""
    base = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:60].strip("-") or "repo"
    return f"test/{base}-{next(_counter)}"
