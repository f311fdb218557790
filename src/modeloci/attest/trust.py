"""What a verifier trusts: one public key, or the certificates a signing certificate must chain up to.

Each answers one question of a bundle: is its signature by a key we trust? The
answer is None (yes) or the reason it is not, in words that tell a wrong key
(signed, but by someone else) from a bad signature (the bytes were changed),
so ``verify`` can name which. The rules are model_signing's: a key bundle's
hint must be the SHA-256 of our key's PEM; a certificate chain is checked
as of its signing certificate's start of validity (a bundle without a
transparency log has no trusted signing time; an expired certificate still
verifies what it signed), and the signing certificate must be for signing
(key usage ``digitalSignature`` or extended key usage ``codeSigning``).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import ClientVerifier, ExtensionPolicy, PolicyBuilder, Store, VerificationError

from modeloci.attest.bundle import Bundle
from modeloci.attest.keys import hash_of, key_hint, load_certificates, load_public_key
from modeloci.errors import UsageError

#: Certificates a bundle's chain may carry (leaf, intermediates, root); more is not a chain anyone issues.
MAX_CHAIN = 8


class Trust(Protocol):
    def check(self, bundle: Bundle) -> str | None:
        """None if the bundle's signature verifies with a key trusted here, else why not (one line)."""
        ...


@dataclass(frozen=True, slots=True)
class KeyTrust:
    """Trusts one public key (``shown`` names it in messages: the file it came from)."""

    key: ec.EllipticCurvePublicKey
    shown: str

    def check(self, bundle: Bundle) -> str | None:
        named = _named_key(bundle.material)
        if isinstance(named, str) and named != key_hint(self.key):
            return f"wrong key: signed by the key with hint {named[:16]}..., not by `{self.shown}`"
        if isinstance(named, ec.EllipticCurvePublicKey) and named != self.key:
            return f"wrong key: signed with a certificate for another key than `{self.shown}`"
        if not _verifies(self.key, bundle):
            return f"bad signature: the envelope's signature does not verify with `{self.shown}`"
        return None


@dataclass(frozen=True, slots=True)
class ChainTrust:
    """Trusts signing certificates that chain up to one of ``roots`` (any certificate given is an anchor)."""

    roots: Sequence[x509.Certificate]
    shown: str

    def check(self, bundle: Bundle) -> str | None:
        chain = bundle.material.get("x509CertificateChain")
        if chain is None:
            return "wrong key: signed with a key, not a certificate; verify it with --key"
        try:
            leaf, intermediates = _certificates(chain)
        except ValueError as exc:
            return f"wrong key: the bundle's certificate chain {exc}"
        try:
            _verifier(self.roots, leaf).verify(leaf, intermediates)
        except (VerificationError, ValueError) as exc:
            return f"wrong key: the signing certificate does not chain up to `{self.shown}`: {exc}"
        if not _for_signing(leaf):
            return "wrong key: the signing certificate is not for signing (no digitalSignature key usage and no " \
                   "codeSigning extended key usage)"
        key = leaf.public_key()
        if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name not in ("secp256r1", "secp384r1",
                                                                                      "secp521r1"):
            return "wrong key: the signing certificate's key is not ECDSA on P-256, P-384 or P-521"
        if not _verifies(key, bundle):
            return "bad signature: the envelope's signature does not verify with the signing certificate's key"
        return None


def load_trust(*, key: Path | None = None, chain: Sequence[Path] = ()) -> Trust:
    """What ``verify`` trusts: the public key in ``key`` (PEM), or the certificates of the ``chain`` files."""
    if (key is None) == (not chain):
        raise UsageError("give the public key (--key PUB.pem) or the certificate chain (--cert-chain CHAIN.pem) "
                         "to check the signature with, not both")
    if key is not None:
        return KeyTrust(load_public_key(key), str(key))
    return ChainTrust([c for path in chain for c in load_certificates(path)], ", ".join(map(str, chain)))


def _named_key(material: Mapping[str, Any]) -> str | ec.EllipticCurvePublicKey | None:
    """The key a bundle says it was signed with: a hint, a certificate's key, or None when it does not say."""
    public = material.get("publicKey")
    if isinstance(public, dict) and isinstance(public.get("hint"), str) and public["hint"]:
        return str(public["hint"])
    try:
        leaf, _ = _certificates(material.get("x509CertificateChain"))
    except ValueError:
        return None
    key = leaf.public_key()
    return key if isinstance(key, ec.EllipticCurvePublicKey) else None


def _verifies(key: ec.EllipticCurvePublicKey, bundle: Bundle) -> bool:
    try:
        key.verify(bundle.signature, bundle.signed_message, ec.ECDSA(hash_of(key)))
    except (InvalidSignature, UnsupportedAlgorithm, ValueError):
        return False
    return True


def _certificates(chain: object) -> tuple[x509.Certificate, list[x509.Certificate]]:
    """The signing certificate and those above it, from ``x509CertificateChain``; ValueError saying what is wrong."""
    items = chain.get("certificates") if isinstance(chain, dict) else None
    if not isinstance(items, list) or not items:
        raise ValueError("holds no certificate")
    if len(items) > MAX_CHAIN:
        raise ValueError(f"holds {len(items)} certificates; at most {MAX_CHAIN} are read")
    found = []
    for item in items:
        raw = item.get("rawBytes") if isinstance(item, dict) else None
        try:
            found.append(x509.load_der_x509_certificate(base64.b64decode(str(raw), validate=True)))
        except (binascii.Error, ValueError):
            raise ValueError("holds a certificate that is not DER in base64") from None
    return found[0], found[1:]


def _verifier(roots: Sequence[x509.Certificate], leaf: x509.Certificate) -> ClientVerifier:
    """A path validator anchored at ``roots``, as of the leaf's start of validity; CA certificates held to the
    Web PKI's rules, the leaf to none (its usage is checked apart, as model_signing checks it)."""
    return (PolicyBuilder().store(Store(list(roots))).time(leaf.not_valid_before_utc).max_chain_depth(MAX_CHAIN)
            .extension_policies(ca_policy=ExtensionPolicy.webpki_defaults_ca(), ee_policy=ExtensionPolicy.permit_all())
            .build_client_verifier())


def _for_signing(leaf: x509.Certificate) -> bool:
    try:
        return _usage_allows_signing(leaf)
    except ValueError:  # an extension that does not parse
        return False


def _usage_allows_signing(leaf: x509.Certificate) -> bool:
    try:
        if leaf.extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature:
            return True
    except x509.ExtensionNotFound:
        pass
    try:
        return ExtendedKeyUsageOID.CODE_SIGNING in leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return False
