"""A hostile registry (tests/registry/hostile.py) against modeloci's bounds: memory, sizes and disk space.

* Manifests, tokens, error bodies, redirects and small blobs are read with a size limit (a manifest: 4 MiB).
* A descriptor's size is checked against a sane bound, and the destination's free space, before anything is written.
* JSON nested 100,000 deep is a clean error (a manifest) or copied as it is (a config that matches its digest).
"""

from __future__ import annotations

import json
import os

import httpx
import pytest

from modeloci.registry.auth import AuthError
from modeloci.registry.client import RegistryClient, RegistryError
from modeloci.registry.image_ref import parse_reference
from modeloci.registry.limits import size_text
from modeloci.sources import RemoteRef
from modeloci.sources.registry import RemoteLayout
from tests.registry.helpers import (
    assert_clean_failure,
    blob_of,
    client_of,
    error_lines,
)

from .hostile import REPOSITORY, digest_of


def test_an_endless_manifest_is_cut_at_4_mib(hostile, cli, tmp_path) -> None:
    h = hostile("endless-manifest")
    for extra in ((), ("--json",)):
        result = cli("pull", h.reference, "-o", str(tmp_path / "out.tar"), *extra)
        stderr = assert_clean_failure(result)
        assert error_lines(stderr)[0] == f"error: the manifest of {h.reference} is larger than 4 MiB"
    assert json.loads(result.stdout)["error"] == f"the manifest of {h.reference} is larger than 4 MiB"
    assert not (tmp_path / "out.tar").exists()
    assert sum(h.state.sent.values()) < 32 << 20  # stopped reading long before the server's 64 MiB


def test_an_endless_error_body_is_cut(hostile, cli, tmp_path) -> None:
    h = hostile("endless-error")
    stderr = assert_clean_failure(cli("pull", h.reference, "-o", str(tmp_path / "out.tar")))
    assert error_lines(stderr)[0] == (f"error: {h.reference} not found: GET /v2/{REPOSITORY}/manifests/v1: "
                                      f"404 Not Found")
    assert sum(h.state.sent.values()) < 32 << 20


def test_an_endless_token_answer_is_cut(hostile) -> None:
    h = hostile("endless-token", auth="bearer")
    with pytest.raises(AuthError) as caught:
        client_of(h).get_manifest(parse_reference(h.reference))
    assert caught.value.message == f"the answer of the token service of {h.host} is larger than 1 MiB"


def test_a_token_service_that_redirects_is_refused_unread(hostile) -> None:
    h = hostile("token-redirect", auth="bearer")
    with pytest.raises(AuthError) as caught:
        client_of(h).get_manifest(parse_reference(h.reference))
    assert caught.value.message == (f"the token service of {h.host} answered with a redirect, which modeloci does "
                                    f"not follow with credentials")
    assert [s.query for s in h.seen if s.path == "/token"] == ["service=hostile&scope=repository%3Ateam%2Fmodel%3Apull"]
    assert sum(h.state.sent.values()) < 32 << 20


def test_a_redirect_with_an_endless_body_is_not_read(hostile) -> None:
    """httpx reads a redirect's whole body before it follows it: redirects are followed here, unread."""
    h = hostile("endless-redirect")
    assert client_of(h).get_manifest(parse_reference(h.reference))[0] == h.model.manifest
    assert [s.query for s in h.seen if "/manifests/" in s.path] == ["", "moved=1"]
    assert sum(h.state.sent.values()) < 32 << 20


def test_a_redirect_to_plain_http_from_an_https_registry_is_refused() -> None:
    asked: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        asked.append(str(request.url))
        return httpx.Response(307, headers={"Location": "http://storage.example.com/blob?sig=1"})

    client = RegistryClient("registry.example.com", http=httpx.Client(transport=httpx.MockTransport(answer)),
                            use_stored_credentials=False)
    with pytest.raises(RegistryError) as caught:
        client.send("GET", "/v2/", scope="")  # the API version check
    assert caught.value.message == ("the redirect `http://storage.example.com` of registry.example.com is plain "
                                    "HTTP: refused")
    assert asked == ["https://registry.example.com/v2/"]


