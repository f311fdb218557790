"""Killed, interrupted, starved and racing builds, as real processes: the output is always the previous
archive (or nothing) or a complete new one, never a part, and leftovers are cleaned by the next run.

Kill points are found by watching the output folder (the temporary file appearing, then growing),
not by sleeping, so they are reached on a slow machine too.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from modeloci.atomic import TEMP_PREFIX
from modeloci.ops.verify import verify
from tests import factories

SIZE = 96 << 20


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Modelfile whose weights (96 MiB) take the build a moment to hash and write."""
    folder = tmp_path_factory.mktemp("killed")
    factories.gguf(folder / "a.gguf")
    with (folder / "big.safetensors").open("wb") as out:
        header = b'{"__metadata__":{"format":"pt"}}      '
        out.write(len(header).to_bytes(8, "little") + header)
        remaining = SIZE - 8 - len(header)
        while remaining:
            out.write(os.urandom(min(remaining, 8 << 20)))
            remaining -= min(remaining, 8 << 20)
    (folder / "Modelfile").write_text("FROM scratch\nWEIGHTS big.safetensors\n")
    (folder / "Small").write_text("FROM scratch\nWEIGHTS a.gguf\n")
    return folder


def _start(model: Path, output: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "modeloci", "build", "-f", str(model / "Modelfile"), "-o",
                             str(output), "--no-cache", "-q", *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def _temps(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.name.startswith(TEMP_PREFIX)]


def _wait_for(condition, process: subprocess.Popen[str], what: str) -> None:
    deadline = time.monotonic() + 60
    while not condition():
        if process.poll() is not None:
            pytest.fail(f"the build ended before {what}: {process.stderr.read() if process.stderr else ''}")
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.002)


def _previous(model: Path, output: Path) -> bytes:
    from modeloci import api

    api.build(model / "Small", output)
    return output.read_bytes()


@pytest.mark.parametrize("point", ["temp-created", "temp-growing", "temp-half"])
def test_sigkill_leaves_the_previous_archive_and_the_next_run_cleans_up(model: Path, tmp_path: Path,
                                                                         point: str) -> None:
    output = tmp_path / "out.tar"
    previous = _previous(model, output)
    process = _start(model, output)
    size = {"temp-created": 0, "temp-growing": 1, "temp-half": SIZE // 2}[point]
    _wait_for(lambda: any(p.stat().st_size >= size for p in _temps(tmp_path)), process, point)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert output.read_bytes() == previous
    assert _temps(tmp_path), "expected the killed build's temporary file to be left behind"
    time.sleep(2.1)  # past the grace period for young, empty temporary files
    rerun = _start(model, output)
    assert rerun.wait(timeout=120) == 0, rerun.stderr.read() if rerun.stderr else ""
    assert _temps(tmp_path) == [], "the next build did not clean up the killed one's leftovers"
    assert verify(output).ok


def test_sigkill_without_a_previous_archive_leaves_no_output(model: Path, tmp_path: Path) -> None:
    output = tmp_path / "out.tar"
    process = _start(model, output)
    _wait_for(lambda: any(p.stat().st_size > 0 for p in _temps(tmp_path)), process, "the temporary file")
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert not output.exists()


def test_sigint_prints_one_line_and_exits_130(model: Path, tmp_path: Path) -> None:
    output = tmp_path / "out.tar"
    previous = _previous(model, output)
    process = _start(model, output)
    _wait_for(lambda: any(p.stat().st_size > 0 for p in _temps(tmp_path)), process, "the temporary file")
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=30) == 130
    stderr = process.stderr.read() if process.stderr else ""
    assert stderr == "error: interrupted\n"
    assert output.read_bytes() == previous
    assert _temps(tmp_path) == [], "an interrupted build removes its own temporary file"


