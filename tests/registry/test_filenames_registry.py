"""Odd weight file names (non-ASCII, over 100 bytes, quotes and `$`) survive push and pull."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modeloci.modelfile.fmt import literal_word
from tests import factories


@pytest.mark.parametrize("name", ["modèle-概要-🦙.gguf", "é" * 80 + ".gguf", 'say "hi" $HOME #1.gguf'])
def test_push_pull_and_unpack_keep_the_name(name: str, registry, repo_name: str, tmp_path: Path, cli) -> None:
    factories.gguf(tmp_path / name)
    (tmp_path / "Modelfile").write_text(f"FROM scratch\nWEIGHTS {literal_word(name)}\n", encoding="utf-8")
    built = cli("build", "-f", str(tmp_path / "Modelfile"), "-o", str(tmp_path / "out.tar"), "-q", "--json")
    assert built.code == 0, built.stderr
    reference = f"{registry.host}/{repo_name}:1"
    assert cli("push", str(tmp_path / "out.tar"), reference, "-q").code == 0
    pulled = cli("pull", reference, "-o", str(tmp_path / "pulled.tar"), "-q", "--json")
    assert pulled.code == 0, pulled.stderr
    assert json.loads(pulled.stdout)["digest"] == json.loads(built.stdout)["digest"]
    assert cli("unpack", str(tmp_path / "pulled.tar"), "-o", str(tmp_path / "files"), "--layout", "files").code == 0
    assert (tmp_path / "files" / name).read_bytes() == (tmp_path / name).read_bytes()
