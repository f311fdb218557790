"""``build --sign KEY --provenance --sbom``: a model's signature, SLSA provenance and ML-BOM written beside it in the
build's own pass, into an archive, the store or a registry; the model itself is the one a plain build gives."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from modeloci.oci.mediatypes import MediaType
from modeloci.sources import resolve
from modeloci.sources.referrers import referrers_of
from tests.archive_tools import copy_example
from tests.attest.conftest import KeyPair
from tests.conftest import CliResult

Cli = Callable[..., CliResult]
PROVENANCE = "https://slsa.dev/provenance/v1"


def _kinds(target: Path | str) -> list[tuple[str, str | None]]:
    """(artifactType, the predicate it holds) of every referrer, in the order the build made them."""
    found = []
    for referrer in referrers_of(target if isinstance(target, Path) else Path(target)):
        doc = json.loads(referrer.manifest)
        annotations = doc.get("annotations", {})
        found.append((referrer.artifact_type, annotations.get("dev.sigstore.bundle.predicateType")
                      or annotations.get("in-toto.io/predicate-type")))
    return sorted(found)


def test_build_signs_attests_and_lists_its_materials_beside_the_model(cli: Cli, tmp_path: Path,
                                                                       keys: KeyPair) -> None:
    modelfile = copy_example("single-gguf", tmp_path)
    plain = cli("build", "-f", str(modelfile), "-o", str(tmp_path / "plain.tar"), "--created", "1750000000",
                "--json")
    signed = cli("build", "-f", str(modelfile), "-o", str(tmp_path / "signed.tar"), "--created", "1750000000",
                 "--sign", str(keys.private), "--provenance", "--sbom", "--json")
    assert (plain.code, signed.code) == (0, 0), signed.stderr
    assert json.loads(signed.stdout)["digest"] == json.loads(plain.stdout)["digest"]  # the model is unchanged
    assert _kinds(tmp_path / "signed.tar") == sorted([
        (MediaType.SIGSTORE_BUNDLE, "https://model_signing/signature/v1.0"),  # the signature
        (MediaType.SIGSTORE_BUNDLE, PROVENANCE),  # the provenance, signed with the same key
        (MediaType.CYCLONEDX, None),
    ])
    assert cli("verify", str(tmp_path / "signed.tar"), "--key", str(keys.public)).code == 0
    listed = json.loads(cli("inspect", str(tmp_path / "signed.tar"), "--json").stdout)["referrers"]
    assert len(listed) == 3


def test_provenance_without_a_key_is_an_in_toto_statement(cli: Cli, tmp_path: Path) -> None:
    modelfile = copy_example("single-gguf", tmp_path)
    done = cli("build", "-f", str(modelfile), "-t", "tiny:1", "--provenance")
    assert done.code == 0, done.stderr
    [(kind, predicate)] = _kinds_of_stored("tiny:1")
    assert (kind, predicate) == (MediaType.IN_TOTO, PROVENANCE)


def _kinds_of_stored(name: str) -> list[tuple[str, str | None]]:
    found = []
    for referrer in referrers_of(resolve(name)):
        annotations = json.loads(referrer.manifest).get("annotations", {})
        found.append((referrer.artifact_type, annotations.get("in-toto.io/predicate-type")))
    return found


def test_a_bad_key_fails_the_build_before_anything_is_hashed_or_written(cli: Cli, tmp_path: Path) -> None:
    modelfile = copy_example("single-gguf", tmp_path)
    (tmp_path / "not-a-key.pem").write_text("not a key\n")
    done = cli("build", "-f", str(modelfile), "-o", str(tmp_path / "out.tar"),
               "--sign", str(tmp_path / "not-a-key.pem"))
    assert done.code != 0 and done.stderr.startswith("error: ")
    assert "hashing" not in done.stderr
    assert not (tmp_path / "out.tar").exists()


def test_build_push_sends_the_materials_and_a_fresh_store_verifies_them(registry, repo_name: str, cli: Cli,
                                                                         tmp_path: Path, keys: KeyPair) -> None:
    ref = f"{registry.host}/{repo_name}:signed"
    modelfile = copy_example("single-gguf", tmp_path)
    pushed = cli("build", "-f", str(modelfile), "--push", ref, "--sign", str(keys.private), "--provenance",
                 "--sbom")
    assert pushed.code == 0, pushed.stderr
    store = tmp_path / "fresh-store"
    pulled = cli("pull", ref, env={"MODELOCI_HOME": str(store)})
    assert pulled.code == 0, pulled.stderr
    name = f"{registry.host}/{repo_name}:signed"
    verified = cli("verify", name, "--key", str(keys.public), env={"MODELOCI_HOME": str(store)})
    assert verified.code == 0, verified.stdout + verified.stderr
