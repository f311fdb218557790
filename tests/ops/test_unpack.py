"""``modeloci unpack``: the runtime bundle and the files layout, byte for byte; unsafe archives refused, all or nothing.

Bundle names follow REFERENCE.md §1.10: v0.1 models get ``model/model.gguf``
(or renumbered shards), ``model/model.mmproj``, ``model/template.jinja``, and
every other layer (licenses too) at ``model/<filepath>``; v0.2 and ModelPack
models get every layer at ``model/<filepath>``; ``config.json`` holds the
config object and a newline. Every failure must leave the destination
absent, no temporary folder behind, and nothing written anywhere else.
"""

from __future__ import annotations

import json
import shutil
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from modeloci import api
from modeloci.errors import ArchiveError, ModelociError
from modeloci.ops.unpack import unpack
from tests.archive_tools import EXAMPLES, Archive, build_example, copy_example
from tests.ops.test_verify import (
    Known,
    append,
    blob_name,
    dmr_tar,
    drop,
    file_info,
    flip_bit,
    link,
    rewrite,
    set_filepath,
    sha256,
    with_manifest,
)

HF_FILES = ("model.safetensors", "config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
            "LICENSE", "chat_template.jinja")

# Where each unpacked file comes from, relative to the example's folder.
BUNDLES: dict[tuple[str, str], dict[str, str]] = {
    ("single-gguf", "docker"): {
        "model/model.gguf": "tiny-llama-F32.gguf",
        "model/template.jinja": "chat_template.jinja",
        "model/LICENSE": "LICENSE",
    },
    ("sharded-vision", "docker"): {
        "model/model-00001-of-00002.gguf": "tiny-vision-00001-of-00002.gguf",
        "model/model-00002-of-00002.gguf": "tiny-vision-00002-of-00002.gguf",
        "model/model.mmproj": "mmproj-tiny-vision-F16.gguf",
        "model/LICENSE.txt": "LICENSE.txt",
    },
    ("hf-safetensors", "docker"): {f"model/{name}": f"tiny-qwen/{name}" for name in HF_FILES},
    ("sharded-vision", "modelpack"): {
        "model/tiny-vision-00001-of-00002.gguf": "tiny-vision-00001-of-00002.gguf",
        "model/tiny-vision-00002-of-00002.gguf": "tiny-vision-00002-of-00002.gguf",
        "model/LICENSE.txt": "LICENSE.txt",
        "model/mmproj-tiny-vision-F16.gguf": "mmproj-tiny-vision-F16.gguf",
    },
    ("single-gguf", "modelpack"): {
        "model/tiny-llama-F32.gguf": "tiny-llama-F32.gguf",
        "model/LICENSE": "LICENSE",
        "model/chat_template.jinja": "chat_template.jinja",
    },
}

# A ModelPack config has no Docker config object: the bundle gets the fields DMR derives from it.
MODELPACK_BUNDLE_CONFIG = {
    "sharded-vision": {"format": "gguf", "parameters": "0.2K", "architecture": "llama", "size": "1.47KiB"},
    "single-gguf": {"format": "gguf", "parameters": "0.1K", "architecture": "llama", "size": "1.19KiB"},
}


def tree(root: Path) -> dict[str, bytes | None]:
    """Every path under ``root``: a file's bytes, None for a folder."""
    return {p.relative_to(root).as_posix(): (p.read_bytes() if p.is_file() and not p.is_symlink() else None)
            for p in sorted(root.rglob("*"))}


def files_of(root: Path) -> dict[str, bytes]:
    return {k: v for k, v in tree(root).items() if v is not None}


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".modeloci-"))


def example_source(name: str, rel: str) -> bytes:
    return (EXAMPLES / name / rel).read_bytes()


def config_object_bytes(config_blob: bytes) -> bytes:
    """The raw bytes of the `config` object inside the config blob, as our Go-compatible encoder wrote them."""
    text = config_blob.decode()
    assert text.startswith('{"config":{')
    start = len('{"config":')
    _, end = json.JSONDecoder().raw_decode(text, start)
    return text[start:end].encode()


