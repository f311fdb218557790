"""`unpack` of a modelcar writes the model's files (not the container image's under it), byte for byte."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from modeloci import api
from modeloci.ops.unpack import unpack
from tests.modelcar.helpers import EPOCH, build_modelcar, single_gguf
from tests.modelcar.images import write_image

FILES = ("tiny-llama-F32.gguf", "LICENSE", "chat_template.jinja")


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_unpack_writes_the_model_files_of_a_modelcar_on_an_image_and_not_the_image_s(tmp_path: Path) -> None:
    modelfile = single_gguf(tmp_path)
    write_image(modelfile.parent / "base")
    modelfile.write_text(modelfile.read_text().replace("FROM scratch", "FROM base"))
    api.build(modelfile, tmp_path / "car.tar", format="modelcar", created=EPOCH)
    report = unpack(tmp_path / "car.tar", tmp_path / "files", layout="files")
    assert _files(tmp_path / "files") == {name: (modelfile.parent / name).read_bytes() for name in FILES}
    assert [(f.path, f.size) for f in report.files] == [(name, (modelfile.parent / name).stat().st_size)
                                                         for name in FILES]
    api.unpack(tmp_path / "car.tar", tmp_path / "bundle")
    found = _files(tmp_path / "bundle")
    config = json.loads(found.pop("config.json"))
    assert found == {f"model/{name}": (modelfile.parent / name).read_bytes() for name in FILES}
    assert (config["format"], config["architecture"]) == ("gguf", "llama")


def test_a_modelcar_whose_layers_skopeo_compressed_unpacks_the_same_files(
        tmp_path: Path, skopeo: Callable[..., str]) -> None:
    """skopeo copy without --preserve-digests gzips a container image's layers: still the same model files."""
    modelfile = single_gguf(tmp_path)
    build_modelcar(modelfile, tmp_path / "car.tar", reference="tiny:car")
    skopeo("copy", "--quiet", f"oci-archive:{tmp_path / 'car.tar'}", f"oci:{tmp_path / 'gz'}:tiny")
    index = json.loads((tmp_path / "gz" / "index.json").read_text())
    manifest = json.loads((tmp_path / "gz" / "blobs" / "sha256" / index["manifests"][0]["digest"][7:]).read_text())
    assert {layer["mediaType"] for layer in manifest["layers"]} == {"application/vnd.oci.image.layer.v1.tar+gzip"}
    assert api.verify(tmp_path / "gz").problems == []
    api.unpack(tmp_path / "gz", tmp_path / "files", layout="files")
    assert _files(tmp_path / "files") == {name: (modelfile.parent / name).read_bytes() for name in FILES}
