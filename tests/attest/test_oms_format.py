"""The OMS signature modeloci makes is the one the OpenSSF model-signing library makes, byte for byte where it is
deterministic: the statement for an unpacked model folder, the bundle around it, and the library's verifier
accepting both a key's and a certificate chain's signature. Signing reads the manifest only."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from modeloci.attest import oms
from modeloci.attest.bundle import pae, read_bundle, sign_statement
from modeloci.attest.keys import load_signer
from modeloci.formats.artifact import read_artifact
from modeloci.oci.layout import open_layout
from modeloci.ops.unpack import unpack
from tests.attest.conftest import Chain, KeyPair, require_model_signing, write_key_pair
from tests.factories import safetensors

# Paths whose order by parts (model_signing's) differs from their order as text ("a-b/c" < "a/b" as text), and a
# name outside ASCII (protobuf's JSON escapes it).
FILES = {"a/b.json": b"{}", "a-b/c.json": b"[]", "config.json": b'{"model_type": "llama"}', "mod\u00e8le.txt": b"x"}


def build_model(tmp_path: Path) -> Path:
    """An archive of a Hugging Face style folder with nested files; returns the archive."""
    from modeloci import api

    folder = tmp_path / "src" / "m"
    safetensors(folder / "model.safetensors")
    for name, data in FILES.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    (folder.parent / "Modelfile").write_text("FROM scratch\nWEIGHTS m\n")
    archive = tmp_path / "m.tar"
    api.build(folder.parent / "Modelfile", archive, created=1750000000)
    return archive


def signed_statement(archive: Path, name: str) -> bytes:
    with open_layout(archive) as layout:
        artifact = read_artifact(layout)
    return oms.statement(name, oms.signed_files(artifact.layers))


def library_statement(folder: Path) -> bytes:
    """The statement model_signing signs for ``folder``, as ``model_signing sign key`` makes it for a folder signed
    into its ``model.sig`` (git's files ignored, as by default)."""
    from google.protobuf import json_format
    from model_signing import hashing
    from model_signing._signing import signing

    manifest = hashing.Config().set_ignored_paths(paths=["model.sig"]).hash(folder)
    return json_format.MessageToJson(signing.Payload(manifest).statement.pb).encode()


def in_our_order(doc: Any, like: Any) -> Any:
    """``doc`` with its keys in the order of ``like`` and its ignored paths sorted: what protobuf leaves to hash
    order (a Struct's keys) and model_signing to a set (the ignored paths)."""
    if isinstance(doc, dict):
        out = {key: in_our_order(doc[key], like[key]) for key in like if key in doc}
        out.update({key: value for key, value in doc.items() if key not in like})
        if "ignore_paths" in out:
            out["ignore_paths"] = sorted(out["ignore_paths"])
        return out
    if isinstance(doc, list):
        return [in_our_order(item, model) for item, model in zip(doc, like, strict=False)] + doc[len(like):]
    return doc


def test_the_statement_is_the_one_model_signing_makes_for_the_unpacked_folder(tmp_path: Path) -> None:
    require_model_signing()
    archive = build_model(tmp_path)
    folder = tmp_path / "m"
    unpack(archive, folder, layout="files")
    ours = signed_statement(archive, "m")
    theirs = library_statement(folder)
    # protobuf's JSON is json.dumps with an indent of 2 (ASCII only), so only the key order is left to compare
    assert json.dumps(json.loads(theirs), indent=2).encode() == theirs
    assert json.dumps(in_our_order(json.loads(theirs), json.loads(ours)), indent=2).encode() == ours
    doc = json.loads(ours)
    assert [r["name"] for r in doc["predicate"]["resources"]] == [
        "a/b.json", "a-b/c.json", "config.json", "model.safetensors", "mod\u00e8le.txt"]
    assert "mod\\u00e8le.txt" in ours.decode("ascii")
    digests = b"".join(bytes.fromhex(r["digest"]) for r in doc["predicate"]["resources"])
    assert doc["subject"] == [{"name": "m", "digest": {"sha256": hashlib.sha256(digests).hexdigest()}}]
    assert doc["predicate"]["serialization"] == {"method": "files", "hash_type": "sha256", "allow_symlinks": False,
                                                 "ignore_paths": [".git", ".gitattributes", ".github", ".gitignore",
                                                                  "model.sig"]}


def write_signature(folder: Path, bundle: bytes) -> Path:
    (folder / "model.sig").write_bytes(bundle)
    return folder / "model.sig"


def test_the_bundle_is_the_one_model_signing_writes_and_its_verifier_accepts(tmp_path: Path, keys: KeyPair) -> None:
    require_model_signing()
    from model_signing import hashing, verifying
    from model_signing._signing import sign_sigstore_pb

    archive = build_model(tmp_path)
    folder = tmp_path / "m"
    unpack(archive, folder, layout="files")
    bundle = sign_statement(signed_statement(archive, "m"), load_signer(keys.private))
    signature = write_signature(folder, bundle)
    assert sign_sigstore_pb.Signature.read(signature).bundle.to_json().encode() == bundle
    config = verifying.Config().use_elliptic_key_verifier(public_key=keys.public)
    config.set_hashing_config(hashing.Config().set_ignored_paths(paths=["model.sig"])).verify(folder, signature)
    (folder / "config.json").write_bytes(b'{"model_type": "llamb"}')
    with pytest.raises(ValueError, match=r"Signature mismatch: .*Hash mismatch for .*config.json"):
        config.verify(folder, signature)


def test_a_certificate_chain_signature_is_the_one_model_signing_writes_and_verifies(tmp_path: Path,
                                                                                     chain: Chain) -> None:
    require_model_signing()
    from model_signing import hashing, verifying
    from model_signing._signing import sign_sigstore_pb

    archive = build_model(tmp_path)
    folder = tmp_path / "m"
    unpack(archive, folder, layout="files")
    signer = load_signer(chain.key, certificate=chain.leaf, chain=[chain.chain])
    bundle = sign_statement(signed_statement(archive, "m"), signer)
    signature = write_signature(folder, bundle)
    assert sign_sigstore_pb.Signature.read(signature).bundle.to_json().encode() == bundle
    certificates = json.loads(bundle)["verificationMaterial"]["x509CertificateChain"]["certificates"]
    assert len(certificates) == 3  # the signer's, the intermediate's, the root's
    config = verifying.Config().use_certificate_verifier(certificate_chain=[chain.root])
    config.set_hashing_config(hashing.Config().set_ignored_paths(paths=["model.sig"])).verify(folder, signature)


def test_a_signature_is_deterministic_and_over_the_dsse_encoding(tmp_path: Path, keys: KeyPair) -> None:
    """The same statement and key give the same bytes (RFC 6979), so a signature is reproducible like a build."""
    archive = build_model(tmp_path)
    statement = signed_statement(archive, "m")
    first = sign_statement(statement, load_signer(keys.private))
    assert sign_statement(statement, load_signer(keys.private)) == first
    bundle = read_bundle(first)
    assert bundle.payload == statement
    assert pae("application/vnd.in-toto+json", statement) == \
        b"DSSEv1 28 application/vnd.in-toto+json %d " % len(statement) + statement
    public = serialization.load_pem_public_key(keys.public.read_bytes())
    assert isinstance(public, ec.EllipticCurvePublicKey)
    public.verify(bundle.signature, bundle.signed_message, ec.ECDSA(hashes.SHA256()))
    hint = hashlib.sha256(keys.public.read_bytes()).hexdigest()
    assert json.loads(first)["verificationMaterial"] == {"publicKey": {"hint": hint}, "tlogEntries": []}
    assert json.loads(first)["dsseEnvelope"]["payload"] == base64.b64encode(statement).decode()


def test_a_p384_key_signs_what_model_signing_verifies(tmp_path: Path) -> None:
    """model_signing pairs each curve with its hash (P-384 with SHA-384): so does the signer."""
    require_model_signing()
    from model_signing import hashing, verifying

    keys = write_key_pair(tmp_path, "p384", ec.SECP384R1())
    archive = build_model(tmp_path)
    folder = tmp_path / "m"
    unpack(archive, folder, layout="files")
    signature = write_signature(folder, sign_statement(signed_statement(archive, "m"), load_signer(keys.private)))
    config = verifying.Config().use_elliptic_key_verifier(public_key=keys.public)
    config.set_hashing_config(hashing.Config().set_ignored_paths(paths=["model.sig"])).verify(folder, signature)
