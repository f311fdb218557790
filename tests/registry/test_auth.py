"""Credentials against real registries: htpasswd Basic auth (``auth_registry``) and Bearer tokens (``token_registry``).

* `modeloci login` checks the credentials and saves them (mode 0600); push and pull then work, `logout` forgets.
* Credentials also come from MODELOCI_USERNAME / MODELOCI_PASSWORD and from Docker's config.json.
* A wrong password, or none, is a clean failure: exit 1, an ``error:`` line naming the registry, a hint to log
  in, no traceback, nothing saved.
* Bearer tokens are asked for exactly the repository and actions needed; anonymous users may pull, not push.
* Secrets are never printed: not the password, not its Basic encoding, not a token, also with --debug.
"""

from __future__ import annotations

import base64
import io
import json
import os
import stat
from pathlib import Path

import pytest

from tests.registry.helpers import assert_clean_failure, build, digest_in

JWT_PREFIX = "eyJ"  # base64url of '{"': every JWT (a token) starts with it


def secrets_of(server) -> tuple[str, ...]:
    basic = base64.b64encode(f"{server.username}:{server.password}".encode()).decode()
    return (server.password, basic, JWT_PREFIX)


def login(cli, monkeypatch: pytest.MonkeyPatch, server, password: str | None = None, *extra: str):
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{password or server.password}\n"))
    return cli(*extra, "login", server.host, "-u", server.username, "--password-stdin")


def round_trip(cli, tmp_path: Path, ref: str, *extra: str) -> list:
    """push then pull -o, each with ``extra`` global options; both must work and agree on the digest."""
    built, digest = build(cli, tmp_path, tag=ref)
    pushed = cli(*extra, "push", str(built), ref)
    assert pushed.code == 0, pushed.stderr
    pulled = cli(*extra, "pull", ref, "-o", str(tmp_path / "pulled.tar"))
    assert pulled.code == 0, pulled.stderr
    assert digest_in(pushed.stdout) == digest_in(pulled.stdout) == digest
    assert (tmp_path / "pulled.tar").read_bytes() == built.read_bytes()
    return [pushed, pulled]


def assert_no_secret(results: list, server) -> None:
    for result in results:
        for secret in secrets_of(server):
            assert secret not in result.stdout + result.stderr, secret


def auth_file() -> Path:
    return Path(os.environ["XDG_CONFIG_HOME"]) / "modeloci" / "auth.json"


# ----------------------------------------------------------------------------------------------------------------
# Basic
# ----------------------------------------------------------------------------------------------------------------


def test_basic_login_push_pull_logout(auth_registry, repo_name, cli, tmp_path: Path, monkeypatch) -> None:
    ref = f"{auth_registry.host}/{repo_name}:v1"
    logged = login(cli, monkeypatch, auth_registry)
    assert logged.code == 0, logged.stderr
    assert stat.S_IMODE(auth_file().stat().st_mode) == 0o600

    mark = auth_registry.mark()
    results = round_trip(cli, tmp_path, ref)
    assert_no_secret([logged, *results], auth_registry)
    since = auth_registry.requests(mark)
    assert {r.status for r in since} <= {200, 201, 202, 401, 404}
    assert ("PUT", f"/v2/{repo_name}/manifests/v1", 201) in since

    assert cli("logout", auth_registry.host).code == 0
    assert auth_registry.host not in json.dumps(json.loads(auth_file().read_text()))
    stderr = assert_clean_failure(cli("pull", ref, "-o", str(tmp_path / "again.tar")))
    assert "modeloci login" in stderr
    assert not (tmp_path / "again.tar").exists()


def test_basic_wrong_password_is_refused_cleanly(auth_registry, cli, monkeypatch) -> None:
    wrong = "not-the-Secret-42"
    encoded = base64.b64encode(f"{auth_registry.username}:{wrong}".encode()).decode()
    stderr = assert_clean_failure(login(cli, monkeypatch, auth_registry, wrong), secrets=(wrong, encoded))
    assert f"{auth_registry.host} refused access as {auth_registry.username}" in stderr
    assert f"modeloci login {auth_registry.host}" in stderr
    debug = login(cli, monkeypatch, auth_registry, wrong, "--debug")  # a traceback now, still no secret
    assert debug.code == 1 and "Traceback" in debug.stderr
    assert wrong not in debug.stdout + debug.stderr and encoded not in debug.stdout + debug.stderr
    assert not auth_file().exists()


def test_basic_without_credentials_says_to_log_in(auth_registry, repo_name, cli, tmp_path: Path) -> None:
    built, _ = build(cli, tmp_path)
    for args in (("push", str(built), f"{auth_registry.host}/{repo_name}:v1"),
                 ("pull", f"{auth_registry.host}/{repo_name}:v1", "-o", str(tmp_path / "out.tar"))):
        stderr = assert_clean_failure(cli(*args))
        assert "refused access anonymously" in stderr and f"modeloci login {auth_registry.host}" in stderr
    assert not (tmp_path / "out.tar").exists()


