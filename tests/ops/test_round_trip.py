"""One model, two formats, the same bytes however it got there.

`convert` and `build --format modelpack` of the same model once gave different ModelPack descriptors (only the
build said the tag as `descriptor.version`), and ModelPack -> Docker -> ModelPack gave the model back with an
`org.opencontainers.image.version` label it never had. Where both formats can hold what a model says, a round
trip through the other format returns the same bytes.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from modeloci import api
from modeloci.ops.convert import convert
from tests.archive_tools import EXAMPLE_NAMES, Archive, build_example

# A CONFIG context_size other than the weights' own (sharded-vision's 1024, rebase's 8192) has no place in
# ModelPack: it is named in a warning, and the round trip cannot give it back.
HOLDS_IN_BOTH = ["single-gguf", "hf-safetensors"]


@pytest.mark.parametrize(("name", "reference"), [
    *((name, reference) for name in EXAMPLE_NAMES for reference in ("ai/x:1", "ai/x:latest")),
    ("single-gguf", None),  # named by the weights' general.name (a build without one names it by its folder)
])
def test_convert_gives_what_build_format_modelpack_gives(tmp_path: Path, name: str, reference: str | None) -> None:
    docker, _ = build_example(name, tmp_path / "d", reference=reference)
    built, _ = build_example(name, tmp_path / "m", format="modelpack", output=tmp_path / "built.tar",
                             reference=reference)
    convert(docker, "modelpack", tmp_path / "converted.tar")
    assert Archive.read(tmp_path / "converted.tar").config == Archive.read(built).config
    assert (tmp_path / "converted.tar").read_bytes() == built.read_bytes()


@pytest.mark.parametrize(("name", "reference"), [
    *((name, "ai/x:1") for name in EXAMPLE_NAMES),
    ("single-gguf", None),  # its name comes back from the weights' general.name
])
def test_modelpack_to_docker_to_modelpack_returns_the_same_bytes(tmp_path: Path, name: str,
                                                                  reference: str | None) -> None:
    original, _ = build_example(name, tmp_path / "m", format="modelpack", reference=reference)
    there = convert(original, "docker", tmp_path / "docker.tar")
    back = convert(tmp_path / "docker.tar", "modelpack", tmp_path / "back.tar")
    assert Archive.read(tmp_path / "back.tar").manifest == Archive.read(original).manifest
    assert (tmp_path / "back.tar").read_bytes() == original.read_bytes()
    assert there.warnings == [] and "org.opencontainers.image.version" not in (
        Archive.read(tmp_path / "docker.tar").manifest.get("annotations", {}))
    assert [w for w in back.warnings if "context_size" in w] == []


@pytest.mark.parametrize("name", HOLDS_IN_BOTH)
def test_docker_to_modelpack_to_docker_returns_the_same_bytes(tmp_path: Path, name: str) -> None:
    original, _ = build_example(name, tmp_path / "d", reference="ai/x:2")
    convert(original, "modelpack", tmp_path / "mp.tar")
    convert(tmp_path / "mp.tar", "docker", tmp_path / "back.tar")
    assert (tmp_path / "back.tar").read_bytes() == original.read_bytes()


def test_a_label_a_round_trip_cannot_say_otherwise_is_kept(tmp_path: Path) -> None:
    """A descriptor field the tag does not say (a version that is not the tag) still becomes a label."""
    build_example("single-gguf", tmp_path / "src")
    modelfile = tmp_path / "src" / "single-gguf" / "Modelfile"
    api.build(modelfile, tmp_path / "mp.tar", format="modelpack", reference="ai/x:1")
    doc = Archive.read(tmp_path / "mp.tar")
    assert doc.config["descriptor"]["version"] == "1"
    convert(tmp_path / "mp.tar", "docker", tmp_path / "d.tar", reference="ai/x:2")
    labels = Archive.read(tmp_path / "d.tar").manifest["annotations"]
    assert labels["org.opencontainers.image.version"] == "1"


def test_a_name_only_the_modelpack_config_holds_is_named_when_it_is_lost(tmp_path: Path) -> None:
    """An untagged ModelPack model named after its folder: Docker's format has no name but the tag, so converting
    it says so instead of dropping it silently."""
    original, _ = build_example("hf-safetensors", tmp_path / "m", format="modelpack")
    assert Archive.read(original).config["descriptor"]["name"] == "hf-safetensors"
    there = convert(original, "docker", tmp_path / "docker.tar")
    assert there.warnings == ["descriptor.name is not kept: Docker's model format has no field for it"]
