"""The public Python API answers with the seed's types (formats/artifact.py), checked both ways: at run time
(``isinstance`` against the runtime-checkable protocols) and by mypy (a typed snippet assigning each answer to
its protocol, checked with the project's strict configuration).

- an archive, a layout folder, a stored name and a registry reference read by ``modeloci.artifact`` are
  ``ModelArtifact``s (and ``Image``s, with a ``ModelConfig``);
- ``modeloci.model_files`` gives a ``Model``: its files where they lie in the store;
- ``modeloci.unpack`` gives a ``ModelBundle``: the folder as a runtime reads it.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import modeloci
from modeloci.formats.artifact import Image, Model, ModelArtifact, ModelBundle, ModelConfig
from modeloci.formats.roles import Role
from modeloci.ops.inspect import ArtifactReport
from modeloci.ops.runtime import open_bundle
from modeloci.store import Store
from tests.archive_tools import copy_example
from tests.registry.conftest import registry, registry_binary  # noqa: F401 - fixtures, for a registry model

REPO = Path(__file__).resolve().parents[1]
CREATED = 1750000000  # 2025-06-15T15:06:40Z


def _vision(tmp_path: Path) -> Path:
    """sharded-vision (two GGUF shards and a projector) built as an archive."""
    archive = tmp_path / "vision.tar"
    modeloci.build(copy_example("sharded-vision", tmp_path), archive, reference="vision:1", created=CREATED)
    return archive


def _shards(tmp_path: Path) -> list[bytes]:
    return [(tmp_path / "sharded-vision" / f"tiny-vision-0000{i}-of-00002.gguf").read_bytes() for i in (1, 2)]


def _digest(archive: Path) -> str:
    """The manifest digest ``inspect`` reads from the archive's index."""
    report = modeloci.inspect(archive)
    assert isinstance(report, ArtifactReport)
    return report.manifest_digest


def _is_artifact(found: object) -> bool:
    return isinstance(found, ModelArtifact) and isinstance(found, Image) and isinstance(
        getattr(found, "config", None), ModelConfig)


def test_an_archive_a_layout_a_stored_name_and_a_registry_model_are_model_artifacts(
        tmp_path: Path, cli, registry) -> None:  # noqa: F811 - the fixture imported above
    archive = _vision(tmp_path)
    layout = tmp_path / "layout"
    modeloci.build(copy_example("sharded-vision", tmp_path / "again"), layout=layout, reference="vision:1",
                   created=CREATED)
    assert cli("load", str(archive)).code == 0
    remote = f"{registry.host}/api-test/vision:1"
    assert cli("push", str(archive), remote).code == 0
    read = {name: modeloci.artifact(source) for name, source in
            [("archive", archive), ("layout", layout), ("stored", "vision:1"), ("registry", remote)]}
    assert {name: _is_artifact(found) for name, found in read.items()} == dict.fromkeys(read, True)
    assert {str(found.manifest.digest) for found in read.values()} == {_digest(archive)}
    for found in read.values():
        assert found.format == "docker" and found.config.architecture == "llama"
        assert [layer.role for layer in found.layers] == [Role.WEIGHTS, Role.WEIGHTS, Role.LICENSE, Role.MMPROJ]
        assert json.loads(found.config_bytes)["config"]["context_size"] == 1024


def test_a_missing_model_is_no_artifact(tmp_path: Path) -> None:
    with pytest.raises(modeloci.UsageError) as raised:
        modeloci.artifact("nothing:1")
    assert raised.value.message == f"`nothing:1` is neither a file nor a model in the store ({Store().root})"


def test_model_files_is_a_model_whose_files_lie_in_the_store(tmp_path: Path, cli) -> None:
    assert cli("load", str(_vision(tmp_path))).code == 0
    assert cli("tag", "vision:1", "vision:latest").code == 0
    model = modeloci.model_files("vision")
    assert isinstance(model, Model) and _is_artifact(model.artifact)
    assert model.id == model.digest == str(model.artifact.manifest.digest)
    assert model.tags == ["vision:1", "vision:latest"]
    assert model.descriptor == {"created": "2025-06-15T15:06:40Z"}
    assert [p.read_bytes() for p in model.gguf_paths] == _shards(tmp_path)  # shard order
    assert model.paths(Role.WEIGHTS) == model.gguf_paths == model.weights
    assert model.mmproj_path is not None and model.mmproj_path == model.paths(Role.MMPROJ)[0]
    assert model.mmproj_path.read_bytes() == (tmp_path / "sharded-vision" / "mmproj-tiny-vision-F16.gguf").read_bytes()
    assert (model.chat_template_path, model.safetensors_paths, model.dduf_paths) == (None, [], [])
    store = Store()
    every = [*model.gguf_paths, model.mmproj_path, *model.licenses]
    assert all(p.parent == store.blobs and p.name == hashlib.sha256(p.read_bytes()).hexdigest() for p in every)


