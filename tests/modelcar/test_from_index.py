"""`FROM` a multi-platform container image (an OCI index) in a modelcar Modelfile.

A modelcar is built on one image: an index base is refused with what it is (an index of N platforms, named) and
how to build on one of them, instead of "its index lists 0 image manifests". The hint is followed here: skopeo
copies one platform out, and the build FROM it works.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from tests.modelcar.helpers import EPOCH, read, single_gguf
from tests.modelcar.images import write_index

REASON = ("it is an index of 2 platforms (linux/amd64, linux/arm64/v8), and a modelcar is built on one image: "
          "FROM a multi-platform image is not supported yet")
HINT = ("copy the platform the model is served on out of it, as `skopeo --override-arch ARCH copy "
        "SOURCE oci:DIR:TAG`, and build FROM that folder")


def _on_index(tmp_path: Path) -> Path:
    modelfile = single_gguf(tmp_path)
    write_index(modelfile.parent / "base")
    modelfile.write_text(modelfile.read_text().replace("FROM scratch", "FROM base"))
    return modelfile


def test_a_modelcar_from_a_multi_platform_image_is_refused_naming_its_platforms(tmp_path: Path, cli) -> None:
    modelfile = _on_index(tmp_path)
    refused = cli("build", "-f", str(modelfile), "--format", "modelcar", "-o", str(tmp_path / "car.tar"))
    assert refused.code == 2
    assert "error[MF057]: Cannot use `base` as a base" in refused.stderr
    assert f"= {REASON}" in refused.stderr
    assert f"help: {HINT.replace('SOURCE', 'oci:base:TAG')}" in refused.stderr
    assert not (tmp_path / "car.tar").exists()


def test_a_docker_build_from_a_multi_platform_image_is_refused_as_no_model(tmp_path: Path, cli) -> None:
    refused = cli("plan", "-f", str(_on_index(tmp_path)))
    assert refused.code == 2
    assert "= it is an index of 2 platforms (linux/amd64, linux/arm64/v8), not a model\n" in refused.stderr
    assert "help: FROM takes `scratch` or an archive or layout folder built by modeloci\n" in refused.stderr


def test_following_the_hint_builds_on_the_platform_copied_out(tmp_path: Path, cli,
                                                              skopeo: Callable[..., str]) -> None:
    modelfile = _on_index(tmp_path)
    folder = modelfile.parent
    skopeo("--override-arch", "arm64", "copy", f"oci:{folder / 'base'}:base:1", f"oci:{folder / 'arm'}:base:1")
    modelfile.write_text(modelfile.read_text().replace("FROM base", "FROM arm"))
    built = cli("build", "-f", str(modelfile), "--format", "modelcar", "-o", str(tmp_path / "car.tar"),
                "--created", str(EPOCH))
    assert built.code == 0, built.stderr
    config = read(tmp_path / "car.tar").config
    assert (config["architecture"], config["variant"], config["os"]) == ("arm64", "v8", "linux")
    assert json.loads(cli("verify", str(tmp_path / "car.tar"), "--json").stdout)["ok"] is True


def test_a_modelcar_from_a_multi_platform_image_in_a_registry_is_refused_naming_its_platforms(
        tmp_path: Path, cli, skopeo: Callable[..., str], registry, repo_name: str) -> None:
    modelfile = _on_index(tmp_path)
    ref = f"{registry.host}/{repo_name}/multi:1"
    skopeo("copy", "--quiet", "--all", "--preserve-digests", "--retry-times", "0", "--dest-tls-verify=false",
           f"oci:{modelfile.parent / 'base'}:base:1", f"docker://{ref}")
    modelfile.write_text(modelfile.read_text().replace("FROM base", f"FROM {ref}"))
    refused = cli("build", "-f", str(modelfile), "--format", "modelcar", "-o", str(tmp_path / "car.tar"))
    assert refused.code == 2
    assert f"= {REASON}" in refused.stderr
    assert f"help: {HINT.replace('SOURCE', f'docker://{ref}')}" in refused.stderr
    assert not (tmp_path / "car.tar").exists()
