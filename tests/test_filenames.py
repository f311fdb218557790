"""Odd weight file names — non-ASCII, over 100 bytes, quotes, `$`, `#`, spaces — survive every step:
Modelfile quoting (fmt, init), build, inspect, verify, unpack and skopeo. (Push and pull are in
tests/registry/test_filenames_registry.py.)

Inside the archive the names only travel in layer annotations and JSON: tar members are named by
digest (``blobs/sha256/<64 hex>``, 77 bytes), so no name needs a PAX header; a test checks that too.
"""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest

from modeloci import api
from modeloci.modelfile.fmt import format_modelfile, literal_word
from modeloci.ops.unpack import unpack
from modeloci.ops.verify import verify
from tests import factories

NAMES = [
    "modèle-概要-Модель-🦙.gguf",
    "a" * 120 + "-long-name-over-100-bytes.gguf",
    "é" * 80 + ".gguf",  # 160 bytes in UTF-8, 85 characters
    'say "hi" $HOME #1.gguf',
    "spaces  and\ttab.gguf",
    "-starts-with-dash.gguf",
]


@pytest.fixture(params=NAMES, ids=lambda n: f"{len(n.encode())}B")
def named(request, tmp_path: Path) -> tuple[Path, str]:
    name = request.param
    factories.gguf(tmp_path / name)
    (tmp_path / "Modelfile").write_text(f"FROM scratch\nWEIGHTS {literal_word(name)}\n", encoding="utf-8")
    return tmp_path, name


def test_the_name_round_trips_through_the_modelfile(named: tuple[Path, str]) -> None:
    folder, name = named
    text = (folder / "Modelfile").read_bytes()
    assert format_modelfile(text).text == text.decode("utf-8"), "literal_word is not canonical"
    plan = api.plan(folder / "Modelfile")
    assert [layer.filepath for layer in plan.layers] == [name]


def test_build_inspect_verify_and_unpack_keep_the_name(named: tuple[Path, str], tmp_path: Path) -> None:
    folder, name = named
    archive = folder / "out.tar"
    api.build(folder / "Modelfile", archive)
    assert verify(archive).ok
    report = api.inspect(archive)
    assert [layer.path for layer in report.layers] == [name]
    with tarfile.open(archive) as tar:
        members = tar.getmembers()
        assert all(len(m.name.encode()) <= 100 and m.name.isascii() for m in members)
        assert all(not m.pax_headers for m in members)
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
    assert manifest["layers"][0]["annotations"]["org.cncf.model.filepath"] == name
    out = tmp_path / "files"
    unpack(archive, out, layout="files")
    assert (out / name).read_bytes() == (folder / name).read_bytes()


def test_skopeo_reads_the_archive(named: tuple[Path, str], skopeo) -> None:
    folder, name = named
    archive = folder / "out.tar"
    api.build(folder / "Modelfile", archive)
    raw = skopeo("inspect", "--raw", f"oci-archive:{archive}")
    assert json.loads(raw)["layers"][0]["annotations"]["org.cncf.model.filepath"] == name


def test_init_quotes_odd_names_so_the_draft_builds(tmp_path: Path, cli) -> None:
    folder = tmp_path / "odd"
    name = 'say "hi" $HOME #1.gguf'
    factories.gguf(folder / name)
    assert cli("init", str(folder)).code == 0
    text = (folder / "Modelfile").read_text()
    assert 'WEIGHTS "say \\"hi\\" \\$HOME #1.gguf"\n' in text
    assert [layer.filepath for layer in api.plan(folder / "Modelfile").layers] == [name]


@pytest.mark.parametrize("name", ["back\\slash.gguf", "C:model.gguf"])
def test_a_name_unpackers_refuse_is_refused_at_build_time(name: str, tmp_path: Path) -> None:
    from modeloci.errors import ModelfileError

    factories.gguf(tmp_path / name)
    (tmp_path / "Modelfile").write_text(f"FROM scratch\nWEIGHTS {literal_word(name)}\n")
    with pytest.raises(ModelfileError) as info:
        api.plan(tmp_path / "Modelfile")
    assert [d.code for d in info.value.diagnostics] == ["MF070"]
