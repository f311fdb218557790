"""A layout folder that two builds wrote into holds two models: each is read by its name, as `PATH:NAME`.

The folder once became unreadable for inspect, verify, unpack, convert and push ("its index lists 2 image
manifests"). Now `PATH:NAME` (skopeo's `oci:PATH:NAME`) selects a model by its
`org.opencontainers.image.ref.name` (or its manifest digest) wherever a source is accepted, and `PATH` alone says
which names there are.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modeloci import api
from modeloci.compiler.base import split_layout_name
from modeloci.errors import ArchiveError
from modeloci.ops.convert import convert
from modeloci.ops.inspect import inspect_artifact
from modeloci.sources import LayoutRef, open_source, resolve
from tests.archive_tools import Archive, build_example, copy_example


@pytest.fixture
def two(tmp_path: Path) -> tuple[Path, dict[str, Path]]:
    """A layout holding `tiny:1` (single-gguf) and `vision:2` (sharded-vision), and the same models as archives."""
    layout = tmp_path / "models"
    archives = {}
    for example, name in (("single-gguf", "tiny:1"), ("sharded-vision", "vision:2")):
        api.build(copy_example(example, tmp_path / "src"), layout=layout, reference=name)
        archives[name], _ = build_example(example, tmp_path / "archives" / name, reference=name)
    assert len(json.loads((layout / "index.json").read_text())["manifests"]) == 2
    return layout, archives


def test_resolve_reads_path_colon_name_as_one_model_of_a_layout(two, tmp_path: Path, monkeypatch) -> None:
    layout, _ = two
    monkeypatch.chdir(tmp_path)
    assert resolve("models:vision:2") == LayoutRef(Path("models"), "vision:2")
    assert resolve(f"{layout}:tiny:1") == LayoutRef(layout, "tiny:1")
    assert str(resolve("models:tiny:1")) == "models:tiny:1"
    assert resolve("models") == Path("models")


@pytest.mark.parametrize("name", ["tiny:1", "vision:2"])
def test_every_reader_takes_one_model_of_a_layout_by_its_name(two, tmp_path: Path, cli, name: str) -> None:
    layout, archives = two
    source = f"{layout}:{name}"
    expected = inspect_artifact(archives[name])
    report = inspect_artifact(resolve(source))  # type: ignore[arg-type]
    assert (report.reference, report.manifest_digest, report.layers) == (
        name, expected.manifest_digest, expected.layers)

    assert cli("verify", source).code == 0
    assert cli("unpack", source, "-o", str(tmp_path / "a")).code == 0
    api.unpack(archives[name], tmp_path / "b")
    assert _tree(tmp_path / "a") == _tree(tmp_path / "b")

    converted = cli("convert", source, "--format", "modelpack", "-o", str(tmp_path / "mp.tar"))
    assert converted.code == 0, converted.stderr
    convert(archives[name], "modelpack", tmp_path / "mp-from-archive.tar")  # the same, from the archive
    assert (tmp_path / "mp.tar").read_bytes() == (tmp_path / "mp-from-archive.tar").read_bytes()


def test_a_layout_of_two_models_named_by_nothing_says_which_names_it_holds(two, cli) -> None:
    layout, _ = two
    for command in (("inspect", str(layout)), ("unpack", str(layout), "-o", str(layout.parent / "out")),
                    ("convert", str(layout), "--format", "modelpack", "-o", str(layout.parent / "x.tar"))):
        result = cli(*command)
        assert result.code != 0
        assert f"error: `{layout}` holds 2 models: `tiny:1`, `vision:2`" in result.stderr, result.stderr
        assert f"help: name one after the path, as `{layout}:tiny:1`" in result.stderr
    assert not (layout.parent / "out").exists() and not (layout.parent / "x.tar").exists()


def test_a_name_the_layout_does_not_hold_is_refused_with_the_names_it_holds(two) -> None:
    layout, _ = two
    with pytest.raises(ArchiveError) as caught, open_source(LayoutRef(layout, "tiny:2")):
        pass
    assert caught.value.message == f"`{layout}` holds no model named `tiny:2`; it holds `tiny:1`, `vision:2`"


def test_an_untagged_model_is_named_by_its_digest(tmp_path: Path) -> None:
    layout = tmp_path / "models"
    api.build(copy_example("single-gguf", tmp_path / "src"), layout=layout, reference="tiny:1")
    index = json.loads((layout / "index.json").read_text())
    digest = index["manifests"][0]["digest"]
    api.build(copy_example("sharded-vision", tmp_path / "src2"), layout=layout, reference="vision:2")
    index = json.loads((layout / "index.json").read_text())
    del index["manifests"][0]["annotations"]
    (layout / "index.json").write_text(json.dumps(index))
    with pytest.raises(ArchiveError) as caught, open_source(layout):
        pass
    assert caught.value.message == f"`{layout}` holds 2 models: `{digest}`, `vision:2`"
    assert inspect_artifact(LayoutRef(layout, digest)).manifest_digest == digest  # type: ignore[arg-type]


def test_one_model_of_an_archive_too(two, tmp_path: Path) -> None:
    """`oci-archive:FILE:NAME` works in skopeo; `FILE:NAME` here, for an archive that holds one model too."""
    _, archives = two
    report = inspect_artifact(resolve(f"{archives['tiny:1']}:tiny:1"))  # type: ignore[arg-type]
    assert report.reference == "tiny:1"
    assert Archive.read(archives["tiny:1"]).index["manifests"][0]["digest"] == report.manifest_digest


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize(("text", "expected"), [
    ("models:tiny:1", ("models", "tiny:1")),
    ("models:sha256:" + "a" * 64, ("models", "sha256:" + "a" * 64)),
    ("archive.tar:vision:2", ("archive.tar", "vision:2")),
    ("models", None),          # the folder itself
    ("models:", None),         # no name
    ("nothing:tiny:1", None),  # no such folder
    ("odd:name", None),        # a file named with a colon wins
])
def test_from_dir_colon_name_is_split_where_the_dir_exists(tmp_path: Path, text: str, expected) -> None:
    """The FROM side of `DIR:NAME` (compile's FROM resolution calls it, then resolves DIR by the context's rules)."""
    (tmp_path / "models").mkdir()
    (tmp_path / "archive.tar").write_bytes(b"")
    (tmp_path / "odd:name").write_bytes(b"")
    (tmp_path / "odd").mkdir()
    assert split_layout_name(text, tmp_path) == expected


def test_from_dir_colon_name_builds_on_one_model_of_a_layout(two, tmp_path: Path, cli) -> None:
    """`FROM models:tiny:1` builds exactly what `FROM` the same model's own archive builds; `FROM models` says
    which names there are."""
    layout, archives = two
    context = layout.parent
    (context / "tiny.tar").write_bytes(archives["tiny:1"].read_bytes())
    (context / "Named").write_text("FROM models:tiny:1\nCONFIG context_size=8\n")
    (context / "Archive").write_text("FROM tiny.tar\nCONFIG context_size=8\n")
    named = api.build(context / "Named", tmp_path / "named.tar", context=context, reference="x:1")
    archive = api.build(context / "Archive", tmp_path / "archive.tar", context=context, reference="x:1")
    assert (tmp_path / "named.tar").read_bytes() == (tmp_path / "archive.tar").read_bytes()
    assert named.manifest.digest == archive.manifest.digest
    (context / "Unnamed").write_text("FROM models\n")
    unnamed = cli("plan", "-f", str(context / "Unnamed"))
    assert unnamed.code == 2
    lines = unnamed.stderr.splitlines()
    assert "  = `models` holds 2 models: `tiny:1`, `vision:2`" in lines, unnamed.stderr
    assert "help: name one after the path, as `models:tiny:1`" in lines, unnamed.stderr


def test_verify_of_a_layout_with_two_models_names_them(two, cli) -> None:
    layout, _ = two
    result = cli("verify", str(layout))
    assert result.code == 1
    assert ("error: index.json lists 2 image manifests; expected one: `tiny:1`, `vision:2` (name one, as "
            "`PATH:NAME`)") in result.stderr.splitlines(), result.stderr


def test_the_python_api_reads_path_colon_name_as_the_cli_does(two, tmp_path: Path) -> None:
    layout, archives = two
    assert api.inspect(f"{layout}:vision:2").manifest_digest == inspect_artifact(archives["vision:2"]).manifest_digest
    assert api.verify(f"{layout}:tiny:1").ok
    api.unpack(f"{layout}:tiny:1", tmp_path / "out")
    api.unpack(archives["tiny:1"], tmp_path / "expected")
    assert _tree(tmp_path / "out") == _tree(tmp_path / "expected")
