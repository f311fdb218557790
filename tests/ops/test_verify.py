"""``modeloci verify``: a corpus of damaged archives and layouts, each reported with its own message.

A good archive is built from an example, then copies are damaged the way a
bad disk, a bad download or a hostile packer would: bits flipped at byte
offsets found with ``tarfile`` (``member.offset_data``), members dropped,
added or rewritten, the manifest re-serialised with swapped layers or wrong
sizes. Every problem message is asserted in full, through the API and
through the CLI (exit 1 for errors, 0 for warnings only, never a traceback).

The tar helpers (``tar_items``, ``rewrite``, ``flip_bit``,
``with_manifest``...) live in :mod:`tests.hostile_archives`; they are imported
here, and ``test_unpack`` and ``test_inspect_archive`` take them from here.
"""

from __future__ import annotations

import json
import subprocess
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from modeloci import api
from modeloci.errors import ArchiveError
from modeloci.ops.inspect import inspect_artifact
from modeloci.ops.verify import verify
from tests.archive_tools import Archive, build_example, copy_example
from tests.hostile_archives import (
    Item,
    append,
    blob_name,
    drop,
    file_info,
    flip_bit,
    link,
    member,
    rewrite,
    sha256,
    tar_items,
    with_manifest,
    write_tar,
)

REFERENCE = "example/vision:test"


# --- helpers shared with test_unpack and test_inspect_archive ---------------------------------------------------


def set_filepath(*changes: tuple[int, str]) -> Callable[[dict[str, Any]], None]:
    """Set layer ``i``'s (0-based) ``org.cncf.model.filepath`` annotation."""

    def edit(doc: dict[str, Any]) -> None:
        for i, path in changes:
            doc["layers"][i]["annotations"]["org.cncf.model.filepath"] = path

    return edit


def dmr_tar(src: Path, dst: Path, *, keep_manifest_blob: bool = True) -> Path:
    """A Docker Model Runner load tar made from our archive: no ``index.json``, no ``oci-layout``
    (and, like DMR's own ``tarball/target.go``, optionally no manifest blob either)."""
    archive = Archive.read(src)
    dropped = {"index.json", "oci-layout"}
    if not keep_manifest_blob:
        dropped.add(blob_name(archive.index["manifests"][0]["digest"]))
    return rewrite(src, dst, drop(*dropped))


@dataclass(frozen=True)
class Known:
    """The digests and sizes of a good archive, read with tarfile."""

    path: Path
    format: str
    manifest: str
    manifest_size: int
    config: str
    config_size: int
    layers: list[str]
    sizes: list[int]

    @classmethod
    def of(cls, path: Path, fmt: str) -> Known:
        archive = Archive.read(path)
        m = archive.manifest
        return cls(path, fmt, archive.index["manifests"][0]["digest"], len(archive.manifest_bytes),
                   m["config"]["digest"], m["config"]["size"], [layer["digest"] for layer in m["layers"]],
                   [layer["size"] for layer in m["layers"]])

    @property
    def diff_ids(self) -> str:
        return "rootfs.diff_ids" if self.format == "docker" else "modelfs.diffIds"


def messages(report) -> list[str]:
    """The report's problems as the CLI prints them: `error: MESSAGE` or `warning: MESSAGE`."""
    return [f"{p.severity}: {p.message}" for p in report.problems]


# --- fixtures --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Known]:
    """sharded-vision (two GGUF shards, a license, an mmproj), as Docker and as ModelPack."""
    root = tmp_path_factory.mktemp("good")
    built = {}
    for fmt in ("docker", "modelpack"):
        path, _ = build_example("sharded-vision", root / fmt, format=fmt, reference=REFERENCE)
        built[fmt] = Known.of(path, fmt)
    return built


@pytest.fixture(params=["docker", "modelpack"])
def known(request: pytest.FixtureRequest, good: dict[str, Known]) -> Known:
    return good[request.param]


Case = Callable[["Known", Path], tuple[Path, list[str]]]


def mismatch(i: int, digest: str, content: str) -> str:
    return f"error: layer {i} blob {digest} does not match its digest: its content is {content}"


def content_digest(path: Path, name: str) -> str:
    """The digest of member ``name``'s (damaged) bytes, read with tarfile."""
    return sha256(dict((m.name, d) for m, d in tar_items(path))[name])  # type: ignore[arg-type]


