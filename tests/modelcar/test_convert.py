"""`convert` to and from a modelcar: tar layers made around the raw files, or the files copied out of them, while
streaming; the same model comes back byte for byte."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from modeloci import api
from modeloci.errors import ModelociError
from modeloci.ops.convert import convert
from tests.archive_tools import copy_example
from tests.modelcar.helpers import EPOCH, build_modelcar, single_gguf
from tests.modelcar.hostile import built_layout, replace_layer
from tests.modelcar.images import write_image

GGUF = "tiny-llama-F32.gguf"


def test_docker_to_modelcar_and_back_gives_the_same_models(tmp_path: Path) -> None:
    modelfile = single_gguf(tmp_path)
    docker = api.build(modelfile, tmp_path / "docker.tar", created=EPOCH, reference="tiny:f32")
    direct = build_modelcar(modelfile, tmp_path / "direct.tar", reference="tiny:f32")
    car = convert(tmp_path / "docker.tar", "modelcar", tmp_path / "car.tar")
    assert (car.source_format, car.target_format, car.warnings) == ("docker", "modelcar", [])
    assert car.result.manifest.digest == direct.manifest.digest
    back = convert(tmp_path / "car.tar", "docker", tmp_path / "back.tar")
    assert back.result.manifest.digest == docker.manifest.digest
    pack = convert(tmp_path / "car.tar", "modelpack", tmp_path / "pack.tar")
    assert pack.result.manifest.digest == convert(tmp_path / "docker.tar", "modelpack",
                                                  tmp_path / "pack2.tar").result.manifest.digest
    assert convert(tmp_path / "pack.tar", "modelcar", tmp_path / "car2.tar").result.manifest.digest \
        == direct.manifest.digest
    for out in ("car.tar", "back.tar", "pack.tar", "car2.tar"):
        assert api.verify(tmp_path / out).problems == []


def test_converting_a_modelcar_whose_file_digest_annotation_lies_is_refused(tmp_path: Path) -> None:
    layout = built_layout(tmp_path)
    lie = "sha256:" + "1" * 64
    replace_layer(layout, 0, annotations={"org.modeloci.file.digest": lie})
    with pytest.raises(ModelociError) as refused:
        convert(layout, "docker", tmp_path / "out.tar")
    assert refused.value.message == (f"reading {GGUF} of `{layout}`: content does not match its digest {lie}")
    assert not (tmp_path / "out.tar").exists()


def _without_file_digests(tmp_path: Path) -> Path:
    """An olot-style modelcar: its layers name no file digest."""
    layout = built_layout(tmp_path)
    for number in range(3):
        replace_layer(layout, number, drop=("org.modeloci.file.digest",))
    return layout


def test_a_modelcar_without_file_digests_is_checked_by_its_layer_digests(tmp_path: Path) -> None:
    """Each file's digest is found in the one read that checks its layer's."""
    layout = _without_file_digests(tmp_path)
    docker = api.build(single_gguf(tmp_path / "again"), tmp_path / "docker.tar", created=EPOCH, reference="tiny:car")
    assert convert(layout, "docker", tmp_path / "back.tar").result.manifest.digest == docker.manifest.digest


def test_a_changed_layer_without_a_file_digest_is_refused_by_convert(tmp_path: Path) -> None:
    layout = _without_file_digests(tmp_path)
    index = json.loads((layout / "index.json").read_text())
    manifest = json.loads((layout / "blobs" / "sha256" / index["manifests"][0]["digest"][7:]).read_text())
    digest = manifest["layers"][0]["digest"]
    blob = layout / "blobs" / "sha256" / digest[7:]
    data = bytearray(blob.read_bytes())
    data[2048] ^= 0xFF  # a byte of the GGUF inside the tar: same size, other content
    blob.write_bytes(bytes(data))
    with pytest.raises(ModelociError) as refused:
        convert(layout, "docker", tmp_path / "out.tar")
    assert refused.value.message == f"reading layer {digest} ({GGUF}): content does not match its digest {digest}"
    assert not (tmp_path / "out.tar").exists()


def test_converting_a_modelcar_on_an_image_to_a_model_format_says_the_image_is_not_kept(tmp_path: Path) -> None:
    modelfile = single_gguf(tmp_path)
    write_image(modelfile.parent / "base")
    modelfile.write_text(modelfile.read_text().replace("FROM scratch", "FROM base"))
    api.build(modelfile, tmp_path / "car.tar", format="modelcar", created=EPOCH)
    docker = convert(tmp_path / "car.tar", "docker", tmp_path / "docker.tar")
    assert docker.warnings == ["the 2 layers of the container image under the model are not kept: docker holds "
                               "model files only"]
    assert [d.annotations["org.cncf.model.filepath"] for d in docker.result.layers] == [
        GGUF, "LICENSE", "chat_template.jinja"]
    assert api.verify(tmp_path / "docker.tar").problems == []


def test_a_compressed_modelcar_layer_is_refused_by_convert_with_a_way_out(
        tmp_path: Path, skopeo: Callable[..., str]) -> None:
    build_modelcar(single_gguf(tmp_path), tmp_path / "car.tar", reference="tiny:car")
    skopeo("copy", "--quiet", f"oci-archive:{tmp_path / 'car.tar'}", f"oci:{tmp_path / 'gz'}:tiny")
    with pytest.raises(ModelociError) as refused:
        convert(tmp_path / "gz", "docker", tmp_path / "out.tar")
    assert refused.value.message.endswith(f"({GGUF}) is compressed (`application/vnd.oci.image.layer.v1.tar+gzip`): "
                                          "its file is not a byte range of it")
    assert refused.value.hint == "unpack it (`modeloci unpack SOURCE -o DIR --layout files`) and build from its files"
    assert not (tmp_path / "out.tar").exists()


def test_a_hugging_face_folder_goes_to_a_modelcar_and_back_with_its_facts(tmp_path: Path) -> None:
    """The facts a safetensors model takes from its config.json (architecture, context) are read out of the
    modelcar's tar layer too: the round trip gives the Docker model back byte for byte."""
    modelfile = copy_example("hf-safetensors", tmp_path)
    docker = api.build(modelfile, tmp_path / "docker.tar", created=EPOCH, reference="qwen:1")
    direct = api.build(modelfile, tmp_path / "direct.tar", format="modelcar", created=EPOCH, reference="qwen:1")
    car = convert(tmp_path / "docker.tar", "modelcar", tmp_path / "car.tar")
    assert car.result.manifest.digest == direct.manifest.digest
    assert convert(tmp_path / "car.tar", "docker", tmp_path / "back.tar").result.manifest.digest \
        == docker.manifest.digest
