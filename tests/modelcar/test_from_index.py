"""`FROM` a multi-platform container image (an OCI index) in a modelcar Modelfile: a modelcar per platform.

A modelcar built on an index in a layout folder or archive is an index too: each platform's image is that
platform's base (its layers, its config: entrypoint, environment) with the model's layers on top, the model's
layers written once and the same in every platform's image, listed with the base index's platforms in its order
(attestation manifests, ``unknown/unknown``, left out). skopeo copies it whole (``--all``) between an archive, a
layout and the registry with its digest unchanged, and umoci unpacks each platform copied out of it. The store
holds one manifest per model: a multi-platform modelcar is refused there, and FROM one in a registry is refused
with how to copy it into a layout folder first.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.modelcar.helpers import EPOCH, read, single_gguf, umoci_unpack
from tests.modelcar.images import SHELL, write_index

INDEX = "application/vnd.oci.image.index.v1+json"
REF_NAME = "org.opencontainers.image.ref.name"
MODEL_FILES = ("tiny-llama-F32.gguf", "LICENSE", "chat_template.jinja")
REMOTE_REASON = ("it is an index of 2 platforms (linux/amd64, linux/arm64/v8) in a registry: a modelcar is built "
                 "on a multi-platform image from a layout folder or archive only, for now")
REMOTE_HINT = ("copy it into a layout folder, as `skopeo copy --all SOURCE oci:DIR:TAG`, and build FROM that folder "
               "(or copy one platform out with `--override-arch ARCH`)")
READ_REASON = "it is a multi-platform image, an index of 2 platforms (linux/amd64, linux/arm64/v8)"
READ_HINT = ("copy one platform out of it, as `skopeo --override-arch ARCH copy oci-archive:PATH oci:DIR:TAG` "
             "(`oci:PATH` for a folder)")


def _on_index(tmp_path: Path, *, attestation: bool = False) -> Path:
    modelfile = single_gguf(tmp_path)
    write_index(modelfile.parent / "base", attestation=attestation)
    modelfile.write_text(modelfile.read_text().replace("FROM scratch", "FROM base"))
    return modelfile


def _blob(folder: Path, digest: str) -> bytes:
    return (folder / "blobs" / "sha256" / digest.split(":")[1]).read_bytes()


def _base_manifests(base: Path) -> list[dict[str, Any]]:
    """The base index's platform entries and their manifests, in its order."""
    top = json.loads((base / "index.json").read_text())["manifests"][0]["digest"]
    index = json.loads(_blob(base, top))
    return [{**entry, "manifest": json.loads(_blob(base, entry["digest"]))} for entry in index["manifests"]
            if entry["platform"]["os"] != "unknown"]


def _built(tmp_path: Path, cli, *extra: str, attestation: bool = False) -> tuple[Path, Path]:
    modelfile = _on_index(tmp_path, attestation=attestation)
    car = tmp_path / "car.tar"
    built = cli("build", "-f", str(modelfile), "--format", "modelcar", "-o", str(car), "--created", str(EPOCH),
                "-t", "multi:1", *extra)
    assert built.code == 0, built.stderr
    return car, modelfile.parent / "base"


