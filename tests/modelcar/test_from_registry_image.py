"""`FROM <registry>/<repo>:<tag>` of a container image (no model in it) in a modelcar Modelfile, from a cold store.

The base is an image the test writes (tests/modelcar/images.py) and copies into the real registry with skopeo;
the modelcar built on it holds the base's files and the model's (umoci's unpack is the oracle), is the same
modelcar the same base gives from a layout folder, and ``build --push`` pushes that same modelcar. (It sends the
base's layers from the store rather than mounting them: cli_build pushes a modelcar from where it was written,
without the base's repository to mount from.)
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path

from modeloci.store import Store
from tests.modelcar.helpers import single_gguf, umoci_unpack
from tests.modelcar.images import SHELL, write_image
from tests.registry.helpers import digest_in


def _base_in_registry(tmp_path: Path, skopeo: Callable[..., str], registry, repo_name: str) -> tuple[str, Path]:
    """A small container image, written as a layout and copied to the registry as it is; (its reference, layout)."""
    layout = write_image(tmp_path / "base-image")
    ref = f"{registry.host}/{repo_name}/busybox:1"
    skopeo("copy", "--quiet", "--preserve-digests", "--retry-times", "0", "--dest-tls-verify=false",
           f"oci:{layout}:base:1", f"docker://{ref}")
    return ref, layout


def _on(tmp_path: Path, base: str, folder: str = "ctx") -> Path:
    modelfile = single_gguf(tmp_path / folder)
    modelfile.write_text(modelfile.read_text().replace("FROM scratch", f"FROM {base}"))
    return modelfile


def test_a_modelcar_from_a_container_image_in_a_registry_holds_the_base_s_files_and_the_model_s(
        tmp_path: Path, cli, skopeo: Callable[..., str], registry, repo_name: str) -> None:
    ref, layout = _base_in_registry(tmp_path, skopeo, registry, repo_name)
    assert Store().entries() == []  # the base is only in the registry
    modelfile = _on(tmp_path, ref)
    built = cli("build", "-f", str(modelfile), "--format", "modelcar", "--created", "1700000000",
                "-t", "tiny:sidecar", "--layout", str(tmp_path / "out"))
    assert built.code == 0, built.stderr
    rootfs = umoci_unpack(tmp_path / "out", "tiny:sidecar", tmp_path / "bundle")
    assert (rootfs / "bin" / "sh").read_bytes() == SHELL
    assert (rootfs / "etc" / "motd").read_bytes() == b"hello from the base \n"
    for name in ("tiny-llama-F32.gguf", "LICENSE", "chat_template.jinja"):
        assert (rootfs / "models" / name).read_bytes() == (modelfile.parent / name).read_bytes()
    (rootfs / "models").chmod(0o755)

    # The oracle: the same modelcar FROM the base's layout folder.
    on_layout = _on(tmp_path, "base", "local")
    shutil.copytree(layout, on_layout.parent / "base")
    local = cli("build", "-f", str(on_layout), "--format", "modelcar",
                "--created", "1700000000", "-t", "tiny:sidecar", "-o", str(tmp_path / "local.tar"))
    assert local.code == 0, local.stderr
    assert digest_in(built.stdout) == digest_in(local.stdout)


def test_a_pulled_base_image_lists_in_the_store_with_its_size(tmp_path: Path, cli, skopeo: Callable[..., str],
                                                              registry, repo_name: str) -> None:
    """The base the build pulled into the store is listed (so `rmi` can find it), as an image with no model
    files: its size is its blobs', and it has no facts."""
    ref, layout = _base_in_registry(tmp_path, skopeo, registry, repo_name)
    built = cli("build", "-f", str(_on(tmp_path, ref)), "--format", "modelcar", "-o", str(tmp_path / "car.tar"))
    assert built.code == 0, built.stderr
    index = json.loads((layout / "index.json").read_text())
    blobs = layout / "blobs" / "sha256"
    size = sum(p.stat().st_size for p in blobs.iterdir())
    listed = json.loads(cli("ls", "--json").stdout)
    assert listed == [{"reference": ref, "digest": index["manifests"][0]["digest"], "format": "modelcar",
                       "size": size, "architecture": None, "parameters": None, "quantization": None,
                       "absent": []}]


