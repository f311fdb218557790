"""Layers a peer pushed without `org.cncf.model.filepath` are never dropped, nor named by their digest.

oras-py writes only `org.opencontainers.image.title`; other clients may write no name at all. Every reader
(unpack in both layouts, convert, FROM, inspect) names such a layer by its title, else by a name made from its
role, numbered by its place in the manifest; a title is outside input and held to the same path rules as a path.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from modeloci import api
from modeloci.errors import ArchiveError
from modeloci.ops.convert import convert
from modeloci.ops.unpack import unpack
from tests.archive_tools import EXAMPLES, Archive, build_example
from tests.hostile_archives import with_manifest

FILEPATH = "org.cncf.model.filepath"
TITLE = "org.opencontainers.image.title"
SINGLE = {"tiny-llama-F32.gguf": "tiny-llama-F32.gguf", "LICENSE": "LICENSE", "chat_template.jinja":
          "chat_template.jinja"}


def renamed(source: Path, dest: Path, keep: tuple[str, ...], **titles: str) -> Path:
    """``source`` with each layer's annotations cut down to the keys in ``keep`` (``titles`` maps a layer's old
    path to the title it gets instead)."""
    def edit(doc: dict[str, Any]) -> None:
        for layer in doc["layers"]:
            old = layer["annotations"]
            layer["annotations"] = {k: v for k, v in old.items() if k in keep}
            if old[FILEPATH] in titles:
                layer["annotations"][TITLE] = titles[old[FILEPATH]]
            if not layer["annotations"]:
                del layer["annotations"]
    return with_manifest(source, dest, edit)[0]


def files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def example(rel: str) -> bytes:
    return (EXAMPLES / "single-gguf" / rel).read_bytes()


@pytest.mark.parametrize("layout", ["bundle", "files"])
def test_an_oras_pushed_modelpack_model_unpacks_every_layer_under_its_title(tmp_path: Path, layout: str) -> None:
    """An oras-py push with ModelPack media types once unpacked to an empty folder, with exit 0."""
    built, _ = build_example("single-gguf", tmp_path / "src", format="modelpack")
    oras = renamed(built, tmp_path / "oras.tar", keep=(TITLE,))
    assert all(set(layer["annotations"]) == {TITLE} for layer in Archive.read(oras).manifest["layers"])
    report = unpack(oras, tmp_path / "out", layout=layout)
    prefix = "model/" if layout == "bundle" else ""
    written = files(tmp_path / "out")
    assert {k: v for k, v in written.items() if k != "config.json"} == {
        prefix + name: example(rel) for name, rel in SINGLE.items()}
    assert sorted(f.path for f in report.files) == sorted(written)


@pytest.mark.parametrize("fmt", ["docker", "modelpack"])
def test_a_layer_with_neither_path_nor_title_gets_a_name_made_from_its_role(tmp_path: Path, fmt: str) -> None:
    built, _ = build_example("single-gguf", tmp_path / "src", format=fmt)
    bare = renamed(built, tmp_path / "bare.tar", keep=())
    assert all("annotations" not in layer for layer in Archive.read(bare).manifest["layers"])
    unpack(bare, tmp_path / "out", layout="files")
    # ModelPack tells a template and a license by name only: without one they are a config file and a document.
    names = (["model-1.gguf", "LICENSE-2", "template-3.jinja"] if fmt == "docker"
             else ["model-1.gguf", "layer-2", "file-3"])
    assert files(tmp_path / "out") == dict(zip(names, [example(rel) for rel in SINGLE.values()], strict=True))
    report = api.inspect(bare)
    assert [layer.path for layer in report.layers] == names


def test_a_bundle_of_a_docker_model_without_names_keeps_every_layer(tmp_path: Path) -> None:
    built, _ = build_example("hf-safetensors", tmp_path / "src")  # v0.2: every layer at its path
    bare = renamed(built, tmp_path / "bare.tar", keep=())
    report = unpack(bare, tmp_path / "out")
    layers = Archive.read(bare).manifest["layers"]
    assert len([f for f in report.files if f.path != "config.json"]) == len(layers)


@pytest.mark.parametrize("title", ["../escaped", "/etc/passwd", "a/../../b", "x" * 300])
def test_a_title_is_held_to_the_path_rules(tmp_path: Path, title: str) -> None:
    """A title is outside input: unpack refuses one that climbs out, is absolute, or no file system holds, as it
    refuses such a path, and writes nothing."""
    built, _ = build_example("single-gguf", tmp_path / "src", format="modelpack")
    hostile = renamed(built, tmp_path / "hostile.tar", keep=(), **{"LICENSE": title})
    with pytest.raises(ArchiveError, match=r"refusing to unpack: .*(unsafe path|file systems hold at most)"):
        unpack(hostile, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_convert_names_a_titled_layer_by_its_title_and_keeps_its_role(tmp_path: Path) -> None:
    """A cross-format convert once wrote the digest's hex as the path, so the template and the license lost the
    names that tell their roles."""
    built, _ = build_example("single-gguf", tmp_path / "src", format="modelpack")
    oras = renamed(built, tmp_path / "oras.tar", keep=(TITLE,))
    convert(oras, "docker", tmp_path / "docker.tar")
    direct, _ = build_example("single-gguf", tmp_path / "direct")
    got, want = Archive.read(tmp_path / "docker.tar").manifest, Archive.read(direct).manifest
    assert [(d["mediaType"], d["annotations"][FILEPATH], d["annotations"][TITLE]) for d in got["layers"]] == [
        (d["mediaType"], d["annotations"][FILEPATH], d["annotations"][TITLE]) for d in want["layers"]]


def test_from_a_titled_base_in_the_other_format_keeps_names_and_roles(tmp_path: Path) -> None:
    built, _ = build_example("single-gguf", tmp_path / "src", format="modelpack")
    context = tmp_path / "ctx"
    context.mkdir()
    renamed(built, context / "base.tar", keep=(TITLE,))
    (context / "Modelfile").write_text("FROM base.tar\nCONFIG context_size=4096\n")
    api.build(context / "Modelfile", tmp_path / "out.tar")
    layers = Archive.read(tmp_path / "out.tar").manifest["layers"]
    assert [(d["mediaType"].rsplit(".", 2)[-2:], d["annotations"][FILEPATH]) for d in layers] == [
        (["gguf", "v3"], "tiny-llama-F32.gguf"), (["ai", "license"], "LICENSE"),
        (["template", "jinja"], "chat_template.jinja")]
    assert json.loads(Archive.read(tmp_path / "out.tar").config_bytes)["config"]["context_size"] == 4096
