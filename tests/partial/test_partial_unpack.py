"""``unpack --include/--exclude/--role``: only the chosen files, from an archive, a layout, the store and a model
kept in part; a hostile layer path stays refused whatever is chosen. (From a registry: tests/registry.)"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from modeloci import api
from modeloci.store import Store
from tests.hostile_archives import with_manifest
from tests.partial.helpers import LICENSE, ORIGIN_NAME, partial, three_quants, whole


def set_filepath(i: int, path: str) -> Callable[[dict[str, Any]], None]:
    def edit(doc: dict[str, Any]) -> None:
        doc["layers"][i]["annotations"]["org.cncf.model.filepath"] = path
    return edit


def files_of(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def built(tmp_path: Path) -> Path:
    """The three-quantization model as an archive."""
    archive = tmp_path / "tiny.tar"
    api.build(three_quants(tmp_path / "src"), archive)
    return archive


def test_unpack_include_from_an_archive_writes_only_the_matching_file(tmp_path: Path, cli) -> None:
    archive = built(tmp_path)
    out = tmp_path / "out"
    result = cli("unpack", str(archive), "-o", str(out), "--layout", "files", "--include", "*Q4_K_M*.gguf",
                 "--json")
    assert result.code == 0, result.stderr
    assert files_of(out) == {"tiny-Q4_K_M.gguf": (tmp_path / "src" / "tiny-Q4_K_M.gguf").read_bytes()}
    assert [f["path"] for f in json.loads(result.stdout)["files"]] == ["tiny-Q4_K_M.gguf"]


def test_unpack_role_from_a_layout_folder_writes_only_that_role(tmp_path: Path, cli) -> None:
    layout = tmp_path / "layout"
    assert cli("build", "-f", str(three_quants(tmp_path / "src")), "--layout", str(layout)).code == 0
    out = tmp_path / "out"
    result = cli("unpack", str(layout), "-o", str(out), "--layout", "files", "--role", "license")
    assert result.code == 0, result.stderr
    assert files_of(out) == {"LICENSE": LICENSE.encode()}
    assert result.stdout.splitlines()[-1] == f"Unpacked 1 files into {out}"


def test_unpack_one_quantization_of_a_stored_model_as_a_bundle(tmp_path: Path, cli) -> None:
    whole(tmp_path)
    out = tmp_path / "out"
    result = cli("unpack", "tiny:1", "-o", str(out), "--role", "weights", "--exclude", "*F16*", "--exclude",
                 "*Q8_0*")
    assert result.code == 0, result.stderr
    files = files_of(out)
    # One GGUF in a legacy bundle is `model.gguf`, as Docker Model Runner names it.
    assert sorted(files) == ["config.json", "model/model.gguf"]
    assert files["model/model.gguf"] == (tmp_path / "src" / "tiny-Q4_K_M.gguf").read_bytes()


def test_unpack_of_a_partial_model_takes_what_is_there_and_refuses_the_rest(tmp_path: Path, cli) -> None:
    partial(tmp_path)
    digest = Store().get("tiny:1").descriptor.digest
    rest = f"pull the rest with `modeloci pull {ORIGIN_NAME}@{digest} -t tiny:1`"
    everything = cli("unpack", "tiny:1", "-o", str(tmp_path / "all"), "--layout", "files")
    assert everything.code == 2
    assert everything.stderr.splitlines() == [
        "error: refusing to unpack `tiny:1`: it was pulled in part, and 3 of the layers this needs are absent: "
        "`tiny-F16.gguf` (weights), `tiny-Q8_0.gguf` (weights), `LICENSE` (license)",
        f"help: take what is there with --include or --role, or {rest}"]
    license_only = cli("unpack", "tiny:1", "-o", str(tmp_path / "lic"), "--role", "license")
    assert license_only.code == 2
    assert license_only.stderr.splitlines() == [
        "error: refusing to unpack `tiny:1`: it was pulled in part, and 1 of the layers this needs is absent: "
        "`LICENSE` (license)", f"help: {rest}"]
    there = cli("unpack", "tiny:1", "-o", str(tmp_path / "q4"), "--layout", "files", "--include", "*Q4_K_M*")
    assert there.code == 0, there.stderr
    assert files_of(tmp_path / "q4") == {"tiny-Q4_K_M.gguf": (tmp_path / "src" / "tiny-Q4_K_M.gguf").read_bytes()}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["q4", "src"]


def test_a_selection_matching_nothing_names_the_layers_and_writes_nothing(tmp_path: Path, cli) -> None:
    archive = built(tmp_path)
    result = cli("unpack", str(archive), "-o", str(tmp_path / "out"), "--include", "tokenizer/**")
    assert result.code == 2
    assert result.stderr.splitlines()[0] == (
        f"error: --include `tokenizer/**` matches no layer of `{archive}`; its layers are: `tiny-F16.gguf` (weights), "
        "`tiny-Q4_K_M.gguf` (weights), `tiny-Q8_0.gguf` (weights), `LICENSE` (license)")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src", "tiny.tar"]


def test_an_unknown_role_or_a_glob_climbing_out_is_a_usage_error(tmp_path: Path, cli) -> None:
    archive = built(tmp_path)
    role = cli("unpack", str(archive), "-o", str(tmp_path / "out"), "--role", "tokenizer")
    assert (role.code, role.stderr.splitlines()) == (2, [
        "error: --role `tokenizer` is not a role",
        "help: roles are weights, template, projector, license, config, docs"])
    climb = cli("unpack", str(archive), "-o", str(tmp_path / "out"), "--include", "x/../../*.gguf")
    assert climb.code == 2
    assert climb.stderr.splitlines()[0] == (
        "error: --include `x/../../*.gguf` can match no layer: layer paths are relative, inside the model")
    assert not (tmp_path / "out").exists()


def test_a_hostile_dotdot_layer_path_is_refused_whatever_the_selection_takes(tmp_path: Path, cli) -> None:
    archive = built(tmp_path)
    hostile, _ = with_manifest(archive, tmp_path / "hostile.tar", set_filepath(1, "../../evil.gguf"))
    before = sorted(p.name for p in tmp_path.iterdir())
    for args in (["--role", "weights"], ["--include", "**"], ["--exclude", "LICENSE"]):
        result = cli("unpack", str(hostile), "-o", str(tmp_path / "out"), "--layout", "files", *args)
        assert result.code == 1, args
        assert "has the unsafe path `../../evil.gguf`" in result.stderr.splitlines()[0], result.stderr
        assert sorted(p.name for p in tmp_path.iterdir()) == before
        assert not (tmp_path.parent / "evil.gguf").exists()
