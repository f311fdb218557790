"""The digest cache, layout-folder output and the parallel engine: behaviour, not timings."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from modeloci import api
from modeloci.blobs import engine, sinks
from modeloci.blobs.cache import DigestCache, default_root
from modeloci.blobs.engine import BlobSource, FileState, hash_range
from modeloci.errors import BuildError
from modeloci.oci.digest import Digest
from tests import factories
from tests.archive_tools import Archive, copy_example


@pytest.fixture
def hashed(monkeypatch) -> list[str]:
    """The labels of every blob the build hashes, in the order they were hashed."""
    calls: list[str] = []
    lock = threading.Lock()
    real = engine.hash_range

    def counting(source: BlobSource, *args) -> Digest:
        with lock:
            calls.append(source.label)
        return real(source, *args)

    monkeypatch.setattr(sinks, "hash_range", counting)
    return calls


def test_warm_rebuild_hashes_nothing_and_writes_the_same_bytes(tmp_path: Path, hashed: list[str]) -> None:
    modelfile = copy_example("sharded-vision", tmp_path)
    api.build(modelfile, tmp_path / "cold.tar")
    assert sorted(hashed) == ["LICENSE.txt", "mmproj-tiny-vision-F16.gguf",
                              "tiny-vision-00001-of-00002.gguf", "tiny-vision-00002-of-00002.gguf"]
    hashed.clear()
    api.build(modelfile, tmp_path / "warm.tar")
    assert hashed == []
    assert (tmp_path / "warm.tar").read_bytes() == (tmp_path / "cold.tar").read_bytes()
    assert any(default_root().rglob("*"))


def test_no_cache_hashes_everything(tmp_path: Path, hashed: list[str], cli) -> None:
    modelfile = copy_example("single-gguf", tmp_path)
    assert cli("build", "-f", str(modelfile), "-o", str(tmp_path / "a.tar")).code == 0
    hashed.clear()
    assert cli("build", "-f", str(modelfile), "-o", str(tmp_path / "b.tar"), "--no-cache").code == 0
    assert len(hashed) == 3


def test_a_file_changed_in_place_with_its_mtime_restored_is_hashed_again(tmp_path: Path, hashed: list[str]) -> None:
    modelfile = copy_example("single-gguf", tmp_path)
    license_file = modelfile.parent / "LICENSE"
    first = api.build(modelfile, tmp_path / "a.tar")
    stat = license_file.stat()
    data = bytearray(license_file.read_bytes())
    data[0] ^= 0x20  # same size, different bytes
    license_file.write_bytes(bytes(data))
    os.utime(license_file, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert license_file.stat().st_mtime_ns == stat.st_mtime_ns and license_file.stat().st_ctime_ns != stat.st_ctime_ns
    hashed.clear()
    second = api.build(modelfile, tmp_path / "b.tar")
    assert hashed == ["LICENSE"]
    assert second.layers[1].digest == Digest.of(bytes(data)) != first.layers[1].digest


def test_a_corrupt_cache_entry_is_a_miss_not_a_wrong_digest(tmp_path: Path, hashed: list[str]) -> None:
    modelfile = copy_example("single-gguf", tmp_path)
    good = api.build(modelfile, tmp_path / "a.tar")
    entries = sorted(p for p in default_root().rglob("*") if p.is_file())
    assert len(entries) == 3
    for entry in entries:
        text = entry.read_text()
        flipped = text.replace("sha256:", "sha256:" + ("1" if text[text.index("sha256:") + 7] != "1" else "2"), 1)
        entry.write_text(flipped[: len(text)])
    entries[0].write_bytes(b"\xff\xfe garbage")
    hashed.clear()
    again = api.build(modelfile, tmp_path / "b.tar")
    assert len(hashed) == 3
    assert again.manifest.digest == good.manifest.digest


def test_cache_entries_never_mismatch_their_key(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"abc")
    cache = DigestCache(tmp_path / "cache")
    state = FileState.from_stat(os.stat(path))
    cache.put(state, 0, 3, Digest.of(b"abc"))
    assert cache.get(state, 0, 3) == Digest.of(b"abc")
    assert cache.get(state, 1, 2) is None  # another range of the same file
    other = FileState(state.dev, state.ino, state.size, state.mtime_ns, state.ctime_ns + 1)
    assert cache.get(other, 0, 3) is None


def test_a_huge_file_planted_as_a_cache_entry_is_a_miss_and_not_read_whole(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"abc")
    cache = DigestCache(tmp_path / "cache")
    state = FileState.from_stat(os.stat(path))
    cache.put(state, 0, 3, Digest.of(b"abc"))
    entry = next(p for p in (tmp_path / "cache").rglob("*") if p.is_file())
    good = entry.read_text()
    entry.write_text(good.rstrip("\n") + " " * (64 << 10))  # a valid entry, then 64 KiB more
    reads: list[int] = []
    real_open = open

    def counting_open(file: object, *args: object, **kwargs: object) -> object:
        handle = real_open(file, *args, **kwargs)  # type: ignore[call-overload]  # open's overloads, passed on
        if str(file) == str(entry):
            real_read = handle.read
            handle.read = lambda n=-1: reads.append(n) or real_read(n)
        return handle

    monkeypatch.setattr("builtins.open", counting_open)
    assert cache.get(state, 0, 3) is None
    assert reads and all(0 < n <= 4096 for n in reads)


def test_concurrent_builds_sharing_the_cache_agree(tmp_path: Path) -> None:
    modelfile = copy_example("sharded-vision", tmp_path)
    results: list[str] = []
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            results.append(str(api.build(modelfile, tmp_path / f"out{i}.tar").manifest.digest))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and len(set(results)) == 1


def test_stale_file_state_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "w.gguf"
    path.write_bytes(b"one")
    state = FileState.from_stat(os.stat(path))
    path.write_bytes(b"two")
    with pytest.raises(BuildError, match="changed since the build looked at it"):
        hash_range(BlobSource(path, 0, 3, "w.gguf", state))


def test_layout_output_is_an_oci_layout_skopeo_reads(tmp_path: Path, cli) -> None:
    modelfile = copy_example("sharded-vision", tmp_path)
    layout = tmp_path / "layout"
    result = cli("build", "-f", str(modelfile), "--layout", str(layout), "-t", "tiny:v1", "--json")
    assert result.code == 0, result.stderr
    report = json.loads(result.stdout)
    archive = api.build(modelfile, tmp_path / "same.tar", reference="tiny:v1")
    assert report["digest"] == str(archive.manifest.digest)
    index = json.loads((layout / "index.json").read_text())
    assert index["manifests"][0]["annotations"] == {"org.opencontainers.image.ref.name": "tiny:v1"}
    blobs = sorted(p.name for p in (layout / "blobs" / "sha256").iterdir())
    assert blobs == sorted({d.digest.hex for d in (*archive.layers, archive.config, archive.manifest)})
    for blob in (layout / "blobs" / "sha256").iterdir():
        assert Digest.of(blob.read_bytes()).hex == blob.name
    if shutil.which("skopeo"):
        raw = subprocess.run(["skopeo", "inspect", "--raw", f"oci:{layout}:tiny:v1"], check=True,
                             capture_output=True).stdout
        assert Digest.of(raw) == archive.manifest.digest


def test_warm_rebuild_into_a_layout_copies_nothing(tmp_path: Path, monkeypatch) -> None:
    modelfile = copy_example("sharded-vision", tmp_path)
    layout = tmp_path / "layout"
    api.build(modelfile, layout=layout)
    before = {p.name: p.stat().st_mtime_ns for p in (layout / "blobs" / "sha256").iterdir()}
    copies: list[str] = []
    monkeypatch.setattr(sinks, "copy_range", lambda source, fd, offset, cancel=None: copies.append(source.label))
    api.build(modelfile, layout=layout)
    assert copies == []
    assert {p.name: p.stat().st_mtime_ns for p in (layout / "blobs" / "sha256").iterdir()} == before


def test_layout_keeps_other_tags_and_replaces_its_own(tmp_path: Path) -> None:
    modelfile = copy_example("single-gguf", tmp_path)
    layout = tmp_path / "layout"
    api.build(modelfile, layout=layout, reference="tiny:a")
    api.build(modelfile, layout=layout, reference="tiny:b", created=86400)
    api.build(modelfile, layout=layout, reference="tiny:a", created=172800)
    refs = [m["annotations"]["org.opencontainers.image.ref.name"]
            for m in json.loads((layout / "index.json").read_text())["manifests"]]
    assert refs == ["tiny:b", "tiny:a"]


def test_link_hardlinks_whole_weight_files(tmp_path: Path) -> None:
    modelfile = copy_example("single-gguf", tmp_path)
    layout = tmp_path / "layout"
    result = api.build(modelfile, layout=layout, link=True)
    weights = modelfile.parent / "tiny-llama-F32.gguf"
    blob = layout / "blobs" / "sha256" / result.layers[0].digest.hex
    assert blob.stat().st_ino == weights.stat().st_ino


def test_failed_layout_build_leaves_no_partial_blob(tmp_path: Path, monkeypatch) -> None:
    modelfile = copy_example("single-gguf", tmp_path)
    layout = tmp_path / "layout"

    def fail(source, fd, offset, *args):
        raise BuildError(f"writing layer {source.label}: no space left on device")

    monkeypatch.setattr(sinks, "copy_range", fail)
    with pytest.raises(BuildError):
        api.build(modelfile, layout=layout)
    leftovers = [p.name for p in layout.rglob("*") if p.is_file()]
    assert leftovers == []


def test_base_blobs_are_verified_then_cached(tmp_path: Path, hashed: list[str]) -> None:
    modelfile = copy_example("rebase", tmp_path)
    api.build(copy_example("single-gguf", tmp_path), modelfile.parent / "base.tar")
    hashed.clear()
    api.build(modelfile, tmp_path / "a.tar")
    assert sorted(hashed) == ["LICENSE of `base.tar`", "chat template.jinja",  # base blobs verified
                              "tiny-llama-F32.gguf of `base.tar`"]
    hashed.clear()
    api.build(modelfile, tmp_path / "b.tar")
    assert hashed == []


def test_many_small_files_keep_their_order(tmp_path: Path) -> None:
    for i in range(40):
        factories.gguf(tmp_path / f"m-{i + 1:05d}-of-00040.gguf", split=(i, 40))
    (tmp_path / "Modelfile").write_text("FROM scratch\nWEIGHTS m-*.gguf\n")
    result = api.build(tmp_path / "Modelfile", tmp_path / "out.tar")
    archive = Archive.read(tmp_path / "out.tar")
    assert [layer["annotations"]["org.cncf.model.filepath"] for layer in archive.manifest["layers"]] == [
        f"m-{i + 1:05d}-of-00040.gguf" for i in range(40)]
    assert [str(d.digest) for d in result.layers] == [layer["digest"] for layer in archive.manifest["layers"]]