def test_a_safetensors_and_a_dduf_model_give_their_own_paths(tmp_path: Path, cli) -> None:
    hf = copy_example("hf-safetensors", tmp_path)
    assert cli("build", "-f", str(hf), "-t", "qwen:1").code == 0
    qwen = modeloci.model_files("qwen:1")
    folder = hf.parent / "tiny-qwen"
    assert [p.read_bytes() for p in qwen.safetensors_paths] == [(folder / "model.safetensors").read_bytes()]
    assert qwen.chat_template_path is not None
    assert qwen.chat_template_path.read_bytes() == (folder / "chat_template.jinja").read_bytes()
    assert (qwen.gguf_paths, qwen.dduf_paths, qwen.mmproj_path) == ([], [], None)

    dduf = tmp_path / "flux"
    dduf.mkdir()
    with zipfile.ZipFile(dduf / "flux.dduf", "w") as z:
        z.writestr("model_index.json", "{}")
    (dduf / "Modelfile").write_text("FROM scratch\nWEIGHTS flux.dduf\n")
    assert cli("build", "-f", str(dduf / "Modelfile"), "-t", "flux:1").code == 0
    flux = modeloci.model_files("flux:1")
    assert isinstance(flux, Model)
    assert [p.read_bytes() for p in flux.dduf_paths] == [(dduf / "flux.dduf").read_bytes()]
    assert (flux.gguf_paths, flux.safetensors_paths) == ([], [])


def test_unpack_answers_with_the_bundle_a_runtime_reads(tmp_path: Path) -> None:
    archive = _vision(tmp_path)
    bundle = modeloci.unpack(archive, tmp_path / "bundle")
    model = tmp_path / "bundle" / "model"
    assert isinstance(bundle, ModelBundle) and isinstance(bundle.runtime_config, ModelConfig)
    assert (bundle.root, bundle.model_dir) == (tmp_path / "bundle", model)
    assert bundle.gguf_path == model / "model-00001-of-00002.gguf"
    assert bundle.gguf_path.read_bytes() == _shards(tmp_path)[0]
    assert bundle.mmproj_path == model / "model.mmproj"
    assert (bundle.safetensors_path, bundle.dduf_path, bundle.chat_template_path) == (None, None, None)
    assert (bundle.config.context_size, bundle.config.architecture) == (1024, "llama")
    assert open_bundle(tmp_path / "bundle") == bundle  # read again by names, as a runtime does: the same

    files = modeloci.unpack(archive, tmp_path / "files", layout="files")
    assert isinstance(files, ModelBundle) and files.model_dir == tmp_path / "files"
    assert files.gguf_path == tmp_path / "files" / "tiny-vision-00001-of-00002.gguf"
    assert files.mmproj_path == tmp_path / "files" / "mmproj-tiny-vision-F16.gguf"
    assert files.config.context_size == 1024


def test_an_unpacked_safetensors_folder_gives_its_weights_and_its_template(tmp_path: Path) -> None:
    archive = tmp_path / "qwen.tar"
    modeloci.build(copy_example("hf-safetensors", tmp_path), archive)
    bundle = modeloci.unpack(archive, tmp_path / "out")
    assert bundle.safetensors_path == tmp_path / "out" / "model" / "model.safetensors"
    assert bundle.chat_template_path == tmp_path / "out" / "model" / "chat_template.jinja"
    assert (bundle.gguf_path, bundle.mmproj_path, bundle.config.format) == (None, None, "safetensors")


@pytest.mark.parametrize(("make", "why"), [
    (lambda root: None, "reading config.json: no such file or directory"),
    (lambda root: (root / "config.json").write_text("[]"), "it needs config.json (a JSON object) and model/"),
    (lambda root: (root / "config.json").write_text("{"),
     "config.json is not valid JSON: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"),
    (lambda root: (root / "config.json").write_bytes(b" " * (1 << 20) + b"{}"),
     "its config.json is over 1048576 bytes"),
])
def test_a_folder_that_is_no_bundle_is_refused(tmp_path: Path, make, why: str) -> None:
    root = tmp_path / "not-a-bundle"
    root.mkdir()
    make(root)
    with pytest.raises(modeloci.ArchiveError) as raised:
        open_bundle(root)
    assert raised.value.message == f"`{root}` is not a model bundle: {why}"
    assert raised.value.hint == "unpack a model into a new folder with `modeloci unpack MODEL -o DIR`"


