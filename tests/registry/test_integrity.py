"""Push and pull check every blob they move against its digest, and stop before anything is completed or written.

* Push hashes the bytes it streams from an archive, a layout or the store, and refuses a blob that does not match
  its digest before the final ``PUT``: the real registry (distribution 2.8) then holds no such blob and no manifest.
* Pull refuses a blob served as other bytes of the same size (a corrupting proxy in front of the real registry),
  a config likewise, a body longer or shorter than its descriptor (the hostile registry), and leaves no output:
  no archive, no layout index or blob, nothing in the store.
* ``FROM registry/...`` refuses a corrupted small blob it reads into memory.
"""

from __future__ import annotations

import json
import os
import tarfile
from pathlib import Path

import httpx
import pytest

from modeloci.oci.digest import Digest
from tests.archive_tools import copy_example
from tests.hostile_archives import with_config_bytes
from tests.registry.helpers import (
    assert_clean_failure,
    blob_of,
    build,
    error_lines,
    layers_of,
    manifest_of,
    partial_files,
    uploaded_digests,
)

from .hostile import HostileRegistry, digest_of


def flip_first_byte(path: Path, offset: int = 0) -> None:
    mode = path.stat().st_mode
    path.chmod(mode | 0o200)
    with open(path, "r+b") as f:
        f.seek(offset)
        first = f.read(1)
        f.seek(offset)
        f.write(bytes([first[0] ^ 0xFF]))
    path.chmod(mode)


def tampered_copy(cli, tmp_path: Path, kind: str) -> tuple[str, str, Path]:
    """A model (archive, layout folder or stored model) whose biggest layer has its first byte changed: (what to
    push, the tampered digest, the archive it was built as)."""
    built, _ = build(cli, tmp_path)
    layer = max(layers_of(built).items(), key=lambda item: item[1])[0]
    hex_ = layer.split(":")[1]
    if kind == "archive":
        with tarfile.open(built) as tar:
            offset = tar.getmember(f"blobs/sha256/{hex_}").offset_data
        flip_first_byte(built, offset)
        return str(built), layer, built
    if kind == "layout":
        modelfile = copy_example("single-gguf", tmp_path / "for-layout")
        assert cli("build", "-f", str(modelfile), "--layout", str(tmp_path / "lay")).code == 0
        flip_first_byte(tmp_path / "lay" / "blobs" / "sha256" / hex_)
        return str(tmp_path / "lay"), layer, built
    modelfile = copy_example("single-gguf", tmp_path / "for-store")
    assert cli("build", "-f", str(modelfile), "-t", "tamper:1").code == 0
    flip_first_byte(Path(os.environ["MODELOCI_HOME"]) / "blobs" / "sha256" / hex_)
    return "tamper:1", layer, built


@pytest.mark.parametrize("kind", ["archive", "layout", "store"])
def test_push_of_a_tampered_blob_is_refused_before_the_final_put(registry, repo_name, cli, tmp_path, kind) -> None:
    source, layer, _ = tampered_copy(cli, tmp_path, kind)
    mark = registry.mark()
    result = cli("push", source, f"{registry.host}/{repo_name}:v1")
    stderr = assert_clean_failure(result)
    assert error_lines(stderr)[0] == f"error: blob {layer} in `{source}` does not match its digest: refusing to push it"
    log = registry.requests(mark)
    assert layer not in uploaded_digests(log)
    assert not [r for r in log if r.method == "PUT" and "/manifests/" in r.path]
    missing = cli("pull", f"{registry.host}/{repo_name}:v1", "-o", str(tmp_path / "none.tar"))
    assert "manifest unknown" in assert_clean_failure(missing).lower()


def test_a_refused_push_leaves_no_blob_in_the_registry(registry, repo_name, cli, tmp_path) -> None:
    """The refused blob's upload session is given up (DELETE): a HEAD of the blob finds nothing."""
    source, layer, _ = tampered_copy(cli, tmp_path, "archive")
    mark = registry.mark()
    assert cli("push", source, f"{registry.host}/{repo_name}:v1").code == 1
    assert httpx.head(f"{registry.url}/v2/{repo_name}/blobs/{layer}").status_code == 404
    deleted = [r for r in registry.requests(mark) if r.method == "DELETE" and "/blobs/uploads/" in r.path]
    assert [r.status for r in deleted] == [204]
    assert httpx.get(f"{registry.url}{deleted[0].uri}").status_code == 404  # the session is gone


# ----------------------------------------------------------------------------------------------------------------
# Pull
# ----------------------------------------------------------------------------------------------------------------


def stored_blobs() -> set[str]:
    folder = Path(os.environ["MODELOCI_HOME"]) / "blobs" / "sha256"
    return {p.name for p in folder.iterdir()} if folder.is_dir() else set()


def assert_nothing_pulled(cli, tmp_path: Path, blob: str) -> None:
    assert not (tmp_path / "out.tar").exists() and not (tmp_path / "lay" / "index.json").exists()
    assert not (tmp_path / "lay" / "blobs" / "sha256" / blob.split(":")[1]).exists()
    assert blob.split(":")[1] not in stored_blobs()
    assert json.loads(cli("ls", "--json").stdout) == []
    assert partial_files(tmp_path) == [] and partial_files(Path(os.environ["MODELOCI_HOME"])) == []


