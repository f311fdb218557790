"""CNCF ModelPack output: the spec's golden vector, the schema, and the grammar the schema does not enforce."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from modeloci import api
from modeloci.formats import modelpack as mp
from modeloci.oci.digest import Digest
from modeloci.oci.manifest import Descriptor
from tests.archive_tools import EXAMPLE_NAMES, Archive, build_example
from tests.test_conformance import _validator

# The grammar of the spec's paramSize and precision, which its JSON schema does not enforce.
PARAM_SIZE = re.compile(r"^\d+(\.\d)?[QqTtBbMmKk]$")
PRECISIONS = frozenset({
    "float32", "float64", "float16", "bfloat16", "float8_e4m3", "float8_e5m2", "complex32", "complex64",
    "complex128", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "bool",
})


def test_golden_vector_from_the_reference() -> None:
    """REFERENCE.md §2.5: config 414 B and manifest 1417 B, byte for byte."""
    files = [("config.json", b'{"model_type":"qwen3","torch_dtype":"bfloat16"}\n', mp.WEIGHT_CONFIG),
             ("model.safetensors", b"\x08" + b"\x00" * 7 + b"{}" + b" " * 6, mp.WEIGHT),
             ("README.md", b"# demo\n", mp.DOC)]
    # modeloci adds the title oras names a pulled file from (tests/formats/test_titles.py); the vector has none.
    layers = [Descriptor(media_type, Digest.of(data), len(data),
                         {k: v for k, v in mp.layer_annotations(name, len(data), 0).items()
                          if k != "org.opencontainers.image.title"})
              for name, data, media_type in files]
    config = mp.config_blob({"family": "qwen3", "name": "demo"},
                            {"architecture": "transformer", "format": "safetensors", "paramSize": "0.6B",
                             "precision": "bfloat16"}, [layer.digest for layer in layers])
    assert (len(config.data), str(config.digest)) == (
        414, "sha256:ba373fb6987ae50338b491f5e94857134175312f116907257852cb11efd5950b")
    manifest = mp.manifest_blob(config.descriptor(), layers)
    assert (len(manifest.data), str(manifest.digest)) == (
        1417, "sha256:f926624108583358fb065108b6cc869b8516cc7eb1953069f14050be0152cffc")


@pytest.mark.parametrize(("count", "text"), [
    (8_030_261_248, "8.0B"), (494_032_768, "494.0M"), (183, "0.2K"), (1000, "1.0K"), (1_000_000_000_000, "1.0T"),
    (0, None),
])
def test_param_size(count: int, text: str | None) -> None:
    assert mp.param_size(count) == text
    if text:
        assert PARAM_SIZE.match(text)


@pytest.fixture(scope="module")
def modelpack_archives(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Archive]:
    root = tmp_path_factory.mktemp("modelpack")
    return {name: Archive.read(build_example(name, root / name, format="modelpack", created=1_750_000_000)[0])
            for name in EXAMPLE_NAMES}


def _schema(shared: Path):
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((shared / "conformance" / "modelpack" / "config-schema.json").read_text())
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_every_example_config_validates_and_speaks_the_spec(shared: Path, modelpack_archives, name: str) -> None:
    archive = modelpack_archives[name]
    config = archive.config
    errors = [e.message for e in _schema(shared).iter_errors(config)]
    assert errors == []
    assert list(config) == ["descriptor", "modelfs", "config"]
    assert config["modelfs"] == {"type": "layers", "diffIds": [layer["digest"] for layer in archive.manifest["layers"]]}
    assert config["descriptor"]["createdAt"] == "2025-06-15T15:06:40Z"
    assert PARAM_SIZE.match(config["config"]["paramSize"])
    precision = config["config"].get("precision")
    assert precision is None or set(precision.split(",")) <= PRECISIONS


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_every_example_manifest_validates(shared: Path, modelpack_archives, name: str) -> None:
    manifest = modelpack_archives[name].manifest
    assert [e.message for e in _validator(shared, "image-manifest-schema.json").iter_errors(manifest)] == []
    assert manifest["artifactType"] == "application/vnd.cncf.model.manifest.v1+json"
    assert manifest["config"]["mediaType"] == "application/vnd.cncf.model.config.v1+json"
    for layer in manifest["layers"]:
        assert layer["mediaType"].endswith(".v1.raw")
        assert set(layer["annotations"]) == {"org.cncf.model.filepath", "org.cncf.model.file.metadata+json",
                                             "org.opencontainers.image.title"}
        assert layer["annotations"]["org.opencontainers.image.title"] == layer["annotations"]["org.cncf.model.filepath"]
        assert list(layer) == ["mediaType", "digest", "size", "annotations"]


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_modelpack_snapshots(modelpack_archives, name: str, snapshot) -> None:
    archive = modelpack_archives[name]
    assert archive.manifest == snapshot(name="manifest")
    assert archive.config == snapshot(name="config")
    assert Digest.of(archive.manifest_bytes).__str__() == snapshot(name="digest")


def test_roles_become_modelpack_kinds(modelpack_archives) -> None:
    kinds = {layer["annotations"]["org.cncf.model.filepath"]: layer["mediaType"].split("model.")[1]
             for layer in modelpack_archives["sharded-vision"].manifest["layers"]}
    assert kinds == {"tiny-vision-00001-of-00002.gguf": "weight.v1.raw",
                     "tiny-vision-00002-of-00002.gguf": "weight.v1.raw",
                     "LICENSE.txt": "doc.v1.raw", "mmproj-tiny-vision-F16.gguf": "weight.v1.raw"}
    hf = {layer["annotations"]["org.cncf.model.filepath"]: layer["mediaType"].split("model.")[1]
          for layer in modelpack_archives["hf-safetensors"].manifest["layers"]}
    assert hf["chat_template.jinja"] == hf["config.json"] == "weight.config.v1.raw"
    assert modelpack_archives["hf-safetensors"].config["config"]["precision"] == "bfloat16"


def test_labels_fill_descriptor_fields(tmp_path: Path) -> None:
    modelfile = tmp_path / "Modelfile"
    from tests import factories

    factories.gguf(tmp_path / "m.gguf", metadata=[("general.license", factories.STRING, "Apache-2.0"),
                                                  ("general.name", factories.STRING, "Tiny")])
    modelfile.write_text('FROM scratch\nWEIGHTS m.gguf\nLABEL org.opencontainers.image.title="A title" '
                         'org.opencontainers.image.source=https://example.com/src '
                         'org.opencontainers.image.revision=abc123\n')
    plan = api.plan(modelfile, format="modelpack")
    assert plan.config["descriptor"] == {"name": "Tiny", "family": "llama", "sourceURL": "https://example.com/src",
                                         "revision": "abc123", "licenses": ["Apache-2.0"], "title": "A title"}
    assert plan.config["config"] == {"architecture": "llama", "format": "gguf", "paramSize": "0.0K",
                                     "precision": "float32"}
    tagged = api.plan(modelfile, format="cncf", reference="ai/tiny:v2")
    assert (tagged.config["descriptor"]["name"], tagged.config["descriptor"]["version"]) == ("ai/tiny", "v2")


def test_context_size_in_a_modelpack_build_is_a_named_warning(tmp_path: Path) -> None:
    from tests import factories

    factories.gguf(tmp_path / "m.gguf")
    (tmp_path / "Modelfile").write_text("FROM scratch\nWEIGHTS m.gguf\nCONFIG context_size=4096\n")
    plan = api.plan(tmp_path / "Modelfile", format="modelpack")
    assert [(w.code, w.span.start.line) for w in plan.warnings] == [("MF104", 3)]
    assert set(plan.config) == {"descriptor", "config"}
    assert "context_size" not in plan.config["config"] and "context_size" not in plan.config["descriptor"]


@pytest.mark.parametrize(("base_context", "warned"), [(1024, True), (2048, False)])
def test_a_docker_base_context_size_its_weights_do_not_say_is_a_named_warning(
        tmp_path: Path, base_context: int, warned: bool) -> None:
    from tests import factories

    factories.gguf(tmp_path / "m.gguf", metadata=[("llama.context_length", factories.UINT32, 2048)])
    (tmp_path / "Base").write_text(f"FROM scratch\nWEIGHTS m.gguf\nCONFIG context_size={base_context}\n")
    api.build(tmp_path / "Base", tmp_path / "base.tar")
    (tmp_path / "Modelfile").write_text("FROM base.tar\nLABEL a=b\n")
    plan = api.plan(tmp_path / "Modelfile", format="modelpack")
    expected = [("MF104", 1)] if warned else []
    assert [(w.code, w.span.start.line) for w in plan.warnings] == expected
    if warned:
        assert plan.warnings[0].detail.startswith("the base sets context_size 1024, which its weights do not say")


def test_a_modelpack_safetensors_base_stays_safetensors_in_a_docker_build(tmp_path: Path) -> None:
    from tests.archive_tools import copy_example

    modelfile = copy_example("hf-safetensors", tmp_path)
    api.build(modelfile, tmp_path / "base.tar", format="modelpack")
    (tmp_path / "Modelfile").write_text("FROM base.tar\nLABEL a=b\n")
    plan = api.plan(tmp_path / "Modelfile", format="docker")
    (weights,) = [layer for layer in plan.layers if layer.role.value == "weights"]
    assert weights.media_type == "application/vnd.docker.ai.safetensors"
    assert plan.config_media_type == "application/vnd.docker.ai.model.config.v0.2+json"
    assert plan.config["format"] == "safetensors"


def test_roles_modelpack_can_only_tell_by_name_are_named_warnings(tmp_path: Path) -> None:
    from tests import factories

    factories.gguf(tmp_path / "m.gguf")
    factories.mmproj(tmp_path / "vision-tower.gguf")
    (tmp_path / "prompt.txt").write_text("{% for m in messages %}{{ m.content }}{% endfor %}")
    (tmp_path / "Modelfile").write_text("FROM scratch\nWEIGHTS m.gguf\nMMPROJ vision-tower.gguf\n"
                                        "CHAT_TEMPLATE prompt.txt\n")
    plan = api.plan(tmp_path / "Modelfile", format="modelpack")
    assert [(w.code, w.span.start.line, w.summary) for w in plan.warnings] == [
        ("MF105", 3, "ModelPack will not know `vision-tower.gguf` is the projector"),
        ("MF105", 4, "ModelPack will not know `prompt.txt` is the chat template"),
    ]
    assert api.plan(tmp_path / "Modelfile", format="docker").warnings == ()
