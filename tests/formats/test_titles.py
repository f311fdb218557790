"""Every layer carries ``org.opencontainers.image.title`` (what oras names a pulled file from), in both formats,
however it was made: built from a file, carried over from a base in either format, or converted."""

from __future__ import annotations

from pathlib import Path

import pytest

from modeloci import api
from modeloci.formats import docker
from modeloci.ops.convert import convert
from tests.archive_tools import Archive, build_example

TITLE = "org.opencontainers.image.title"
FILEPATH = "org.cncf.model.filepath"


def titles(archive: Path) -> list[tuple[str, str]]:
    return [(layer["annotations"][FILEPATH], layer["annotations"].get(TITLE))
            for layer in Archive.read(archive).manifest["layers"]]


@pytest.mark.parametrize("target", ["docker", "modelpack"])
def test_a_converted_model_keeps_a_title_on_every_layer(tmp_path: Path, target: str) -> None:
    source_format = "modelpack" if target == "docker" else "docker"
    source, _ = build_example("sharded-vision", tmp_path / "src", format=source_format)
    convert(source, target, tmp_path / "out.tar")
    found = titles(tmp_path / "out.tar")
    assert len(found) == 4 and all(path == title for path, title in found)


@pytest.mark.parametrize("base_format", ["docker", "modelpack"])
def test_layers_from_a_base_in_the_other_format_keep_their_titles(tmp_path: Path, base_format: str) -> None:
    output = "modelpack" if base_format == "docker" else "docker"
    modelfile = tmp_path / "b" / "rebase" / "Modelfile"
    build_example("rebase", tmp_path / "b")  # lays out the folders
    api.build(tmp_path / "b" / "single-gguf" / "Modelfile", modelfile.parent / "base.tar", format=base_format)
    modelfile.write_text('FROM base.tar\nCHAT_TEMPLATE "chat template.jinja"\n')
    api.build(modelfile, tmp_path / "out.tar", format=output)
    assert titles(tmp_path / "out.tar") == [("tiny-llama-F32.gguf", "tiny-llama-F32.gguf"),
                                            ("LICENSE", "LICENSE"),
                                            ("chat template.jinja", "chat template.jinja")]


def test_a_peer_s_own_title_is_kept_when_a_layer_is_carried() -> None:
    """modelpack-client titles a layer with its whole path; another client may title it otherwise: a carried layer
    keeps the title it came with, and gets its path as title only when it had none."""
    carried = {FILEPATH: "sub/config.json"}
    assert docker.titled(carried, {TITLE: "a title"}, "sub/config.json")[TITLE] == "a title"
    assert docker.titled(carried, {}, "sub/config.json")[TITLE] == "sub/config.json"