def _flipped_weight(k: Known, tmp: Path) -> tuple[Path, list[str]]:
    name = blob_name(k.layers[0])
    path = flip_bit(k.path, tmp / "flipped.tar", name, at=100)
    assert content_digest(path, name) != k.layers[0]
    return path, [mismatch(1, k.layers[0], content_digest(path, name))]


def _flipped_last_byte(k: Known, tmp: Path) -> tuple[Path, list[str]]:
    name = blob_name(k.layers[3])
    path = flip_bit(k.path, tmp / "flipped.tar", name, at=k.sizes[3] - 1)
    return path, [mismatch(4, k.layers[3], content_digest(path, name))]


def _flipped_config(k: Known, tmp: Path) -> tuple[Path, list[str]]:
    path = flip_bit(k.path, tmp / "flipped.tar", blob_name(k.config), at=10)
    return path, [f"error: the config blob {k.config} does not match its digest"]


def _missing_layer(k: Known, tmp: Path) -> tuple[Path, list[str]]:
    path = rewrite(k.path, tmp / "missing.tar", drop(blob_name(k.layers[1])))
    return path, [f"error: layer 2 blob {k.layers[1]} is missing"]


def _missing_config(k: Known, tmp: Path) -> tuple[Path, list[str]]:
    path = rewrite(k.path, tmp / "missing.tar", drop(blob_name(k.config)))
    return path, [f"error: the config blob {k.config} is missing"]


def _missing_manifest(k: Known, tmp: Path) -> tuple[Path, list[str]]:
    path = rewrite(k.path, tmp / "missing.tar", drop(blob_name(k.manifest)))
    return path, [f"error: the manifest blob {k.manifest} is missing"]


def _extra_blob(k: Known, tmp: Path) -> tuple[Path, list[str]]:
    data = b"a blob nothing refers to\n"
    path = rewrite(k.path, tmp / "extra.tar", append(file_info(blob_name(sha256(data)), data)))
    return path, [f"warning: `{blob_name(sha256(data))}` is not referenced by the manifest"]


def _swapped_layers(k: Known, tmp: Path) -> tuple[Path, list[str]]:
    def swap(doc: dict[str, Any]) -> None:
        doc["layers"][0], doc["layers"][1] = doc["layers"][1], doc["layers"][0]

    path, _ = with_manifest(k.path, tmp / "swapped.tar", swap)
    a, b = k.layers[0], k.layers[1]
    return path, [f"error: {k.diff_ids}[0] is {a}, but layer 1 is {b}",
                  f"error: {k.diff_ids}[1] is {b}, but layer 2 is {a}"]


def _dropped_layer_descriptor(k: Known, tmp: Path) -> tuple[Path, list[str]]:
    """The manifest loses its last layer (the blob stays): the config lists one layer too many."""

    def remove(doc: dict[str, Any]) -> None:
        del doc["layers"][3]

    path, _ = with_manifest(k.path, tmp / "dropped.tar", remove)
    return path, [f"error: {k.diff_ids} lists 4 layers; the manifest has 3",
                  f"warning: `{blob_name(k.layers[3])}` is not referenced by the manifest"]


def _edited_manifest(k: Known, tmp: Path) -> tuple[Path, list[str]]:
    """An annotation changed in place (same length, same blob name, manifest.json edited alike)."""
    old, new = b'"org.cncf.model.filepath":"LICENSE.txt"', b'"org.cncf.model.filepath":"LICENSE.TXT"'

    def edit(items: list[Item]) -> list[Item]:
        out = []
        for info, data in items:
            changed = data
            if info.name in (blob_name(k.manifest), "manifest.json"):
                assert data is not None and data.count(old) == 1
                changed = data.replace(old, new)
            out.append((info, changed))
        return out

    path = rewrite(k.path, tmp / "edited.tar", edit)
    return path, [f"error: the manifest blob {k.manifest} does not match its digest"]


def _layer_size(k: Known, tmp: Path) -> tuple[Path, list[str]]:
    def grow(doc: dict[str, Any]) -> None:
        doc["layers"][1]["size"] += 1

    path, _ = with_manifest(k.path, tmp / "size.tar", grow)
    return path, [f"error: layer 2 blob {k.layers[1]} is {k.sizes[1]} bytes; the manifest says {k.sizes[1] + 1}"]