def test_a_modelcar_from_a_multi_platform_image_is_an_image_per_platform_listed_in_an_index(
        tmp_path: Path, cli) -> None:
    car, base = _built(tmp_path, cli)
    archive = read(car)
    assert archive.index == {"schemaVersion": 2, "mediaType": INDEX, "manifests": [
        {"mediaType": INDEX, "digest": archive.index["manifests"][0]["digest"],
         "size": archive.index["manifests"][0]["size"], "annotations": {REF_NAME: "multi:1"}}]}
    top = archive.index["manifests"][0]
    index_bytes = archive.files["blobs/sha256/" + top["digest"].split(":")[1]]
    assert (len(index_bytes), "sha256:" + hashlib.sha256(index_bytes).hexdigest()) == (top["size"], top["digest"])
    index = json.loads(index_bytes)
    assert (index["schemaVersion"], index["mediaType"]) == (2, INDEX)
    bases = _base_manifests(base)
    assert [m["platform"] for m in index["manifests"]] == [
        {"architecture": "amd64", "os": "linux"}, {"architecture": "arm64", "os": "linux", "variant": "v8"}]
    model_layers = []
    for entry, base_entry in zip(index["manifests"], bases, strict=True):
        manifest = json.loads(archive.files["blobs/sha256/" + entry["digest"].split(":")[1]])
        assert entry["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
        assert manifest["layers"][:2] == base_entry["manifest"]["layers"]  # the platform's own base layers
        model_layers.append(manifest["layers"][2:])
        config = json.loads(archive.files["blobs/sha256/" + manifest["config"]["digest"].split(":")[1]])
        base_config = json.loads(_blob(base, base_entry["manifest"]["config"]["digest"]))
        platform = {k: config[k] for k in ("architecture", "os", "variant") if k in config}
        assert platform == base_entry["platform"]
        assert (config["config"]["Entrypoint"], config["config"]["Env"]) == (["/bin/sh", "-c"],
                                                                            ["PATH=/bin", "MODEL_DIR=/models"])
        assert config["config"]["Labels"]["org.opencontainers.image.vendor"] == "base-vendor"
        assert config["config"]["Labels"]["org.cncf.model.architecture"] == "llama"
        assert config["rootfs"]["diff_ids"][:2] == base_config["rootfs"]["diff_ids"]
        assert config["rootfs"]["diff_ids"][2:] == [d["digest"] for d in manifest["layers"][2:]]
        assert [h["created_by"] for h in config["history"]] == [
            "ADD sh /bin/sh", "ENV PATH=/bin", "ADD motd /etc/motd", *(f"modeloci: /models/{f}" for f in MODEL_FILES)]
    assert model_layers[0] == model_layers[1] and len(model_layers[0]) == 3  # the same model layers on each
    assert len(archive.names) == len(set(archive.names))  # every blob once
    assert "manifest.json" not in archive.names  # docker's load file lists one image: none for an index


def test_attestation_manifests_of_the_base_index_are_left_out(tmp_path: Path, cli) -> None:
    car, _ = _built(tmp_path, cli, attestation=True)
    archive = read(car)
    index = json.loads(archive.files["blobs/sha256/" + archive.index["manifests"][0]["digest"].split(":")[1]])
    assert [m["platform"] for m in index["manifests"]] == [
        {"architecture": "amd64", "os": "linux"}, {"architecture": "arm64", "os": "linux", "variant": "v8"}]


def test_the_same_inputs_give_the_same_multi_platform_modelcar_byte_for_byte(tmp_path: Path, cli) -> None:
    car, _ = _built(tmp_path / "one", cli)
    again, _ = _built(tmp_path / "two", cli)
    assert car.read_bytes() == again.read_bytes()
    modelfile = tmp_path / "two" / "single-gguf" / "Modelfile"
    layout = tmp_path / "layout"
    built = cli("build", "-f", str(modelfile), "--format", "modelcar", "--layout", str(layout), "--created",
                str(EPOCH), "-t", "multi:1")
    assert built.code == 0, built.stderr
    assert json.loads((layout / "index.json").read_text()) == read(car).index  # nested, as skopeo --all writes it
    assert sorted(p.name for p in (layout / "blobs" / "sha256").iterdir()) == sorted(
        n.split("/")[-1] for n in read(car).names if n.startswith("blobs/sha256/") and len(n) > 14)


def test_skopeo_copies_every_platform_and_umoci_unpacks_each_with_its_base(
        tmp_path: Path, cli, skopeo: Callable[..., str]) -> None:
    car, _ = _built(tmp_path, cli)
    digest = read(car).index["manifests"][0]["digest"]
    layout = tmp_path / "layout"
    skopeo("copy", "--quiet", "--all", "--preserve-digests", f"oci-archive:{car}:multi:1", f"oci:{layout}:multi:1")
    raw = skopeo("inspect", "--raw", f"oci:{layout}:multi:1")
    assert "sha256:" + hashlib.sha256(raw.encode()).hexdigest() == digest
    assert len(json.loads(raw)["manifests"]) == 2
    context = tmp_path / "single-gguf"
    for arch, marker in (("amd64", b""), ("arm64", b"arm")):
        one = tmp_path / f"one-{arch}"
        skopeo("--override-arch", arch, "copy", "--quiet", f"oci:{layout}:multi:1", f"oci:{one}:x")
        rootfs = umoci_unpack(one, "x", tmp_path / f"bundle-{arch}")
        assert (rootfs / "bin" / "sh").read_bytes() == SHELL
        assert (rootfs / "etc" / "motd").read_bytes() == b"hello from the base " + marker + b"\n"
        for name in MODEL_FILES:
            found = rootfs / "models" / name
            assert found.read_bytes() == (context / name).read_bytes()
            assert stat.S_IMODE(found.stat().st_mode) == 0o444


def test_a_multi_platform_modelcar_keeps_its_digest_in_the_registry(
        tmp_path: Path, cli, skopeo: Callable[..., str], registry, repo_name: str) -> None:
    car, _ = _built(tmp_path, cli)
    digest = read(car).index["manifests"][0]["digest"]
    ref = f"{registry.host}/{repo_name}/multi:1"
    skopeo("copy", "--quiet", "--all", "--preserve-digests", "--retry-times", "0", "--dest-tls-verify=false",
           f"oci-archive:{car}:multi:1", f"docker://{ref}")
    raw = skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{ref}")
    assert "sha256:" + hashlib.sha256(raw.encode()).hexdigest() == digest


def test_a_multi_platform_modelcar_is_refused_by_the_store_before_anything_is_written(tmp_path: Path, cli) -> None:
    modelfile = _on_index(tmp_path)
    refused = cli("build", "-f", str(modelfile), "--format", "modelcar", "-t", "multi:1")
    assert refused.code == 2
    assert refused.stderr == ("error: a multi-platform modelcar can be written to an archive or a layout, not into "
                              "the store\nhelp: build it with `-o OUT.tar` or `--layout DIR`; push it with "
                              "`skopeo copy --all`\n")
    assert "multi" not in cli("ls").stdout
    blobs = Path(os.environ["MODELOCI_HOME"]) / "blobs" / "sha256"
    assert not blobs.exists() or not any(blobs.iterdir())  # refused before a layer was written


def test_a_multi_platform_modelcar_is_not_attested_yet(tmp_path: Path, cli) -> None:
    modelfile = _on_index(tmp_path)
    refused = cli("build", "-f", str(modelfile), "--format", "modelcar", "-o", str(tmp_path / "car.tar"), "--sbom")
    assert refused.code == 2
    assert refused.stderr.endswith("error: a multi-platform modelcar is not signed or attested by modeloci yet\n"
                                   "help: build it without --sign, --provenance and --sbom\n")
    assert not (tmp_path / "car.tar").exists()


def test_inspect_of_a_multi_platform_modelcar_names_its_platforms(tmp_path: Path, cli) -> None:
    car, _ = _built(tmp_path, cli)
    refused = cli("inspect", str(car))
    assert refused.code == 1
    assert refused.stderr == f"error: {READ_REASON}\nhelp: {READ_HINT}\n"


def test_unpack_of_a_multi_platform_modelcar_takes_linux_amd64_or_the_platform_asked_for(
        tmp_path: Path, cli) -> None:
    car, _ = _built(tmp_path, cli)
    context = tmp_path / "single-gguf"
    for platform in ((), ("--platform", "linux/arm64/v8"), ("--platform", "linux/arm64")):
        out = tmp_path / f"out{len(platform)}{platform[-1].count('/') if platform else ''}"
        done = cli("unpack", str(car), "-o", str(out), "--layout", "files", "--json", *platform)
        assert done.code == 0, done.stderr
        assert json.loads(done.stdout)["format"] == "modelcar"
        assert sorted(p.name for p in out.iterdir()) == sorted(MODEL_FILES)
        for name in MODEL_FILES:
            assert (out / name).read_bytes() == (context / name).read_bytes()


def test_unpack_of_a_platform_the_modelcar_lacks_is_refused_naming_its_platforms(tmp_path: Path, cli) -> None:
    car, _ = _built(tmp_path, cli)
    refused = cli("unpack", str(car), "-o", str(tmp_path / "out"), "--platform", "linux/s390x")
    assert refused.code == 1
    assert refused.stderr == (f"error: `{car}` is an index of 2 platforms (linux/amd64, linux/arm64/v8), with no "
                              "image for linux/s390x\nhelp: choose one with `--platform OS/ARCH[/VARIANT]`\n")
    assert not (tmp_path / "out").exists()


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
    assert f"= {REMOTE_REASON}" in refused.stderr
    assert f"help: {REMOTE_HINT.replace('SOURCE', f'docker://{ref}')}" in refused.stderr
    assert not (tmp_path / "car.tar").exists()


def test_a_multi_platform_base_whose_images_hold_a_model_is_refused(tmp_path: Path, cli) -> None:
    modelfile = _on_index(tmp_path)
    folder = modelfile.parent
    built = cli("build", "-f", str(modelfile), "--format", "modelcar", "--layout", str(folder / "car"),
                "--created", str(EPOCH), "-t", "multi:1")
    assert built.code == 0, built.stderr
    modelfile.write_text(modelfile.read_text().replace("FROM base", "FROM car"))
    refused = cli("build", "-f", str(modelfile), "--format", "modelcar", "-o", str(tmp_path / "again.tar"))
    assert refused.code == 2
    assert ("= its linux/amd64 image holds model files (tiny-llama-F32.gguf); a multi-platform base must be a "
            "container image without a model\n") in refused.stderr
    assert "help: run `modeloci verify car` to list every problem\n" in refused.stderr
    assert not (tmp_path / "again.tar").exists()


def test_inspect_platform_shows_that_platforms_image(tmp_path: Path, cli) -> None:
    car, _ = _built(tmp_path, cli)
    archive = read(car)
    index = json.loads(archive.files["blobs/sha256/" + archive.index["manifests"][0]["digest"].split(":")[1]])
    for place, platform in ((0, "linux/amd64"), (1, "linux/arm64/v8")):
        shown = cli("inspect", str(car), "--platform", platform, "--json")
        assert shown.code == 0, shown.stderr
        report = json.loads(shown.stdout)
        assert (report["format"], report["manifest_digest"]) == ("modelcar", index["manifests"][place]["digest"])
        assert [layer["path"] for layer in report["layers"]][2:] == list(MODEL_FILES)
        assert report["referrers"] == []
