"""Keys and certificates given to ``sign`` and ``verify``: what model_signing takes is taken; anything else is a
one-line usage error naming the file and saying what to give instead. Key files are read bounded, never from a
FIFO or device."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from modeloci.attest.keys import MAX_PEM_BYTES, load_certificates, load_public_key, load_signer
from modeloci.errors import UsageError
from tests.attest.conftest import Chain, KeyPair, write_key_pair


def usage_error(call: object) -> tuple[str, str | None]:
    assert callable(call)
    with pytest.raises(UsageError) as raised:
        call()
    return raised.value.message, raised.value.hint


def test_an_encrypted_key_is_refused_with_how_to_decrypt_it(tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    path = tmp_path / "enc.pem"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.BestAvailableEncryption(b"secret")))
    assert usage_error(lambda: load_signer(path)) == (
        f"the private key `{path}` is encrypted", f"decrypt it for signing: openssl pkey -in {path} -out plain.pem")


def test_a_key_model_signing_cannot_verify_is_refused(tmp_path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path / "rsa.pem"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    assert usage_error(lambda: load_signer(path)) == (
        f"the key `{path}` is not an ECDSA key on P-256, P-384 or P-521",
        "model_signing signs and verifies with these curves only")
    weak = write_key_pair(tmp_path, "k1", ec.SECP256K1())
    assert usage_error(lambda: load_signer(weak.private))[0] == \
        f"the key `{weak.private}` is not an ECDSA key on P-256, P-384 or P-521"
    assert usage_error(lambda: load_public_key(weak.public))[0] == \
        f"the key `{weak.public}` is not an ECDSA key on P-256, P-384 or P-521"


def test_text_that_is_not_a_key_is_refused(tmp_path: Path, keys: KeyPair) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    assert usage_error(lambda: load_signer(path))[0] == f"`{path}` is not a private key in PEM"
    assert usage_error(lambda: load_public_key(keys.private))[0] == f"`{keys.private}` is not a public key in PEM"
    assert usage_error(lambda: load_certificates(keys.public)) == (
        f"`{keys.public}` holds no certificate in PEM", "give X.509 certificates in PEM")


def test_a_fifo_or_folder_given_as_a_key_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert usage_error(lambda: load_signer(fifo)) == (
        f"cannot read `{fifo}`: not a regular file", "keys and certificates are read from files")
    assert usage_error(lambda: load_signer(tmp_path))[0] == f"cannot read `{tmp_path}`: is a directory"
    assert usage_error(lambda: load_signer(tmp_path / "absent.pem"))[0] == \
        f"cannot read `{tmp_path / 'absent.pem'}`: no such file or directory"


def test_a_huge_key_file_is_read_one_byte_past_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "huge.pem"
    with path.open("wb") as f:
        f.truncate(4 * MAX_PEM_BYTES)
    assert usage_error(lambda: load_signer(path))[0] == \
        f"`{path}` is larger than {MAX_PEM_BYTES} bytes: not a key or certificate file"


def test_a_certificate_must_be_the_key_s_and_come_alone(tmp_path: Path, keys: KeyPair, chain: Chain) -> None:
    assert usage_error(lambda: load_signer(keys.private, certificate=chain.leaf)) == (
        f"the certificate `{chain.leaf}` is not for the key `{keys.private}`",
        "give the certificate issued for this private key")
    assert usage_error(lambda: load_signer(chain.key, certificate=chain.chain)) == (
        f"`{chain.chain}` holds 2 certificates; --certificate takes the signing one alone",
        "give the certificates above it with --cert-chain")
    assert usage_error(lambda: load_signer(keys.private, chain=[chain.chain])) == (
        "a certificate chain needs the certificate it ends in", "give --certificate CERT.pem with --cert-chain")
