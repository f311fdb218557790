"""Against the real registry (Distribution 2.8, no referrers API): a model built, signed and pushed is pulled by a
fresh store with its signature, and ``verify --key`` passes there; the signature is listed under the fallback tag;
a second push sends nothing new. A model in a registry is signed in place too."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from modeloci.attest import oms
from modeloci.attest.keys import load_signer
from modeloci.oci.referrers import fallback_tag
from modeloci.ops.sign import sign
from modeloci.registry.client import RegistryClient
from modeloci.registry.image_ref import parse_reference
from modeloci.sources import RemoteRef
from modeloci.sources.pull import store_name
from modeloci.sources.referrers import referrers_of
from tests.archive_tools import build_example
from tests.attest.conftest import KeyPair, write_key_pair
from tests.conftest import CliResult
from tests.registry.helpers import push_counts, skopeo

Cli = Callable[..., CliResult]


def test_a_signed_model_pushed_and_pulled_into_a_fresh_store_verifies(registry, repo_name: str, cli: Cli,
                                                                      tmp_path: Path, keys: KeyPair) -> None:
    ref = f"{registry.host}/{repo_name}:v1"
    archive, result = build_example("hf-safetensors", tmp_path / "src", created=1750000000, reference=ref)
    signed = sign(archive, load_signer(keys.private))
    pushed = cli("push", str(archive), ref)
    assert pushed.code == 0, pushed.stderr
    tags = json.loads(skopeo(tmp_path, "list-tags", "--tls-verify=false", f"docker://{registry.host}/{repo_name}"))
    assert sorted(tags["Tags"]) == sorted(["v1", fallback_tag(result.manifest.digest)])
    again = cli("push", str(archive), ref)
    assert again.code == 0 and push_counts(again)[0] == 0

    fresh = {"MODELOCI_HOME": str(tmp_path / "fresh-store")}
    pulled = cli("pull", ref, env=fresh)
    assert pulled.code == 0, pulled.stderr
    stored = store_name(parse_reference(ref))
    verified = cli("verify", stored, "--key", str(keys.public), env=fresh)
    assert verified.code == 0, verified.stderr + verified.stdout
    other = write_key_pair(tmp_path, "other")
    refused = cli("verify", stored, "--key", str(other.public), env=fresh)
    assert refused.code == 1 and f"error: signature {signed.signature_digest}: wrong key: " in refused.stderr


def test_a_model_in_a_registry_is_signed_in_place(registry, repo_name: str, cli: Cli, tmp_path: Path,
                                                  keys: KeyPair) -> None:
    ref = f"{registry.host}/{repo_name}:v1"
    archive, _ = build_example("hf-safetensors", tmp_path / "src", created=1750000000, reference=ref)
    assert cli("push", str(archive), ref).code == 0
    remote = RemoteRef(parse_reference(ref), RegistryClient(registry.host, use_stored_credentials=False))
    signed = sign(remote, load_signer(keys.private))
    assert signed.name == repo_name.rsplit("/", 1)[1]
    assert [str(r.digest) for r in referrers_of(remote) if r.artifact_type == oms.ARTIFACT_TYPE] == [
        signed.signature_digest]
    assert cli("pull", ref, "-o", str(tmp_path / "pulled.tar")).code == 0
    assert cli("verify", str(tmp_path / "pulled.tar"), "--key", str(keys.public)).code == 0
