"""A rebuild to an archive that already holds the model, untouched since modeloci wrote it, writes nothing and says
"up to date"; anything that could make the bytes differ (an input, a flag, the Modelfile, the output itself, the
record) defeats the check, and the build runs as before."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from modeloci import api
from modeloci.blobs.uptodate import identity
from tests.archive_tools import build_example, copy_example

UP_TO_DATE = " is up to date: nothing written\n"


@pytest.fixture
def modelfile(tmp_path: Path) -> Path:
    return copy_example("single-gguf", tmp_path)


def _build(cli, modelfile: Path, out: Path, *extra: str, env: dict[str, str] | None = None):
    result = cli("build", "-f", str(modelfile), "-o", str(out), *extra, env=env)
    assert result.code == 0, result.stderr
    return result


def _moved_on() -> None:
    """Let the clock pass a timestamp tick (a coarse one is a few ms), so a write shows in the ctime."""
    time.sleep(0.02)


def _records(root: Path) -> list[Path]:
    return sorted((root / "modeloci" / "outputs").rglob("*"))


def test_a_rebuild_of_an_unchanged_archive_writes_nothing(cli, modelfile: Path, tmp_path: Path) -> None:
    out = tmp_path / "model.tar"
    first = _build(cli, modelfile, out, "-t", "tiny:1")
    written, data = identity(out), out.read_bytes()
    again = _build(cli, modelfile, out, "-t", "tiny:1")
    assert again.stderr == f"{out}{UP_TO_DATE}"
    assert again.stdout == first.stdout  # the same report: a build's
    assert identity(out) == written and out.read_bytes() == data
    as_json = _build(cli, modelfile, out, "-t", "tiny:1", "--json")
    assert identity(out) == written
    document = json.loads(as_json.stdout)
    assert (document["output"], document["size"], document["reference"]) == (str(out), len(data), "tiny:1")
    assert document["up_to_date"] is True  # scripts can tell a build that wrote nothing from one that wrote
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".modeloci-")] == []


def test_a_build_that_writes_says_so_in_its_json(cli, modelfile: Path, tmp_path: Path) -> None:
    out = tmp_path / "model.tar"
    first = json.loads(_build(cli, modelfile, out, "--json").stdout)
    assert first["up_to_date"] is False
    again = json.loads(_build(cli, modelfile, out, "--json", "--created", "1700000000").stdout)
    assert again["up_to_date"] is False  # a changed flag: written again


def test_an_output_touched_since_it_was_written_is_rebuilt(cli, modelfile: Path, tmp_path: Path) -> None:
    out = tmp_path / "model.tar"
    _build(cli, modelfile, out)
    before = os.stat(out)
    _moved_on()
    os.utime(out, ns=(before.st_atime_ns, before.st_mtime_ns))  # the mtime put back: the ctime still moves
    touched = identity(out)
    again = _build(cli, modelfile, out)
    assert UP_TO_DATE not in again.stderr
    assert identity(out) != touched
    assert _build(cli, modelfile, out).stderr == f"{out}{UP_TO_DATE}"  # and now it is the one modeloci wrote


def test_an_output_overwritten_in_place_with_other_bytes_of_its_size_is_rebuilt(cli, modelfile: Path,
                                                                                   tmp_path: Path) -> None:
    out = tmp_path / "model.tar"
    _build(cli, modelfile, out)
    data = out.read_bytes()
    _moved_on()
    with open(out, "r+b") as f:
        f.seek(len(data) // 2)
        f.write(b"\xff" * 64)
    again = _build(cli, modelfile, out)
    assert UP_TO_DATE not in again.stderr
    assert out.read_bytes() == data


def test_an_output_replaced_by_another_program_is_rebuilt(cli, modelfile: Path, tmp_path: Path) -> None:
    out = tmp_path / "model.tar"
    _build(cli, modelfile, out)
    data = out.read_bytes()
    shutil.copyfile(out, tmp_path / "copy.tar")
    os.replace(tmp_path / "copy.tar", out)  # the same bytes, but not the file modeloci wrote
    again = _build(cli, modelfile, out)
    assert UP_TO_DATE not in again.stderr
    assert out.read_bytes() == data


def test_an_output_replaced_by_a_symlink_to_it_is_rebuilt(cli, modelfile: Path, tmp_path: Path) -> None:
    out = tmp_path / "model.tar"
    _build(cli, modelfile, out)
    os.replace(out, tmp_path / "elsewhere.tar")
    out.symlink_to(tmp_path / "elsewhere.tar")
    again = _build(cli, modelfile, out)
    assert UP_TO_DATE not in again.stderr
    assert not out.is_symlink()


def test_a_changed_input_is_rebuilt(cli, modelfile: Path, tmp_path: Path) -> None:
    out = tmp_path / "model.tar"
    first = _build(cli, modelfile, out, "--json")
    template = modelfile.parent / "chat_template.jinja"
    _moved_on()
    template.write_text(template.read_text(encoding="utf-8") + "{# changed #}", encoding="utf-8")
    again = _build(cli, modelfile, out, "--json")
    assert UP_TO_DATE not in again.stderr
    assert json.loads(again.stdout)["digest"] != json.loads(first.stdout)["digest"]


def test_an_input_rewritten_with_the_same_bytes_is_hashed_again_and_the_output_kept(cli, modelfile: Path,
                                                                                     tmp_path: Path) -> None:
    """The digest cache no longer vouches for the file, so the build reads it (and writes the archive)."""
    out = tmp_path / "model.tar"
    _build(cli, modelfile, out)
    weights = modelfile.parent / "tiny-llama-F32.gguf"
    _moved_on()
    weights.write_bytes(weights.read_bytes())
    again = _build(cli, modelfile, out)
    assert UP_TO_DATE not in again.stderr
    assert _build(cli, modelfile, out).stderr == f"{out}{UP_TO_DATE}"


def test_a_changed_modelfile_is_rebuilt(cli, modelfile: Path, tmp_path: Path) -> None:
    out = tmp_path / "model.tar"
    _build(cli, modelfile, out)
    modelfile.write_text(modelfile.read_text(encoding="utf-8") + 'LABEL org.example.note="changed"\n',
                         encoding="utf-8")
    again = _build(cli, modelfile, out)
    assert UP_TO_DATE not in again.stderr
    assert b"org.example.note" in out.read_bytes()


@pytest.mark.parametrize("flags", [
    ("--format", "modelpack"),
    ("-t", "tiny:2"),
    ("--created", "2025-06-15T12:00:00Z"),
    ("--sbom",),
    ("--provenance",),
], ids=" ".join)
def test_a_changed_flag_is_rebuilt(cli, modelfile: Path, tmp_path: Path, flags: tuple[str, ...]) -> None:
    out = tmp_path / "model.tar"
    _build(cli, modelfile, out, "-t", "tiny:1")
    before = out.read_bytes()
    chosen = ("-t", "tiny:1", *flags) if flags[0] != "-t" else flags
    again = _build(cli, modelfile, out, *chosen)
    assert UP_TO_DATE not in again.stderr
    assert out.read_bytes() != before
    said = _build(cli, modelfile, out, *chosen).stderr
    if flags[0] == "--format":  # after its warning that ModelPack has no context size
        assert said.startswith("warning[MF104]: ModelPack has no context size\n")
        assert said.endswith(f"\n{out}{UP_TO_DATE}")
    else:
        assert said == f"{out}{UP_TO_DATE}"


def test_a_changed_source_date_epoch_is_rebuilt(cli, modelfile: Path, tmp_path: Path) -> None:
    out = tmp_path / "model.tar"
    _build(cli, modelfile, out, env={"SOURCE_DATE_EPOCH": "1700000000"})
    before = out.read_bytes()
    again = _build(cli, modelfile, out, env={"SOURCE_DATE_EPOCH": "1700000001"})
    assert UP_TO_DATE not in again.stderr
    assert out.read_bytes() != before


def test_no_cache_always_rebuilds(cli, modelfile: Path, tmp_path: Path) -> None:
    out = tmp_path / "model.tar"
    _build(cli, modelfile, out)
    written = identity(out)
    again = _build(cli, modelfile, out, "--no-cache")
    assert UP_TO_DATE not in again.stderr
    assert identity(out) != written


def test_a_corrupted_record_is_rebuilt(cli, modelfile: Path, tmp_path: Path) -> None:
    out = tmp_path / "model.tar"
    _build(cli, modelfile, out)
    (record,) = [p for p in _records(Path(os.environ["XDG_CACHE_HOME"])) if p.is_file()]
    text = record.read_text(encoding="ascii")
    for damaged in (text[:-10], text.replace(" ", "  ", 1), text[:-2] + ("0" if text[-2] != "0" else "1") + "\n"):
        record.write_text(damaged, encoding="ascii")
        assert UP_TO_DATE not in _build(cli, modelfile, out).stderr


def test_a_record_of_another_output_path_says_nothing_of_this_one(cli, modelfile: Path, tmp_path: Path) -> None:
    out, other = tmp_path / "model.tar", tmp_path / "other.tar"
    _build(cli, modelfile, out)
    os.link(out, other)  # the same file (the identity the record holds) under a path no build wrote
    assert UP_TO_DATE not in _build(cli, modelfile, other).stderr


def _key(path: Path) -> Path:
    path.write_bytes(ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return path


def test_a_signed_build_after_an_unsigned_one_or_with_another_key_is_rebuilt(cli, modelfile: Path,
                                                                            tmp_path: Path) -> None:
    key, other = _key(tmp_path / "key.pem"), _key(tmp_path / "other.pem")
    out = tmp_path / "model.tar"
    _build(cli, modelfile, out)
    unsigned = out.read_bytes()
    assert UP_TO_DATE not in _build(cli, modelfile, out, "--sign", str(key)).stderr
    signed = out.read_bytes()
    assert signed != unsigned
    # The signature is part of what the archive holds: the same key makes the same one, so this is up to date...
    assert _build(cli, modelfile, out, "--sign", str(key)).stderr == f"{out}{UP_TO_DATE}"
    # ...and another key makes another one.
    assert UP_TO_DATE not in _build(cli, modelfile, out, "--sign", str(other)).stderr
    assert out.read_bytes() not in (signed, unsigned)
    assert UP_TO_DATE not in _build(cli, modelfile, out).stderr
    assert out.read_bytes() == unsigned


def test_records_that_cannot_be_written_cost_only_the_next_builds_work(cli, modelfile: Path, tmp_path: Path) -> None:
    (Path(os.environ["XDG_CACHE_HOME"]) / "modeloci").mkdir(parents=True, exist_ok=True)
    (Path(os.environ["XDG_CACHE_HOME"]) / "modeloci" / "outputs").write_text("not a folder", encoding="ascii")
    out = tmp_path / "model.tar"
    _build(cli, modelfile, out)
    assert UP_TO_DATE not in _build(cli, modelfile, out).stderr


def test_the_api_says_up_to_date_and_gives_the_same_result(tmp_path: Path) -> None:
    out, first = build_example("single-gguf", tmp_path)
    written = identity(out)
    again = api.build(tmp_path / "single-gguf" / "Modelfile", out, display="Modelfile")
    assert (first.up_to_date, again.up_to_date) == (False, True)
    assert again.report() == first.report().model_copy(update={"up_to_date": True})  # the same model, not written
    assert identity(out) == written


def test_a_base_archive_rebuilt_with_other_bytes_is_rebuilt(cli, tmp_path: Path) -> None:
    """FROM base.tar: the layers are ranges of the base, whose identity the digest cache keys them on."""
    out, _ = build_example("rebase", tmp_path)
    base = tmp_path / "rebase" / "base.tar"
    assert _build(cli, tmp_path / "rebase" / "Modelfile", out).stderr == f"{out}{UP_TO_DATE}"
    license_file = tmp_path / "single-gguf" / "LICENSE"
    license_file.write_text(license_file.read_text(encoding="utf-8") + "\nchanged\n", encoding="utf-8")
    assert api.build(tmp_path / "single-gguf" / "Modelfile", base).up_to_date is False
    before = out.read_bytes()
    assert UP_TO_DATE not in _build(cli, tmp_path / "rebase" / "Modelfile", out).stderr
    assert out.read_bytes() != before


def test_a_modelcar_rebuild_is_up_to_date_until_a_file_changes(cli, modelfile: Path, tmp_path: Path) -> None:
    out = tmp_path / "car.tar"
    _build(cli, modelfile, out, "--format", "modelcar", "-t", "tiny:car")
    written = identity(out)
    assert _build(cli, modelfile, out, "--format", "modelcar", "-t", "tiny:car").stderr.endswith(
        f"{out}{UP_TO_DATE}")
    assert identity(out) == written
    template = modelfile.parent / "chat_template.jinja"
    _moved_on()
    template.write_text(template.read_text(encoding="utf-8") + "{# changed #}", encoding="utf-8")
    assert UP_TO_DATE not in _build(cli, modelfile, out, "--format", "modelcar", "-t", "tiny:car").stderr
    assert identity(out) != written
