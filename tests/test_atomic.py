"""Replacing an output: one step, the old file or the new one at the path, the old one deleted (maybe later)."""

from __future__ import annotations

import ctypes
import os
import time
from pathlib import Path

import pytest

from modeloci import atomic
from modeloci.atomic import TEMP_PREFIX, atomic_output, replace_file


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(TEMP_PREFIX))


def _wait_until_gone(folder: Path, seconds: float = 10.0) -> list[str]:
    deadline = time.monotonic() + seconds
    while _leftovers(folder) and time.monotonic() < deadline:
        time.sleep(0.02)
    return _leftovers(folder)


def test_replacing_an_output_swaps_names_instead_of_renaming_over_it(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    # A rename over an existing file is what makes ext4 write the whole new file out before it returns.
    out = tmp_path / "model.tar"
    out.write_bytes(b"old")

    def no_rename_over(src: object, dst: object) -> None:
        raise AssertionError(f"os.replace({src}, {dst}) over an existing file")

    monkeypatch.setattr(atomic.os, "replace", no_rename_over)
    with atomic_output(out) as f:
        f.write(b"new")
    assert out.read_bytes() == b"new"
    assert _leftovers(tmp_path) == []


def test_replacing_falls_back_to_rename_where_names_cannot_be_swapped(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(atomic, "_libc", lambda: None)  # no renameat2 (an old libc, another kernel)
    out = tmp_path / "model.tar"
    out.write_bytes(b"old")
    with atomic_output(out) as f:
        f.write(b"new")
    assert out.read_bytes() == b"new"
    assert _leftovers(tmp_path) == []


def test_a_file_system_refusing_the_swap_gets_a_plain_rename(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    class Refusing:
        @staticmethod
        def renameat2(*args: object) -> int:
            ctypes.set_errno(22)  # EINVAL: the file system has no RENAME_EXCHANGE (NFS, some FUSE)
            return -1

    monkeypatch.setattr(atomic, "_libc", Refusing)
    out = tmp_path / "model.tar"
    out.write_bytes(b"old")
    with atomic_output(out) as f:
        f.write(b"new")
    assert out.read_bytes() == b"new"
    assert _leftovers(tmp_path) == []


def test_a_folder_at_the_output_path_is_never_swapped_out(tmp_path: Path) -> None:
    # Swapping names works between a file and a folder too: the folder would end up under the temporary name.
    out = tmp_path / "model.tar"
    out.mkdir()
    (out / "keep").write_bytes(b"mine")
    with pytest.raises(IsADirectoryError), atomic_output(out) as f:
        f.write(b"new")
    assert (out / "keep").read_bytes() == b"mine"
    assert _leftovers(tmp_path) == []


def test_a_symlink_at_the_output_path_is_replaced_and_its_target_kept(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_bytes(b"theirs")
    out = tmp_path / "model.tar"
    out.symlink_to(target)
    with atomic_output(out) as f:
        f.write(b"new")
    assert not out.is_symlink() and out.read_bytes() == b"new"
    assert target.read_bytes() == b"theirs"
    assert _leftovers(tmp_path) == []


def test_a_large_replaced_output_is_deleted_after_the_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(atomic, "BACKGROUND_DELETE_BYTES", 1)
    out = tmp_path / "model.tar"
    out.write_bytes(b"old" * 1000)
    old_inode = out.stat().st_ino
    with atomic_output(out) as f:
        f.write(b"new")
    assert out.read_bytes() == b"new" and out.stat().st_ino != old_inode
    assert _wait_until_gone(tmp_path) == []


def test_an_old_output_whose_deletion_was_killed_is_removed_by_the_next_run(tmp_path: Path) -> None:
    out = tmp_path / "model.tar"
    leftover = tmp_path / f"{TEMP_PREFIX}model.tar.abcd1234{atomic.TEMP_SUFFIX}"
    leftover.write_bytes(b"the previous archive, swapped out, its rm killed")
    with atomic_output(out) as f:
        f.write(b"new")
    assert _leftovers(tmp_path) == []


def test_replace_file_moves_to_a_new_path(tmp_path: Path) -> None:
    temp, out = tmp_path / "t", tmp_path / "o"
    temp.write_bytes(b"x")
    replace_file(temp, out)
    assert out.read_bytes() == b"x" and not temp.exists()
    assert os.listdir(tmp_path) == ["o"]


def test_a_swap_failing_for_another_reason_keeps_the_previous_output(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    class Denying:
        @staticmethod
        def renameat2(*args: object) -> int:
            ctypes.set_errno(13)  # EACCES: not "cannot swap here", so no plain rename is tried behind its back
            return -1

    monkeypatch.setattr(atomic, "_libc", Denying)
    out = tmp_path / "model.tar"
    out.write_bytes(b"old")
    with pytest.raises(PermissionError), atomic_output(out) as f:
        f.write(b"new")
    assert out.read_bytes() == b"old"
    assert _leftovers(tmp_path) == []


def test_a_large_old_output_is_deleted_here_when_no_process_can_be_started(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(atomic, "BACKGROUND_DELETE_BYTES", 1)

    def no_spawn(*args: object, **kwargs: object) -> int:
        raise OSError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(atomic.os, "posix_spawn", no_spawn)
    out = tmp_path / "model.tar"
    out.write_bytes(b"old" * 1000)
    with atomic_output(out) as f:
        f.write(b"new")
    assert out.read_bytes() == b"new"
    assert _leftovers(tmp_path) == []  # at once, not eventually