# --- bundle layout ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "fmt"), list(BUNDLES))
def test_bundle_layout(tmp_path: Path, name: str, fmt: str) -> None:
    archive, _ = build_example(name, tmp_path / "src", format=fmt)
    dest = tmp_path / "bundle"
    report = unpack(archive, dest)
    expected = BUNDLES[(name, fmt)]
    written = files_of(dest)
    assert set(written) == set(expected) | {"config.json"}
    for path, source in expected.items():
        assert written[path] == example_source(name, source), path
    assert set(tree(dest)) - set(written) == {"model"}  # no other folder
    config = written["config.json"]
    assert config.endswith(b"}\n") and config.count(b"\n") == 1
    if fmt == "docker":
        assert json.loads(config) == Archive.read(archive).config["config"]
    else:
        assert json.loads(config) == MODELPACK_BUNDLE_CONFIG[name]
    assert (report.format, report.layout, report.output, report.source) == (fmt, "bundle", str(dest), str(archive))
    assert {f.path: (f.digest, f.size) for f in report.files} == {
        path: (sha256(data), len(data)) for path, data in written.items()}
    assert leftovers(tmp_path) == []


def test_v01_bundle_keeps_the_license(tmp_path: Path) -> None:
    """A GGUF model's license once vanished from its bundle without a word, while a safetensors bundle kept its
    own: DMR's bundle rules allow extra files, so it stays, at its path."""
    archive, _ = build_example("sharded-vision", tmp_path / "src")
    report = unpack(archive, tmp_path / "bundle")
    license_digest = sha256(example_source("sharded-vision", "LICENSE.txt"))
    assert license_digest in [layer["digest"] for layer in Archive.read(archive).manifest["layers"]]
    assert [f.path for f in report.files if f.digest == license_digest] == ["model/LICENSE.txt"]
    assert (tmp_path / "bundle" / "model" / "LICENSE.txt").read_bytes() == example_source("sharded-vision",
                                                                                          "LICENSE.txt")


@pytest.mark.parametrize("name", ["LICENSE.gguf", "license.JINJA", "notice.mmproj"])
def test_a_kept_license_a_runtime_would_take_for_the_model_is_refused(tmp_path: Path, name: str) -> None:
    """A legacy bundle is re-read by names (the first top-level *.gguf, the one *.jinja): a license kept under
    such a name would be taken for the model or its template, so it is refused, and nothing is written."""
    archive, _ = build_example("single-gguf", tmp_path / "src")
    renamed, _ = with_manifest(archive, tmp_path / "renamed.tar", set_filepath((1, name)))
    digest = Archive.read(renamed).manifest["layers"][1]["digest"]
    with pytest.raises(ArchiveError) as caught:
        unpack(renamed, tmp_path / "bundle")
    assert caught.value.message == (f"refusing to unpack: the license layer {digest} is named `{name}`, which a "
                                    "runtime reading the bundle would take for part of the model")
    assert caught.value.hint == "unpack with `--layout files`, which keeps every path"
    assert not (tmp_path / "bundle").exists() and leftovers(tmp_path) == []
    unpack(renamed, tmp_path / "files", layout="files")
    assert (tmp_path / "files" / name).read_bytes() == example_source("single-gguf", "LICENSE")


@pytest.mark.parametrize("name", [
    "single-gguf",
    "sharded-vision",
    "hf-safetensors",
])
def test_bundle_config_json_is_byte_exact(tmp_path: Path, name: str) -> None:
    """DMR writes the config object with a Go json.Encoder: the blob's object bytes plus a newline."""
    archive, _ = build_example(name, tmp_path / "src")
    unpack(archive, tmp_path / "bundle")
    expected = config_object_bytes(Archive.read(archive).config_bytes) + b"\n"
    assert (tmp_path / "bundle" / "config.json").read_bytes() == expected


