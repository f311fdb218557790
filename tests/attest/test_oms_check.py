"""Checking an OMS signature against a model's layers: every mismatch named (a missing, extra or changed file,
a bad signature, a wrong key or an untrusted chain), and hostile bundles answered with a finding, never a crash.
Models whose files cannot be signed from their manifest are refused with the reason."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from modeloci.attest import oms
from modeloci.attest.bundle import sign_statement
from modeloci.attest.keys import load_certificates, load_public_key, load_signer
from modeloci.attest.trust import ChainTrust, KeyTrust, Trust
from modeloci.errors import ArchiveError
from modeloci.findings import Problem
from modeloci.formats.artifact import ModelLayer
from modeloci.formats.roles import Role
from modeloci.oci.digest import Digest
from modeloci.oci.manifest import Descriptor
from modeloci.oci.mediatypes import MediaType
from tests.attest.conftest import Chain, KeyPair, write_chain, write_key_pair


def layer(path: str, content: bytes = b"", media_type: str = MediaType.DOCKER_MODEL_FILE) -> ModelLayer:
    data = content or path.encode()
    return ModelLayer(Descriptor(media_type, Digest.of(data), len(data)), Role.MODEL_FILE, path)


LAYERS = [layer("model.safetensors", b"weights"), layer("config.json", b"{}"), layer("tokenizer/vocab.txt")]


def bundle_for(layers: list[ModelLayer], signer_key: Path, **signer: Any) -> bytes:
    statement = oms.statement("m", oms.signed_files(layers))
    return sign_statement(statement, load_signer(signer_key, **signer))


def key_trust(keys: KeyPair) -> KeyTrust:
    return KeyTrust(load_public_key(keys.public), str(keys.public))


def messages(found: list[Problem]) -> list[tuple[str, str]]:
    return [(p.severity, p.message) for p in found]


def test_a_signature_of_exactly_these_files_by_the_trusted_key_has_no_finding(keys: KeyPair) -> None:
    assert oms.check(bundle_for(LAYERS, keys.private), LAYERS, key_trust(keys)) == []


def test_a_changed_missing_or_extra_file_is_named(keys: KeyPair) -> None:
    bundle = bundle_for(LAYERS, keys.private)
    changed = [layer("model.safetensors", b"weightz"), LAYERS[1], layer("tokenizer/merges.txt")]
    assert messages(oms.check(bundle, changed, key_trust(keys))) == [
        ("error", "missing file `tokenizer/vocab.txt`: signed, but the model has no layer at that path"),
        ("error", "extra file `tokenizer/merges.txt`: the model has it, the signature does not"),
        ("error", f"other digest for `model.safetensors`: signed {Digest.of(b'weights')}, the model's layer is "
                  f"{Digest.of(b'weightz')}"),
    ]


def test_a_signature_by_another_key_is_a_wrong_key(tmp_path: Path, keys: KeyPair) -> None:
    other = write_key_pair(tmp_path, "other")
    bundle = bundle_for(LAYERS, other.private)
    hint = json.loads(bundle)["verificationMaterial"]["publicKey"]["hint"]
    assert messages(oms.check(bundle, LAYERS, key_trust(keys))) == [
        ("error", f"wrong key: signed by the key with hint {hint[:16]}..., not by `{keys.public}`")]


def _tamper(bundle: bytes, change: Callable[[dict[str, Any]], None]) -> bytes:
    doc = json.loads(bundle)
    change(doc)
    return json.dumps(doc).encode()


def test_a_changed_statement_is_a_bad_signature(keys: KeyPair) -> None:
    """An attacker who swaps a file's digest in the statement (keeping it consistent) cannot keep the signature."""
    bundle = bundle_for(LAYERS, keys.private)
    forged = oms.statement("m", oms.signed_files([layer("model.safetensors", b"evil"), *LAYERS[1:]]))

    def swap(doc: dict[str, Any]) -> None:
        doc["dsseEnvelope"]["payload"] = base64.b64encode(forged).decode()

    assert messages(oms.check(_tamper(bundle, swap), LAYERS, key_trust(keys))) == [
        ("error", f"bad signature: the envelope's signature does not verify with `{keys.public}`")]


def test_a_key_without_a_hint_is_checked_by_its_signature(tmp_path: Path, keys: KeyPair) -> None:
    """Bundles of model_signing before 1.0 name no key: the signature alone decides."""
    other = write_key_pair(tmp_path, "other")

    def drop_hint(doc: dict[str, Any]) -> None:
        doc["verificationMaterial"]["publicKey"] = {}

    assert oms.check(_tamper(bundle_for(LAYERS, keys.private), drop_hint), LAYERS, key_trust(keys)) == []
    assert messages(oms.check(_tamper(bundle_for(LAYERS, other.private), drop_hint), LAYERS, key_trust(keys))) == [
        ("error", f"bad signature: the envelope's signature does not verify with `{keys.public}`")]