def test_a_redirect_loop_is_cut(hostile) -> None:
    h = hostile("redirect-loop")
    with pytest.raises(RegistryError) as caught:
        client_of(h).get_manifest(parse_reference(h.reference))
    assert caught.value.message == f"GET /v2/{REPOSITORY}/manifests/v1: more than 10 redirects"
    assert h.count("GET", "/manifests/") == 11


def test_a_small_blob_read_from_the_registry_stops_at_its_size(hostile) -> None:
    """FROM a registry reads the config into memory: an endless body stops at the size the registry gave."""
    h = hostile("endless-blob")
    layout = RemoteLayout(RemoteRef(parse_reference(h.reference), client_of(h)))
    config = digest_of(h.model.config)
    with pytest.raises(RegistryError) as caught:
        layout.open(f"blobs/sha256/{config.split(':')[1]}")
    assert caught.value.message == (f"blob {config} from {h.host} is longer than its {len(h.model.config)} bytes")


# ----------------------------------------------------------------------------------------------------------------
# Sizes and disk space
# ----------------------------------------------------------------------------------------------------------------


def test_a_layer_of_a_petabyte_is_refused_before_anything_is_written(hostile, cli, tmp_path) -> None:
    h = hostile("huge-layer")
    layer = digest_of(h.model.layer)
    for where in (("-o", str(tmp_path / "out.tar")), ("--layout", str(tmp_path / "lay")), ()):
        stderr = assert_clean_failure(cli("pull", h.reference, *where))
        assert error_lines(stderr)[:2] == [
            (f"error: the manifest of {h.reference} gives blob {layer} a size of 1 PiB, more than modeloci "
             f"takes for one blob (16 TiB)"),
            "help: the registry's manifest is wrong or hostile: no model file is that large"]
    assert h.count("GET", layer) == 0
    assert not (tmp_path / "out.tar").exists() and not (tmp_path / "lay").exists()


def test_a_pull_that_does_not_fit_on_the_disk_is_refused(hostile, cli, tmp_path, monkeypatch) -> None:
    h = hostile()
    real = os.statvfs(tmp_path)
    small = os.statvfs_result((*real[:3], real[3], 1, *real[5:]))  # f_bavail: 1 block free

    monkeypatch.setattr(os, "statvfs", lambda path: small)
    need = size_text(len(h.model.layer) + len(h.model.config) + len(h.model.manifest))
    free = size_text(real.f_frsize)
    outputs = ((("-o", str(tmp_path / "out.tar")), tmp_path), (("--layout", str(tmp_path / "lay")), tmp_path / "lay"))
    for where, folder in outputs:
        stderr = assert_clean_failure(cli("pull", h.reference, *where))
        assert error_lines(stderr)[:2] == [
            f"error: pulling {h.reference} needs {need} in {folder}, but only {free} are free",
            "help: free some space, or pull to another disk (-o FILE or --layout DIR)"]
    assert h.count("GET", digest_of(h.model.layer)) == 0
    assert not (tmp_path / "out.tar").exists() and not (tmp_path / "lay").exists()


def test_a_manifest_nested_100000_deep_is_a_clean_error(hostile, cli, tmp_path) -> None:
    h = hostile("deep-manifest")
    stderr = assert_clean_failure(cli("pull", h.reference, "-o", str(tmp_path / "out.tar")))
    assert error_lines(stderr)[0].startswith(f"error: {h.reference}: manifest is nested more than"), stderr
    assert not (tmp_path / "out.tar").exists()


def test_a_config_nested_100000_deep_is_pulled_as_it_is(hostile, cli, tmp_path) -> None:
    """The config matches its digest: pull copies it byte for byte (its timestamp unread), no internal error."""
    h = hostile("deep-config")
    for where in (("-o", str(tmp_path / "out.tar")), ("--layout", str(tmp_path / "lay"))):
        result = cli("pull", h.reference, *where)
        assert result.code == 0, result.stderr
    assert blob_of(tmp_path / "out.tar", digest_of(h.model.config)) == h.model.config


