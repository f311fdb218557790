"""A modelcar in the store and the registry: load, save, push and pull keep it byte for byte."""

from __future__ import annotations

import json
from pathlib import Path

from tests.modelcar.helpers import build_modelcar, single_gguf


def test_load_and_save_keep_a_modelcar_byte_for_byte(tmp_path: Path, cli) -> None:
    build_modelcar(single_gguf(tmp_path), tmp_path / "car.tar", reference="tiny:car")
    assert cli("load", str(tmp_path / "car.tar")).code == 0
    assert cli("verify", "tiny:car").code == 0
    assert cli("save", "tiny:car", "-o", str(tmp_path / "saved.tar")).code == 0
    assert (tmp_path / "saved.tar").read_bytes() == (tmp_path / "car.tar").read_bytes()
    listed = json.loads(cli("ls", "--json").stdout)
    assert [(m["reference"], m["format"]) for m in listed] == [("tiny:car", "modelcar")]


def test_push_and_pull_round_trip_a_modelcar_through_the_real_registry(tmp_path: Path, cli, registry,
                                                                       repo_name: str) -> None:
    built = build_modelcar(single_gguf(tmp_path), tmp_path / "car.tar", reference="tiny:car")
    reference = f"{registry.host}/{repo_name}:car"
    assert cli("push", str(tmp_path / "car.tar"), reference).code == 0
    pulled = cli("pull", reference, "--json")
    assert pulled.code == 0, pulled.stderr
    assert json.loads(pulled.stdout)["digest"] == str(built.manifest.digest)
    assert cli("save", reference, "-o", str(tmp_path / "pulled.tar")).code == 0
    assert cli("unpack", reference, "-o", str(tmp_path / "files"), "--layout", "files").code == 0
    for name in ("tiny-llama-F32.gguf", "LICENSE", "chat_template.jinja"):
        assert (tmp_path / "files" / name).read_bytes() == (tmp_path / "single-gguf" / name).read_bytes()
