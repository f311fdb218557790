"""Reading every kind of model artifact through the seed's protocols, legacy names included."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from modeloci.errors import ArchiveError
from modeloci.formats.artifact import (
    Artifact,
    Image,
    ModelArtifact,
    ModelConfig,
    detect_format,
    read_artifact,
)
from modeloci.formats.roles import Role
from modeloci.oci.layout import open_layout
from modeloci.oci.manifest import parse_manifest

GGUF = b"GGUF" + b"\0" * 60
TEMPLATE = b"{{ messages }}"


def _layout(root: Path, *, artifact_type: str | None, config_type: str, config: dict,
            layers: list[tuple[str, bytes, dict[str, str]]]) -> Path:
    """Write an OCI layout folder by hand (not with modeloci's writer)."""
    blobs = root / "blobs" / "sha256"
    blobs.mkdir(parents=True)

    def put(data: bytes) -> dict:
        digest = hashlib.sha256(data).hexdigest()
        (blobs / digest).write_bytes(data)
        return {"digest": f"sha256:{digest}", "size": len(data)}

    config_bytes = json.dumps(config).encode()
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": config_type, **put(config_bytes)},
                "layers": [{"mediaType": mt, **put(data), "annotations": ann} for mt, data, ann in layers]}
    if artifact_type:
        manifest["artifactType"] = artifact_type
    entry = {"mediaType": "application/vnd.oci.image.manifest.v1+json", **put(json.dumps(manifest).encode())}
    (root / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [entry]}))
    (root / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    return root


def _read(root: Path) -> Artifact:
    with open_layout(root) as layout:
        return read_artifact(layout)


def _fp(key: str, path: str) -> dict[str, str]:
    return {key: path}


CASES = {
    "docker v0.1": dict(
        artifact_type=None, config_type="application/vnd.docker.ai.model.config.v0.1+json",
        config={"config": {"format": "gguf", "context_size": 4096, "parameters": "8.03B",
                           "quantization": "MOSTLY_Q4_K_M", "architecture": "llama", "size": "4.58GiB"},
                "descriptor": {}, "rootfs": {"type": "rootfs"}},
        layers=[("application/vnd.docker.ai.gguf.v3", GGUF, _fp("org.cncf.model.filepath", "model.gguf")),
                ("application/vnd.docker.ai.chat.template.jinja", TEMPLATE, {}),
                ("application/vnd.docker.ai.mmproj", GGUF + b"p", {}),
                ("application/vnd.docker.ai.license", b"MIT", {})]),
    "docker v0.2": dict(
        artifact_type=None, config_type="application/vnd.docker.ai.model.config.v0.2+json",
        config={"config": {"format": "safetensors", "parameters": "361.82 M"}, "descriptor": {}, "rootfs": {}},
        layers=[("application/vnd.docker.ai.safetensors", b"st", _fp("org.cncf.model.filepath", "a/model.safetensors")),
                ("application/vnd.docker.ai.model.file", b"{}", _fp("org.cncf.model.filepath", "a/config.json")),
                ("application/vnd.docker.ai.vllm.config.tar", b"tar", {})]),
    "modelpack": dict(
        artifact_type="application/vnd.cncf.model.manifest.v1+json",
        config_type="application/vnd.cncf.model.config.v1+json",
        config={"descriptor": {"name": "x", "createdAt": "2025-01-01T00:00:00Z"},
                "modelfs": {"type": "layers", "diffIds": []},
                "config": {"format": "gguf", "paramSize": "8.0B", "quantization": "Q4_K_M", "architecture": "llama"}},
        layers=[("application/vnd.cncf.model.weight.v1.raw", GGUF, _fp("org.cncf.model.filepath", "model.gguf")),
                ("application/vnd.cncf.model.weight.v1.raw", GGUF + b"p",
                 _fp("org.cncf.model.filepath", "mmproj-f16.gguf")),
                ("application/vnd.cncf.model.weight.config.v1.raw", TEMPLATE,
                 _fp("org.cncf.model.filepath", "chat.jinja")),
                ("application/vnd.cncf.model.doc.v1.raw", b"MIT", _fp("org.cncf.model.filepath", "LICENSE")),
                ("application/vnd.cncf.model.doc.v1.raw", b"# hi", _fp("org.cncf.model.filepath", "README.md"))]),
    "legacy cnai": dict(
        artifact_type="application/vnd.cnai.model.manifest.v1+json",
        config_type="application/vnd.cnai.model.config.v1+json",
        config={"descriptor": {"name": "old"}, "modelfs": {"type": "layers", "diffIds": []},
                "config": {"format": "safetensors", "paramSize": "0.5B"}},
        layers=[("application/vnd.cnai.model.weight.v1.tar", b"w", _fp("org.cnai.model.filepath", "model.safetensors")),
                ("application/vnd.cnai.model.weight.config.v1.raw", b"{}",
                 _fp("org.cnai.model.filepath", "config.json"))]),
}

EXPECTED = {
    "docker v0.1": ("docker", [Role.WEIGHTS, Role.CHAT_TEMPLATE, Role.MMPROJ, Role.LICENSE], "8.03B", 4096),
    "docker v0.2": ("docker", [Role.WEIGHTS, Role.MODEL_FILE, Role.OTHER], "361.82 M", None),
    "modelpack": ("modelpack", [Role.WEIGHTS, Role.MMPROJ, Role.CHAT_TEMPLATE, Role.LICENSE, Role.OTHER], "8.0B", None),
    "legacy cnai": ("modelpack", [Role.WEIGHTS, Role.MODEL_FILE], "0.5B", None),
}


@pytest.mark.parametrize("name", list(CASES))
def test_reads_every_kind(tmp_path: Path, name: str) -> None:
    artifact = _read(_layout(tmp_path, **CASES[name]))
    fmt, roles, parameters, context = EXPECTED[name]
    assert artifact.format == fmt
    assert [layer.role for layer in artifact.layers] == roles
    assert artifact.config.parameters == parameters and artifact.config.context_size == context
    assert isinstance(artifact, ModelArtifact) and isinstance(artifact, Image)
    assert isinstance(artifact.config, ModelConfig)


def test_legacy_annotations_give_paths(tmp_path: Path) -> None:
    artifact = _read(_layout(tmp_path, **CASES["legacy cnai"]))
    assert [layer.filepath for layer in artifact.layers] == ["model.safetensors", "config.json"]


def test_detection_by_content_when_media_types_are_unknown() -> None:
    manifest = parse_manifest(json.dumps({
        "schemaVersion": 2, "config": {"mediaType": "application/json", "digest": "sha256:" + "a" * 64, "size": 2},
        "layers": []}).encode())
    assert detect_format(manifest, {"modelfs": {}}) == "modelpack"
    assert detect_format(manifest, {"descriptor": {"createdAt": "x"}}) == "modelpack"
    assert detect_format(manifest, {"config": {"paramSize": "1B"}}) == "modelpack"
    assert detect_format(manifest, {"config": {"parameters": "1B"}, "descriptor": {"created": "x"}}) == "docker"
    assert detect_format(manifest, {"architecture": "amd64", "os": "linux"}) is None


def test_a_container_image_is_not_a_model(tmp_path: Path) -> None:
    root = _layout(tmp_path, artifact_type=None, config_type="application/vnd.oci.image.config.v1+json",
                   config={"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}},
                   layers=[("application/vnd.oci.image.layer.v1.tar+gzip", b"x", {})])
    with pytest.raises(ArchiveError, match="is not a model artifact"):
        _read(root)