def test_bundle_from_a_layout_folder_and_a_dmr_tar_is_the_same(tmp_path: Path) -> None:
    archive, _ = build_example("sharded-vision", tmp_path / "src")
    api.build(copy_example("sharded-vision", tmp_path / "again"), layout=tmp_path / "layout")
    unpack(archive, tmp_path / "from-tar")
    unpack(tmp_path / "layout", tmp_path / "from-layout")
    unpack(dmr_tar(archive, tmp_path / "dmr.tar", keep_manifest_blob=False), tmp_path / "from-dmr")
    expected = tree(tmp_path / "from-tar")
    assert tree(tmp_path / "from-layout") == expected
    assert tree(tmp_path / "from-dmr") == expected


def test_unpack_into_an_existing_empty_folder(tmp_path: Path) -> None:
    archive, _ = build_example("single-gguf", tmp_path / "src")
    dest = tmp_path / "empty"
    dest.mkdir()
    unpack(archive, dest)
    assert set(files_of(dest)) == {"config.json", "model/model.gguf", "model/template.jinja", "model/LICENSE"}
    assert leftovers(tmp_path) == []


# --- files layout ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "fmt"), [("single-gguf", "docker"), ("sharded-vision", "docker"),
                                           ("hf-safetensors", "docker"), ("sharded-vision", "modelpack"),
                                           ("rebase", "docker")])
def test_files_layout_restores_every_layer_at_its_path(tmp_path: Path, name: str, fmt: str) -> None:
    archive, _ = build_example(name, tmp_path / "src", format=fmt)
    dest = tmp_path / "files"
    report = unpack(archive, dest, layout="files")
    layers = Archive.read(archive).manifest["layers"]
    paths = [layer["annotations"]["org.cncf.model.filepath"] for layer in layers]
    written = files_of(dest)
    assert sorted(written) == sorted(paths)
    folder = {"hf-safetensors": "tiny-qwen/", "rebase": ""}.get(name, "")
    for layer, path in zip(layers, paths, strict=True):
        assert sha256(written[path]) == layer["digest"]
        original = tmp_path / "src" / name / (folder + path)
        if name == "rebase" and path != "chat template.jinja":
            original = tmp_path / "src" / "single-gguf" / path  # kept from the base
        assert written[path] == original.read_bytes(), path
    assert [(f.path, f.digest, f.size) for f in report.files] == [
        (path, layer["digest"], layer["size"]) for path, layer in zip(paths, layers, strict=True)]
    assert report.layout == "files"


@pytest.mark.parametrize("fmt", ["docker", "modelpack"])
@pytest.mark.parametrize("name", ["single-gguf", "sharded-vision"])
def test_round_trip_through_the_files_layout(tmp_path: Path, name: str, fmt: str) -> None:
    """Unpack the files, put the example's Modelfile beside them, rebuild: the same manifest digest."""
    archive, first = build_example(name, tmp_path / "src", format=fmt)
    files = tmp_path / "files"
    unpack(archive, files, layout="files")
    shutil.copyfile(EXAMPLES / name / "Modelfile", files / "Modelfile")
    again = api.build(files / "Modelfile", tmp_path / "again.tar", format=fmt, display="Modelfile")
    assert again.manifest.digest == first.manifest.digest
    assert (tmp_path / "again.tar").read_bytes() == archive.read_bytes()


# --- safety: all or nothing ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Unsafe:
    fmt: str
    layout: str
    make: Callable[[Known, Path], Path]
    message: Callable[[Known], str]
    error: type[ModelociError] = ArchiveError
    match: str = "exact"  # or "prefix" / "contains", where a fix may word the rest as it likes


def _member(item: Any, note: str) -> tuple[Callable[[Known, Path], Path], Callable[[Known], str]]:
    return (lambda k, tmp: rewrite(k.path, tmp / "unsafe.tar", append(item)),
            lambda k: f"refusing to read `unsafe.tar`: archive member {note}")


def _filepaths(*changes: tuple[int, str]) -> Callable[[Known, Path], Path]:
    return lambda k, tmp: with_manifest(k.path, tmp / "paths.tar", set_filepath(*changes))[0]


def _corrupt(k: Known, tmp: Path) -> Path:
    return flip_bit(k.path, tmp / "corrupt.tar", blob_name(k.layers[1]), at=5)