def test_a_live_build_s_temporary_file_is_not_taken_by_another_run(model: Path, tmp_path: Path) -> None:
    output = tmp_path / "out.tar"
    slow = _start(model, output)
    _wait_for(lambda: any(p.stat().st_size > 0 for p in _temps(tmp_path)), slow, "the temporary file")
    time.sleep(2.1)
    other = subprocess.run([sys.executable, "-m", "modeloci", "build", "-f", str(model / "Small"), "-o", str(output),
                            "-q"], capture_output=True, text=True, timeout=120)
    assert other.returncode == 0, other.stderr
    assert slow.wait(timeout=120) == 0, slow.stderr.read() if slow.stderr else ""
    assert verify(output).ok


def test_two_builds_racing_for_one_output_leave_one_complete_archive(model: Path, tmp_path: Path) -> None:
    output = tmp_path / "out.tar"
    builds = [_start(model, output) for _ in range(2)]
    assert [b.wait(timeout=120) for b in builds] == [0, 0], [b.stderr.read() for b in builds if b.stderr]
    report = verify(output)
    assert report.ok and report.bytes_checked == SIZE, report.problems
    assert _temps(tmp_path) == []


def _mount_tmpfs(folder: Path, size: str) -> bool:
    folder.mkdir()
    if os.geteuid() != 0:
        return False
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                          capture_output=True).returncode == 0


def test_a_full_disk_names_the_layer_exits_1_and_keeps_the_previous_archive(model: Path, tmp_path: Path) -> None:
    disk = tmp_path / "disk"
    if not _mount_tmpfs(disk, "16m"):
        pytest.skip("cannot mount a size-limited tmpfs here (needs root and mount rights); "
                    "tests/test_build.py::test_disk_full_names_the_layer injects ENOSPC instead")
    try:
        output = disk / "out.tar"
        previous = _previous(model, output)
        result = subprocess.run([sys.executable, "-m", "modeloci", "build", "-f", str(model / "Modelfile"), "-o",
                                 str(output), "-q"], capture_output=True, text=True, timeout=120)
        assert result.returncode == 1
        assert result.stderr == "error: writing layer big.safetensors: no space left on device\n"
        assert output.read_bytes() == previous
        assert _temps(disk) == []
    finally:
        subprocess.run(["umount", str(disk)], check=False)


def test_a_reader_that_goes_away_is_not_an_error(tmp_path: Path) -> None:
    """``modeloci ... | head``: the closed pipe ends the command quietly, as in other CLI tools."""
    read, write = os.pipe()
    os.close(read)
    process = subprocess.run([sys.executable, "-m", "modeloci", "--help"], stdout=write, stderr=subprocess.PIPE,
                             text=True, timeout=60)
    os.close(write)
    assert process.stderr == ""
    assert process.returncode == 1