TYPED = '''\
from pathlib import Path

import modeloci


def seed_types(archive: Path, out: Path) -> None:
    artifact: modeloci.ModelArtifact = modeloci.artifact(archive)
    image: modeloci.Image = artifact
    config: modeloci.ModelConfig = artifact.config
    model: modeloci.Model = modeloci.model_files("vision:1")
    bundle: modeloci.ModelBundle = modeloci.unpack(archive, out)
    runtime: modeloci.ModelConfig = bundle.config
    print(image, config, model, runtime)
'''


def mypy(source: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """mypy --strict (the project's configuration) over ``source``, a user's module importing modeloci."""
    if subprocess.run([sys.executable, "-m", "mypy", "--version"], capture_output=True, check=False).returncode:
        if os.environ.get("MODELOCI_REQUIRE_TOOLS"):
            pytest.fail("mypy is required (MODELOCI_REQUIRE_TOOLS is set) but not installed")
        pytest.skip("mypy is not installed (pip install -e '.[test]')")
    user = tmp_path / "user_code.py"
    user.write_text(source)
    env = {**os.environ, "MYPYPATH": str(REPO / "src")}
    return subprocess.run([sys.executable, "-m", "mypy", "--config-file", str(REPO / "pyproject.toml"),
                           "--cache-dir", str(tmp_path / "mypy-cache"), str(user)],
                          capture_output=True, text=True, env=env, cwd=REPO, timeout=300, check=False)


def test_the_answers_are_the_seed_types_to_the_type_checker(tmp_path: Path) -> None:
    checked = mypy(TYPED, tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    wrong = mypy(TYPED.replace("bundle: modeloci.ModelBundle", "bundle: modeloci.Model"), tmp_path)
    assert "Incompatible types in assignment" in wrong.stdout  # the check can fail


# modeloci.package(): a folder packaged without a Modelfile on disk ----------------------------------------------

DESCRIPTION = "org.opencontainers.image.description"
HOSTILE_LABELS = {DESCRIPTION: 'a "quoted" $HOME ${USER} = \\ é', "org.example.key=with=equals": "#not a comment"}


def _qwen(tmp_path: Path, folder: str = "tiny-qwen") -> Path:
    """The hf-safetensors example's folder, copied under the name ``folder``."""
    copy_example("hf-safetensors", tmp_path / "src")
    target = tmp_path / folder
    (tmp_path / "src" / "hf-safetensors" / "tiny-qwen").rename(target)
    return target


@pytest.mark.parametrize("fmt", ["docker", "modelpack"])
def test_package_gives_the_model_a_hand_written_modelfile_gives(tmp_path: Path, fmt: str) -> None:
    folder = _qwen(tmp_path)
    labels = {DESCRIPTION: "Tiny Qwen, fine-tuned"}
    packaged = modeloci.package(folder, name="acme/qwen", version="2", format=fmt, labels=labels,
                                output=tmp_path / "packaged.tar", created=CREATED)
    (tmp_path / "Modelfile").write_text(
        f'FROM scratch\nWEIGHTS tiny-qwen\nLABEL {DESCRIPTION}="Tiny Qwen, fine-tuned"\n')
    built = modeloci.build(tmp_path / "Modelfile", tmp_path / "built.tar", reference="acme/qwen:2", format=fmt,
                           created=CREATED)
    assert packaged.manifest.digest == built.manifest.digest
    assert (tmp_path / "packaged.tar").read_bytes() == (tmp_path / "built.tar").read_bytes()
    assert packaged.reference == "acme/qwen:2"
    assert modeloci.artifact(tmp_path / "packaged.tar").manifest.annotations[DESCRIPTION] == "Tiny Qwen, fine-tuned"


def test_package_writes_an_archive_a_layout_or_a_stored_model(tmp_path: Path) -> None:
    folder = _qwen(tmp_path)
    archive = modeloci.package(folder, name="qwen", output=tmp_path / "qwen.tar", created=CREATED)
    layout = modeloci.package(folder, name="qwen", layout=tmp_path / "layout", created=CREATED)
    stored = modeloci.package(folder, name="qwen", tag="qwen:ft", created=CREATED)
    assert archive.reference == layout.reference == "qwen:latest" and stored.reference == "qwen:ft"
    assert archive.manifest.digest == layout.manifest.digest == stored.manifest.digest
    assert modeloci.verify(tmp_path / "qwen.tar").ok and modeloci.verify(tmp_path / "layout").ok
    assert modeloci.model_files("qwen:ft").tags == ["qwen:ft"]
    assert modeloci.artifact(tmp_path / "layout").ref_name == "qwen:latest"


@pytest.mark.parametrize("outputs", [{}, {"output": "a.tar", "tag": "a:1"}, {"output": "a.tar", "layout": "l"}])
def test_package_takes_exactly_one_output(tmp_path: Path, outputs: dict[str, str]) -> None:
    folder = _qwen(tmp_path)
    with pytest.raises(modeloci.UsageError) as raised:
        modeloci.package(folder, name="qwen", **{k: tmp_path / v if k != "tag" else v for k, v in outputs.items()})
    assert raised.value.message == ("give one output: an archive (output=), a layout folder (layout=) or a name in "
                                    "the local store (tag=)")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src", "tiny-qwen"]  # nothing written


def test_package_of_a_folder_named_with_blanks_quotes_and_dollars(tmp_path: Path) -> None:
    """The folder's name and the labels are user values in the generated Modelfile: each is one literal word, so
    `$HOME` is not expanded, a quote does not end it, `=` does not split it and `#` starts no comment."""
    hostile = _qwen(tmp_path / "a", 'my "model" $HOME ${X} \\dir #1')
    plain = _qwen(tmp_path / "b", "plain")
    first = modeloci.package(hostile, name="qwen", labels=HOSTILE_LABELS, output=tmp_path / "hostile.tar",
                             created=CREATED)
    second = modeloci.package(plain, name="qwen", labels=HOSTILE_LABELS, output=tmp_path / "plain.tar",
                              created=CREATED)
    assert first.manifest.digest == second.manifest.digest  # the layers are the folder's files, by their paths in it
    assert modeloci.artifact(tmp_path / "hostile.tar").manifest.annotations == HOSTILE_LABELS
    (tmp_path / "a" / "Modelfile").write_text(
        'FROM scratch\nWEIGHTS "my \\"model\\" \\$HOME \\${X} \\\\dir #1"\n'
        'LABEL org.opencontainers.image.description="a \\"quoted\\" \\$HOME \\${USER} = \\\\ é" '
        '"org.example.key=with=equals"="#not a comment"\n')
    by_hand = modeloci.build(tmp_path / "a" / "Modelfile", tmp_path / "by-hand.tar", reference="qwen:latest",
                             created=CREATED)
    assert by_hand.manifest.digest == first.manifest.digest


@pytest.mark.parametrize(("labels", "shown"), [
    ({DESCRIPTION: "fine\nFROM evil.example/model:1"}, "fine\\nFROM evil.example/model:1"),
    ({"key\nWEIGHTS /etc": "x"}, "key\\nWEIGHTS /etc"),
])
def test_a_label_cannot_smuggle_a_directive_into_the_generated_modelfile(tmp_path: Path, labels: dict[str, str],
                                                                         shown: str) -> None:
    folder = _qwen(tmp_path)
    with pytest.raises(modeloci.UsageError) as raised:
        modeloci.package(folder, name="qwen", labels=labels, output=tmp_path / "qwen.tar")
    assert raised.value.message == f"cannot write `{shown}` in a Modelfile: it holds a line break"
    assert not (tmp_path / "qwen.tar").exists()


def test_package_of_a_folder_without_weights_points_into_the_generated_modelfile(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(modeloci.ModelfileError) as raised:
        modeloci.package(tmp_path / "empty", name="x", output=tmp_path / "x.tar")
    (diagnostic,) = raised.value.diagnostics
    assert (diagnostic.code, diagnostic.summary) == ("MF059", "No weights in folder `empty`")
    assert raised.value.sources == {"Modelfile (modeloci.package)": "FROM scratch\n\nWEIGHTS empty\n"}
    with pytest.raises(modeloci.UsageError) as missing:
        modeloci.package(tmp_path / "nothing", name="x", output=tmp_path / "x.tar")
    assert (missing.value.message, missing.value.hint) == (f"`{tmp_path / 'nothing'}` not found",
                                                           "give the folder holding the model's files")


# docs/api.md: its examples run, in order, and pass mypy --strict -----------------------------------------------


def _api_examples() -> list[str]:
    """The ```python blocks of docs/api.md, in order."""
    lines = (REPO / "docs" / "api.md").read_text(encoding="utf-8").split("\n")
    blocks, current = [], None
    for line in lines:
        if current is None and line.startswith("```python"):
            current = []
        elif current is not None and line.startswith("```"):
            blocks.append("\n".join(current) + "\n")
            current = None
        elif current is not None:
            current.append(line)
    return blocks


def test_the_api_doc_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("sharded-vision", "hf-safetensors"):
        copy_example(name, tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    blocks = _api_examples()
    assert len(blocks) >= 6
    namespace: dict[str, object] = {}
    for number, block in enumerate(blocks, 1):
        exec(compile(block, f"docs/api.md block {number}", "exec"), namespace)
    printed = capsys.readouterr().out
    assert "no model `no-such-model:latest` in the store" in printed
    assert (tmp_path / "vision-bundle" / "model" / "model-00001-of-00002.gguf").is_file()


def test_the_api_doc_examples_are_typed(tmp_path: Path) -> None:
    checked = mypy("".join(_api_examples()), tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
