"""Peers read what we write, and we read what peers write: oras-py and modelpack-client against the real registry.

* oras-py (``oras`` on PyPI) names a pulled file from ``org.opencontainers.image.title`` and nothing else (without
  it, the file is named by its digest); modelpack-client from ``org.cncf.model.filepath``, then the title, then
  ``layer-N``, and it checks the config against the ModelPack schema.
* What they push (oras-py pushing files with ModelPack media types, modelpack-client's own push) is pulled,
  verified, unpacked and used in ``FROM`` by modeloci, or refused with a clear message.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import shutil
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.archive_tools import EXAMPLES, Archive
from tests.registry.helpers import build, manifest_of


def _peer(module: str, package: str) -> ModuleType:
    """A peer client library; skipped when missing, or failed where CI requires the tools."""
    try:
        return importlib.import_module(module)
    except ImportError:
        reason = f"{package} is not installed: pip install -e '.[test]'"
        if os.environ.get("MODELOCI_REQUIRE_TOOLS"):
            pytest.fail(f"{reason} (MODELOCI_REQUIRE_TOOLS is set)", pytrace=False)
        pytest.skip(reason)


@pytest.fixture
def oras_client(registry) -> Any:
    oras = _peer("oras.client", "oras")
    return oras.OrasClient(hostname=registry.host, insecure=True)


def tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def packaged_files(archive: Path, example: str) -> dict[str, bytes]:
    """The example's files that ``archive`` packages, by the path its layers carry."""
    folder = EXAMPLES / example / ("tiny-qwen" if example == "hf-safetensors" else "")
    paths = [layer["annotations"]["org.cncf.model.filepath"] for layer in json.loads(manifest_of(archive))["layers"]]
    return {path: (folder / path).read_bytes() for path in paths}


# ----------------------------------------------------------------------------------------------------------------
# Peers read what we write
# ----------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["docker", "modelpack"])
@pytest.mark.parametrize("example", ["single-gguf", "sharded-vision", "hf-safetensors"])
def test_oras_pull_saves_our_layers_under_their_names(registry, repo_name, cli, oras_client, tmp_path: Path,
                                                      example: str, fmt: str) -> None:
    ref = f"{registry.host}/{repo_name}:v1"
    archive, _ = build(cli, tmp_path, example, args=("--format", fmt))
    assert cli("push", str(archive), ref).code == 0

    pulled = tmp_path / "pulled"
    oras_client.pull(target=ref, outdir=str(pulled))
    assert tree(pulled) == packaged_files(archive, example)


@pytest.mark.parametrize("example", ["single-gguf", "sharded-vision", "hf-safetensors"])
def test_modelpack_client_pulls_our_modelpack_models(registry, repo_name, cli, tmp_path: Path, example: str) -> None:
    """modelpack-client checks the manifest and the config against the ModelPack schema, then writes each layer at
    its `org.cncf.model.filepath`."""
    client = _peer("modelpack_client", "modelpack-client").ModelPackClient(insecure=True)
    ref = f"{registry.host}/{repo_name}:v1"
    archive, _ = build(cli, tmp_path, example, args=("--format", "modelpack"))
    assert cli("push", str(archive), ref).code == 0

    result = client.pull(ref, tmp_path / "pulled")
    assert tree(tmp_path / "pulled") == packaged_files(archive, example)
    assert result.config == json.loads(Archive.read(archive).config_bytes)


# ----------------------------------------------------------------------------------------------------------------
# We read what peers write
# ----------------------------------------------------------------------------------------------------------------

WEIGHT = "application/vnd.cncf.model.weight.v1.raw"
WEIGHT_CONFIG = "application/vnd.cncf.model.weight.config.v1.raw"
DOC = "application/vnd.cncf.model.doc.v1.raw"
# single-gguf's files, as a peer would push them with ModelPack media types.
PEER_FILES = {"tiny-llama-F32.gguf": WEIGHT, "chat_template.jinja": WEIGHT_CONFIG, "LICENSE": DOC}


def peer_files(tmp_path: Path) -> Path:
    folder = tmp_path / "peer"
    folder.mkdir()
    for name in PEER_FILES:
        shutil.copy(EXAMPLES / "single-gguf" / name, folder / name)
    return folder


def peer_config(folder: Path) -> dict[str, Any]:
    return {"descriptor": {"name": "tiny-llama"}, "config": {"format": "gguf", "architecture": "llama"},
            "modelfs": {"type": "layers", "diffIds": [
                "sha256:" + hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in PEER_FILES]}}