def _corrupt_config(k: Known, tmp: Path) -> Path:
    return flip_bit(k.path, tmp / "corrupt.tar", blob_name(k.config), at=5)


def _wrong_size(k: Known, tmp: Path) -> Path:
    def grow(doc: dict[str, Any]) -> None:
        doc["layers"][1]["size"] += 1

    return with_manifest(k.path, tmp / "size.tar", grow)[0]


def _missing(k: Known, tmp: Path) -> Path:
    return rewrite(k.path, tmp / "missing.tar", drop(blob_name(k.layers[1])))


UNSAFE: dict[str, tuple[Unsafe, str | None]] = {
    "member-dotdot": (Unsafe("docker", "bundle", *_member(file_info("../evil", b"evil"),
                                                          "`../evil` leaves the archive's folder through `..`")), None),
    "member-absolute": (Unsafe("docker", "bundle", *_member(file_info("/abs", b"abs"), "`/abs` has an absolute path")),
                        None),
    "member-symlink": (Unsafe("docker", "files", *_member(link("etc", "/etc", tarfile.SYMTYPE),
                                                          "`etc` is a symlink (to `/etc`)")), None),
    "member-hardlink": (Unsafe("docker", "files", *_member(link("hard", "index.json", tarfile.LNKTYPE),
                                                           "`hard` is a hard link (to `index.json`)")), None),
    "filepath-dotdot-files": (Unsafe("docker", "files", _filepaths((2, "../../evil")),
                                     lambda k: f"refusing to unpack: layer {k.layers[2]} has the unsafe path "
                                               "`../../evil`"),
                              None),
    "filepath-absolute-files": (Unsafe("docker", "files", _filepaths((2, "/etc/passwd")),
                                       lambda k: f"refusing to unpack: layer {k.layers[2]} has the unsafe path "
                                                 "`/etc/passwd`"), None),
    "filepath-dotdot-bundle": (Unsafe("modelpack", "bundle", _filepaths((2, "../../evil")),
                                      lambda k: f"refusing to unpack: layer {k.layers[2]} has the unsafe path `",
                                      match="prefix"), None),
    "filepath-absolute-bundle": (Unsafe("modelpack", "bundle", _filepaths((2, "/etc/passwd")),
                                        lambda k: f"refusing to unpack: layer {k.layers[2]} has the unsafe path `",
                                        match="prefix"), None),
    "filepath-parent-bundle": (Unsafe("modelpack", "bundle", _filepaths((2, "../outside.txt")),
                                      lambda k: f"refusing to unpack: layer {k.layers[2]} has the unsafe path `",
                                      match="prefix"), None),
    "filepath-over-config-json": (Unsafe("modelpack", "bundle", _filepaths((2, "../config.json")),
                                         lambda k: f"refusing to unpack: layer {k.layers[2]} has the unsafe path `",
                                         match="prefix"), None),
    "same-path-files": (Unsafe("docker", "files", _filepaths((3, "LICENSE.txt")),
                               lambda k: "refusing to unpack: two layers would both be written to `LICENSE.txt`"),
                        None),
    "same-path-bundle": (Unsafe("modelpack", "bundle", _filepaths((3, "LICENSE.txt")),
                                lambda k: "refusing to unpack: two layers would both be written to "
                                          "`model/LICENSE.txt`"),
                         None),
    "file-and-folder-files": (Unsafe("docker", "files", _filepaths((2, "a"), (3, "a/b")),
                                     lambda k: "refusing to unpack: ", match="prefix"), None),
    "corrupt-blob-bundle": (Unsafe("docker", "bundle", _corrupt,
                                   lambda k: f"reading model-00002-of-00002.gguf: content does not match its digest "
                                             f"{k.layers[1]}", error=ModelociError), None),
    "corrupt-blob-files": (Unsafe("docker", "files", _corrupt,
                                  lambda k: f"reading tiny-vision-00002-of-00002.gguf: content does not match its "
                                            f"digest {k.layers[1]}", error=ModelociError), None),
    "corrupt-blob-modelpack": (Unsafe("modelpack", "bundle", _corrupt,
                                      lambda k: f"reading tiny-vision-00002-of-00002.gguf: content does not match its "
                                                f"digest {k.layers[1]}", error=ModelociError), None),
    "corrupt-config": (Unsafe("docker", "bundle", _corrupt_config,
                              lambda k: f"blob {k.config} does not match its digest"), None),
    "wrong-size": (Unsafe("docker", "bundle", _wrong_size,
                          lambda k: f"refusing to unpack: blob {k.layers[1]} is {k.sizes[1]} bytes; "
                                    f"the manifest says {k.sizes[1] + 1}"), None),
    "missing-blob": (Unsafe("docker", "files", _missing, lambda k: k.layers[1], match="contains"), None),
}