OUTPUTS = {"archive": ("-o", "out.tar"), "layout": ("--layout", "lay"), "store": ()}


def pull_args(tmp_path: Path, output: str) -> tuple[str, ...]:
    where = OUTPUTS[output]
    return (where[0], str(tmp_path / where[1])) if where else ()


@pytest.mark.parametrize("output", list(OUTPUTS))
def test_pull_refuses_a_same_size_blob_with_other_bytes(registry, proxy, repo_name, cli, tmp_path, output) -> None:
    built, _ = build(cli, tmp_path)
    assert cli("push", str(built), f"{registry.host}/{repo_name}:v1").code == 0
    layer = max(layers_of(built).items(), key=lambda item: item[1])[0]
    data = blob_of(built, layer)
    served = Digest.of(bytes([data[0] ^ 0xFF]) + data[1:])
    p = proxy(registry)
    p.corrupt(path_contains=layer)
    ref = f"{p.host}/{repo_name}:v1"
    stderr = assert_clean_failure(cli("pull", ref, *pull_args(tmp_path, output)))
    assert error_lines(stderr)[0] == (f"error: blob {layer} from {p.host} does not match its digest "
                                      f"(got {served}, {len(data)} bytes)")
    assert [r.fault for r in p.requests if layer in r.path] == ["corrupt"]
    assert_nothing_pulled(cli, tmp_path, layer)


def test_pull_refuses_a_corrupted_config_blob(registry, proxy, repo_name, cli, tmp_path) -> None:
    built, _ = build(cli, tmp_path)
    assert cli("push", str(built), f"{registry.host}/{repo_name}:v1").code == 0
    config = json.loads(manifest_of(built))["config"]["digest"]
    p = proxy(registry)
    for output in OUTPUTS:
        p.corrupt(path_contains=config)
        stderr = assert_clean_failure(cli("pull", f"{p.host}/{repo_name}:v1", *pull_args(tmp_path, output)))
        assert error_lines(stderr)[0] == f"error: the config blob {config} from {p.host} does not match its digest"
    assert_nothing_pulled(cli, tmp_path, config)


@pytest.mark.parametrize(("attack", "message"), [
    ("long-blob", "blob {layer} from {host} is longer than its descriptor's 65536 bytes"),
    ("short-blob", "blob {layer} from {host} is shorter than its descriptor's 65536 bytes (65532 received)"),
])
def test_pull_refuses_a_blob_longer_or_shorter_than_its_descriptor(cli, tmp_path, attack: str, message: str) -> None:
    with HostileRegistry(attack) as h:
        layer = digest_of(h.model.layer)
        for output in OUTPUTS:
            stderr = assert_clean_failure(cli("pull", h.reference, *pull_args(tmp_path, output)))
            assert error_lines(stderr)[0] == "error: " + message.format(layer=layer, host=h.host)
    assert_nothing_pulled(cli, tmp_path, layer)


def test_from_a_registry_refuses_a_corrupted_small_blob(registry, proxy, repo_name, cli, tmp_path) -> None:
    base, _ = build(cli, tmp_path)
    assert cli("push", str(base), f"{registry.host}/{repo_name}:base").code == 0
    config = json.loads(manifest_of(base))["config"]["digest"]
    p = proxy(registry)
    p.corrupt(path_contains=config)
    folder = tmp_path / "rebased"
    folder.mkdir()
    (folder / "Modelfile").write_text(f"FROM {p.host}/{repo_name}:base\nCONFIG context_size=4096\n")
    result = cli("build", "-f", str(folder / "Modelfile"), "-o", str(tmp_path / "rebased.tar"))
    assert result.code == 2 and "internal error" not in result.stderr, result.stderr
    assert f"blob {config} from {p.host} does not match its digest" in result.stderr
    assert not (tmp_path / "rebased.tar").exists()


def test_pull_into_the_store_refuses_a_model_verify_would_refuse(registry, repo_name, cli, tmp_path) -> None:
    """Every blob matches its digest, but the config lists the layers in another order than the manifest: the
    store takes nothing that `verify --store` would then refuse; `pull -o` copies it as it is, for a look."""
    built, _ = build(cli, tmp_path)

    def swap(raw: bytes) -> bytes:
        doc = json.loads(raw)
        ids = doc["rootfs"]["diff_ids"]
        ids[0], ids[1] = ids[1], ids[0]
        return json.dumps(doc).encode()

    bad = with_config_bytes(built, tmp_path / "bad.tar", swap)
    ref = f"{registry.host}/{repo_name}:inconsistent"
    assert cli("push", str(bad), ref).code == 0  # push checks digests, not what the documents say
    result = cli("pull", ref)
    stderr = assert_clean_failure(result)
    assert error_lines(stderr)[0].startswith(f"error: refusing to store `{ref}`: rootfs.diff_ids[0] is ")
    assert cli("ls", "--json").stdout.strip() in ("[]", "")
    assert cli("verify", "--store").code == 0
    assert cli("pull", ref, "-o", str(tmp_path / "as-it-is.tar")).code == 0
