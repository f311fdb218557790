"""`FROM` a container image: its layers first, as they are; its config kept; the model's layers on top."""

from __future__ import annotations

import io
import json
import os
import stat
import tarfile
from pathlib import Path

import pytest

from modeloci import api
from tests.modelcar.helpers import EPOCH, read, single_gguf, umoci_unpack
from tests.modelcar.images import CONFIG, SHELL, write_image


def _on_base(tmp_path: Path) -> Path:
    modelfile = single_gguf(tmp_path)
    write_image(modelfile.parent / "base")
    modelfile.write_text(modelfile.read_text().replace("FROM scratch", "FROM base"))
    return modelfile


def test_a_modelcar_from_a_container_image_keeps_its_layers_and_config(tmp_path: Path) -> None:
    modelfile = _on_base(tmp_path)
    base_index = json.loads((modelfile.parent / "base" / "index.json").read_text())
    blobs = modelfile.parent / "base" / "blobs" / "sha256"
    base_manifest = json.loads((blobs / base_index["manifests"][0]["digest"][7:]).read_text())
    base_config = json.loads((blobs / base_manifest["config"]["digest"][7:]).read_text())
    archive = read(api.build(modelfile, tmp_path / "car.tar", format="modelcar", created=EPOCH).output)
    layers, config = archive.manifest["layers"], archive.config
    assert layers[:2] == base_manifest["layers"]  # carried as they are, the gzip one too
    assert [layer["annotations"]["org.cncf.model.filepath"] for layer in layers[2:]] == [
        "tiny-llama-F32.gguf", "LICENSE", "chat_template.jinja"]
    assert config["rootfs"]["diff_ids"] == base_config["rootfs"]["diff_ids"] + [d["digest"] for d in layers[2:]]
    assert (config["config"]["Entrypoint"], config["config"]["Env"]) == (CONFIG["Entrypoint"], CONFIG["Env"])
    assert config["config"]["Labels"]["org.opencontainers.image.vendor"] == "base-vendor"
    assert config["config"]["Labels"]["org.cncf.model.format"] == "gguf"
    assert [h["created_by"] for h in config["history"]] == [
        "ADD sh /bin/sh", "ENV PATH=/bin", "ADD motd /etc/motd", "modeloci: /models/tiny-llama-F32.gguf",
        "modeloci: /models/LICENSE", "modeloci: /models/chat_template.jinja"]
    assert (config["architecture"], config["os"]) == ("amd64", "linux")
    assert api.verify(tmp_path / "car.tar").problems == []


def test_umoci_unpacks_the_base_s_files_and_the_model_s_together(tmp_path: Path) -> None:
    modelfile = _on_base(tmp_path)
    api.build(modelfile, layout=tmp_path / "layout", format="modelcar", created=EPOCH, reference="tiny:sidecar")
    rootfs = umoci_unpack(tmp_path / "layout", "tiny:sidecar", tmp_path / "bundle")
    assert (rootfs / "bin" / "sh").read_bytes() == SHELL
    assert (rootfs / "etc" / "motd").read_bytes() == b"hello from the base \n"
    for name in ("tiny-llama-F32.gguf", "LICENSE", "chat_template.jinja"):
        assert (rootfs / "models" / name).read_bytes() == (modelfile.parent / name).read_bytes()
        assert stat.S_IMODE((rootfs / "models" / name).stat().st_mode) == 0o444
    os.chmod(rootfs / "models", 0o755)


def test_a_modelcar_on_a_modelcar_replaces_its_weights_and_keeps_its_base(tmp_path: Path) -> None:
    """FROM a modelcar built on an image: new weights replace the old (layer and history entry), the image and
    the other model files stay."""
    modelfile = _on_base(tmp_path)
    api.build(modelfile, modelfile.parent / "first.tar", format="modelcar", created=EPOCH)
    weights = modelfile.parent / "tiny-llama-F32.gguf"
    (modelfile.parent / "other.gguf").write_bytes(weights.read_bytes())
    modelfile.write_text("FROM first.tar\nWEIGHTS other.gguf\n")
    archive = read(api.build(modelfile, tmp_path / "second.tar", format="modelcar", created=EPOCH).output)
    paths = [layer.get("annotations", {}).get("org.cncf.model.filepath") for layer in archive.manifest["layers"]]
    assert paths == [None, None, "other.gguf", "LICENSE", "chat_template.jinja"]
    assert [h["created_by"] for h in archive.config["history"]] == [
        "ADD sh /bin/sh", "ENV PATH=/bin", "ADD motd /etc/motd", "modeloci: /models/LICENSE",
        "modeloci: /models/chat_template.jinja", "modeloci: /models/other.gguf"]
    assert api.verify(tmp_path / "second.tar").problems == []