def test_a_killed_unpack_s_leftovers_are_removed_by_the_next_unpack(model: Path, tmp_path: Path) -> None:
    from modeloci import api

    archive = tmp_path / "m.tar"
    api.build(model / "Modelfile", archive)
    out = tmp_path / "out"
    process = subprocess.Popen([sys.executable, "-m", "modeloci", "unpack", str(archive), "-o", str(out), "--layout",
                                "files"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for(lambda: any(p.is_dir() and any(p.iterdir()) for p in _temps(tmp_path)), process, "the temporary folder")
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert not out.exists() and _temps(tmp_path)
    time.sleep(2.1)
    assert subprocess.run([sys.executable, "-m", "modeloci", "unpack", str(archive), "-o", str(out), "--layout",
                           "files"], capture_output=True, timeout=120).returncode == 0
    assert _temps(tmp_path) == [] and (out / "big.safetensors").stat().st_size == SIZE


def test_two_processes_filling_one_digest_cache_leave_it_correct(model: Path, tmp_path: Path) -> None:
    import hashlib

    from modeloci.blobs.cache import DigestCache
    from modeloci.blobs.engine import FileState

    builds = [subprocess.Popen([sys.executable, "-m", "modeloci", "build", "-f", str(model / "Modelfile"), "-o",
                                str(tmp_path / f"out{i}.tar"), "-q"], stderr=subprocess.PIPE, text=True)
              for i in range(2)]
    assert [b.wait(timeout=120) for b in builds] == [0, 0], [b.stderr.read() for b in builds if b.stderr]
    weights = model / "big.safetensors"
    expected = hashlib.sha256(weights.read_bytes()).hexdigest()
    cached = DigestCache().get(FileState.from_stat(os.stat(weights)), 0, SIZE)
    assert cached is not None and cached.hex == expected
    assert (tmp_path / "out0.tar").read_bytes() == (tmp_path / "out1.tar").read_bytes()


def _killed_unpack(archive: Path, out: Path) -> list[Path]:
    """Start an unpack of ``archive`` to ``out`` and SIGKILL it once its temporary folder holds data; its leftovers."""
    process = subprocess.Popen([sys.executable, "-m", "modeloci", "unpack", str(archive), "-o", str(out), "--layout",
                                "files"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for(lambda: any(f.is_file() and f.stat().st_size > 0 for p in _temps(out.parent) if p.is_dir()
                          for f in p.rglob("*")), process, "data in the temporary folder")
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert not out.exists()
    return _temps(out.parent)


def test_a_killed_unpack_s_leftovers_are_removed_by_prune(model: Path, tmp_path: Path) -> None:
    """Nobody may ever unpack into that folder again: `prune` removes what the killed unpack left (it was 550 MB)."""
    from modeloci import api

    archive = tmp_path / "m.tar"
    api.build(model / "Modelfile", archive)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    left = _killed_unpack(archive, elsewhere / "unpacked")
    assert len(left) == 1
    size = sum(p.stat().st_size for p in left[0].rglob("*") if p.is_file())
    time.sleep(2.1)  # leftovers younger than 2 s are spared: they may be a live process's
    pruned = subprocess.run([sys.executable, "-m", "modeloci", "prune", "--json"], capture_output=True, text=True,
                            timeout=60)
    assert pruned.returncode == 0, pruned.stderr
    assert _temps(elsewhere) == []
    report = json.loads(pruned.stdout)
    assert report["files"] >= 1 and report["bytes"] >= size > 0


def test_a_killed_unpack_s_leftovers_are_removed_by_an_unpack_to_another_name(model: Path, tmp_path: Path) -> None:
    from modeloci import api

    archive = tmp_path / "m.tar"
    api.build(model / "Modelfile", archive)
    assert len(_killed_unpack(archive, tmp_path / "first")) == 1
    time.sleep(2.1)
    assert subprocess.run([sys.executable, "-m", "modeloci", "unpack", str(archive), "-o", str(tmp_path / "second"),
                           "--layout", "files"], capture_output=True, timeout=120).returncode == 0
    assert _temps(tmp_path) == [] and (tmp_path / "second" / "big.safetensors").stat().st_size == SIZE


def test_a_disk_that_fills_up_at_the_config_blob_is_a_one_line_error(tmp_path: Path) -> None:
    """The layers fit, the config does not: once a raw OSError ("internal error"), now one line naming it. The
    disk is a real tmpfs filled to leave exactly one page per layer."""
    from tests.archive_tools import copy_example

    disk = tmp_path / "disk"
    if not _mount_tmpfs(disk, "1m"):
        if os.environ.get("MODELOCI_REQUIRE_TOOLS"):
            pytest.fail("cannot mount a tmpfs (MODELOCI_REQUIRE_TOOLS is set): needs root and mount rights")
        pytest.skip("cannot mount a size-limited tmpfs here (needs root and mount rights)")
    try:
        modelfile = copy_example("single-gguf", tmp_path)  # three layers, each under one page
        (disk / "layout" / "blobs" / "sha256").mkdir(parents=True)
        page = os.statvfs(disk).f_frsize
        (disk / "filler").write_bytes(b"x" * (os.statvfs(disk).f_bavail * page - 3 * page))
        result = subprocess.run([sys.executable, "-m", "modeloci", "build", "-f", str(modelfile), "--layout",
                                 str(disk / "layout"), "-q"], capture_output=True, text=True, timeout=120)
        assert (result.returncode, result.stderr) == (1, "error: writing the config: no space left on device\n")
        assert not (disk / "layout" / "index.json").exists()
        assert _temps(disk / "layout" / "blobs" / "sha256") == []
    finally:
        subprocess.run(["umount", str(disk)], check=False)
