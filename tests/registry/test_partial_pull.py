"""`pull --include/--exclude/--role` against a real registry (distribution 2.8): part of a model, and the rest later.

What is fetched is read from the registry's own request log: a model with three GGUF quantizations pulled with
`--include '*Q4_K_M*.gguf'` fetches exactly one weight blob (and the manifest, config and license it does not
hold); the later full pull fetches only the other two. The store keeps the model as partial in between.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modeloci.store import Store
from tests.factories import STRING, gguf
from tests.registry.helpers import digest_in, manifest_of, pull_counts

QUANTS = ("Q4_K_M", "Q8_0", "F16")
LICENSE = "Apache-2.0, for the tests\n"


def three_quants(folder: Path) -> Path:
    """A Modelfile of three GGUF quantizations of one tiny model (three weight files, each its own blob) and a
    license."""
    folder.mkdir(parents=True, exist_ok=True)
    for n, quant in enumerate(QUANTS):
        gguf(folder / f"tiny-{quant}.gguf", metadata=[("general.name", STRING, f"tiny {quant}")],
             tensors=[("blk.0.w", (8, 8 + n), 0)])
    (folder / "LICENSE").write_text(LICENSE)
    weights = " ".join(f"tiny-{q}.gguf" for q in QUANTS)
    (folder / "Modelfile").write_text(f"FROM scratch\nWEIGHTS {weights}\nLICENSE LICENSE\n")
    return folder / "Modelfile"


class Pushed:
    """The three-quantization model in the registry: its reference, each layer's path -> digest, its config's
    digest."""

    def __init__(self, ref: str, paths: dict[str, str], config: str) -> None:
        self.ref, self.paths, self.config = ref, paths, config

    def weights(self, *quants: str) -> list[str]:
        return [self.paths[f"tiny-{q}.gguf"] for q in quants]


@pytest.fixture
def pushed(registry, repo_name, cli, tmp_path: Path) -> Pushed:
    ref = f"{registry.host}/{repo_name}:v1"
    built = tmp_path / "built.tar"
    assert cli("build", "-f", str(three_quants(tmp_path / "src")), "-o", str(built)).code == 0
    assert cli("push", str(built), ref).code == 0
    layers = json.loads(cli("inspect", str(built), "--json").stdout)["layers"]
    paths = {layer["path"]: layer["digest"] for layer in layers}
    assert sorted(paths) == ["LICENSE", "tiny-F16.gguf", "tiny-Q4_K_M.gguf", "tiny-Q8_0.gguf"]
    assert len(set(paths.values())) == 4
    return Pushed(ref, paths, json.loads(manifest_of(built))["config"]["digest"])


def blob_gets(registry, mark: int) -> list[str]:
    """The digests of the blobs the registry was asked for since ``mark`` (GETs), sorted."""
    return sorted(r.path.rsplit("/", 1)[1] for r in registry.requests(mark)
                  if r.method == "GET" and "/blobs/" in r.path)


def test_pull_include_fetches_one_quantization_and_the_full_pull_only_the_rest(registry, pushed, cli) -> None:
    mark = registry.mark()
    partial = cli("pull", pushed.ref, "--include", "*Q4_K_M*.gguf")
    assert partial.code == 0, partial.stderr
    assert blob_gets(registry, mark) == sorted([*pushed.weights("Q4_K_M"), pushed.config])  # one weight blob
    assert pull_counts(partial) == (1, 0)
    assert "partial: 3 layers left in the registry (tiny-F16.gguf, tiny-Q8_0.gguf, LICENSE)" in partial.stdout
    assert Store().get(pushed.ref).descriptor.annotations["org.modeloci.partial"] == "true"

    mark = registry.mark()
    full = cli("pull", pushed.ref)
    assert full.code == 0, full.stderr
    assert blob_gets(registry, mark) == sorted([*pushed.weights("F16", "Q8_0"), pushed.paths["LICENSE"],
                                                pushed.config])  # the other two, never the first again
    assert pull_counts(full) == (3, 1) and "partial" not in full.stdout
    assert digest_in(full.stdout) == digest_in(partial.stdout)
    assert "org.modeloci.partial" not in Store().get(pushed.ref).descriptor.annotations
    assert cli("verify", pushed.ref).code == 0
