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
from tests.partial.helpers import three_quants
from tests.registry.helpers import digest_in, manifest_of, pull_counts


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


def test_an_unknown_role_is_a_usage_error_naming_the_roles_before_any_request(registry, pushed, cli) -> None:
    mark = registry.mark()
    result = cli("pull", pushed.ref, "--role", "weight")
    assert result.code == 2
    assert result.stderr.splitlines() == ["error: --role `weight` is not a role",
                                          "help: roles are weights, template, projector, license, config, docs"]
    assert registry.requests(mark) == []


def test_a_selection_that_matches_nothing_names_the_layers_and_fetches_no_layer(registry, pushed, cli) -> None:
    mark = registry.mark()
    result = cli("pull", pushed.ref, "--include", "*Q5*", "--role", "projector")
    assert result.code == 2
    assert result.stderr.splitlines()[0] == (
        f"error: --include `*Q5*` --role `projector` matches no layer of `{pushed.ref}`; its layers are: "
        "`tiny-F16.gguf` (weights), `tiny-Q4_K_M.gguf` (weights), `tiny-Q8_0.gguf` (weights), `LICENSE` (license)")
    assert blob_gets(registry, mark) == [pushed.config]  # the config names the roles; no layer was fetched
    assert Store().find(pushed.ref) is None


def test_a_partial_pull_into_an_archive_or_layout_is_refused_before_any_request(registry, pushed, cli,
                                                                                 tmp_path: Path) -> None:
    mark = registry.mark()
    for where in (["-o", str(tmp_path / "m.tar")], ["--layout", str(tmp_path / "layout")]):
        result = cli("pull", pushed.ref, "--role", "weights", *where)
        assert result.code == 2
        assert result.stderr.splitlines()[0] == (
            "error: only the store keeps part of a model: an archive or a layout folder holds whole ones")
    assert registry.requests(mark) == [] and list(tmp_path.iterdir()) == [tmp_path / "built.tar", tmp_path / "src"]


def test_exclude_and_role_together_take_the_weights_but_one(registry, pushed, cli) -> None:
    mark = registry.mark()
    result = cli("pull", pushed.ref, "--role", "weights", "--exclude", "tiny-F16.gguf", "--json")
    assert result.code == 0, result.stderr
    assert blob_gets(registry, mark) == sorted([*pushed.weights("Q4_K_M", "Q8_0"), pushed.config])
    assert json.loads(result.stdout)["absent"] == ["tiny-F16.gguf", "LICENSE"]


def test_unpack_include_straight_from_the_registry_fetches_one_blob_and_stores_nothing(registry, pushed, cli,
                                                                                       tmp_path: Path) -> None:
    out = tmp_path / "unpacked" / "q4"
    mark = registry.mark()
    result = cli("unpack", pushed.ref, "-o", str(out), "--layout", "files", "--include", "*Q4_K_M*.gguf")
    assert result.code == 0, result.stderr
    assert blob_gets(registry, mark) == sorted([*pushed.weights("Q4_K_M"), pushed.config])
    assert files_of(out) == {"tiny-Q4_K_M.gguf": (tmp_path / "src" / "tiny-Q4_K_M.gguf").read_bytes()}
    assert sorted(p.name for p in out.parent.iterdir()) == ["q4"]  # the staging folder is gone
    assert Store().entries() == [] and not any(Store().blobs.glob("*"))


def test_unpack_of_a_whole_registry_model_fetches_each_blob_once_and_stores_nothing(registry, pushed, cli,
                                                                                    tmp_path: Path) -> None:
    out = tmp_path / "all"
    mark = registry.mark()
    result = cli("unpack", pushed.ref, "-o", str(out), "--layout", "files")
    assert result.code == 0, result.stderr
    assert blob_gets(registry, mark) == sorted([*pushed.paths.values(), pushed.config])
    assert files_of(out) == {p.name: p.read_bytes() for p in (tmp_path / "src").iterdir() if p.name != "Modelfile"}
    assert Store().entries() == [] and not any(Store().blobs.glob("*"))


ATTACKS = {"long-blob": "is longer than its descriptor's 65536 bytes",
           "corrupt-blob": "does not match its digest",
           "short-blob": "is shorter than its descriptor's 65536 bytes (65532 received)",
           "huge-layer": "a size of 1 PiB, more than modeloci takes for one blob (16 TiB)"}


@pytest.mark.parametrize("attack", ATTACKS)
def test_a_hostile_registry_cannot_make_unpack_from_it_write_or_store_other_bytes(hostile, cli, tmp_path: Path,
                                                                                  attack: str) -> None:
    h = hostile(attack)
    out = tmp_path / "new" / "out"
    result = cli("unpack", f"{h.host}/team/model:v1", "-o", str(out), "--role", "weights")
    assert result.code == 1, result.stderr
    first = result.stderr.splitlines()[0]
    assert first.startswith("error: ") and ATTACKS[attack] in first, first
    assert list(tmp_path.iterdir()) == []  # no output, no staging folder, no parent folder made
    assert Store().entries() == [] and not any(Store().blobs.glob("*"))


def files_of(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_two_partial_pulls_keep_the_union_and_stay_partial_until_all_is_there(registry, pushed, cli) -> None:
    assert cli("pull", pushed.ref, "--include", "*Q4_K_M*.gguf").code == 0
    mark = registry.mark()
    second = cli("pull", pushed.ref, "--role", "license", "--json")
    assert second.code == 0, second.stderr
    assert blob_gets(registry, mark) == sorted([pushed.paths["LICENSE"], pushed.config])
    assert json.loads(second.stdout)["absent"] == ["tiny-F16.gguf", "tiny-Q8_0.gguf"]
    rows = json.loads(cli("ls", "--json").stdout)
    assert [(row["reference"], row["absent"]) for row in rows] == [(pushed.ref, ["tiny-F16.gguf", "tiny-Q8_0.gguf"])]


@pytest.mark.parametrize("attack", ATTACKS)
def test_a_hostile_registry_cannot_make_a_partial_pull_store_other_bytes(hostile, cli, attack: str) -> None:
    h = hostile(attack)
    result = cli("pull", f"{h.host}/team/model:v1", "--role", "weights")
    assert result.code == 1, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and ATTACKS[attack] in errors[0], result.stderr
    assert Store().entries() == [] and not any(Store().blobs.glob("*"))


def test_the_pull_a_refusal_suggests_fetches_the_rest(registry, pushed, cli, tmp_path: Path) -> None:
    assert cli("pull", pushed.ref, "--include", "*Q8_0*").code == 0
    refused = cli("save", pushed.ref, "-o", str(tmp_path / "m.tar"))
    assert refused.code == 2
    hint = refused.stderr.splitlines()[-1]
    assert hint.startswith("help: pull the rest with `modeloci pull ") and hint.endswith(f" -t {pushed.ref}`")
    suggested = hint.split("`")[1].split()[2:]
    mark = registry.mark()
    rest = cli("pull", *suggested)
    assert rest.code == 0, rest.stderr
    assert blob_gets(registry, mark) == sorted([*pushed.weights("F16", "Q4_K_M"), pushed.paths["LICENSE"],
                                                pushed.config])
    assert cli("save", pushed.ref, "-o", str(tmp_path / "m.tar")).code == 0
