"""`build --format modelcar` FROM scratch: an OCI image with each model file in a tar layer of its own under
/models, read by umoci and skopeo, reproducible, and pinned by snapshots."""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import tarfile
from pathlib import Path

import pytest

from modeloci import api
from modeloci.blobs import engine, sinks
from modeloci.formats import modelcar
from tests.archive_tools import copy_example
from tests.modelcar.helpers import EPOCH, build_modelcar, read, single_gguf, umoci_unpack
from tests.test_conformance import SCHEMAS, _validator

FILES = ("tiny-llama-F32.gguf", "LICENSE", "chat_template.jinja")
config_type = "application/vnd.oci.image.config.v1+json"


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def test_manifest_and_config_are_pinned(tmp_path: Path, snapshot, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    modelfile = single_gguf(tmp_path)
    archive = read(build_modelcar(modelfile, tmp_path / "car.tar", reference="tiny:car").output)
    assert archive.manifest == snapshot(name="manifest")
    assert archive.config == snapshot(name="config")
    assert archive.index == snapshot(name="index")


def test_each_file_is_one_uncompressed_tar_layer_under_models_with_fixed_metadata(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1234567")
    modelfile = single_gguf(tmp_path)
    archive = read(build_modelcar(modelfile, tmp_path / "car.tar").output)
    config, manifest = archive.config, archive.manifest
    assert (config["architecture"], config["os"], config["rootfs"]["type"]) == ("amd64", "linux", "layers")
    assert config["rootfs"]["diff_ids"] == [layer["digest"] for layer in manifest["layers"]]
    assert [h["created_by"] for h in config["history"]] == [f"modeloci: /models/{name}" for name in FILES]
    assert "artifactType" not in manifest  # a container image; its index entry names its config's type, as the
    assert archive.index["manifests"][0]["artifactType"] == config_type  # store's and a pull's entries do
    for name, layer in zip(FILES, manifest["layers"], strict=True):
        data = (modelfile.parent / name).read_bytes()
        assert layer["mediaType"] == "application/vnd.oci.image.layer.v1.tar"
        assert layer["annotations"]["org.cncf.model.filepath"] == name
        assert layer["annotations"][modelcar.ANNOTATION_FILE_DIGEST] == _sha(data)
        blob = archive.files[f"blobs/sha256/{layer['digest'][7:]}"]
        assert (len(blob), _sha(blob)) == (layer["size"], layer["digest"])
        with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
            members = tar.getmembers()
            assert [(m.name, m.mode, m.uid, m.gid, m.uname, m.gname, m.mtime) for m in members] == [
                ("models", 0o555, 0, 0, "", "", 1234567), (f"models/{name}", 0o444, 0, 0, "", "", 1234567)]
            extracted = tar.extractfile(members[1])
            assert extracted is not None and extracted.read() == data


def test_facts_are_labels_and_manifest_annotations(tmp_path: Path) -> None:
    archive = read(build_modelcar(single_gguf(tmp_path), tmp_path / "car.tar", reference="tiny:car").output)
    facts = {"org.cncf.model.architecture": "llama", "org.cncf.model.format": "gguf",
             "org.cncf.model.name": "tiny", "org.cncf.model.precision": "float32",
             "org.modeloci.model.context_size": "2048"}
    labels, annotations = archive.config["config"]["Labels"], archive.manifest["annotations"]
    assert facts.items() <= labels.items() and facts.items() <= annotations.items()
    description = "Tiny Llama, a few-KB GGUF for trying modeloci"
    assert labels["org.opencontainers.image.description"] == annotations["org.opencontainers.image.description"] \
        == description


def test_the_same_file_gives_the_same_layer_in_every_modelcar(tmp_path: Path) -> None:
    """Another model, built at another time, with the same license: its license layer is the same blob."""
    first = read(build_modelcar(single_gguf(tmp_path / "a"), tmp_path / "a.tar", created=EPOCH).output)
    other = single_gguf(tmp_path / "b")
    (other.parent / "chat_template.jinja").write_text("{{ messages[0]['content'] }}")
    second = read(build_modelcar(other, tmp_path / "b.tar", created=EPOCH + 86400).output)
    digests = [{layer["annotations"]["org.cncf.model.filepath"]: layer["digest"] for layer in a.manifest["layers"]}
               for a in (first, second)]
    assert digests[0]["LICENSE"] == digests[1]["LICENSE"]
    assert digests[0]["tiny-llama-F32.gguf"] == digests[1]["tiny-llama-F32.gguf"]
    assert digests[0]["chat_template.jinja"] != digests[1]["chat_template.jinja"]
    assert first.manifest != second.manifest


def test_the_same_inputs_give_the_same_bytes_and_a_warm_cache_the_same_annotations(tmp_path: Path) -> None:
    modelfile = single_gguf(tmp_path)  # the API's digest cache is the test's own (XDG_CACHE_HOME), empty at first
    cold = build_modelcar(modelfile, tmp_path / "cold.tar", cache=True)
    warm = build_modelcar(modelfile, tmp_path / "warm.tar", cache=True)
    plain = build_modelcar(modelfile, tmp_path / "plain.tar", cache=False)
    assert (tmp_path / "cold.tar").read_bytes() == (tmp_path / "warm.tar").read_bytes() \
        == (tmp_path / "plain.tar").read_bytes()
    assert cold.manifest.digest == warm.manifest.digest == plain.manifest.digest


def test_plan_shows_the_tar_layers(tmp_path: Path) -> None:
    compiled = api.plan(single_gguf(tmp_path), format="modelcar", created=EPOCH)
    layers = compiled.to_json()["layers"]
    assert [(layer["filepath"], layer["media_type"]) for layer in layers] == [
        (name, "application/vnd.oci.image.layer.v1.tar") for name in FILES]
    assert [layer["file_size"] for layer in layers] == [
        (compiled.context / name).stat().st_size for name in FILES]
    assert [layer["size"] for layer in layers] == [3584, 3584, 2560]
    assert compiled.config_media_type == "application/vnd.oci.image.config.v1+json"


def test_a_layout_copy_is_a_modelcar_as_the_archive_is(tmp_path: Path) -> None:
    modelfile = single_gguf(tmp_path)
    archive = build_modelcar(modelfile, tmp_path / "car.tar")
    layout = api.build(modelfile, layout=tmp_path / "layout", format="modelcar", created=EPOCH)
    assert layout.manifest.digest == archive.manifest.digest


def test_umoci_unpacks_every_file_byte_for_byte_with_its_modes(tmp_path: Path) -> None:
    modelfile = single_gguf(tmp_path)
    api.build(modelfile, layout=tmp_path / "layout", format="modelcar", created=EPOCH, reference="tiny:car")
    rootfs = umoci_unpack(tmp_path / "layout", "tiny:car", tmp_path / "bundle")
    assert sorted(p.name for p in (rootfs / "models").iterdir()) == sorted(FILES)
    assert stat.S_IMODE((rootfs / "models").stat().st_mode) == 0o555
    for name in FILES:
        unpacked = rootfs / "models" / name
        assert unpacked.read_bytes() == (modelfile.parent / name).read_bytes()
        assert stat.S_IMODE(unpacked.stat().st_mode) == 0o444
    os.chmod(rootfs / "models", 0o755)  # let pytest remove it


def test_a_folder_of_files_unpacks_at_their_paths(tmp_path: Path) -> None:
    """A Hugging Face folder: every file under models/<its path>, byte for byte; folders 0555 (umoci)."""
    copy_example("hf-safetensors", tmp_path)
    modelfile = tmp_path / "hf-safetensors" / "Modelfile"
    nested = modelfile.parent / "tiny-qwen" / "extra" / "deeper" / "notes.json"
    nested.parent.mkdir(parents=True)
    nested.write_text('{"nested": true}')
    compiled = api.plan(modelfile, format="modelcar", created=EPOCH, reference="hf:car")
    api.build(modelfile, layout=tmp_path / "layout", format="modelcar", created=EPOCH, reference="hf:car")
    rootfs = umoci_unpack(tmp_path / "layout", "hf:car", tmp_path / "bundle")
    expected = {layer.filepath: (compiled.context / layer.source.path).read_bytes() for layer in compiled.layers}
    assert any("/" in path for path in expected)
    found = {str(p.relative_to(rootfs / "models")): p.read_bytes() for p in (rootfs / "models").rglob("*")
             if p.is_file()}
    assert found == expected
    folders = [rootfs / "models", *(p for p in (rootfs / "models").rglob("*") if p.is_dir())]
    assert {stat.S_IMODE(folder.stat().st_mode) for folder in folders} == {0o555}
    for folder in folders:
        os.chmod(folder, 0o755)  # let pytest remove it


def test_manifest_index_and_layout_match_the_oci_schemas(tmp_path: Path, shared: Path) -> None:
    archive = read(build_modelcar(single_gguf(tmp_path), tmp_path / "car.tar", reference="tiny:car").output)
    for schema_name, doc in zip(SCHEMAS, (archive.manifest, archive.index, archive.json("oci-layout")), strict=True):
        errors = sorted(_validator(shared, schema_name).iter_errors(doc), key=str)
        assert not errors, f"{schema_name}: {[e.message for e in errors]}"


def test_sign_refuses_a_modelcar_rather_than_sign_its_tars_as_its_files(tmp_path: Path, cli) -> None:
    """An OpenSSF Model Signing signature names each file's digest: a modelcar's layer digests are its tars'."""
    modelfile = single_gguf(tmp_path)
    (tmp_path / "key.pem").write_text("not read: the format is refused first")
    result = cli("build", "-f", str(modelfile), "--format", "modelcar", "-o", str(tmp_path / "car.tar"), "--sign",
                 str(tmp_path / "key.pem"))
    assert (result.code, result.stdout) == (2, "")
    assert result.stderr == ("error: --sign does not sign a modelcar yet\nhelp: sign a build of the same files in "
                             "Docker's format or ModelPack's (`--format docker`)\n")
    assert not (tmp_path / "car.tar").exists()


def test_the_bill_of_materials_of_a_modelcar_names_each_file_by_its_own_digest(tmp_path: Path, cli) -> None:
    """Not by its tar's: the BOM describes the files; the license is read and recognised as for any format."""
    modelfile = single_gguf(tmp_path)
    result = cli("build", "-f", str(modelfile), "--format", "modelcar", "-o", str(tmp_path / "car.tar"), "--sbom")
    assert result.code == 0, result.stderr
    archive = read(tmp_path / "car.tar")
    boms = [json.loads(data) for name, data in archive.files.items()
            if name.startswith("blobs/") and data.startswith(b"{") and b'"bomFormat"' in data]
    (bom,) = boms
    files = {c["name"]: c["hashes"][0]["content"] for c in bom["components"][0]["components"]}
    assert files == {name: hashlib.sha256((modelfile.parent / name).read_bytes()).hexdigest() for name in FILES}
    assert [lic["license"]["id"] for lic in bom["components"][0]["licenses"]] == ["MIT"]


def test_a_modelcar_after_a_docker_build_hashes_only_its_tars_and_gives_the_same_bytes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The digest cache knows the files from the Docker-format build: each tar is hashed alone (one hash, not
    two), and the annotations still carry the files' digests."""
    modelfile = single_gguf(tmp_path)  # the API's digest cache is the test's own (XDG_CACHE_HOME), empty at first
    api.build(modelfile, tmp_path / "docker.tar", created=EPOCH, cache=True)
    reads: list[tuple[int, int]] = []
    real = engine.hash_wrapped

    def counting(source, *args, **kwargs):
        reads.append((source.size, source.cached_range is not None))
        return real(source, *args, **kwargs)

    monkeypatch.setattr(sinks, "hash_wrapped", counting)
    build_modelcar(modelfile, tmp_path / "warm.tar", cache=True)
    build_modelcar(modelfile, tmp_path / "cold.tar", cache=False)
    assert (tmp_path / "warm.tar").read_bytes() == (tmp_path / "cold.tar").read_bytes()
    sizes = sorted((modelfile.parent / name).stat().st_size for name in FILES)
    assert sorted(reads) == sorted([(size, True) for size in sizes] + [(size, False) for size in sizes])
