"""A model kept in part in the store (``pull --include``): ls and verify say what is absent, push and save refuse
it, prune keeps what it holds; a blob missing from a whole model is still damage."""

from __future__ import annotations

import json
from pathlib import Path

from modeloci import api
from modeloci.builder import build_store
from modeloci.store import Store
from tests.archive_tools import copy_example
from tests.partial.helpers import KEPT, ORIGIN_NAME, partial, whole
from tests.workflow.schemas import LsOutput, VerifyOutput

ABSENT = ["tiny-F16.gguf", "tiny-Q8_0.gguf", "LICENSE"]


def _rest(digest: str) -> str:
    return f"pull the rest with `modeloci pull {ORIGIN_NAME}@{digest} -t tiny:1`"


def test_ls_names_the_absent_layers_of_a_partial_model(tmp_path: Path, cli) -> None:
    partial(tmp_path / "a")
    build_store(api.plan(copy_example("single-gguf", tmp_path / "b"), reference="other:1"), Store())
    rows = LsOutput.model_validate(json.loads(cli("ls", "--json").stdout)).root
    assert [(row.reference, row.absent) for row in rows] == [("tiny:1", ABSENT), ("other:1", [])]
    lines = cli("ls").stdout.splitlines()
    assert lines[0].split()[-1] == "partial"
    assert lines[1].endswith("3 absent") and lines[2].split()[-1] != "absent"


def test_a_partial_model_whose_absent_blobs_arrive_with_another_model_is_whole_again(tmp_path: Path, cli) -> None:
    partial(tmp_path / "a")
    whole(tmp_path / "b", "again:1")  # the same files: the absent blobs are stored again
    assert [row["absent"] for row in json.loads(cli("ls", "--json").stdout)] == [[], []]
    result = cli("verify", "tiny:1")
    assert (result.code, result.stderr) == (0, "")
    assert cli("save", "tiny:1", "-o", str(tmp_path / "t.tar")).code == 0


def test_ls_of_whole_models_has_no_partial_column(tmp_path: Path, cli) -> None:
    whole(tmp_path)
    assert "partial" not in cli("ls").stdout
    assert json.loads(cli("ls", "--json").stdout)[0]["absent"] == []


def test_verify_of_a_partial_model_checks_what_is_there_and_names_what_is_absent(tmp_path: Path, cli) -> None:
    paths = partial(tmp_path)
    digest = Store().get("tiny:1").descriptor.digest
    result = cli("verify", "tiny:1")
    assert result.code == 0, result.stderr
    warning = (f"warning: partial: 3 of 4 layers absent, as pulled in part (`tiny-F16.gguf`, `tiny-Q8_0.gguf`, "
               f"`LICENSE`); the others were checked; {_rest(str(digest))}")
    assert result.stderr.splitlines() == [warning]
    report = VerifyOutput.model_validate(json.loads(cli("verify", "tiny:1", "--json").stdout))
    assert report.ok and report.blobs_checked == 1
    assert report.bytes_checked == Store().blob_path(_digest(paths[KEPT])).stat().st_size


def test_a_changed_blob_of_a_partial_model_still_fails_verify(tmp_path: Path, cli) -> None:
    paths = partial(tmp_path)
    blob = Store().blob_path(_digest(paths[KEPT]))
    data = bytearray(blob.read_bytes())
    data[-1] ^= 1
    blob.chmod(0o644)
    blob.write_bytes(bytes(data))
    result = cli("verify", "tiny:1")
    assert result.code == 1
    assert f"error: layer 1 blob {paths[KEPT]} does not match its digest" in result.stderr


def test_a_missing_blob_of_a_whole_model_is_still_an_error(tmp_path: Path, cli) -> None:
    store = whole(tmp_path)
    layers = json.loads(cli("inspect", "tiny:1", "--json").stdout)["layers"]
    license_digest = next(layer["digest"] for layer in layers if layer["path"] == "LICENSE")
    store.blob_path(_digest(license_digest)).unlink()
    result = cli("verify", "tiny:1")
    assert result.code == 1
    assert f"error: layer 4 blob {license_digest} is missing" in result.stderr.splitlines()
    assert "partial" not in result.stderr


def test_save_refuses_a_partial_model_and_writes_nothing(tmp_path: Path, cli) -> None:
    partial(tmp_path)
    digest = Store().get("tiny:1").descriptor.digest
    out = tmp_path / "out" / "tiny.tar"
    result = cli("save", "tiny:1", "-o", str(out))
    assert result.code == 2
    assert result.stderr.splitlines()[:2] == [
        "error: refusing to save `tiny:1`: it was pulled in part, and 3 of the layers this needs are absent: "
        "`tiny-F16.gguf` (weights), `tiny-Q8_0.gguf` (weights), `LICENSE` (license)",
        f"help: {_rest(str(digest))}"]
    assert not out.exists() and not out.parent.exists()


def test_push_refuses_a_partial_model_before_contacting_the_registry(tmp_path: Path, cli) -> None:
    partial(tmp_path)
    # Nothing listens on port 9: a push that tried to send anything would fail to connect instead.
    result = cli("push", "tiny:1", "127.0.0.1:9/models/tiny:1")
    digest = Store().get("tiny:1").descriptor.digest
    assert result.code == 2
    assert result.stderr.splitlines()[-2:] == [(
        "error: refusing to push `tiny:1`: it was pulled in part, and 3 of the layers this needs are absent: "
        "`tiny-F16.gguf` (weights), `tiny-Q8_0.gguf` (weights), `LICENSE` (license)"), f"help: {_rest(str(digest))}"]


def test_prune_keeps_the_blobs_a_partial_model_holds(tmp_path: Path, cli) -> None:
    paths = partial(tmp_path)
    before = sorted(p.name for p in Store().blobs.iterdir())
    assert _digest(paths[KEPT]).hex in before
    assert json.loads(cli("prune", "--json").stdout)["files"] == 0
    assert sorted(p.name for p in Store().blobs.iterdir()) == before
    assert cli("verify", "--store").code == 0


def test_a_second_tag_of_a_partial_model_is_partial_too(tmp_path: Path, cli) -> None:
    partial(tmp_path)
    assert cli("tag", "tiny:1", "tiny:2").code == 0
    assert cli("save", "tiny:2", "-o", str(tmp_path / "t.tar")).code == 2


def _digest(text: str):
    from modeloci.oci.digest import Digest

    return Digest.parse(text)


def test_convert_refuses_a_partial_model_naming_what_is_absent_and_the_pull_that_fetches_it(tmp_path: Path,
                                                                                            cli) -> None:
    partial(tmp_path)
    digest = Store().get("tiny:1").descriptor.digest
    for where in (("-o", str(tmp_path / "out" / "tiny.tar")), ("-t", "tiny:modelpack")):
        result = cli("convert", "tiny:1", "--format", "modelpack", *where)
        assert result.code == 2, result.stderr
        assert result.stderr.splitlines()[:2] == [
            "error: refusing to convert `tiny:1`: it was pulled in part, and 3 of the layers this needs are absent: "
            "`tiny-F16.gguf` (weights), `tiny-Q8_0.gguf` (weights), `LICENSE` (license)",
            f"help: {_rest(str(digest))}"]
    assert not (tmp_path / "out").exists()
    assert [e.reference for e in Store().entries()] == ["tiny:1"]
