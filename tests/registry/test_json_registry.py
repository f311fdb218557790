"""``--json`` of push, pull, build --push, login and logout against a real registry: one document on stdout, valid
for the strict models in tests/workflow/schemas.py, tied to what was built; failures are the failure document."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest

from tests.archive_tools import copy_example
from tests.workflow.schemas import (
    BuildOutput,
    FailureJson,
    LoginOutput,
    LogoutOutput,
    LsOutput,
    PullOutput,
    PushOutput,
)
from tests.workflow.test_json import one_document


def test_push_pull_build_push(registry, repo_name: str, cli, tmp_path: Path) -> None:
    modelfile = copy_example("single-gguf", tmp_path)
    ref = f"{registry.host}/{repo_name}:1"
    built = one_document(cli("build", "-f", str(modelfile), "-o", str(tmp_path / "b.tar"), "-t", ref, "-q", "--json"),
                         BuildOutput)
    layers = sorted({layer.digest for layer in built.layers})
    blobs = sorted({built.config.digest, *layers})  # push counts the config; pull lists the layers it fetched

    result = cli("push", str(tmp_path / "b.tar"), ref, "--progress", "plain", "--json")
    pushed = one_document(result, PushOutput)
    assert result.stderr, "expected progress on stderr"
    assert (pushed.reference, pushed.digest, sorted(pushed.uploaded), pushed.mounted) == (ref, built.digest, blobs, [])
    again = one_document(cli("push", str(tmp_path / "b.tar"), ref, "-q", "--json"), PushOutput)
    assert (again.uploaded, sorted(again.skipped)) == ([], blobs)

    pulled = one_document(cli("pull", ref, "-o", str(tmp_path / "p.tar"), "-q", "--json"), PullOutput)
    assert (pulled.digest, pulled.output, sorted(pulled.downloaded)) == (built.digest, str(tmp_path / "p.tar"), layers)
    assert (tmp_path / "p.tar").read_bytes() == (tmp_path / "b.tar").read_bytes()  # same name: same bytes
    layout = one_document(cli("pull", ref, "--layout", str(tmp_path / "lay"), "-q", "--json"), PullOutput)
    assert layout.digest == built.digest and (tmp_path / "lay" / "index.json").is_file()
    stored = one_document(cli("pull", ref, "-t", "pulled:1", "-q", "--json"), PullOutput)
    assert (stored.digest, stored.output) == (built.digest, os.environ["MODELOCI_HOME"])
    assert sorted(stored.downloaded) == layers
    again = one_document(cli("pull", ref, "-t", "pulled:1", "-q", "--json"), PullOutput)
    assert (again.downloaded, sorted(again.reused)) == ([], layers)
    assert [(r.reference, r.digest) for r in one_document(cli("ls", "--json"), LsOutput).root] == [
        ("pulled:1", built.digest)]

    # build --push with no other output prints build's one document, with the push in it (issue 16).
    result = cli("build", "-f", str(modelfile), "--push", f"{registry.host}/{repo_name}:2", "-q", "--json")
    built_pushed = one_document(result, BuildOutput)
    assert built_pushed.push is not None
    pushed = built_pushed.push
    assert (built_pushed.digest, pushed.digest, pushed.uploaded) == (built.digest, built.digest, [])

    missing = one_document(cli("pull", f"{registry.host}/{repo_name}:absent", "-q", "--json"), FailureJson, code=1)
    assert missing.exit_code == 1 and "absent" in missing.error


def login(cli, monkeypatch: pytest.MonkeyPatch, server, password: str):
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{password}\n"))
    return cli("login", server.host, "-u", server.username, "--password-stdin", "--json")


def test_login_logout(auth_registry, cli, monkeypatch: pytest.MonkeyPatch) -> None:
    result = login(cli, monkeypatch, auth_registry, auth_registry.password)
    done = one_document(result, LoginOutput)
    assert (done.registry, done.username) == (auth_registry.host, "alice")
    assert json.loads(Path(done.saved_in).read_text()) and auth_registry.password not in result.stdout

    assert one_document(cli("logout", auth_registry.host, "--json"), LogoutOutput).model_dump() == {
        "registry": auth_registry.host, "removed": True}
    assert one_document(cli("logout", auth_registry.host, "--json"), LogoutOutput).removed is False

    refused = login(cli, monkeypatch, auth_registry, "wrong")
    failure = one_document(refused, FailureJson, code=1)
    assert failure.exit_code == 1 and "wrong" not in refused.stdout + refused.stderr
