"""``model_files(NAME, include=..., exclude=..., roles=...)``: part of a stored model's files, in place; a model
kept in part gives only what it holds, never a path to an absent blob."""

from __future__ import annotations

from pathlib import Path

import pytest

from modeloci import api
from modeloci.errors import UsageError
from modeloci.store import Store
from tests.partial.helpers import KEPT, partial, whole


def test_model_files_include_gives_only_the_matching_weights(tmp_path: Path) -> None:
    whole(tmp_path)
    files = api.model_files("tiny:1", include="*Q4_K_M*.gguf")
    source = (tmp_path / "src" / KEPT).read_bytes()
    assert [p.read_bytes() for p in files.weights] == [source]
    assert list(files.files) == [KEPT] and files.licenses == []
    assert files.gguf_paths == files.weights


def test_model_files_by_role_and_exclude(tmp_path: Path) -> None:
    whole(tmp_path)
    assert list(api.model_files("tiny:1", roles="license").files) == ["LICENSE"]
    kept = api.model_files("tiny:1", roles=["weights"], exclude=["*F16*", "*Q8_0*"])
    assert list(kept.files) == [KEPT]
    assert list(api.model_files("tiny:1").files) == ["tiny-F16.gguf", KEPT, "tiny-Q8_0.gguf", "LICENSE"]


def test_model_files_of_a_partial_model_gives_what_is_there_and_refuses_the_rest(tmp_path: Path) -> None:
    partial(tmp_path)
    with pytest.raises(UsageError) as caught:
        api.model_files("tiny:1")
    assert caught.value.message == (
        "refusing to use `tiny:1`: it was pulled in part, and 3 of the layers this needs are absent: "
        "`tiny-F16.gguf` (weights), `tiny-Q8_0.gguf` (weights), `LICENSE` (license)")
    files = api.model_files("tiny:1", include=KEPT)
    assert [p.exists() for p in files.weights] == [True]
    assert files.weights[0].parent == Store().blobs


def test_model_files_selection_errors(tmp_path: Path) -> None:
    whole(tmp_path)
    with pytest.raises(UsageError) as nothing:
        api.model_files("tiny:1", include="tokenizer.json")
    assert nothing.value.message.startswith("--include `tokenizer.json` matches no layer of `tiny:1`; its layers "
                                            "are: `tiny-F16.gguf` (weights)")
    with pytest.raises(UsageError) as role:
        api.model_files("tiny:1", roles="tokenizer")
    assert role.value.message == "--role `tokenizer` is not a role"


def test_api_unpack_include_writes_only_the_matching_file(tmp_path: Path) -> None:
    whole(tmp_path)
    bundle = api.unpack("tiny:1", tmp_path / "out", include=["*Q4_K_M*.gguf"])
    assert bundle.gguf_path is not None
    assert bundle.gguf_path.read_bytes() == (tmp_path / "src" / KEPT).read_bytes()
    assert sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*")
                  if p.is_file()) == ["config.json", "model/model.gguf"]
