"""`FROM <registry>/<repo>:<tag>` in either format, into either output format, from a cold store.

A base in the other format than the output's has its facts re-derived from its weights' headers, so its weight
layers must be read: they are pulled into the store (checked against their digests) when that is needed, instead of
failing with MF057 "a layer in a registry has no local file". The oracle is the same build FROM the base's archive.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from modeloci.store import Store
from tests.archive_tools import copy_example
from tests.registry.helpers import build, digest_in

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _rebase(folder: Path, base: str) -> Path:
    """A Modelfile on ``base`` that replaces its chat template (the rebase example, without CONFIG context_size,
    which ModelPack cannot hold)."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(EXAMPLES / "rebase" / "chat template.jinja", folder / "chat template.jinja")
    (folder / "Modelfile").write_text(f'FROM {base}\nCHAT_TEMPLATE "chat template.jinja"\n')
    return folder / "Modelfile"


@pytest.mark.parametrize("base_format", ["docker", "modelpack"])
@pytest.mark.parametrize("output_format", ["docker", "modelpack"])
def test_from_a_registry_model_builds_in_either_format_from_a_cold_store(
        registry, repo_name, cli, tmp_path: Path, base_format: str, output_format: str) -> None:
    ref = f"{registry.host}/{repo_name}/base:v1"
    base, _ = build(cli, tmp_path, out="base.tar", args=("--format", base_format))
    assert cli("push", str(base), ref).code == 0
    assert Store().entries() == []  # nothing cached: the base is only in the registry

    built = cli("build", "-f", str(_rebase(tmp_path / "remote", ref)), "--format", output_format,
                "-o", str(tmp_path / "remote.tar"))
    assert built.code == 0, built.stderr
    assert "MF057" not in built.stderr

    (tmp_path / "local").mkdir()
    shutil.copy(base, tmp_path / "local" / "base.tar")
    local = cli("build", "-f", str(_rebase(tmp_path / "local", "base.tar")), "--format", output_format,
                "-o", str(tmp_path / "local.tar"))
    assert local.code == 0, local.stderr
    assert digest_in(built.stdout) == digest_in(local.stdout)
    assert (tmp_path / "remote.tar").read_bytes() == (tmp_path / "local.tar").read_bytes()


def test_push_takes_one_model_of_a_layout_that_holds_two(registry, repo_name, cli, tmp_path: Path) -> None:
    """`push DIR:NAME`: a layout folder two builds wrote into once could not be pushed at all."""
    layout = tmp_path / "models"
    for example, name in (("single-gguf", "tiny:1"), ("sharded-vision", "vision:2")):
        modelfile = copy_example(example, tmp_path / "src")
        assert cli("build", "-f", str(modelfile), "-t", name, "--layout", str(layout)).code == 0
    archive, digest = build(cli, tmp_path, "sharded-vision", tag="vision:2", out="vision.tar")
    ref = f"{registry.host}/{repo_name}:v2"

    refused = cli("push", str(layout), ref)
    assert refused.code != 0 and f"error: `{layout}` holds 2 models: `tiny:1`, `vision:2`" in refused.stderr

    pushed = cli("push", f"{layout}:vision:2", ref)
    assert pushed.code == 0, pushed.stderr
    assert digest_in(pushed.stdout) == digest
    assert cli("pull", ref, "-o", str(tmp_path / "pulled.tar"), "-t", "vision:2").code == 0
    assert (tmp_path / "pulled.tar").read_bytes() == archive.read_bytes()


@pytest.mark.parametrize("output", ["store", "layout", "push"])
def test_from_a_registry_model_in_the_other_format_into_every_output(registry, repo_name, cli, tmp_path: Path,
                                                                     monkeypatch, output: str) -> None:
    """A ModelPack base in a registry, a Docker build into the store, a layout folder, or pushed back to the
    registry: the same model `-o` gives."""
    ref, out_ref = f"{registry.host}/{repo_name}/base:v1", f"{registry.host}/{repo_name}/out:v1"
    base, _ = build(cli, tmp_path, out="base.tar", args=("--format", "modelpack"))
    assert cli("push", str(base), ref).code == 0
    modelfile = _rebase(tmp_path / "ctx", ref)
    expected = cli("build", "-f", str(modelfile), "-t", out_ref, "-o", str(tmp_path / "expected.tar"))
    assert expected.code == 0, expected.stderr
    monkeypatch.setenv("MODELOCI_HOME", str(tmp_path / "cold"))  # the -o build pulled the base into its store
    assert Store().entries() == []
    where = {"store": ("-t", out_ref), "layout": ("-t", out_ref, "--layout", str(tmp_path / "layout")),
             "push": ("--push", out_ref)}[output]
    built = cli("build", "-f", str(modelfile), *where)
    assert built.code == 0, built.stderr
    assert digest_in(built.stdout) == digest_in(expected.stdout)
