"""``modeloci inspect`` of model files and folders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modeloci.ops.inspect import ModelReport
from tests import factories
from tests.archive_tools import EXAMPLES, REPO

CORPUS = REPO.parent / "shared" / "corpus" / "gguf"


def test_inspect_gguf_shard_reads_the_whole_set(cli) -> None:
    result = cli("inspect", str(EXAMPLES / "sharded-vision" / "tiny-vision-00002-of-00002.gguf"), "--json")
    assert result.code == 0, result.stderr
    report = ModelReport.model_validate_json(result.stdout)
    assert [f.path for f in report.files] == ["tiny-vision-00001-of-00002.gguf", "tiny-vision-00002-of-00002.gguf"]
    assert report.parameter_count == 152 and report.config["parameters"] == "152"
    assert report.config["architecture"] == "llama" and not report.projector
    assert {m.key for m in report.metadata} >= {"general.architecture", "split.count"}


def test_inspect_projector_and_text_output(cli) -> None:
    result = cli("inspect", str(EXAMPLES / "sharded-vision" / "mmproj-tiny-vision-F16.gguf"))
    assert result.code == 0
    assert result.stdout.splitlines()[0].endswith("mmproj-tiny-vision-F16.gguf: projector, GGUF v3")
    assert "clip.projector_type" in result.stdout


def test_inspect_model_folders(cli) -> None:
    gguf_folder = ModelReport.model_validate_json(cli("inspect", str(EXAMPLES / "sharded-vision"), "--json").stdout)
    assert gguf_folder.kind == "folder" and gguf_folder.config["quantization"] == "MOSTLY_F16"
    assert {f.path: f.kind for f in gguf_folder.files} == {
        "LICENSE.txt": "license", "mmproj-tiny-vision-F16.gguf": "mmproj",
        "tiny-vision-00001-of-00002.gguf": "weights", "tiny-vision-00002-of-00002.gguf": "weights"}
    hf = ModelReport.model_validate_json(
        cli("inspect", str(EXAMPLES / "hf-safetensors" / "tiny-qwen"), "--json").stdout)
    assert hf.format == "safetensors" and hf.config["architecture"] == "qwen3" and hf.config["context_size"] == 32768
    assert "README.md" not in [f.path for f in hf.files]


def test_inspect_corpus_file_with_large_arrays_not_decoded(cli) -> None:
    if not CORPUS.is_dir():
        pytest.skip(f"{CORPUS} is absent: the shared corpus is not on this machine")
    report = json.loads(cli("inspect", str(CORPUS / "ggml-vocab-llama-spm.gguf"), "--json").stdout)
    tokens = next(m for m in report["metadata"] if m["key"] == "tokenizer.ggml.tokens")
    assert tokens == {"key": "tokenizer.ggml.tokens", "type": "string[32000]", "value": None}


def test_inspect_errors_are_clear(cli, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "bad.gguf").write_bytes(b"nope")
    cases = {
        str(tmp_path / "missing.gguf"): (2, "not found"),
        str(tmp_path / "notes.txt"): (2, "is not a model file"),
        str(tmp_path / "bad.gguf"): (1, "bad.gguf`: not a GGUF file: it starts with b'nope', not b'GGUF'"),
    }
    for path, (code, message) in cases.items():
        result = cli("inspect", path)
        assert result.code == code and message in result.stderr and "Traceback" not in result.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "no model weights" in cli("inspect", str(empty)).stderr


def test_inspect_safetensors_file(cli, tmp_path: Path) -> None:
    path = factories.safetensors(tmp_path / "m.safetensors", {"a": ("F16", [3, 5]), "b": ("F32", [2])},
                                 {"format": "pt"})
    report = ModelReport.model_validate_json(cli("inspect", str(path), "--json").stdout)
    assert report.kind == "safetensors" and report.tensor_count == 2 and report.parameter_count == 17
    assert report.config["quantization"] == "mixed"


def test_inspect_of_an_incomplete_shard_set_names_the_missing_shard(tmp_path: Path, cli) -> None:
    """A model folder's problems are findings like verify's: a severity and a message, in text and --json."""
    factories.gguf(tmp_path / "m-00001-of-00002.gguf", split=(0, 2))
    text = cli("inspect", str(tmp_path))
    assert "problem: shard `m-00002-of-00002.gguf` is missing" in text.stdout.splitlines()
    report = json.loads(cli("inspect", str(tmp_path), "--json").stdout)
    assert report["problems"] == [{"severity": "error", "message": "shard `m-00002-of-00002.gguf` is missing"}]
