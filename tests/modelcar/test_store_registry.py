"""A modelcar in the store and the registry: load, save, push and pull keep it byte for byte."""

from __future__ import annotations

import json
from pathlib import Path

from tests.modelcar.helpers import build_modelcar, single_gguf


def test_load_and_save_keep_a_modelcar_byte_for_byte(tmp_path: Path, cli) -> None:
    build_modelcar(single_gguf(tmp_path), tmp_path / "car.tar", reference="tiny:car")
    assert cli("load", str(tmp_path / "car.tar")).code == 0
    assert cli("verify", "tiny:car").code == 0
    assert cli("save", "tiny:car", "-o", str(tmp_path / "saved.tar")).code == 0
    assert (tmp_path / "saved.tar").read_bytes() == (tmp_path / "car.tar").read_bytes()
    listed = json.loads(cli("ls", "--json").stdout)
    assert [(m["reference"], m["format"]) for m in listed] == [("tiny:car", "modelcar")]


def test_push_and_pull_round_trip_a_modelcar_through_the_real_registry(tmp_path: Path, cli, registry,
                                                                       repo_name: str) -> None:
    built = build_modelcar(single_gguf(tmp_path), tmp_path / "car.tar", reference="tiny:car")
    reference = f"{registry.host}/{repo_name}:car"
    assert cli("push", str(tmp_path / "car.tar"), reference).code == 0
    pulled = cli("pull", reference, "--json")
    assert pulled.code == 0, pulled.stderr
    assert json.loads(pulled.stdout)["digest"] == str(built.manifest.digest)
    assert cli("save", reference, "-o", str(tmp_path / "pulled.tar")).code == 0
    assert cli("unpack", reference, "-o", str(tmp_path / "files"), "--layout", "files").code == 0
    for name in ("tiny-llama-F32.gguf", "LICENSE", "chat_template.jinja"):
        assert (tmp_path / "files" / name).read_bytes() == (tmp_path / "single-gguf" / name).read_bytes()


def test_build_push_of_a_modelcar_sends_the_tars_a_local_build_writes(tmp_path: Path, cli, registry,
                                                                      repo_name: str) -> None:
    """Twice, so the second push runs with the digest cache warm: the file's digest is never taken for its
    layer's, and the layers sent are the tars, not the files."""
    modelfile = single_gguf(tmp_path)
    built = build_modelcar(modelfile, tmp_path / "car.tar", reference="tiny:car")
    for run in ("cold", "warm"):
        reference = f"{registry.host}/{repo_name}-{run}:car"
        pushed = cli("build", "-f", str(modelfile), "--format", "modelcar", "--created", "1700000000", "-t",
                     "tiny:car", "--push", reference)
        assert (pushed.code, pushed.stdout.splitlines()[-1]) == (0, f"digest: {built.manifest.digest}"), pushed.stderr
        assert pushed.stdout.startswith("Stored tiny:car")  # a modelcar's tars are pushed from where they were written
        assert cli("pull", reference, "-o", str(tmp_path / f"{run}.tar")).code == 0
        assert cli("verify", str(tmp_path / f"{run}.tar")).code == 0


def test_build_push_of_a_modelcar_without_a_name_stores_it_under_its_registry_reference(
        tmp_path: Path, cli, registry, repo_name: str) -> None:
    modelfile = single_gguf(tmp_path)
    built = build_modelcar(modelfile, tmp_path / "car.tar")
    reference = f"{registry.host}/{repo_name}:car"
    pushed = cli("build", "-f", str(modelfile), "--format", "modelcar", "--created", "1700000000", "--push", reference)
    assert (pushed.code, pushed.stdout.splitlines()[-1]) == (0, f"digest: {built.manifest.digest}"), pushed.stderr
    listed = json.loads(cli("ls", "--json").stdout)
    assert [(m["reference"], m["digest"]) for m in listed] == [(reference, str(built.manifest.digest))]


def test_a_partial_pull_of_a_modelcar_fetches_only_the_chosen_files(tmp_path: Path, cli, registry,
                                                                    repo_name: str) -> None:
    """pull --include takes a modelcar's files by the paths its layers name, as any model's."""
    built = build_modelcar(single_gguf(tmp_path), tmp_path / "car.tar", reference="tiny:car")
    reference = f"{registry.host}/{repo_name}:car"
    assert cli("push", str(tmp_path / "car.tar"), reference).code == 0
    mark = registry.mark()
    assert cli("pull", reference, "--include", "LICENSE").code == 0
    license_layer = next(d for d in built.layers if d.annotations["org.cncf.model.filepath"] == "LICENSE")
    fetched = {path.rsplit("/", 1)[-1] for method, path, status in registry.requests(since=mark)
               if method == "GET" and "/blobs/" in path and status == 200}
    assert fetched == {str(license_layer.digest), str(built.config.digest)}
    assert cli("unpack", reference, "-o", str(tmp_path / "out"), "--layout", "files", "--include", "LICENSE").code == 0
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["LICENSE"]
