"""Done when: a model signed as ``modeloci sign`` signs it and unpacked by ``modeloci unpack`` is verified by the real
``model_signing verify`` command (model-signing 1.1.1) in the folder as it lies, with a key and with a certificate
chain; one flipped byte in one unpacked file makes it fail."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from modeloci.attest.keys import load_signer
from modeloci.ops.sign import sign
from tests.archive_tools import build_example
from tests.attest.conftest import Chain, KeyPair, model_signing_cli
from tests.conftest import CliResult

Cli = Callable[..., CliResult]


def model_signing(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([model_signing_cli(), *map(str, args)], capture_output=True, text=True, timeout=120,
                          check=False)


def flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def signed_and_unpacked(tmp_path: Path, cli: Cli, key: Path, *, layout: str = "files", **signer: Any) -> Path:
    """hf-safetensors built, signed as ``modeloci sign`` signs, and unpacked by ``modeloci unpack``."""
    archive, _ = build_example("hf-safetensors", tmp_path / "src", created=1750000000)
    sign(archive, load_signer(key, **signer))
    folder = tmp_path / "unpacked"
    done = cli("unpack", str(archive), "-o", str(folder), "--layout", layout)
    assert done.code == 0, done.stderr
    return folder if layout == "files" else folder / "model"


def test_model_signing_verifies_an_unpacked_model_signed_with_a_key(tmp_path: Path, cli: Cli, keys: KeyPair) -> None:
    model_signing_cli()
    folder = signed_and_unpacked(tmp_path, cli, keys.private)
    verify = ("verify", "key", folder, "--signature", folder / "model.sig", "--public_key", keys.public)
    passed = model_signing(*verify)
    assert (passed.returncode, passed.stdout) == (0, "Verification succeeded\n"), passed.stderr
    flip_a_byte(folder / "model.safetensors")
    failed = model_signing(*verify)
    assert failed.returncode == 1
    assert "Verification failed with error: Signature mismatch" in failed.stderr
    assert "model.safetensors" in failed.stderr


def test_model_signing_verifies_an_unpacked_model_signed_with_a_certificate_chain(tmp_path: Path, cli: Cli,
                                                                                  chain: Chain) -> None:
    model_signing_cli()
    folder = signed_and_unpacked(tmp_path, cli, chain.key, certificate=chain.leaf, chain=[chain.chain])
    verify = ("verify", "certificate", folder, "--signature", folder / "model.sig", "--certificate_chain", chain.root)
    passed = model_signing(*verify)
    assert (passed.returncode, passed.stdout) == (0, "Verification succeeded\n"), passed.stderr
    flip_a_byte(folder / "tokenizer.json")
    failed = model_signing(*verify)
    assert failed.returncode == 1 and "tokenizer.json" in failed.stderr


def test_model_signing_verifies_the_model_folder_of_a_bundle_that_keeps_paths(tmp_path: Path, cli: Cli,
                                                                              keys: KeyPair) -> None:
    """A layer-per-file model (Docker v0.2, as every WEIGHTS folder builds) keeps its paths in ``model/``."""
    model_signing_cli()
    folder = signed_and_unpacked(tmp_path, cli, keys.private, layout="bundle")
    passed = model_signing("verify", "key", folder, "--signature", folder / "model.sig", "--public_key", keys.public)
    assert passed.returncode == 0, passed.stderr
