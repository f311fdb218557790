"""`verify` and `inspect` of a modelcar: a good one passes; a hostile one is refused, each attack by name."""

from __future__ import annotations

from pathlib import Path

from modeloci import api
from tests.modelcar.helpers import build_modelcar, single_gguf


def test_a_built_modelcar_verifies_and_inspects_with_its_facts(tmp_path: Path) -> None:
    build_modelcar(single_gguf(tmp_path), tmp_path / "car.tar", reference="tiny:car")
    report = api.verify(tmp_path / "car.tar")
    assert (report.ok, report.format, report.blobs_checked, report.problems) == (True, "modelcar", 3, [])
    artifact = api.inspect(tmp_path / "car.tar")
    assert artifact.format == "modelcar"
    facts = {key: artifact.config[key] for key in ("architecture", "format", "context_size", "parameters")}
    assert facts == {"architecture": "llama", "format": "gguf", "context_size": 2048, "parameters": "0.1K"}
    assert artifact.created == "2023-11-14T22:13:20Z"
    assert [(layer.path, layer.role) for layer in artifact.layers] == [
        ("tiny-llama-F32.gguf", "weights"), ("LICENSE", "license"), ("chat_template.jinja", "chat_template")]