def test_a_docker_model_base_becomes_tar_layers_around_its_files(tmp_path: Path) -> None:
    modelfile = single_gguf(tmp_path)
    api.build(modelfile, modelfile.parent / "docker.tar", created=EPOCH)
    modelfile.write_text("FROM docker.tar\nCONFIG context_size=4096\n")
    archive = read(api.build(modelfile, tmp_path / "car.tar", format="modelcar", created=EPOCH).output)
    for layer in archive.manifest["layers"]:
        name = layer["annotations"]["org.cncf.model.filepath"]
        blob = archive.files[f"blobs/sha256/{layer['digest'][7:]}"]
        with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
            extracted = tar.extractfile(f"models/{name}")
            assert extracted is not None and extracted.read() == (modelfile.parent / name).read_bytes()
    assert archive.config["config"]["Labels"]["org.modeloci.model.context_size"] == "4096"
    assert api.verify(tmp_path / "car.tar").problems == []


def test_a_container_image_passes_the_store_s_checks_only_as_a_modelcar_base(tmp_path: Path) -> None:
    """What a pull of a FROM base into the store may ask for (images=True); any other caller still refuses an
    image that holds no model."""
    from modeloci.errors import ArchiveError
    from modeloci.formats.validate import refuse_unverified
    from modeloci.oci.layout import open_layout

    image = write_image(tmp_path / "base")
    with open_layout(image) as layout:
        refuse_unverified(layout, "base", verb="store", hint="", images=True)
        with pytest.raises(ArchiveError) as refused:
            refuse_unverified(layout, "base", verb="store", hint="")
    assert refused.value.message == ("refusing to store `base`: the config media type "
                                     "`application/vnd.oci.image.config.v1+json` is not a model config")


def test_a_base_image_whose_config_lies_about_a_gzip_layer_s_diff_id_is_refused(tmp_path: Path, cli) -> None:
    """The diff_ids are carried into the modelcar's config: a gzip layer's is checked (the tar inside hashed,
    within the inflate bound) before it is, so the build never writes a config that lies."""
    modelfile = _on_base(tmp_path)
    base = modelfile.parent / "base"
    index = json.loads((base / "index.json").read_text())
    blobs = base / "blobs" / "sha256"
    manifest = json.loads((blobs / index["manifests"][0]["digest"][7:]).read_text())
    config = json.loads((blobs / manifest["config"]["digest"][7:]).read_text())
    truth = config["rootfs"]["diff_ids"][1]
    lie = "sha256:" + "2" * 64
    config["rootfs"]["diff_ids"][1] = lie
    data = json.dumps(config).encode()
    manifest["config"] |= {"digest": _put(blobs, data), "size": len(data)}
    data = json.dumps(manifest).encode()
    index["manifests"][0] |= {"digest": _put(blobs, data), "size": len(data)}
    (base / "index.json").write_text(json.dumps(index))
    result = cli("build", "-f", str(modelfile), "--format", "modelcar", "-o", str(tmp_path / "car.tar"))
    assert (result.code, result.stdout) == (2, "")
    assert result.stderr == (
        f"error[MF057]: Cannot use `base` as a base\n --> {modelfile}:5:6\n  |\n5 | FROM base\n"
        f"  |      ^^^^ not a readable model archive\n  |\n"
        f"  = rootfs.diff_ids[1] is {lie}, but layer 2 holds a tar of digest {truth}\n"
        "help: run `modeloci verify base` to list every problem\n\nerror: 1 problem in the Modelfile\n")
    assert not (tmp_path / "car.tar").exists()


def _put(blobs: Path, data: bytes) -> str:
    import hashlib

    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    (blobs / digest[7:]).write_bytes(data)
    return digest
