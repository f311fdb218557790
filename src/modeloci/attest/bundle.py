"""Sigstore bundles (v0.3) around a DSSE envelope: signing any in-toto statement, and reading one back.

The bundle is the one model_signing writes for a key or a certificate
(``sign_sigstore_pb``): its ``verificationMaterial`` (a public key hint, or a
certificate chain), no transparency log entries, and a DSSE envelope whose
payload is the statement and whose one signature is over the DSSE
pre-authentication encoding (PAE) of the payload. The bytes are those
model_signing writes (compact JSON in the protobuf field order), so that a
signed model's ``model.sig`` is the file that tool would have written.

Nothing here needs a cryptography library: a :class:`Signer` signs (the keys
of :mod:`.keys`), a trust verifies (:mod:`.trust`), so that a command that
only carries a signature (``unpack`` writing ``model.sig``) loads neither.

Reading is for bundles from elsewhere: bounded by the caller (the bundle is a
referrer's blob), parsed with :func:`modeloci.jsondoc.load_json`, and every
field checked for its type before it is used; a bundle that is not one is a
:class:`BundleError`, never a crash.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from modeloci.jsondoc import InvalidJSON, load_json
from modeloci.oci.mediatypes import MediaType

BUNDLE_MEDIA_TYPE = str(MediaType.SIGSTORE_BUNDLE)
IN_TOTO_PAYLOAD_TYPE = str(MediaType.IN_TOTO)
#: How cosign annotates a bundle attached to an image: what it holds, and the predicate type of its statement.
BUNDLE_CONTENT_ANNOTATION = "dev.sigstore.bundle.content"
BUNDLE_PREDICATE_ANNOTATION = "dev.sigstore.bundle.predicateType"


class Signer(Protocol):
    """Signs a message (a DSSE pre-authentication encoding) and says how a verifier finds the key."""

    def sign(self, message: bytes) -> bytes:
        """The DER signature over ``message``."""
        ...

    def material(self, signature: bytes) -> dict[str, Any]:
        """The bundle's ``verificationMaterial`` for ``signature`` (given, so that a transparency log entry of it
        can be part of the material), in the bundle's key order."""
        ...


class BundleError(ValueError):
    """A document that is not a signed Sigstore bundle of the kind read here; ``str(exc)`` says why."""


@dataclass(frozen=True, slots=True)
class Bundle:
    """What a bundle holds: how to find its key, and its envelope's payload and signature."""

    material: Mapping[str, Any]
    payload_type: str
    payload: bytes
    signature: bytes

    @property
    def signed_message(self) -> bytes:
        """What the signature is over: the envelope's PAE."""
        return pae(self.payload_type, self.payload)


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1's pre-authentication encoding: ``DSSEv1 <len> <type> <len> <payload>`` (lengths in bytes)."""
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def sign_statement(statement: bytes, signer: Signer, *, payload_type: str = IN_TOTO_PAYLOAD_TYPE) -> bytes:
    """A Sigstore bundle (v0.3) holding ``statement`` (an in-toto statement's bytes) signed by ``signer``."""
    signature = signer.sign(pae(payload_type, statement))
    envelope = {"payload": _b64(statement), "payloadType": payload_type,
                "signatures": [{"sig": _b64(signature), "keyid": ""}]}
    doc = {"mediaType": BUNDLE_MEDIA_TYPE, "verificationMaterial": signer.material(signature),
           "dsseEnvelope": envelope}
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def read_bundle(data: bytes) -> Bundle:
    """The bundle in ``data``; BundleError when it is not a v0.3 bundle with a DSSE envelope and one signature."""
    try:
        doc = load_json(data, "the bundle")
    except InvalidJSON as exc:
        raise BundleError(str(exc)) from None
    if not isinstance(doc, dict):
        raise BundleError("the bundle is not a JSON object")
    if doc.get("mediaType") != BUNDLE_MEDIA_TYPE:
        raise BundleError(f"the bundle's media type is `{doc.get('mediaType')}`, not `{BUNDLE_MEDIA_TYPE}`")
    material, envelope = doc.get("verificationMaterial"), doc.get("dsseEnvelope")
    if not isinstance(material, dict):
        raise BundleError("the bundle has no verification material")
    if not isinstance(envelope, dict):
        raise BundleError("the bundle holds no DSSE envelope")
    payload_type, signatures = envelope.get("payloadType"), envelope.get("signatures")
    if not isinstance(payload_type, str):
        raise BundleError("the envelope has no payload type")
    if not isinstance(signatures, list) or len(signatures) != 1 or not isinstance(signatures[0], dict):
        count = len(signatures) if isinstance(signatures, list) else 0
        raise BundleError(f"the envelope holds {count} signatures; one is read")
    return Bundle(material, payload_type, _unb64(envelope.get("payload"), "payload"),
                  _unb64(signatures[0].get("sig"), "signature"))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(value: object, what: str) -> bytes:
    if not isinstance(value, str):
        raise BundleError(f"the envelope's {what} is missing")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise BundleError(f"the envelope's {what} is not base64") from None
