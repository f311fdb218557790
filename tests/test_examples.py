"""Every bundled example builds, validates against the OCI schemas, and is pinned by snapshots."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import pytest

from modeloci import api
from tests.archive_tools import EXAMPLE_NAMES, EXAMPLES, REPO, Archive, build_example, copy_example


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Archive]:
    root = tmp_path_factory.mktemp("examples")
    archives = {}
    for name in EXAMPLE_NAMES:
        output, _ = build_example(name, root / name)
        archives[name] = Archive.read(output)
    return archives


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_manifest_config_index_snapshots(built: dict[str, Archive], name: str, snapshot) -> None:
    archive = built[name]
    assert archive.manifest == snapshot(name="manifest")
    assert archive.config == snapshot(name="config")
    assert archive.index == snapshot(name="index")
    digests = {
        "manifest": "sha256:" + hashlib.sha256(archive.manifest_bytes).hexdigest(),
        "config": "sha256:" + hashlib.sha256(archive.config_bytes).hexdigest(),
    }
    assert digests == snapshot(name="digests")


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_plan_json_snapshot(tmp_path, name: str, snapshot) -> None:
    modelfile = copy_example(name, tmp_path)
    if name == "rebase":
        api.build(copy_example("single-gguf", tmp_path), modelfile.parent / "base.tar")
    plan = api.plan(modelfile, display="Modelfile")
    assert plan.to_json() == snapshot


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_archive_is_an_oci_layout_and_a_dmr_load_archive(built: dict[str, Archive], name: str) -> None:
    archive = built[name]
    layer_blobs = [f"blobs/sha256/{layer['digest'][7:]}" for layer in archive.manifest["layers"]]
    config_blob = f"blobs/sha256/{archive.manifest['config']['digest'][7:]}"
    manifest_blob = f"blobs/sha256/{archive.index['manifests'][0]['digest'][7:]}"
    expected = ["blobs", "blobs/sha256", *dict.fromkeys(layer_blobs), config_blob, manifest_blob,
                "index.json", "oci-layout", "manifest.json"]
    assert archive.names == expected
    assert archive.files["manifest.json"] == archive.manifest_bytes
    assert json.loads(archive.files["oci-layout"]) == {"imageLayoutVersion": "1.0.0"}
    for name_, data in archive.files.items():
        if name_.startswith("blobs/sha256/"):
            assert hashlib.sha256(data).hexdigest() == name_.rsplit("/", 1)[1]


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_docker_model_format_rules(built: dict[str, Archive], name: str) -> None:
    manifest, config = built[name].manifest, built[name].config
    assert "artifactType" not in manifest
    assert list(config) == ["config", "descriptor", "rootfs"]
    assert config["descriptor"] == {}  # no created time without SOURCE_DATE_EPOCH/--created
    assert config["rootfs"] == {"type": "rootfs", "diff_ids": [layer["digest"] for layer in manifest["layers"]]}
    for layer in manifest["layers"]:
        annotations = layer["annotations"]
        assert set(annotations) == {
            "org.cncf.model.filepath",
            "org.cncf.model.file.metadata+json",
            "org.cncf.model.file.mediatype.untested",
            "org.opencontainers.image.title",  # what oras names a pulled file from; DMR ignores it
        }
        assert annotations["org.opencontainers.image.title"] == annotations["org.cncf.model.filepath"]
        metadata = json.loads(annotations["org.cncf.model.file.metadata+json"])
        assert list(metadata) == ["name", "mode", "uid", "gid", "size", "mtime", "typeflag"]
        assert metadata["mode"] == 420 and metadata["uid"] == 0 and metadata["gid"] == 0
        assert metadata["size"] == layer["size"]
        assert metadata["mtime"] == "1970-01-01T00:00:00Z"


def test_layer_order_is_weights_in_shard_order_then_license_then_projector(built: dict[str, Archive]) -> None:
    layers = built["sharded-vision"].manifest["layers"]
    paths = [layer["annotations"]["org.cncf.model.filepath"] for layer in layers]
    assert paths == [
        "tiny-vision-00001-of-00002.gguf",
        "tiny-vision-00002-of-00002.gguf",
        "LICENSE.txt",
        "mmproj-tiny-vision-F16.gguf",
    ]
    assert [layer["mediaType"] for layer in layers] == [
        "application/vnd.docker.ai.gguf.v3",
        "application/vnd.docker.ai.gguf.v3",
        "application/vnd.docker.ai.license",
        "application/vnd.docker.ai.mmproj",
    ]


def test_rebase_keeps_base_layers_and_overrides_template_and_context(built: dict[str, Archive]) -> None:
    base, rebased = built["single-gguf"], built["rebase"]
    base_layers = {layer["mediaType"]: layer for layer in base.manifest["layers"]}
    new_layers = {layer["mediaType"]: layer for layer in rebased.manifest["layers"]}
    assert new_layers["application/vnd.docker.ai.gguf.v3"] == base_layers["application/vnd.docker.ai.gguf.v3"]
    assert new_layers["application/vnd.docker.ai.license"] == base_layers["application/vnd.docker.ai.license"]
    template = new_layers["application/vnd.docker.ai.chat.template.jinja"]
    assert template["annotations"]["org.cncf.model.filepath"] == "chat template.jinja"
    assert template["digest"] != base_layers["application/vnd.docker.ai.chat.template.jinja"]["digest"]
    assert base.config["config"]["context_size"] == 2048
    assert rebased.config["config"]["context_size"] == 8192
    # LABELs of the base are inherited and overridden key by key.
    assert rebased.manifest["annotations"] == {
        "org.opencontainers.image.description": "Tiny Llama with a system prompt",
        "org.opencontainers.image.licenses": "MIT",
    }


def test_example_weights_are_what_the_script_makes(tmp_path) -> None:
    """The committed GGUF files are exactly what examples/make_weights.py writes."""
    copy = tmp_path / "examples"
    for name in ("single-gguf", "sharded-vision"):
        (copy / name).mkdir(parents=True)
    (copy / "make_weights.py").write_bytes((EXAMPLES / "make_weights.py").read_bytes())
    subprocess.run([sys.executable, str(copy / "make_weights.py")], check=True)

    def weights(root):
        return sorted(p.relative_to(root) for p in root.rglob("*") if p.suffix in (".gguf", ".safetensors"))

    made, committed = weights(copy), weights(EXAMPLES)
    assert made == committed and len(made) == 5
    for rel in made:
        assert (copy / rel).read_bytes() == (EXAMPLES / rel).read_bytes(), rel


def test_example_safetensors_are_real_safetensors() -> None:
    safetensors = pytest.importorskip("safetensors",
                                      reason="safetensors is a test dependency: pip install -e '.[test]'")
    path = EXAMPLES / "hf-safetensors" / "tiny-qwen" / "model.safetensors"
    with safetensors.safe_open(str(path), framework="numpy") as f:
        assert sorted(f.keys()) == ["model.embed_tokens.weight", "model.norm.weight"]
        assert f.metadata() == {"format": "pt"}


def test_hf_example_is_layer_per_file(built: dict[str, Archive]) -> None:
    manifest = built["hf-safetensors"].manifest
    assert manifest["config"]["mediaType"] == "application/vnd.docker.ai.model.config.v0.2+json"
    paths = [layer["annotations"]["org.cncf.model.filepath"] for layer in manifest["layers"]]
    assert paths == ["model.safetensors", "config.json", "generation_config.json", "tokenizer.json",
                     "tokenizer_config.json", "LICENSE", "chat_template.jinja"]
    config = built["hf-safetensors"].config["config"]
    assert (config["format"], config["architecture"], config["context_size"]) == ("safetensors", "qwen3", 32768)


def test_example_weights_are_real_gguf() -> None:
    gguf = pytest.importorskip("gguf", reason="the gguf package is a test dependency: pip install -e '.[test]'")
    for path in sorted(EXAMPLES.glob("*/*.gguf")):
        reader = gguf.GGUFReader(path)
        assert reader.tensors, path
        assert bytes(reader.fields["general.architecture"].parts[-1]).decode() in {"llama", "clip"}


def test_readme_examples_exist() -> None:
    readme = (REPO / "README.md").read_text()
    for name in EXAMPLE_NAMES:
        assert f"examples/{name}/Modelfile" in readme
