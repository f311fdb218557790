"""Keys, certificate chains and the OpenSSF model-signing tool, for the tests of signatures."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# The real registry of tests/registry, for the signatures that travel with a push and a pull.
from tests.registry.conftest import registry, registry_binary, repo_name  # noqa: F401

START = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class KeyPair:
    private: Path
    public: Path


@dataclass(frozen=True)
class Chain:
    """A signing key with its certificate (``leaf``), the certificates above it (``chain``: intermediate, root),
    and the root alone (what a verifier trusts)."""

    key: Path
    leaf: Path
    chain: Path
    root: Path


def write_key_pair(folder: Path, name: str = "key", curve: ec.EllipticCurve | None = None) -> KeyPair:
    key = ec.generate_private_key(curve or ec.SECP256R1())
    private, public = folder / f"{name}.pem", folder / f"{name}.pub.pem"
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo))
    return KeyPair(private, public)


@pytest.fixture
def keys(tmp_path: Path) -> KeyPair:
    """An ECDSA P-256 key pair in PEM, as ``openssl ecparam -genkey`` and ``openssl ec -pubout`` write them."""
    folder = tmp_path / "keys"
    folder.mkdir()
    return write_key_pair(folder)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def certificate(subject_key: ec.EllipticCurvePrivateKey, subject: str, issuer_key: ec.EllipticCurvePrivateKey,
                issuer: str, *, ca: bool, signing: bool = True, days: int = 3650) -> x509.Certificate:
    """A certificate as a small CA issues them: CAs may sign certificates; a leaf, when ``signing``, is for
    digital signatures and code signing (one day valid: verifiers check it as of its start)."""
    builder = (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(_name(issuer))
               .public_key(subject_key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(START).not_valid_after(START + dt.timedelta(days=days))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(subject_key.public_key()), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
                              critical=False))
    usage = dict.fromkeys(("digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
                           "key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only"), False)
    if ca:
        usage.update(key_cert_sign=True, crl_sign=True)
    else:
        usage.update(digital_signature=signing, key_encipherment=not signing)
        purposes = [ExtendedKeyUsageOID.CODE_SIGNING if signing else ExtendedKeyUsageOID.SERVER_AUTH]
        builder = builder.add_extension(x509.ExtendedKeyUsage(purposes), critical=False)
    builder = builder.add_extension(x509.KeyUsage(**usage), critical=True)
    return builder.sign(issuer_key, hashes.SHA256())


def write_chain(folder: Path, name: str = "ca", *, signing: bool = True) -> Chain:
    """A root, an intermediate and a leaf (1 day valid) with its key, written as PEM files under ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    root_key, inter_key, leaf_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    root = certificate(root_key, f"{name} root", root_key, f"{name} root", ca=True)
    inter = certificate(inter_key, f"{name} intermediate", root_key, f"{name} root", ca=True)
    leaf = certificate(leaf_key, f"{name} signer", inter_key, f"{name} intermediate", ca=False, signing=signing,
                       days=1)
    pem = serialization.Encoding.PEM
    paths = Chain(folder / f"{name}-signer.key", folder / f"{name}-signer.pem", folder / f"{name}-chain.pem",
                  folder / f"{name}-root.pem")
    paths.key.write_bytes(leaf_key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                                 serialization.NoEncryption()))
    paths.leaf.write_bytes(leaf.public_bytes(pem))
    paths.chain.write_bytes(inter.public_bytes(pem) + root.public_bytes(pem))
    paths.root.write_bytes(root.public_bytes(pem))
    return paths


@pytest.fixture
def chain(tmp_path: Path) -> Chain:
    return write_chain(tmp_path / "pki")


def require_model_signing() -> None:
    """Skip the test without the model-signing package (fail it where CI requires the tools)."""
    try:
        import model_signing  # noqa: F401
        import OpenSSL  # noqa: F401 - model-signing 1.1.1 imports it to verify certificates, without requiring it
    except ImportError as exc:
        if os.environ.get("MODELOCI_REQUIRE_TOOLS"):
            pytest.fail(f"model-signing and pyopenssl are required (MODELOCI_REQUIRE_TOOLS is set): {exc}")
        pytest.skip("model-signing is not installed (pip install -e '.[test]' installs model-signing 1.1.1 and "
                    "pyopenssl)")


def model_signing_cli() -> str:
    """The ``model_signing`` command of the model-signing package (1.1.1, with pyopenssl beside it): skips the test
    without it, or fails it where CI requires the tools."""
    require_model_signing()
    path = shutil.which("model_signing", path=os.pathsep.join([str(Path(sys.executable).parent),
                                                                os.environ.get("PATH", "")]))
    if path is None:
        if os.environ.get("MODELOCI_REQUIRE_TOOLS"):
            pytest.fail("model-signing and pyopenssl are required (MODELOCI_REQUIRE_TOOLS is set) but not installed")
        pytest.skip("model-signing is not installed (pip install -e '.[test]' installs model-signing and pyopenssl)")
    return path