def _config_size(k: Known, tmp: Path) -> tuple[Path, list[str]]:
    def shrink(doc: dict[str, Any]) -> None:
        doc["config"]["size"] -= 1

    path, _ = with_manifest(k.path, tmp / "size.tar", shrink)
    return path, [f"error: the config blob {k.config} is {k.config_size} bytes; "
                  f"its descriptor says {k.config_size - 1}"]


def _index_size(k: Known, tmp: Path) -> tuple[Path, list[str]]:
    def edit(items: list[Item]) -> list[Item]:
        out = []
        for info, data in items:
            changed = data
            if info.name == "index.json":
                index = json.loads(data)  # type: ignore[arg-type]
                index["manifests"][0]["size"] += 5
                changed = json.dumps(index).encode()
            out.append((info, changed))
        return out

    return rewrite(k.path, tmp / "size.tar", edit), [
        f"error: the manifest blob {k.manifest} is {k.manifest_size} bytes; its descriptor says {k.manifest_size + 5}"]


def _manifest_json_differs(k: Known, tmp: Path) -> tuple[Path, list[str]]:
    """The same manifest, re-indented: equal as JSON, but not the bytes the digest names."""

    def edit(items: list[Item]) -> list[Item]:
        return [(i, json.dumps(json.loads(d), indent=2).encode()  # type: ignore[arg-type]
                 if i.name == "manifest.json" else d) for i, d in items]

    path = rewrite(k.path, tmp / "mj.tar", edit)
    return path, ["error: `manifest.json` differs from the manifest blob the index names"]


def _unsafe(edit: Callable[[list[Item]], list[Item]], message: str) -> Case:
    return lambda k, tmp: (rewrite(k.path, tmp / "unsafe.tar", edit), [f"error: {message}"])


def _twice(k: Known, tmp: Path) -> tuple[Path, list[str]]:
    name = blob_name(k.layers[2])

    def twice(items: list[Item]) -> list[Item]:
        return items + [(tarfile.TarInfo(name), d) for m, d in items if m.name == name]

    return rewrite(k.path, tmp / "twice.tar", twice), [f"error: archive member `{name}` appears twice"]


def _dmr_flipped(k: Known, tmp: Path) -> tuple[Path, list[str]]:
    name = blob_name(k.layers[1])
    path = flip_bit(dmr_tar(k.path, tmp / "dmr.tar", keep_manifest_blob=False), tmp / "flipped.tar", name, at=7)
    return path, [mismatch(2, k.layers[1], content_digest(path, name))]


def _not_a_layout(k: Known, tmp: Path) -> tuple[Path, list[str]]:
    folder = tmp / "folder"
    folder.mkdir()
    (folder / "notes.txt").write_text("hello")
    return folder, ["error: neither `index.json` nor `manifest.json` is present: not a layout or model archive"]


CORPUS: dict[str, Case] = {
    "flipped-weight": _flipped_weight,
    "flipped-last-byte": _flipped_last_byte,
    "flipped-config": _flipped_config,
    "missing-layer": _missing_layer,
    "missing-config": _missing_config,
    "missing-manifest": _missing_manifest,
    "extra-blob": _extra_blob,
    "swapped-layers": _swapped_layers,
    "dropped-layer-descriptor": _dropped_layer_descriptor,
    "edited-manifest": _edited_manifest,
    "wrong-layer-size": _layer_size,
    "wrong-config-size": _config_size,
    "wrong-index-size": _index_size,
    "manifest-json-differs": _manifest_json_differs,
    "dotdot": _unsafe(append(file_info("../evil", b"evil")),
                      "archive member `../evil` leaves the archive's folder through `..`"),
    "nested-dotdot": _unsafe(append(file_info("blobs/../../evil", b"evil")),
                             "archive member `blobs/../../evil` leaves the archive's folder through `..`"),
    "absolute": _unsafe(append(file_info("/abs", b"abs")), "archive member `/abs` has an absolute path"),
    "symlink": _unsafe(append(link("etc", "/etc", tarfile.SYMTYPE)), "archive member `etc` is a symlink (to `/etc`)"),
    "hardlink": _unsafe(append(link("hard", "index.json", tarfile.LNKTYPE)),
                        "archive member `hard` is a hard link (to `index.json`)"),
    "fifo": _unsafe(append(link("fifo", "", tarfile.FIFOTYPE)),
                    "archive member `fifo` is a device, fifo or other special file"),
    "member-twice": _twice,
    "dmr-flipped": _dmr_flipped,
    "not-a-layout": _not_a_layout,
}
WARNINGS_ONLY = {"extra-blob"}


