"""``modeloci sign``: what it prints, and its refusals as one-line errors with their exit codes (2 for what the
command line asked wrongly, 1 for a model that cannot be signed), nothing attached on failure."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from modeloci.attest import oms
from modeloci.oci.layout import open_layout, read_manifest
from modeloci.sources.referrers import referrers_of
from tests.archive_tools import build_example
from tests.attest.conftest import Chain, KeyPair
from tests.conftest import CliResult
from tests.ops.test_tar_layers import repack

Cli = Callable[..., CliResult]


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    built, _ = build_example("hf-safetensors", tmp_path / "src", created=1750000000, reference="acme/qwen:1")
    return built


def manifest_digest(path: Path) -> str:
    with open_layout(path) as layout:
        return str(read_manifest(layout)[0].digest)


def signatures_of(path: Path) -> list[str]:
    return [str(r.digest) for r in referrers_of(path) if r.artifact_type == oms.ARTIFACT_TYPE]


def test_sign_prints_the_model_and_its_signature(cli: Cli, archive: Path, keys: KeyPair) -> None:
    done = cli("sign", str(archive), "--key", str(keys.private))
    [signature] = signatures_of(archive)
    assert (done.code, done.stdout, done.stderr) == (
        0, f"Signed {archive} ({manifest_digest(archive)}): 7 files\nsignature: {signature}\n", "")
    again = cli("sign", str(archive), "--key", str(keys.private), "--json")
    assert json.loads(again.stdout) == {"source": str(archive), "manifest_digest": manifest_digest(archive),
                                        "signature_digest": signature, "name": "qwen", "files": 7}
    assert signatures_of(archive) == [signature]  # the same bytes: attached once


def test_sign_with_a_certificate_chain(cli: Cli, archive: Path, chain: Chain) -> None:
    done = cli("sign", str(archive), "--key", str(chain.key), "--certificate", str(chain.leaf),
               "--cert-chain", str(chain.chain))
    assert done.code == 0, done.stderr
    assert cli("verify", str(archive), "--cert-chain", str(chain.root)).code == 0


def test_a_model_of_tar_layers_cannot_be_signed(cli: Cli, tmp_path: Path, keys: KeyPair) -> None:
    raw, _ = build_example("hf-safetensors", tmp_path / "src", format="modelpack")
    packed = repack(raw, tmp_path / "packed", "tar")
    done = cli("sign", str(packed), "--key", str(keys.private))
    with open_layout(packed) as layout:
        manifest = read_manifest(layout)[0]
    first = manifest.layers[0]
    assert done.code == 1
    assert done.stderr == (f"error: cannot sign model {manifest.digest}: layer {first.digest} is a tar of files "
                           f"(`{first.media_type}`), whose digests the manifest does not hold\n"
                           "help: an OMS signature names every file's digest; sign a model with one raw layer per "
                           "file, as modeloci builds them\n")
    assert signatures_of(packed) == []


def test_a_bad_key_or_name_is_a_usage_error_and_attaches_nothing(cli: Cli, archive: Path, keys: KeyPair) -> None:
    public = cli("sign", str(archive), "--key", str(keys.public))
    assert (public.code, public.stderr) == (
        2, f"error: `{keys.public}` is not a private key in PEM\n"
           "help: make one with: openssl ecparam -name prime256v1 -genkey -noout -out key.pem\n")
    empty = cli("sign", str(archive), "--key", str(keys.private), "--name", " ")
    assert (empty.code, empty.stderr) == (2, "error: --name is empty\nhelp: give the model's name, or leave --name "
                                             "out\n")
    assert signatures_of(archive) == []


def test_sign_a_model_in_a_registry(registry, repo_name: str, cli: Cli, tmp_path: Path, keys: KeyPair) -> None:
    ref = f"{registry.host}/{repo_name}:v1"
    archive, _ = build_example("hf-safetensors", tmp_path / "src", created=1750000000, reference=ref)
    assert cli("push", str(archive), ref).code == 0
    signed = cli("sign", ref, "--key", str(keys.private))
    assert signed.code == 0, signed.stderr
    assert signed.stdout.startswith(f"Signed {ref} ({manifest_digest(archive)}): 7 files\nsignature: sha256:")
    assert cli("pull", ref, "-o", str(tmp_path / "pulled.tar")).code == 0
    assert cli("verify", str(tmp_path / "pulled.tar"), "--key", str(keys.public)).code == 0