def chain_trust(chain: Chain) -> ChainTrust:
    return ChainTrust(load_certificates(chain.root), str(chain.root))


def test_a_certificate_chain_signature_verifies_against_its_root(chain: Chain) -> None:
    bundle = bundle_for(LAYERS, chain.key, certificate=chain.leaf, chain=[chain.chain])
    assert oms.check(bundle, LAYERS, chain_trust(chain)) == []


def test_a_chain_to_another_root_is_a_wrong_key(tmp_path: Path, chain: Chain) -> None:
    other = write_chain(tmp_path / "other", "other")
    bundle = bundle_for(LAYERS, other.key, certificate=other.leaf, chain=[other.chain])
    [problem] = oms.check(bundle, LAYERS, chain_trust(chain))
    assert problem.message.startswith(f"wrong key: the signing certificate does not chain up to `{chain.root}`: ")


def test_a_certificate_not_for_signing_is_refused(tmp_path: Path) -> None:
    server = write_chain(tmp_path / "tls", "tls", signing=False)
    bundle = bundle_for(LAYERS, server.key, certificate=server.leaf, chain=[server.chain])
    assert messages(oms.check(bundle, LAYERS, chain_trust(server))) == [
        ("error", "wrong key: the signing certificate is not for signing (no digitalSignature key usage and no "
                  "codeSigning extended key usage)")]


def test_a_key_signature_checked_against_a_chain_and_back_is_a_wrong_key(keys: KeyPair, chain: Chain) -> None:
    by_key = bundle_for(LAYERS, keys.private)
    by_chain = bundle_for(LAYERS, chain.key, certificate=chain.leaf, chain=[chain.chain])
    assert messages(oms.check(by_key, LAYERS, chain_trust(chain))) == [
        ("error", "wrong key: signed with a key, not a certificate; verify it with --key")]
    assert messages(oms.check(by_chain, LAYERS, key_trust(keys))) == [
        ("error", f"wrong key: signed with a certificate for another key than `{keys.public}`")]


