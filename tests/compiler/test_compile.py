"""The compiler's choices: which files, in which order, and how a FROM base is merged."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from modeloci import api
from modeloci.compiler import Role, compile_plan
from modeloci.errors import ModelfileError
from modeloci.modelfile import parse_modelfile
from tests import factories


def _tree(root: Path, files: dict[str, bytes | str]) -> None:
    """Write files; ``.gguf`` and ``.safetensors`` names get small valid files of that format."""
    for name, data in files.items():
        path = root / name
        if name.endswith(".gguf"):
            factories.gguf(path, metadata=[("general.name", factories.STRING, str(data))])
            continue
        if name.endswith(".safetensors"):
            factories.safetensors(path)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.encode() if isinstance(data, str) else data)


def _plan(root: Path, text: str, **kwargs):
    (root / "Modelfile").write_text(text)
    return api.plan(root / "Modelfile", display="Modelfile", **kwargs)


def _paths(plan) -> list[str]:
    return [layer.filepath for layer in plan.layers]


def test_shards_named_out_of_order_become_layers_in_shard_order(tmp_path: Path) -> None:
    _tree(tmp_path, {f"m-0000{i}-of-00003.gguf": b"x" for i in (1, 2, 3)} | {"extra.gguf": b"y"})
    plan = _plan(tmp_path, "FROM scratch\nWEIGHTS extra.gguf m-00003-of-00003.gguf\n"
                           "WEIGHTS m-00001-of-00003.gguf m-00002-of-00003.gguf\n")
    assert _paths(plan) == ["m-00001-of-00003.gguf", "m-00002-of-00003.gguf", "m-00003-of-00003.gguf", "extra.gguf"]


def test_overlapping_globs_give_each_file_once(tmp_path: Path) -> None:
    _tree(tmp_path, {"a.gguf": b"1", "b.gguf": b"2"})
    plan = _plan(tmp_path, "FROM scratch\nWEIGHTS *.gguf a.gguf\nWEIGHTS ?.gguf\n")
    assert _paths(plan) == ["a.gguf", "b.gguf"]


def test_double_star_matches_any_depth_but_not_hidden_folders(tmp_path: Path) -> None:
    _tree(tmp_path, {"a.txt": "top", "docs/b.txt": "one", "docs/deep/c.txt": "two",
                     ".git/d.txt": "hidden", "w.gguf": b"w"})
    plan = _plan(tmp_path, "FROM scratch\nWEIGHTS w.gguf\nLICENSE **/*.txt\n")
    assert [layer.source.path for layer in plan.layers if layer.role is Role.LICENSE] == [
        "a.txt", "docs/b.txt", "docs/deep/c.txt"]


def test_star_skips_dotfiles_unless_the_pattern_starts_with_a_dot(tmp_path: Path) -> None:
    _tree(tmp_path, {"w.gguf": b"w", ".hidden.gguf": b"h"})
    assert _paths(_plan(tmp_path, "FROM scratch\nWEIGHTS *.gguf\n")) == ["w.gguf"]
    assert _paths(_plan(tmp_path, "FROM scratch\nWEIGHTS .*.gguf\n")) == [".hidden.gguf"]


def test_quoted_glob_characters_are_literal(tmp_path: Path) -> None:
    _tree(tmp_path, {"model[1].gguf": b"1", "model1.gguf": b"2"})
    assert _paths(_plan(tmp_path, 'FROM scratch\nWEIGHTS "model[1].gguf"\n')) == ["model[1].gguf"]
    assert _paths(_plan(tmp_path, "FROM scratch\nWEIGHTS model[1].gguf\n")) == ["model1.gguf"]


def test_unquoted_references_glob_and_quoted_ones_do_not(tmp_path: Path) -> None:
    _tree(tmp_path, {"a.gguf": b"1", "b.gguf": b"2"})
    text = 'ARG PATTERN=*.gguf\nFROM scratch\nWEIGHTS ${PATTERN}\n'
    assert _paths(_plan(tmp_path, text)) == ["a.gguf", "b.gguf"]
    with pytest.raises(ModelfileError) as info:
        _plan(tmp_path, 'ARG PATTERN=*.gguf\nFROM scratch\nWEIGHTS "${PATTERN}"\n')
    assert [d.code for d in info.value.diagnostics] == ["MF048"]


def test_build_args_override_defaults_and_defaults_use_earlier_args(tmp_path: Path) -> None:
    _tree(tmp_path, {"m-Q4.gguf": b"4", "m-Q8.gguf": b"8"})
    text = "ARG QUANT=Q4\nARG FILE=m-${QUANT}.gguf\nFROM scratch\nWEIGHTS ${FILE}\n"
    assert _paths(_plan(tmp_path, text)) == ["m-Q4.gguf"]
    assert _paths(_plan(tmp_path, text, build_args={"QUANT": "Q8"})) == ["m-Q8.gguf"]


def test_symlink_inside_the_context_is_followed_and_keeps_its_name(tmp_path: Path) -> None:
    factories.gguf(tmp_path / "blobs" / "abc")
    os.symlink("blobs/abc", tmp_path / "model.gguf")
    plan = _plan(tmp_path, "FROM scratch\nWEIGHTS model.gguf\n")
    assert _paths(plan) == ["model.gguf"] and plan.layers[0].size == (tmp_path / "blobs" / "abc").stat().st_size


def test_context_option_moves_the_root(tmp_path: Path) -> None:
    _tree(tmp_path, {"weights/w.gguf": b"w", "build/Modelfile": "FROM scratch\nWEIGHTS weights/w.gguf\n"})
    plan = api.plan(tmp_path / "build" / "Modelfile", context=tmp_path)
    assert [layer.source.path for layer in plan.layers] == ["weights/w.gguf"]


def test_from_base_merges_by_role(tmp_path: Path) -> None:
    _tree(tmp_path, {"base/w.gguf": b"w", "base/t.jinja": "t", "base/LICENSE": "L",
                     "base/Modelfile": "FROM scratch\nWEIGHTS w.gguf\nCHAT_TEMPLATE t.jinja\nLICENSE LICENSE\n"
                                       "CONFIG context_size=100\nLABEL a=1 b=2\n",
                     "new/w2.gguf": b"w2", "new/NOTICE": "N"})
    factories.mmproj(tmp_path / "new" / "p.gguf")
    api.build(tmp_path / "base" / "Modelfile", tmp_path / "new" / "base.tar")
    kept = _plan(tmp_path / "new", "FROM base.tar\nMMPROJ p.gguf\nLICENSE NOTICE\nLABEL b=3\n")
    assert [(layer.role.value, layer.filepath, layer.source.kind) for layer in kept.layers] == [
        ("weights", "w.gguf", "base"), ("license", "LICENSE", "base"), ("license", "NOTICE", "file"),
        ("chat_template", "t.jinja", "base"), ("mmproj", "p.gguf", "file")]
    assert kept.config["context_size"] == 100 and kept.config["gguf"]["general.name"] == "b'w'"
    assert kept.labels == {"a": "1", "b": "3"}
    replaced = _plan(tmp_path / "new", "FROM base.tar\nWEIGHTS w2.gguf\n")
    first = replaced.layers[0]
    assert (first.filepath, first.source.kind) == ("w2.gguf", "file")
    # Metadata comes from the new weights; the base's context size went with its weights, with a warning.
    assert replaced.config["gguf"]["general.name"] == "b'w2'" and "context_size" not in replaced.config
    assert [(w.code, w.detail) for w in replaced.warnings] == [
        ("MF100", "config fields taken from the old weights are dropped: context_size")]


def test_from_base_keeps_the_base_config_media_type(tmp_path: Path) -> None:
    _tree(tmp_path, {"w.safetensors": b"s", "Modelfile": "FROM scratch\nWEIGHTS w.safetensors\n", "t.jinja": "t"})
    api.build(tmp_path / "Modelfile", tmp_path / "base.tar")
    plan = _plan(tmp_path, "FROM base.tar\nCHAT_TEMPLATE t.jinja\n")
    assert plan.config_media_type == "application/vnd.docker.ai.model.config.v0.2+json"
    assert plan.config["format"] == "safetensors"


def test_parse_and_compile_report_everything_at_once(tmp_path: Path) -> None:
    _tree(tmp_path, {"a.gguf": b"a"})
    modelfile = parse_modelfile(b"FROM scratch\nWEIGHTS a.gguf missing.gguf\nWIEGHTS x\nLICENSE nope\n",
                                path="Modelfile")
    with pytest.raises(ModelfileError) as info:
        compile_plan(modelfile, context=tmp_path)
    assert [(d.code, d.span.start.line) for d in info.value.diagnostics] == [("MF048", 2), ("MF003", 3), ("MF048", 4)]


def test_from_an_arg_that_says_scratch_starts_from_nothing(tmp_path: Path) -> None:
    from modeloci import api
    from tests import factories

    factories.gguf(tmp_path / "m.gguf")
    (tmp_path / "Modelfile").write_text("ARG BASE=scratch\nFROM ${BASE}\nWEIGHTS m.gguf\n")
    plan = api.plan(tmp_path / "Modelfile")
    assert plan.base is None and [layer.filepath for layer in plan.layers] == ["m.gguf"]


def test_a_weights_file_named_twice_is_one_layer_counted_once(tmp_path: Path) -> None:
    from modeloci import api
    from tests import factories

    factories.gguf(tmp_path / "m.gguf")
    (tmp_path / "Once").write_text("FROM scratch\nWEIGHTS m.gguf\n")
    (tmp_path / "Twice").write_text("FROM scratch\nWEIGHTS m.gguf\nWEIGHTS m.gguf\n")
    once, twice = api.plan(tmp_path / "Once"), api.plan(tmp_path / "Twice")
    assert len(twice.layers) == 1
    assert (twice.config["parameters"], twice.config["size"]) == (once.config["parameters"], once.config["size"])
