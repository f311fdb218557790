"""ATTESTATIONS: what a build proves about a model (signatures, provenance, a bill of materials), as OCI referrers.

Each document becomes an OCI artifact whose ``subject`` is the model's
manifest (:class:`modeloci.oci.referrers.Referrer`). A model's signature is in
the OpenSSF Model Signing format (:mod:`.oms`), made from its manifest and
checked against it; any in-toto statement (a provenance too) is signed into a
Sigstore bundle by :func:`sign_statement` (:mod:`.bundle`), with a key or
certificate loaded by :func:`modeloci.attest.keys.load_signer`; a verifier's
trust is :mod:`.trust`. This level sits beside the compiler and the builder:
it imports formats, oci and sources; the verbs (ops) and the CLI import it.
Only :mod:`.keys` and :mod:`.trust` load the cryptography library.
"""

from modeloci.attest.bundle import Signer, sign_statement

__all__ = ["Signer", "sign_statement"]