def ok_of(expected: list[str]) -> bool:
    return not any(line.startswith("error: ") for line in expected)


def _exit_params(cases: dict[str, Any]) -> list[Any]:
    return [pytest.param(name) for name in cases]


@pytest.mark.parametrize("case", CORPUS)
def test_damaged_archive_is_reported(known: Known, tmp_path: Path, case: str) -> None:
    path, expected = CORPUS[case](known, tmp_path)
    report = verify(path)
    assert messages(report) == expected
    assert report.ok is ok_of(expected) is (case in WARNINGS_ONLY)


@pytest.mark.parametrize("case", CORPUS)
def test_damaged_archive_cli_output(known: Known, tmp_path: Path, cli, case: str) -> None:
    """Every problem on stderr as `error: MESSAGE` (or `warning:`), the verdict on stdout, no traceback."""
    path, expected = CORPUS[case](known, tmp_path)
    result = cli("verify", str(path))
    assert "Traceback" not in result.stdout + result.stderr
    assert result.stderr.splitlines() == expected
    errors = sum(line.startswith("error: ") for line in expected)
    assert result.stdout.startswith(f"FAILED ({errors} problem" if errors else f"OK: {path} (")
    report = json.loads(cli("verify", str(path), "--json").stdout)
    assert report["ok"] is ok_of(expected)
    assert [f"{p['severity']}: {p['message']}" for p in report["problems"]] == expected


@pytest.mark.parametrize("case", _exit_params(CORPUS))
def test_damaged_archive_cli_exit_code(known: Known, tmp_path: Path, cli, case: str) -> None:
    """`modeloci verify` exits 1 when anything is wrong, 0 for warnings alone; `--json` alike."""
    path, expected = CORPUS[case](known, tmp_path)
    code = 0 if ok_of(expected) else 1
    assert cli("verify", str(path)).code == code
    assert cli("verify", str(path), "--json").code == code


# --- truncated archives ----------------------------------------------------------------------------------------




def test_archive_cut_in_the_middle_of_a_layer(good: dict[str, Known], tmp_path: Path, cli) -> None:
    known = good["docker"]
    name = blob_name(known.layers[1])
    path = tmp_path / "cut.tar"
    path.write_bytes(known.path.read_bytes()[: member(known.path, name).offset_data + 100])
    report = verify(path)  # a report, not an exception
    assert not report.ok
    cut = f"archive member `{name}` is cut short: the archive ends before its {known.sizes[1]} bytes"
    assert messages(report)[0] == f"error: {cut}"
    result = cli("verify", str(path))
    assert result.code == 1 and f"error: {cut}\n" in result.stderr and "Traceback" not in result.stderr


