"""Credentials are redacted from every message a registry's words reach, in text, ``--json`` and ``--debug``:
our password and its Basic encoding, tokens fetched, and any credential-shaped text (``Authorization:`` values,
``Bearer`` tokens, JWTs) a hostile registry (tests/registry/hostile.py) writes into its errors.
"""

from __future__ import annotations

import json

import pytest

from modeloci.registry.auth import Credentials, redact
from tests.registry.helpers import (
    BASIC,
    PASSWORD,
    no_secret,
    with_credentials,
)

from .hostile import OTHER_SECRETS, REPOSITORY


@pytest.mark.parametrize("auth", ["basic", "bearer"])
def test_a_403_echoing_the_authorization_header_is_redacted(hostile, cli, tmp_path, monkeypatch, auth) -> None:
    h = hostile("echo-auth", auth=auth)
    with_credentials(monkeypatch)
    scheme = "Basic" if auth == "basic" else "Bearer"
    expected = (f"GET /v2/{REPOSITORY}/manifests/v1: 403 Forbidden (DENIED: requested access to the resource is "
                f"denied (you sent Authorization: {scheme} ***; credential ***))")
    for before, after in (((), ()), ((), ("--json",)), (("--debug",), ())):
        result = cli(*before, "pull", h.reference, "-o", str(tmp_path / "out.tar"), *after)
        assert result.code == 1 and f"error: {expected}\n" in result.stderr, result.stderr
        if after:
            assert json.loads(result.stdout)["error"] == expected
        no_secret(result, *h.tokens)
    assert h.tokens if auth == "bearer" else not h.tokens


def test_credentials_the_client_never_had_are_redacted_from_registry_text(hostile, cli, tmp_path) -> None:
    h = hostile("echo-other")
    for extra in ((), ("--json",)):
        result = cli("pull", h.reference, "-o", str(tmp_path / "out.tar"), *extra)
        assert result.code == 1
        no_secret(result, *OTHER_SECRETS)
    assert json.loads(result.stdout)["error"] == (
        f"GET /v2/{REPOSITORY}/manifests/v1: 403 Forbidden (DENIED: requested access to the resource is denied "
        f"(denied: saw Bearer ***; Authorization: Basic ***; id ***))")


@pytest.mark.parametrize(("text", "redacted"), [
    ("Authorization: Bearer abc.def-ghi", "Authorization: Bearer ***"),
    ('headers: map[Authorization:[Basic YWxpY2U6cHc=]]', "headers: map[Authorization:[Basic ***]]"),
    ('{"authorization": "Bearer tok"}', '{"authorization": "Bearer ***"}'),
    ("proxy-authorization=Negotiate abc", "proxy-authorization=Negotiate ***"),
    ("got bearer 0123456789abcdef", "got bearer ***"),
    ("a JWT eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.sig here", "a JWT *** here"),
    (f"the password {PASSWORD} and {BASIC}", "the password *** and ***"),
    ('Bearer realm="https://auth.example.com/token",service="x"',
     'Bearer realm="https://auth.example.com/token",service="x"'),  # a challenge, not a credential
    ("basic auth is not supported", "basic auth is not supported"),
    ("an identity token idt-9f8e7d6c", "an identity token ***"),
    ("a fetched token tok-fetched-42", "a fetched token ***"),
])
def test_redact_removes_every_form_of_credential(text: str, redacted: str) -> None:
    credentials = Credentials("alice", PASSWORD, "idt-9f8e7d6c")
    assert redact(text, credentials, ("tok-fetched-42",)) == redacted


