"""Lint reads a folder's tokenizer_config.json for a chat template it carries: bounded, and never a crash."""

from __future__ import annotations

from pathlib import Path

from tests import factories


def test_a_tokenizer_config_nested_100000_deep_is_not_an_internal_error(tmp_path: Path, cli) -> None:
    """json.loads recursed once per level: lint's check for a carried template ended in RecursionError."""
    folder = tmp_path / "chat-model"
    factories.safetensors(folder / "model.safetensors")
    (folder / "config.json").write_text('{"architectures": ["LlamaForCausalLM"]}')
    (folder / "tokenizer_config.json").write_bytes(b'{"x":' + b"[" * 100_000 + b"]" * 100_000 + b"}")
    (tmp_path / "Modelfile").write_text("FROM scratch\nWEIGHTS chat-model\n")
    result = cli("lint", "-f", str(tmp_path / "Modelfile"))
    assert result.code == 0, result.stderr  # (the cli fixture fails the test on an internal error)
    assert "warning[MF111]: A chat model with no chat template" in result.stderr  # the JSON told nothing