def test_member_declared_larger_than_the_data_left(good: dict[str, Known], tmp_path: Path, cli) -> None:
    """Every member is whole but the last, a layer blob whose header promises more bytes than remain."""
    known = good["docker"]
    name = blob_name(known.layers[3])
    items = tar_items(known.path)
    last = next(item for item in items if item[0].name == name)
    whole = write_tar(tmp_path / "reordered.tar", [item for item in items if item[0].name != name] + [last])
    assert verify(whole).problems == []
    path = tmp_path / "short.tar"
    path.write_bytes(whole.read_bytes()[: member(whole, name).offset_data + known.sizes[3] // 2])
    report = verify(path)
    assert not report.ok
    cut = f"archive member `{name}` is cut short: the archive ends before its {known.sizes[3]} bytes"
    assert messages(report)[0] == f"error: {cut}"
    result = cli("verify", str(path))
    assert result.code == 1 and f"error: {cut}\n" in result.stderr and "Traceback" not in result.stderr


def test_truncated_archive_fails_cleanly(good: dict[str, Known], tmp_path: Path, cli) -> None:
    """Whatever verify says about the cut member, it fails with a message and exit 1, no traceback."""
    known = good["docker"]
    path = tmp_path / "cut.tar"
    path.write_bytes(known.path.read_bytes()[: member(known.path, blob_name(known.layers[1])).offset_data + 100])
    result = cli("verify", str(path))
    assert result.code == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("error: ") and "internal error" not in result.stderr


# --- not an archive at all -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("content", "reason"), [
    (b"", "empty file"),
    (b"this is not a tar archive\n" * 100, None),
    (b"short", None),
], ids=["empty", "text", "short"])
def test_not_a_tar_is_a_clear_error(tmp_path: Path, cli, content: bytes, reason: str | None) -> None:
    path = tmp_path / "model.tar"
    path.write_bytes(content)
    with pytest.raises(ArchiveError) as caught:
        verify(path)
    assert caught.value.path == str(path)
    assert caught.value.message.startswith("`model.tar` is not a readable tar archive: ")
    if reason is not None:
        assert caught.value.message == f"`model.tar` is not a readable tar archive: {reason}"
    result = cli("verify", str(path))
    assert result.code == 1
    assert result.stdout == ""
    assert result.stderr.splitlines()[0] == f"error: {caught.value.message}"
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr


# --- good archives ---------------------------------------------------------------------------------------------


def test_good_archives_verify_with_no_problems(known: Known, cli) -> None:
    report = verify(known.path)
    assert report.problems == [] and report.ok
    assert report.format == known.format
    assert report.manifest_digest == known.manifest
    assert report.blobs_checked == 4
    assert report.bytes_checked == sum(known.sizes) == 1056 + 448 + 1077 + 576
    result = cli("verify", str(known.path))
    assert result.code == 0 and result.stderr == ""
    assert result.stdout == f"OK: {known.path} ({known.format}, 4 blobs, 3157 bytes checked)\n"
    result = cli("verify", str(known.path), "--json")
    assert result.code == 0
    assert json.loads(result.stdout) == {
        "source": str(known.path), "format": known.format, "manifest_digest": known.manifest, "blobs_checked": 4,
        "bytes_checked": 3157, "problems": [], "ok": True}


# --- OCI layout folders ----------------------------------------------------------------------------------------


@pytest.fixture
def layout(tmp_path: Path) -> tuple[Path, Known]:
    """sharded-vision written as a layout folder, and the digests of the same build as an archive."""
    modelfile = copy_example("sharded-vision", tmp_path / "src")
    folder = tmp_path / "layout"
    api.build(modelfile, layout=folder, reference=REFERENCE)
    archive, _ = build_example("sharded-vision", tmp_path / "tar", reference=REFERENCE)
    known = Known.of(archive, "docker")
    assert sorted(p.name for p in (folder / "blobs" / "sha256").iterdir()) == sorted(
        d.removeprefix("sha256:") for d in [known.manifest, known.config, *known.layers])
    return folder, known


def _edit_blob(folder: Path, digest: str, edit: Callable[[bytearray], bytes | None]) -> bytes | None:
    blob = folder / blob_name(digest)
    data = edit(bytearray(blob.read_bytes()))
    if data is None:
        blob.unlink()
    else:
        blob.write_bytes(data)
    return data


def _flip(at: int) -> Callable[[bytearray], bytes]:
    def edit(data: bytearray) -> bytes:
        data[at] ^= 0x01
        return bytes(data)

    return edit


def _layout_flipped(folder: Path, k: Known) -> list[str]:
    data = _edit_blob(folder, k.layers[0], _flip(200))
    return [mismatch(1, k.layers[0], sha256(data))]  # type: ignore[arg-type]


def _layout_flipped_config(folder: Path, k: Known) -> list[str]:
    _edit_blob(folder, k.config, _flip(-2))
    return [f"error: the config blob {k.config} does not match its digest"]


def _layout_missing(folder: Path, k: Known) -> list[str]:
    _edit_blob(folder, k.layers[1], lambda data: None)
    return [f"error: layer 2 blob {k.layers[1]} is missing"]


