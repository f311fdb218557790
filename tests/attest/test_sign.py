"""Signing (what ``modeloci sign`` runs), ``verify --key`` / ``--cert-chain`` and ``unpack`` writing ``model.sig``.

Signing attaches one reproducible referrer to an archive, a layout folder or a stored model and reads no
weight byte. ``verify`` passes a model its trusted signature vouches for, and names every way one does not:
a wrong key, a signature moved from another model (each changed, missing or extra file), no signature at all.
``unpack`` writes the signature where OMS tools look for it, and only where it can verify.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from modeloci import api
from modeloci.attest import oms
from modeloci.attest.bundle import read_bundle, sign_statement
from modeloci.attest.keys import load_signer
from modeloci.builder import build_archive
from modeloci.formats.artifact import Artifact, read_artifact
from modeloci.oci.digest import Digest
from modeloci.oci.layout import open_layout
from modeloci.oci.manifest import Descriptor
from modeloci.oci.mediatypes import MediaType
from modeloci.oci.referrers import make_referrer
from modeloci.ops.sign import SignReport, build_signature, model_name
from modeloci.ops.sign import sign as run_sign
from modeloci.sources import StoredRef, resolve
from modeloci.sources.referrers import attach, referrers_of
from modeloci.store import Store
from tests.archive_tools import build_example, copy_example
from tests.attest.conftest import Chain, KeyPair, write_chain, write_key_pair
from tests.conftest import CliResult

Cli = Callable[..., CliResult]
HF_FILES = 7  # the layers of examples/hf-safetensors


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    built, _ = build_example("hf-safetensors", tmp_path / "src", created=1750000000, reference="acme/qwen:1")
    return built


def sign(target: Path | str, key: Path, **signer: Any) -> SignReport:
    """What ``modeloci sign TARGET --key KEY [--certificate CERT --cert-chain CHAIN]`` does."""
    return run_sign(resolve(str(target)), load_signer(key, **signer))


def signatures_of(source: Path | StoredRef) -> list[str]:
    return [str(r.digest) for r in referrers_of(source) if r.artifact_type == oms.ARTIFACT_TYPE]


def test_signing_twice_attaches_one_reproducible_referrer(archive: Path, keys: KeyPair) -> None:
    first = sign(archive, keys.private)
    assert sign(archive, keys.private) == first  # the same bytes (RFC 6979 signatures): attached once
    assert signatures_of(archive) == [first.signature_digest]
    assert (first.name, first.files) == ("qwen", HF_FILES)


def build_layout(tmp_path: Path) -> tuple[Path, api.BuildResult]:
    layout = tmp_path / "layout"
    return layout, api.build(copy_example("hf-safetensors", tmp_path / "layout-src"), layout=layout,
                             created=1750000000)


def test_sign_attaches_to_a_layout_folder_and_a_stored_model(cli: Cli, tmp_path: Path, archive: Path,
                                                             keys: KeyPair) -> None:
    layout, _ = build_layout(tmp_path)
    assert sign(layout, keys.private)
    assert len(signatures_of(layout)) == 1
    assert cli("load", str(archive), "-t", "qwen:1").code == 0
    assert sign("qwen:1", keys.private)
    assert len(signatures_of(StoredRef("qwen:1", Store().root))) == 1
    assert cli("verify", "qwen:1", "--key", str(keys.public)).code == 0


def test_signing_reads_no_weight_byte(cli: Cli, tmp_path: Path, keys: KeyPair) -> None:
    """The weights' blob is gone from the layout folder: signing needs only the manifest's digests."""
    layout, result = build_layout(tmp_path)
    weights = next(d for d in result.layers if d.media_type == MediaType.DOCKER_SAFETENSORS)
    (layout / weights.digest.blob_path).unlink()
    assert sign(layout, keys.private).files == HF_FILES


def test_verify_passes_the_signer_s_key_and_names_another_key(cli: Cli, tmp_path: Path, archive: Path,
                                                               keys: KeyPair) -> None:
    assert sign(archive, keys.private)
    good = cli("verify", str(archive), "--key", str(keys.public))
    assert good.code == 0 and good.stdout.startswith(f"OK: {archive} (docker, "), good.stderr
    other = write_key_pair(tmp_path, "other")
    bad = cli("verify", str(archive), "--key", str(other.public))
    [signature] = signatures_of(archive)
    hint = json.loads(next(iter(_bundles(archive))))["verificationMaterial"]["publicKey"]["hint"]
    assert bad.code == 1
    assert bad.stderr == (f"error: signature {signature}: wrong key: signed by the key with hint {hint[:16]}..., "
                          f"not by `{other.public}`\n")
    assert bad.stdout.startswith(f"FAILED (1 problem): {archive} (docker, ")


def _bundles(source: Path) -> list[bytes]:
    return [bundle for _, bundle in oms.bundles(referrers_of(source))]


def attach_signature(archive: Path, bundle: bytes) -> Artifact:
    """Attach ``bundle`` (another model's signature) to the model in ``archive``, as anyone can: a referrer's
    subject is not part of what is signed. Returns the model."""
    with open_layout(archive) as layout:
        artifact = read_artifact(layout)
    manifest = artifact.manifest
    subject = Descriptor(str(MediaType.OCI_MANIFEST), manifest.digest, len(manifest.raw))
    attach(archive, [make_referrer(subject, oms.ARTIFACT_TYPE, bundle, oms.ARTIFACT_TYPE)])
    return artifact


def test_a_signature_moved_to_another_model_names_each_changed_file(cli: Cli, tmp_path: Path, archive: Path,
                                                                     keys: KeyPair) -> None:
    """A valid signature of one model, attached to another (a referrer's subject is not signed): every file the
    other model changed, added or lost is named, and verify fails."""
    assert sign(archive, keys.private)
    [bundle] = _bundles(archive)

    def change(folder: Path) -> None:
        model = folder / "hf-safetensors" / "tiny-qwen"
        (model / "tokenizer.json").write_text('{"changed": true}')
        (model / "generation_config.json").rename(model / "extra_config.json")

    other, _ = build_example("hf-safetensors", tmp_path / "other", created=1750000000, prepare=change)
    artifact = attach_signature(other, bundle)
    done = cli("verify", str(other), "--key", str(keys.public))
    [signature] = signatures_of(other)
    model = {layer.filepath: layer.descriptor.digest for layer in artifact.layers}
    signed = {f.path: f.digest for f in oms.read_statement(read_bundle(bundle).payload).files}
    assert done.code == 1
    assert done.stderr == (
        f"error: signature {signature}: missing file `generation_config.json`: signed, but the model has no layer "
        "at that path\n"
        f"error: signature {signature}: extra file `extra_config.json`: the model has it, the signature does not\n"
        f"error: signature {signature}: other digest for `tokenizer.json`: signed {signed['tokenizer.json']}, the "
        f"model's layer is {model['tokenizer.json']}\n")


def test_verify_of_an_unsigned_model_fails(cli: Cli, archive: Path, keys: KeyPair) -> None:
    done = cli("verify", str(archive), "--key", str(keys.public))
    assert done.code == 1
    assert done.stderr == (f"error: no signature: `{archive}` has no OMS signature (a referrer of type "
                           "`application/vnd.dev.sigstore.bundle.v0.3+json`)\n")


def test_verify_with_a_certificate_chain(cli: Cli, tmp_path: Path, archive: Path, chain: Chain) -> None:
    sign(archive, chain.key, certificate=chain.leaf, chain=[chain.chain])
    assert cli("verify", str(archive), "--cert-chain", str(chain.root)).code == 0
    other = write_chain(tmp_path / "other", "other")
    refused = cli("verify", str(archive), "--cert-chain", str(other.root), "--json")
    [problem] = json.loads(refused.stdout)["problems"]
    assert refused.code == 1
    assert problem["message"].startswith(f"signature {signatures_of(archive)[0]}: wrong key: the signing "
                                         f"certificate does not chain up to `{other.root}`: ")


def test_verify_takes_a_key_or_a_chain_for_one_model(cli: Cli, archive: Path, keys: KeyPair, chain: Chain) -> None:
    both = cli("verify", str(archive), "--key", str(keys.public), "--cert-chain", str(chain.root))
    assert (both.code, both.stderr) == (2, "error: give the public key (--key PUB.pem) or the certificate chain "
                                           "(--cert-chain CHAIN.pem) to check the signature with, not both\n")
    store = cli("verify", "--store", "--key", str(keys.public))
    assert (store.code, store.stderr) == (2, "error: --key and --cert-chain check one model's signature: give the "
                                             "model, without --store or --rebuild\n")


def test_unpack_writes_the_signature_beside_the_files_it_names(cli: Cli, tmp_path: Path, archive: Path,
                                                               keys: KeyPair) -> None:
    assert sign(archive, keys.private)
    [bundle] = _bundles(archive)
    files = cli("unpack", str(archive), "-o", str(tmp_path / "files"), "--layout", "files", "--json")
    assert (tmp_path / "files" / "model.sig").read_bytes() == bundle
    assert json.loads(files.stdout)["files"][-1] == {"path": "model.sig", "digest": str(Digest.of(bundle)),
                                                     "size": len(bundle)}
    assert cli("unpack", str(archive), "-o", str(tmp_path / "bundle")).code == 0
    assert (tmp_path / "bundle" / "model" / "model.sig").read_bytes() == bundle
    assert not (tmp_path / "bundle" / "model.sig").exists()


def test_unpack_writes_no_signature_where_it_could_not_verify(cli: Cli, tmp_path: Path, keys: KeyPair) -> None:
    """A legacy bundle renames the weights (``model/model.gguf``), which the signature does not name; an unsigned
    model gets no ``model.sig`` either way."""
    gguf, _ = build_example("single-gguf", tmp_path / "src", created=1750000000)
    assert cli("unpack", str(gguf), "-o", str(tmp_path / "unsigned"), "--layout", "files").code == 0
    assert not (tmp_path / "unsigned" / "model.sig").exists()
    assert sign(gguf, keys.private)
    assert cli("unpack", str(gguf), "-o", str(tmp_path / "legacy")).code == 0
    assert sorted(p.name for p in (tmp_path / "legacy" / "model").iterdir()) == ["LICENSE", "model.gguf",
                                                                                 "template.jinja"]
    assert cli("unpack", str(gguf), "-o", str(tmp_path / "files"), "--layout", "files").code == 0
    assert (tmp_path / "files" / "model.sig").is_file()


def test_a_model_file_at_model_sig_is_never_replaced_by_a_signature(cli: Cli, tmp_path: Path, archive: Path,
                                                                   keys: KeyPair) -> None:
    """A model holding a file ``model.sig`` (no OMS tool can verify it: they skip that name) keeps its own file
    when a signature is attached to it anyway."""
    sign(archive, keys.private)
    [bundle] = _bundles(archive)

    def add(folder: Path) -> None:
        (folder / "hf-safetensors" / "tiny-qwen" / "model.sig").write_text("the model's own file")

    other, _ = build_example("hf-safetensors", tmp_path / "other", created=1750000000, prepare=add)
    attach_signature(other, bundle)
    assert cli("unpack", str(other), "-o", str(tmp_path / "files"), "--layout", "files").code == 0
    assert (tmp_path / "files" / "model.sig").read_text() == "the model's own file"
    assert cli("unpack", str(other), "-o", str(tmp_path / "bundle")).code == 0
    assert (tmp_path / "bundle" / "model" / "model.sig").read_text() == "the model's own file"


def test_a_signed_provenance_is_not_taken_for_the_model_s_signature(cli: Cli, tmp_path: Path, archive: Path,
                                                                    keys: KeyPair) -> None:
    """Sigstore bundles hold other statements too (a signed SLSA provenance has the same artifact type): only a
    bundle whose statement is a model signature is checked as one, or written as ``model.sig``."""
    with open_layout(archive) as layout:
        manifest = read_artifact(layout).manifest
    subject = Descriptor(str(MediaType.OCI_MANIFEST), manifest.digest, len(manifest.raw))
    provenance = json.dumps({"_type": "https://in-toto.io/Statement/v1", "subject": [],
                             "predicateType": "https://slsa.dev/provenance/v1", "predicate": {}}).encode()
    other = write_key_pair(tmp_path, "other")
    attach(archive, [make_referrer(subject, oms.ARTIFACT_TYPE, sign_statement(provenance, load_signer(other.private)),
                                   oms.ARTIFACT_TYPE)])
    unsigned = cli("verify", str(archive), "--key", str(keys.public))
    assert unsigned.code == 1
    assert unsigned.stderr == (f"error: no signature: `{archive}` has no OMS signature (a referrer of type "
                               "`application/vnd.dev.sigstore.bundle.v0.3+json`)\n")
    sign(archive, keys.private)
    assert cli("verify", str(archive), "--key", str(keys.public)).code == 0
    assert cli("unpack", str(archive), "-o", str(tmp_path / "files"), "--layout", "files").code == 0
    assert read_bundle((tmp_path / "files" / "model.sig").read_bytes()).payload != provenance


def test_a_signature_is_annotated_as_cosign_annotates_bundles(archive: Path, keys: KeyPair) -> None:
    """Tools that list referrers (cosign, oras) tell a bundle's content and predicate from its annotations."""
    sign(archive, keys.private)
    [referrer] = [r for r in referrers_of(archive) if r.artifact_type == oms.ARTIFACT_TYPE]
    assert json.loads(referrer.manifest)["annotations"] == {
        "dev.sigstore.bundle.content": "dsse-envelope",
        "dev.sigstore.bundle.predicateType": "https://model_signing/signature/v1.0"}


@pytest.mark.parametrize("fmt", ["docker", "modelpack"])
def test_build_sign_makes_the_signature_sign_attaches_later(tmp_path: Path, keys: KeyPair, fmt: str) -> None:
    """``build --sign`` signs in the build's own pass (the builder's referrers callback): the same referrer as
    signing the built model afterwards, so a signed build is reproducible too."""
    modelfile = copy_example("hf-safetensors", tmp_path / "a")
    plan = api.plan(modelfile, created=1750000000, reference="acme/qwen:1", format=fmt)
    built = build_archive(plan, tmp_path / "signed.tar",
                          referrers=build_signature(load_signer(keys.private), name="qwen"))
    plain = tmp_path / "plain.tar"
    api.build(copy_example("hf-safetensors", tmp_path / "b"), plain, created=1750000000, reference="acme/qwen:1",
              format=fmt)
    later = sign(plain, keys.private)
    assert [str(r.digest) for r in built.referrers] == [later.signature_digest]
    assert signatures_of(tmp_path / "signed.tar") == [later.signature_digest]


def test_a_signature_names_the_model_by_its_repository_or_its_file() -> None:
    """The name is informative (OMS verifiers do not check it): model_signing names a model by its folder."""
    assert model_name("registry.example.com:5000/team/tiny-llama:f32") == "tiny-llama"
    assert model_name("tiny@sha256:" + "0" * 64) == "tiny"
    assert model_name(None, Path("out/m.tar")) == "m"
    assert model_name("sha256:" + "0" * 64, Path("layouts/qwen")) == "qwen"
    assert model_name(None) == "model"
