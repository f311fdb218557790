"""Keys that sign: an elliptic-curve private key in PEM, alone or with its X.509 certificate and chain.

These are what the OpenSSF model-signing tool takes (``model_signing sign key
--private_key``, ``model_signing sign certificate --signing_certificate
--certificate_chain``), so a model signed here verifies there and back. Each is a
:class:`modeloci.attest.bundle.Signer`: it gives the signature over a message
(the DSSE pre-authentication encoding), and the ``verificationMaterial`` a
Sigstore bundle carries for it. Keyless Sigstore signing fits the same protocol (an
ephemeral key, a Fulcio certificate chain, and the Rekor entry of the
signature as material); it is not implemented: it needs a network.

ECDSA signatures are made deterministic (RFC 6979): the same model signed with
the same key gives the same bytes, so a signature is reproducible like the
build, and signing twice attaches one referrer, not two.
"""

from __future__ import annotations

import base64
import errno
import hashlib
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from modeloci.attest.bundle import Signer
from modeloci.errors import UsageError, describe_os_error

#: A PEM key or certificate chain is a few KiB; reading stops one byte past this.
MAX_PEM_BYTES = 1 << 20
#: The curves Sigstore's bundle specification and model_signing accept, each with the hash it signs with.
_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "secp256r1": hashes.SHA256, "secp384r1": hashes.SHA384, "secp521r1": hashes.SHA512}


@dataclass(frozen=True, slots=True)
class KeySigner:
    """A private key; the bundle names its public key by a hint, the SHA-256 of its PEM (as model_signing does)."""

    key: ec.EllipticCurvePrivateKey

    def sign(self, message: bytes) -> bytes:
        return self.key.sign(message, ec.ECDSA(hash_of(self.key.public_key()), deterministic_signing=True))

    def material(self, signature: bytes) -> dict[str, Any]:
        return {"publicKey": {"hint": key_hint(self.key.public_key())}, "tlogEntries": []}


@dataclass(frozen=True, slots=True)
class CertificateSigner:
    """A private key with its certificate and the chain above it; the bundle carries all of them, leaf first."""

    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]

    def sign(self, message: bytes) -> bytes:
        return self.key.sign(message, ec.ECDSA(hash_of(self.key.public_key()), deterministic_signing=True))

    def material(self, signature: bytes) -> dict[str, Any]:
        certificates = [{"rawBytes": base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode("ascii")}
                        for c in (self.certificate, *self.chain)]
        return {"x509CertificateChain": {"certificates": certificates}, "tlogEntries": []}


def hash_of(public_key: ec.EllipticCurvePublicKey) -> hashes.HashAlgorithm:
    """The hash an ECDSA key of this curve signs with (SHA-256 for P-256), as model_signing pairs them."""
    return _HASHES[public_key.curve.name]()


def key_hint(public_key: ec.EllipticCurvePublicKey) -> str:
    """The public key's hint in a bundle: the hex SHA-256 of its PEM (SubjectPublicKeyInfo)."""
    pem = public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(pem).hexdigest()


def load_signer(key: Path, *, certificate: Path | None = None, chain: Sequence[Path] = ()) -> Signer:
    """The signer for ``key`` (PEM), with its ``certificate`` and ``chain`` (PEM files) when given."""
    private = load_private_key(key)
    if certificate is None:
        if chain:
            raise UsageError("a certificate chain needs the certificate it ends in",
                             hint="give --certificate CERT.pem with --cert-chain")
        return KeySigner(private)
    leaf = _one_certificate(certificate)
    if leaf.public_key() != private.public_key():
        raise UsageError(f"the certificate `{certificate}` is not for the key `{key}`",
                         hint="give the certificate issued for this private key")
    return CertificateSigner(private, leaf, tuple(c for path in chain for c in load_certificates(path)))


def load_private_key(path: Path) -> ec.EllipticCurvePrivateKey:
    """An unencrypted EC private key in PEM on a curve model_signing verifies (P-256, P-384, P-521)."""
    data = read_pem(path)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise UsageError(f"the private key `{path}` is encrypted",
                         hint=f"decrypt it for signing: openssl pkey -in {path} -out plain.pem") from None
    except ValueError:
        raise UsageError(f"`{path}` is not a private key in PEM",
                         hint="make one with: openssl ecparam -name prime256v1 -genkey -noout -out key.pem") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name not in _HASHES:
        raise UsageError(f"the key `{path}` is not an ECDSA key on P-256, P-384 or P-521",
                         hint="model_signing signs and verifies with these curves only")
    return key


def load_public_key(path: Path) -> ec.EllipticCurvePublicKey:
    """An EC public key in PEM (what ``openssl ec -pubout`` writes)."""
    data = read_pem(path)
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError:
        raise UsageError(f"`{path}` is not a public key in PEM",
                         hint=f"write the public key of a private key with: openssl ec -in KEY.pem -pubout -out {path}"
                         ) from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name not in _HASHES:
        raise UsageError(f"the key `{path}` is not an ECDSA key on P-256, P-384 or P-521",
                         hint="model_signing signs and verifies with these curves only")
    return key


def load_certificates(path: Path) -> list[x509.Certificate]:
    """Every certificate of a PEM file (one, or a chain); at least one."""
    data = read_pem(path)
    try:
        found = x509.load_pem_x509_certificates(data)
    except ValueError:
        found = []
    if not found:
        raise UsageError(f"`{path}` holds no certificate in PEM", hint="give X.509 certificates in PEM")
    return found


def _one_certificate(path: Path) -> x509.Certificate:
    found = load_certificates(path)
    if len(found) != 1:
        raise UsageError(f"`{path}` holds {len(found)} certificates; --certificate takes the signing one alone",
                         hint="give the certificates above it with --cert-chain")
    return found[0]


def read_pem(path: Path) -> bytes:
    """A small regular file, read without blocking on a FIFO and at most one byte past :data:`MAX_PEM_BYTES`."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise UsageError(f"cannot read `{path}`: {describe_os_error(exc)}") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        reason = os.strerror(errno.EISDIR).lower() if stat.S_ISDIR(mode) else "not a regular file"
        raise UsageError(f"cannot read `{path}`: {reason}", hint="keys and certificates are read from files")
    os.set_blocking(fd, True)
    with os.fdopen(fd, "rb") as f:
        try:
            data = f.read(MAX_PEM_BYTES + 1)
        except OSError as exc:
            raise UsageError(f"cannot read `{path}`: {describe_os_error(exc)}") from None
    if len(data) > MAX_PEM_BYTES:
        raise UsageError(f"`{path}` is larger than {MAX_PEM_BYTES} bytes: not a key or certificate file")
    return data