def test_a_docker_build_from_a_container_image_in_a_registry_is_refused(
        tmp_path: Path, cli, skopeo: Callable[..., str], registry, repo_name: str) -> None:
    ref, _ = _base_in_registry(tmp_path, skopeo, registry, repo_name)
    refused = cli("build", "-f", str(_on(tmp_path, ref)), "-o", str(tmp_path / "docker.tar"))
    assert refused.code != 0
    assert (f"`{ref}` is not a model artifact: its config media type is "
            "`application/vnd.oci.image.config.v1+json`") in refused.stderr
    assert not (tmp_path / "docker.tar").exists()
    assert Store().entries() == []


def test_build_push_of_a_modelcar_on_a_registry_image_pushes_the_model_a_local_build_writes(
        tmp_path: Path, cli, skopeo: Callable[..., str], registry, repo_name: str) -> None:
    ref, _ = _base_in_registry(tmp_path, skopeo, registry, repo_name)
    modelfile = _on(tmp_path, ref)
    local = cli("build", "-f", str(modelfile), "--format", "modelcar", "--created", "1700000000",
                "-o", str(tmp_path / "car.tar"))
    assert local.code == 0, local.stderr
    target = f"{registry.host}/{repo_name}/car:1"
    pushed = cli("build", "-f", str(modelfile), "--format", "modelcar", "--created", "1700000000", "--push", target)
    assert pushed.code == 0, pushed.stderr
    assert digest_in(pushed.stdout) == digest_in(local.stdout)
    pulled = cli("pull", target, "-o", str(tmp_path / "pulled.tar"))
    assert pulled.code == 0, pulled.stderr
    assert cli("verify", str(tmp_path / "pulled.tar")).code == 0


def test_a_registry_base_image_whose_config_lies_about_a_gzip_layer_s_diff_id_is_refused(
        tmp_path: Path, cli, skopeo: Callable[..., str], registry, repo_name: str) -> None:
    """Planned against the registry's documents alone, the lie shows only once the layers are here: the pull of
    the base into the store checks the tar inside the gzip layer before the build carries its diff_id."""
    layout = write_image(tmp_path / "base-image")
    index = json.loads((layout / "index.json").read_text())
    blobs = layout / "blobs" / "sha256"
    manifest = json.loads((blobs / index["manifests"][0]["digest"][7:]).read_text())
    config = json.loads((blobs / manifest["config"]["digest"][7:]).read_text())
    truth, lie = config["rootfs"]["diff_ids"][1], "sha256:" + "2" * 64
    config["rootfs"]["diff_ids"][1] = lie
    manifest["config"] |= _put(blobs, json.dumps(config).encode())
    index["manifests"][0] |= _put(blobs, json.dumps(manifest).encode())
    (layout / "index.json").write_text(json.dumps(index))
    ref = f"{registry.host}/{repo_name}/liar:1"
    skopeo("copy", "--quiet", "--preserve-digests", "--retry-times", "0", "--dest-tls-verify=false",
           f"oci:{layout}:base:1", f"docker://{ref}")
    result = cli("build", "-f", str(_on(tmp_path, ref)), "--format", "modelcar", "-o", str(tmp_path / "car.tar"))
    assert (result.code, result.stdout) == (1, "")
    assert result.stderr == (
        f"error: refusing to store `{ref}`: rootfs.diff_ids[1] is {lie}, but layer 2 holds a tar of digest {truth}\n"
        "help: the registry's model is inconsistent; `pull -o FILE` copies it as it is\n")
    assert not (tmp_path / "car.tar").exists()
    assert Store().entries() == []


def _put(blobs: Path, data: bytes) -> dict[str, object]:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    (blobs / digest[7:]).write_bytes(data)
    return {"digest": digest, "size": len(data)}


def test_a_store_holding_a_pulled_base_image_still_verifies(tmp_path: Path, cli, skopeo: Callable[..., str],
                                                            registry, repo_name: str) -> None:
    """The store takes a container image only as a modelcar's base: `verify --store`, `verify REF` and
    `inspect REF` read it as one (a store that verified before the build must verify after it)."""
    ref, _ = _base_in_registry(tmp_path, skopeo, registry, repo_name)
    built = cli("build", "-f", str(_on(tmp_path, ref)), "--format", "modelcar", "-t", "tiny:car")
    assert built.code == 0, built.stderr
    whole = cli("verify", "--store")
    assert whole.code == 0, whole.stdout + whole.stderr
    one = cli("verify", ref)
    assert one.code == 0, one.stdout + one.stderr
    assert "OK:" in one.stdout
    shown = cli("inspect", ref)
    assert shown.code == 0, shown.stderr
    assert "modelcar" in shown.stdout