def _unsafe_params() -> list[Any]:
    return [pytest.param(name, marks=pytest.mark.xfail(reason=bug, strict=True) if bug else ())
            for name, (_, bug) in UNSAFE.items()]


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Known]:
    root = tmp_path_factory.mktemp("good")
    return {fmt: Known.of(build_example("sharded-vision", root / fmt, format=fmt)[0], fmt)
            for fmt in ("docker", "modelpack")}


def _assert_message(message: str, case: Unsafe, known: Known) -> None:
    expected = case.message(known)
    if case.match == "exact":
        assert message == expected
    elif case.match == "prefix":
        assert message.startswith(expected), message
    else:
        assert expected in message, message


@pytest.mark.parametrize("name", _unsafe_params())
def test_unsafe_or_damaged_archive_is_refused_and_leaves_nothing(good: dict[str, Known], tmp_path: Path,
                                                                 name: str) -> None:
    case, _ = UNSAFE[name]
    known = good[case.fmt]
    source = case.make(known, tmp_path)
    before = tree(tmp_path)
    dest = tmp_path / "out"
    with pytest.raises(case.error) as caught:
        unpack(source, dest, layout=case.layout)  # type: ignore[arg-type]
    _assert_message(caught.value.message, case, known)
    assert not dest.exists()
    assert leftovers(tmp_path) == []
    assert tree(tmp_path) == before


@pytest.mark.parametrize("name", _unsafe_params())
def test_unsafe_or_damaged_archive_cli(good: dict[str, Known], tmp_path: Path, cli, name: str) -> None:
    case, _ = UNSAFE[name]
    known = good[case.fmt]
    source = case.make(known, tmp_path)
    before = tree(tmp_path)
    result = cli("unpack", str(source), "-o", str(tmp_path / "out"), "--layout", case.layout)
    assert result.code == 1
    assert result.stdout == ""
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    first = result.stderr.splitlines()[0]
    assert first.startswith("error: ")
    _assert_message(first.removeprefix("error: "), case, known)
    assert tree(tmp_path) == before