def test_basic_credentials_from_the_environment(auth_registry, repo_name, cli, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("MODELOCI_USERNAME", auth_registry.username)
    monkeypatch.setenv("MODELOCI_PASSWORD", auth_registry.password)
    results = round_trip(cli, tmp_path, f"{auth_registry.host}/{repo_name}:v1", "--debug")
    assert_no_secret(results, auth_registry)


def test_basic_credentials_from_docker_config(auth_registry, repo_name, cli, tmp_path: Path) -> None:
    encoded = base64.b64encode(f"{auth_registry.username}:{auth_registry.password}".encode()).decode()
    config = Path(os.environ["DOCKER_CONFIG"]) / "config.json"
    config.write_text(json.dumps({"auths": {auth_registry.host: {"auth": encoded}}}))
    round_trip(cli, tmp_path, f"{auth_registry.host}/{repo_name}:v1")


# ----------------------------------------------------------------------------------------------------------------
# Bearer tokens
# ----------------------------------------------------------------------------------------------------------------


def token_scopes(server, since: int, username: str | None) -> set[str]:
    return {s for t in server.token_requests[since:] if t.username == username and t.status == 200 for s in t.scopes}


def test_token_login_push_pull_asks_for_exact_scopes(token_registry, repo_name, cli, tmp_path, monkeypatch) -> None:
    logged = login(cli, monkeypatch, token_registry)
    assert logged.code == 0, logged.stderr
    first = len(token_registry.token_requests)
    results = round_trip(cli, tmp_path, f"{token_registry.host}/{repo_name}:v1", "--debug")
    assert_no_secret([logged, *results], token_registry)

    asked = token_registry.token_requests[first:]
    assert asked and all(t.username == token_registry.username and t.status == 200 for t in asked)
    assert {s for t in asked for s in t.scopes} == {f"repository:{repo_name}:pull,push", f"repository:{repo_name}:pull"}
    assert all(t.service == token_registry.service for t in asked)
    pushes = [t for t in asked if f"repository:{repo_name}:pull,push" in t.scopes]
    assert pushes and all(g["actions"] == ["pull", "push"] for t in pushes for g in t.granted)


def test_token_credentials_from_the_environment(token_registry, repo_name, cli, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("MODELOCI_USERNAME", token_registry.username)
    monkeypatch.setenv("MODELOCI_PASSWORD", token_registry.password)
    first = len(token_registry.token_requests)
    results = round_trip(cli, tmp_path, f"{token_registry.host}/{repo_name}:v1")
    assert_no_secret(results, token_registry)
    assert f"repository:{repo_name}:pull,push" in token_scopes(token_registry, first, token_registry.username)


def test_token_anonymous_may_pull_but_not_push(token_registry, repo_name, cli, tmp_path, monkeypatch) -> None:
    ref = f"{token_registry.host}/{repo_name}:v1"
    built, digest = build(cli, tmp_path)
    first = len(token_registry.token_requests)
    stderr = assert_clean_failure(cli("push", str(built), ref))
    assert "refused access anonymously" in stderr and f"modeloci login {token_registry.host}" in stderr
    asked = token_registry.token_requests[first:]
    assert f"repository:{repo_name}:pull,push" in token_scopes(token_registry, first, None)
    assert all(t.username is None and g["actions"] == ["pull"] for t in asked for g in t.granted)

    monkeypatch.setenv("MODELOCI_USERNAME", token_registry.username)
    monkeypatch.setenv("MODELOCI_PASSWORD", token_registry.password)
    assert cli("push", str(built), ref).code == 0
    monkeypatch.delenv("MODELOCI_USERNAME")
    monkeypatch.delenv("MODELOCI_PASSWORD")
    pulled = cli("pull", ref, "-o", str(tmp_path / "pulled.tar"))
    assert pulled.code == 0, pulled.stderr
    assert digest_in(pulled.stdout) == digest


def test_token_wrong_password_is_refused_cleanly(token_registry, repo_name, cli, tmp_path, monkeypatch) -> None:
    wrong = "hunter3-wrong"
    result = login(cli, monkeypatch, token_registry, wrong)
    assert f"refused access as {token_registry.username}" in assert_clean_failure(result, secrets=(wrong,))
    assert not auth_file().exists()

    monkeypatch.setenv("MODELOCI_USERNAME", token_registry.username)
    monkeypatch.setenv("MODELOCI_PASSWORD", wrong)
    for extra in ((), ("--debug",)):
        pulled = cli(*extra, "pull", f"{token_registry.host}/{repo_name}:v1", "-o", str(tmp_path / "out.tar"))
        assert pulled.code == 1 and "refused access" in pulled.stderr
        assert wrong not in pulled.stdout + pulled.stderr and JWT_PREFIX not in pulled.stdout + pulled.stderr
    assert not (tmp_path / "out.tar").exists()


def test_basic_parallel_first_requests_all_authenticate(auth_registry, proxy, repo_name, cli, tmp_path, monkeypatch):
    """A push starts with parallel blob HEADs that all meet the first 401: each must then retry with credentials
    (one of them held back by the proxy, so that it learns of the challenge after another thread did)."""
    p = proxy(auth_registry)
    monkeypatch.setenv("MODELOCI_USERNAME", auth_registry.username)
    monkeypatch.setenv("MODELOCI_PASSWORD", auth_registry.password)
    built, digest = build(cli, tmp_path)
    p.delay(0.3, times=1, method="HEAD")
    pushed = cli("push", str(built), f"{p.host}/{repo_name}:v1")
    assert pushed.code == 0, pushed.stderr
    assert digest_in(pushed.stdout) == digest
    held = next(r for r in p.requests if r.delayed)
    answered = {(r.method, r.path) for r in p.requests if r.status not in (401, None)}
    assert held.status == 401 and (held.method, held.path) in answered  # asked again, with the credentials