def _layout_truncated(folder: Path, k: Known) -> list[str]:
    _edit_blob(folder, k.layers[3], lambda data: bytes(data[:100]))
    return [f"error: layer 4 blob {k.layers[3]} is 100 bytes; the manifest says {k.sizes[3]}"]


def _layout_extra(folder: Path, k: Known) -> list[str]:
    data = b"left over from another build"
    (folder / blob_name(sha256(data))).write_bytes(data)
    return [f"warning: `{blob_name(sha256(data))}` is not referenced by the manifest"]


def _layout_no_oci_layout(folder: Path, k: Known) -> list[str]:
    (folder / "oci-layout").unlink()
    return ["error: `oci-layout` is missing"]


LAYOUT_CASES: dict[str, Callable[[Path, Known], list[str]]] = {
    "flipped-weight": _layout_flipped,
    "flipped-config": _layout_flipped_config,
    "missing-layer": _layout_missing,
    "truncated-layer": _layout_truncated,
    "extra-blob": _layout_extra,
    "no-oci-layout": _layout_no_oci_layout,
}


def test_good_layout_verifies(layout: tuple[Path, Known], cli) -> None:
    folder, known = layout
    report = verify(folder)
    assert report.problems == [] and report.format == "docker" and report.manifest_digest == known.manifest
    assert (report.blobs_checked, report.bytes_checked) == (4, 3157)
    result = cli("verify", str(folder))
    assert result.code == 0 and result.stdout == f"OK: {folder} (docker, 4 blobs, 3157 bytes checked)\n"


@pytest.mark.parametrize("case", LAYOUT_CASES)
def test_damaged_layout_is_reported(layout: tuple[Path, Known], cli, case: str) -> None:
    folder, known = layout
    expected = LAYOUT_CASES[case](folder, known)
    report = verify(folder)
    assert messages(report) == expected
    assert report.ok is ok_of(expected) is (case in WARNINGS_ONLY)
    result = cli("verify", str(folder))
    assert "Traceback" not in result.stdout + result.stderr
    assert result.stderr.splitlines() == expected


@pytest.mark.parametrize("case", _exit_params(LAYOUT_CASES))
def test_damaged_layout_cli_exit_code(layout: tuple[Path, Known], cli, case: str) -> None:
    folder, known = layout
    expected = LAYOUT_CASES[case](folder, known)
    assert cli("verify", str(folder)).code == (0 if ok_of(expected) else 1)


# --- archives written by other tools ---------------------------------------------------------------------------


def _skopeo() -> str:
    from tests.conftest import skopeo_path

    return skopeo_path()


def test_skopeo_written_archive_verifies_and_inspects(layout: tuple[Path, Known], tmp_path: Path, cli) -> None:
    skopeo = _skopeo()
    folder, known = layout
    out = tmp_path / "skopeo.tar"
    subprocess.run([skopeo, "copy", "--quiet", f"oci:{folder}:{REFERENCE}", f"oci-archive:{out}:{REFERENCE}"],
                   check=True, capture_output=True)
    names = Archive.read(out).names
    assert "manifest.json" not in names  # skopeo writes a plain OCI layout, without our DMR copy
    report = verify(out)
    assert report.problems == [] and report.manifest_digest == known.manifest and report.format == "docker"
    assert cli("verify", str(out)).code == 0
    summary = inspect_artifact(out)
    assert (summary.reference, summary.manifest_digest) == (REFERENCE, known.manifest)
    assert [layer.digest for layer in summary.layers] == known.layers


@pytest.mark.parametrize("keep_manifest_blob", [True, False], ids=["with-manifest-blob", "as-dmr-writes-it"])
def test_dmr_load_tar_verifies_and_inspects(good: dict[str, Known], tmp_path: Path, cli,
                                            keep_manifest_blob: bool) -> None:
    known = good["docker"]
    path = dmr_tar(known.path, tmp_path / "dmr.tar", keep_manifest_blob=keep_manifest_blob)
    assert "index.json" not in Archive.read(path).names
    report = verify(path)
    assert report.problems == [] and report.manifest_digest == known.manifest and report.format == "docker"
    assert (report.blobs_checked, report.bytes_checked) == (4, 3157)
    assert cli("verify", str(path)).code == 0
    summary = inspect_artifact(path)
    assert (summary.reference, summary.manifest_digest, summary.format) == (None, known.manifest, "docker")