def test_corrupt_blob_fails_in_the_digest_check_of_the_copy(good: dict[str, Known], tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """The bytes were copied (same size, so no size check stops it): the digest check during the copy refuses them."""
    from modeloci.ops import unpack as unpack_module

    checked: list[str] = []
    real = unpack_module.hash_range

    def spy(source, cancel=None):
        checked.append(str(source.expected))
        return real(source, cancel)

    monkeypatch.setattr(unpack_module, "hash_range", spy)
    known = good["docker"]
    source = _corrupt(known, tmp_path)
    with pytest.raises(ModelociError, match="content does not match its digest"):
        unpack(source, tmp_path / "out")
    assert known.layers[1] in checked
    assert not (tmp_path / "out").exists() and leftovers(tmp_path) == []


def test_failed_unpack_does_not_leave_the_parent_folders_it_created(good: dict[str, Known], tmp_path: Path) -> None:
    source = _corrupt(good["docker"], tmp_path)
    before = tree(tmp_path)
    with pytest.raises(ModelociError):
        unpack(source, tmp_path / "a" / "b" / "out")
    assert tree(tmp_path) == before


def test_refused_before_a_single_byte_is_written(good: dict[str, Known], tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Unsafe members and unsafe paths are found before any folder is created."""
    from modeloci.ops import unpack as unpack_module

    monkeypatch.setattr(unpack_module, "_write", lambda *a, **k: pytest.fail("unpack started writing"))
    known = good["docker"]
    for name in ("member-dotdot", "member-symlink", "filepath-dotdot-files", "same-path-files"):
        case, _ = UNSAFE[name]
        (tmp_path / name).mkdir()
        with pytest.raises(ArchiveError):
            unpack(case.make(known, tmp_path / name), tmp_path / "out", layout=case.layout)  # type: ignore[arg-type]
    assert not (tmp_path / "out").exists()


# --- an existing destination -----------------------------------------------------------------------------------


def test_existing_non_empty_folder_is_refused_and_untouched(good: dict[str, Known], tmp_path: Path, cli) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "keep.txt").write_text("mine")
    (dest / "model").mkdir()
    (dest / "model" / "model.gguf").write_bytes(b"old weights")
    before = tree(tmp_path)
    from modeloci.errors import UsageError

    with pytest.raises(UsageError) as caught:
        unpack(good["docker"].path, dest)
    assert caught.value.message == f"`{dest}` already exists"
    assert caught.value.hint == "unpack into a new or empty folder"
    result = cli("unpack", str(good["docker"].path), "-o", str(dest))
    assert result.code == 2
    assert result.stderr == f"error: `{dest}` already exists\nhelp: unpack into a new or empty folder\n"
    assert tree(tmp_path) == before
    assert leftovers(tmp_path) == []


def test_existing_file_is_refused(good: dict[str, Known], tmp_path: Path, cli) -> None:
    dest = tmp_path / "dest"
    dest.write_text("a file")
    result = cli("unpack", str(good["docker"].path), "-o", str(dest), "--layout", "files")
    assert result.code == 2 and result.stderr.startswith(f"error: `{dest}` already exists\n")
    assert dest.read_text() == "a file"


# --- the command line ------------------------------------------------------------------------------------------


def test_cli_unpack_bundle(good: dict[str, Known], tmp_path: Path, cli) -> None:
    dest = tmp_path / "bundle"
    result = cli("unpack", str(good["docker"].path), "-o", str(dest))
    assert result.code == 0, result.stderr
    config = (dest / "config.json").read_bytes()
    assert result.stdout.splitlines() == [
        "model/model-00001-of-00002.gguf  1056",
        "model/model-00002-of-00002.gguf  448",
        "model/model.mmproj  576",
        "model/LICENSE.txt  1077",
        f"config.json  {len(config)}",
        f"Unpacked 5 files into {dest}",
    ]
    assert result.stderr == ""


def test_cli_unpack_files_json(good: dict[str, Known], tmp_path: Path, cli) -> None:
    known = good["modelpack"]
    dest = tmp_path / "files"
    result = cli("unpack", str(known.path), "-o", str(dest), "--layout", "files", "--json")
    assert result.code == 0, result.stderr
    paths = ["tiny-vision-00001-of-00002.gguf", "tiny-vision-00002-of-00002.gguf", "LICENSE.txt",
             "mmproj-tiny-vision-F16.gguf"]
    assert json.loads(result.stdout) == {
        "source": str(known.path), "output": str(dest), "layout": "files", "format": "modelpack",
        "files": [{"path": p, "digest": d, "size": s}
                  for p, d, s in zip(paths, known.layers, known.sizes, strict=True)],
    }
    assert sorted(files_of(dest)) == sorted(paths)


def test_cli_unpack_errors(good: dict[str, Known], tmp_path: Path, cli) -> None:
    missing = cli("unpack", str(tmp_path / "nope.tar"), "-o", str(tmp_path / "out"))
    assert missing.code == 2 and "nope.tar" in missing.stderr and "Traceback" not in missing.stderr
    bad_layout = cli("unpack", str(good["docker"].path), "-o", str(tmp_path / "out"), "--layout", "flat")
    assert bad_layout.code == 2 and "flat" in bad_layout.stderr
    no_output = cli("unpack", str(good["docker"].path))
    assert no_output.code == 2 and "--output" in no_output.stderr
    empty = tmp_path / "empty.tar"
    empty.write_bytes(b"")
    result = cli("unpack", str(empty), "-o", str(tmp_path / "out"))
    assert result.code == 1
    assert result.stderr == "error: `empty.tar` is not a readable tar archive: empty file\n"
    assert not (tmp_path / "out").exists()


def test_layout_folder_with_a_missing_blob_is_refused(tmp_path: Path, cli) -> None:
    folder = tmp_path / "layout"
    api.build(copy_example("sharded-vision", tmp_path / "src"), layout=folder)
    digest = sha256((EXAMPLES / "sharded-vision" / "tiny-vision-00002-of-00002.gguf").read_bytes())
    (folder / blob_name(digest)).unlink()
    before = tree(tmp_path)
    with pytest.raises(ArchiveError) as caught:
        unpack(folder, tmp_path / "out")
    assert digest in caught.value.message and "missing" in caught.value.message
    result = cli("unpack", str(folder), "-o", str(tmp_path / "out"))
    assert result.code == 1 and "internal error" not in result.stderr
    assert tree(tmp_path) == before


@pytest.mark.parametrize(("attack", "problem"), [
    ("long_name_layer", "has a name of 300 bytes; file systems hold at most 255"),
    ("deep_path_layer", "is 2001 folders deep; at most 64 are unpacked"),
])
def test_a_layer_path_no_file_system_holds_is_refused_before_writing(tmp_path: Path, cli, attack: str,
                                                                       problem: str) -> None:
    """Once an internal error (ENAMETOOLONG, or RecursionError from 2,000 nested folders); now refused up front,
    and `verify` warns that the model cannot be unpacked."""
    from tests import hostile_archives

    api.build(copy_example("single-gguf", tmp_path), tmp_path / "good.tar")
    good = hostile_archives.Good.of(tmp_path / "good.tar")
    archive = getattr(hostile_archives, attack)(good, tmp_path / "hostile.tar")
    before = tree(tmp_path)
    result = cli("unpack", str(archive), "-o", str(tmp_path / "out"), "--layout", "files")
    assert result.code == 1 and "internal error" not in result.stderr
    first = result.stderr.splitlines()[0]
    assert first.startswith("error: refusing to unpack: the path `") and first.endswith(
        f"` of layer {good.layers[-1]} {problem}"), first
    assert tree(tmp_path) == before
    warned = cli("verify", str(archive))
    assert warned.code == 0
    assert any(line.startswith("warning: layer 3: its path `") and line.endswith(f"{problem}; unpack refuses it")
               for line in warned.stdout.splitlines() + warned.stderr.splitlines()), warned


def test_a_blob_reached_through_a_symlink_in_a_layout_folder_is_refused(tmp_path: Path, cli) -> None:
    """A layout folder is read as an archive is: a blob that is a symlink (here to a file outside, which the
    attacker cannot read but could make a model of) is refused, not followed."""
    api.build(copy_example("single-gguf", tmp_path), layout=tmp_path / "layout")
    blobs = tmp_path / "layout" / "blobs" / "sha256"
    victim = max(blobs.iterdir(), key=lambda p: p.stat().st_size)  # the weights
    outside = tmp_path / "outside.gguf"
    victim.rename(outside)
    victim.symlink_to(outside)
    for command in (["inspect"], ["convert", "--format", "modelpack", "-o", str(tmp_path / "c.tar")],
                    ["unpack", "-o", str(tmp_path / "out")], ["verify"]):
        result = cli(command[0], str(tmp_path / "layout"), *command[1:])
        assert result.code == 1, (command, result.stderr)
        assert (f"error: refusing to read `{tmp_path / 'layout'}`: `blobs/sha256/{victim.name}` is reached through "
                "a symlink") in result.stderr.splitlines(), (command, result.stderr)
    assert not (tmp_path / "c.tar").exists() and not (tmp_path / "out").exists()