HOSTILE: dict[str, tuple[bytes, str]] = {
    "not JSON": (b"\x89PNG", "not a signature: the bundle is not valid JSON: "),
    "deeply nested": (b"[" * 100_000 + b"]" * 100_000, "not a signature: the bundle is nested more than 64 levels"),
    "another media type": (b'{"mediaType": "application/json"}',
                           "not a signature: the bundle's media type is `application/json`"),
    "two signatures": (json.dumps({"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
                                   "verificationMaterial": {}, "dsseEnvelope": {
                                       "payload": "", "payloadType": "application/vnd.in-toto+json",
                                       "signatures": [{"sig": ""}, {"sig": ""}]}}).encode(),
                       "not a signature: the envelope holds 2 signatures; one is read"),
    "a payload that is not base64": (json.dumps({"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
                                                 "verificationMaterial": {}, "dsseEnvelope": {
                                                     "payload": "%%%", "payloadType": "application/vnd.in-toto+json",
                                                     "signatures": [{"sig": ""}]}}).encode(),
                                     "not a signature: the envelope's payload is not base64"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_hostile_bundle_is_a_finding_not_a_crash(case: str, keys: KeyPair) -> None:
    data, start = HOSTILE[case]
    [problem] = oms.check(data, LAYERS, key_trust(keys))
    assert problem.severity == "error" and problem.message.startswith(start), problem.message


def test_a_hostile_certificate_chain_is_a_finding_not_a_crash(chain: Chain) -> None:
    bundle = bundle_for(LAYERS, chain.key, certificate=chain.leaf, chain=[chain.chain])
    trust: Trust = chain_trust(chain)

    def chain_of(items: list[Any]) -> Callable[[dict[str, Any]], None]:
        def change(doc: dict[str, Any]) -> None:
            doc["verificationMaterial"]["x509CertificateChain"]["certificates"] = items
        return change

    cert = json.loads(bundle)["verificationMaterial"]["x509CertificateChain"]["certificates"][0]
    cases = {
        "wrong key: the bundle's certificate chain holds no certificate": chain_of([]),
        "wrong key: the bundle's certificate chain holds 9 certificates; at most 8 are read": chain_of([cert] * 9),
        "wrong key: the bundle's certificate chain holds a certificate that is not DER in base64":
            chain_of([{"rawBytes": base64.b64encode(b"not DER").decode()}]),
    }
    for expected, change in cases.items():
        assert messages(oms.check(_tamper(bundle, change), LAYERS, trust)) == [("error", expected)]


def test_a_statement_whose_subject_is_not_its_resources_is_refused(keys: KeyPair) -> None:
    """model_signing refuses an inconsistent statement; so do we, even when it is validly signed."""
    doc = json.loads(oms.statement("m", oms.signed_files(LAYERS)))
    doc["subject"][0]["digest"]["sha256"] = "0" * 64
    bundle = sign_statement(json.dumps(doc).encode(), load_signer(keys.private))
    assert messages(oms.check(bundle, LAYERS, key_trust(keys))) == [
        ("error", "not a model signature: the statement is inconsistent: its subject's digest is not that of its "
                  "resources")]


def test_a_file_left_out_by_the_signature_s_ignored_paths_is_a_warning(keys: KeyPair) -> None:
    """A signature made with ``--ignore-paths README.md`` does not cover README.md: said, not hidden."""
    doc = json.loads(oms.statement("m", oms.signed_files(LAYERS)))
    doc["predicate"]["serialization"]["ignore_paths"].append("README.md")
    bundle = sign_statement(json.dumps(doc).encode(), load_signer(keys.private))
    assert messages(oms.check(bundle, [*LAYERS, layer("README.md")], key_trust(keys))) == [
        ("warning", "unsigned file `README.md`: the signature leaves its path out")]


REFUSED: dict[str, tuple[list[ModelLayer], str]] = {
    "a tar layer": ([layer("weights", media_type="application/vnd.cncf.model.weight.v1.tar")],
                    "cannot sign the model: layer {d0} is a tar of files (`application/vnd.cncf.model.weight.v1.tar`), "
                    "whose digests the manifest does not hold"),
    "a file OMS verifiers ignore": ([layer(".gitattributes")],
                                    "cannot sign the model: the file `.gitattributes` is at a path OMS verifiers "
                                    "leave out of a folder (.git, .gitattributes, .github, .gitignore, model.sig)"),
    "a file where the signature goes": ([layer("model.sig")],
                                        "cannot sign the model: the file `model.sig` is at a path OMS verifiers "
                                        "leave out of a folder (.git, .gitattributes, .github, .gitignore, "
                                        "model.sig)"),
    "a file in git's folder": ([layer(".github/workflows/ci.yml")],
                               "cannot sign the model: the file `.github/workflows/ci.yml` is at a path OMS "
                               "verifiers leave out of a folder (.git, .gitattributes, .github, .gitignore, "
                               "model.sig)"),
    "an unsafe path": ([layer("../evil")], "cannot sign the model: layer {d0} has the unsafe path `../evil`"),
    "two layers at one path": ([layer("a", b"1"), layer("./a", b"2")], "cannot sign the model: two layers are at `a`"),
    "a file that is a folder": ([layer("a", b"1"), layer("a/b", b"2")],
                                "cannot sign the model: `a` is both a file and the folder of `a/b`"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_a_model_that_cannot_be_signed_from_its_manifest_is_refused(case: str) -> None:
    layers, message = REFUSED[case]
    with pytest.raises(ArchiveError) as raised:
        oms.signed_files(layers)
    assert raised.value.message == message.format(d0=layers[0].descriptor.digest)


def test_statements_this_check_cannot_hold_against_layers_are_named(keys: KeyPair) -> None:
    """A signature by shards, or in model_signing's format before 1.0, names no whole file's digest: said so,
    never passed."""
    doc = json.loads(oms.statement("m", oms.signed_files(LAYERS)))
    doc["predicate"]["serialization"].update(method="shards", shard_size=1_000_000_000)
    shards = sign_statement(json.dumps(doc).encode(), load_signer(keys.private))
    old = json.dumps({"_type": "https://in-toto.io/Statement/v1", "subject": [],
                      "predicateType": "https://model_signing/Digests/v0.1", "predicate": {}}).encode()
    compat = sign_statement(old, load_signer(keys.private))
    assert messages(oms.check(shards, LAYERS, key_trust(keys))) == [
        ("error", "not a model signature: the model was signed by `shards` with `sha256`; a signature of whole "
                  "files by sha256 is checked against layers")]
    assert messages(oms.check(compat, LAYERS, key_trust(keys))) == [
        ("error", "not a model signature: the statement's predicate type is `https://model_signing/Digests/v0.1`, "
                  "not `https://model_signing/signature/v1.0`")]


def test_a_statement_naming_a_file_twice_is_refused(keys: KeyPair) -> None:
    """Which of two digests a file has would be up to the reader: neither is taken."""
    doc = json.loads(oms.statement("m", oms.signed_files(LAYERS)))
    resources = doc["predicate"]["resources"]
    resources.append({**resources[0], "digest": Digest.of(b"other").hex})
    files = [oms.SignedFile(r["name"], Digest(r["digest"])) for r in resources]
    doc["subject"][0]["digest"]["sha256"] = oms.root_digest(files)
    bundle = sign_statement(json.dumps(doc).encode(), load_signer(keys.private))
    assert messages(oms.check(bundle, LAYERS, key_trust(keys))) == [
        ("error", "not a model signature: the statement names a file twice")]