def use_it_all(cli, ref: str, tmp_path: Path, folder: Path, *, verify_warns: str | None = None) -> None:
    """Pull, verify, unpack (both layouts) and FROM a peer's model: every file under its name, with its bytes.
    ``verify_warns``: the one warning verify gives."""
    pulled = tmp_path / "pulled.tar"
    result = cli("pull", ref, "-o", str(pulled))
    assert result.code == 0, result.stderr
    verified = cli("verify", str(pulled))
    assert verified.code == 0, verified.stdout + verified.stderr
    warnings = [line for line in verified.stderr.splitlines() if line.startswith("warning: ")]
    assert warnings == ([f"warning: {verify_warns}"] if verify_warns else []), verified.stderr
    for layout, prefix in (("files", ""), ("bundle", "model/")):
        out = tmp_path / f"unpacked-{layout}"
        assert cli("unpack", str(pulled), "-o", str(out), "--layout", layout).code == 0
        assert {k: v for k, v in tree(out).items() if k != "config.json"} == {
            prefix + name: (folder / name).read_bytes() for name in PEER_FILES}
    inspected = json.loads(cli("inspect", str(pulled), "--json").stdout)
    assert [(layer["role"], layer["path"]) for layer in inspected["layers"]] == [
        ("weights", "tiny-llama-F32.gguf"), ("chat_template", "chat_template.jinja"), ("license", "LICENSE")]

    context = tmp_path / "context"
    context.mkdir()
    shutil.copy(pulled, context / "pulled.tar")
    (context / "Modelfile").write_text(f"FROM {ref}\nCONFIG context_size=4096\n")
    built = cli("build", "-f", str(context / "Modelfile"), "-o", str(tmp_path / "rebuilt.tar"))
    assert built.code == 0, built.stderr
    layers = Archive.read(tmp_path / "rebuilt.tar").manifest["layers"]
    assert [(d["mediaType"], d["annotations"]["org.cncf.model.filepath"]) for d in layers] == [
        ("application/vnd.docker.ai.gguf.v3", "tiny-llama-F32.gguf"),
        ("application/vnd.docker.ai.license", "LICENSE"),
        ("application/vnd.docker.ai.chat.template.jinja", "chat_template.jinja")]


def test_what_oras_pushes_with_modelpack_types_is_pulled_verified_unpacked_and_built_on(
        registry, repo_name, cli, oras_client, tmp_path: Path, monkeypatch) -> None:
    """oras-py names layers by `org.opencontainers.image.title` only (no filepath), and writes no artifactType:
    the ModelPack config's media type says what it is. Its bundle once unpacked to an empty folder."""
    folder = peer_files(tmp_path)
    (folder / "config.json").write_text(json.dumps(peer_config(folder)))
    monkeypatch.chdir(folder)  # oras-py takes paths relative to the working folder
    ref = f"{registry.host}/{repo_name}:oras"
    oras_client.push(target=ref, files=[f"{name}:{media_type}" for name, media_type in PEER_FILES.items()],
                     manifest_config="config.json:application/vnd.cncf.model.config.v1+json")
    manifest = oras_client.get_manifest(ref)
    assert all(set(layer["annotations"]) == {"org.opencontainers.image.title"} for layer in manifest["layers"])
    # The spec requires ModelPack's artifactType, which oras does not write: verify warns; everything reads it.
    use_it_all(cli, ref, tmp_path, folder,
               verify_warns="the manifest has no artifactType, which ModelPack requires; its config is ModelPack's")


def test_what_oras_pushes_without_a_model_config_is_refused_with_the_reason(
        registry, repo_name, cli, oras_client, tmp_path: Path, monkeypatch) -> None:
    folder = peer_files(tmp_path)
    monkeypatch.chdir(folder)
    ref = f"{registry.host}/{repo_name}:plain"
    oras_client.push(target=ref, files=list(PEER_FILES))  # oras' defaults: an empty config of an unknown type
    why = "the config media type `application/vnd.unknown.config.v1+json` is not a model config"
    stored = cli("pull", ref)
    assert stored.code == 1 and f"error: refusing to store `{ref}`: {why}" in stored.stderr, stored.stderr
    copied = tmp_path / "copied.tar"
    assert cli("pull", ref, "-o", str(copied)).code == 0  # `pull -o` copies any artifact as it is, like skopeo
    verified = cli("verify", str(copied))
    assert verified.code == 1 and f"error: {why}" in verified.stdout + verified.stderr
    unpacked = cli("unpack", str(copied), "-o", str(tmp_path / "out"))
    assert unpacked.code == 1 and (
        f"error: `{copied}` is not a model artifact: its config media type is "
        "`application/vnd.unknown.config.v1+json`") in unpacked.stderr
    assert not (tmp_path / "out").exists()
    (tmp_path / "Modelfile").write_text(f"FROM {ref}\n")
    based = cli("build", "-f", str(tmp_path / "Modelfile"), "-o", str(tmp_path / "x.tar"))
    assert based.code == 2 and "error[MF057]" in based.stderr and "is not a model artifact" in based.stderr


def test_what_modelpack_client_pushes_is_pulled_verified_unpacked_and_built_on(
        registry, repo_name, cli, tmp_path: Path) -> None:
    mp = _peer("modelpack_client", "modelpack-client")
    folder = peer_files(tmp_path)
    ref = f"{registry.host}/{repo_name}:mpc"
    config = mp.ModelPackConfig(mp.ModelDescriptor(name="tiny-llama"),
                                mp.ModelTechnicalConfig(architecture="llama", format="gguf"))
    mp.ModelPackClient(insecure=True).push(
        ref, [mp.ModelLayer(folder / name, media_type) for name, media_type in PEER_FILES.items()], config)
    use_it_all(cli, ref, tmp_path, folder)
