"""Writing an output file atomically: all of it, or none of it.

The file is written under a temporary name in the destination's folder (so
the final rename never crosses filesystems), given the mode a plain ``open()``
would have given it, and renamed over the destination only once complete. On
any failure, interruption included, the temporary file is removed and the
previous output is left as it was. Readers see the old file or the new one,
never a part. A temporary file is flock'ed by the process writing it, so the
next run can tell the leftovers of a killed build (unlocked) from the work of
a build still running, and removes only the former. Data is not fsynced by default (``durable=True`` does): that
would tie every build of a multi-GB model to the disk's write speed.

Replacing an existing file costs what writing a new one costs
(:func:`replace_file`). A plain ``rename`` over an existing file makes ext4
(``auto_da_alloc``, on by default) write the whole new file out before the
rename returns: a 2 GiB rebuild over its previous archive took 2.1 s where a
build to a new path took 0.9 s. ``renameat2(RENAME_EXCHANGE)`` swaps the two
names in one step instead, which ext4 does not treat as a replacement, so the
path still holds the old file or the new one, never neither and never a part;
the old file, now under the temporary name, is then deleted. Freeing a large
file's blocks takes a while too (0.37 s for 2 GiB on a disk mounted with
``discard``), so a large old file is deleted by a detached ``rm`` that
outlives this process; if it is killed first, the next run in that folder
removes the file like any other leftover (its name is a temporary one and
nobody holds its lock).
"""

from __future__ import annotations

import errno
import fcntl
import functools
import os
import shutil
import stat
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, BinaryIO

TEMP_PREFIX = ".modeloci-"
TEMP_SUFFIX = ".partial"
# A temporary file this young and still empty may be one whose writer has not
# locked it yet (mkstemp, then flock): leave it to a later run.
_GRACE_S = 2.0
# An old output at least this large is deleted in the background after it is replaced (below it, deleting it
# here costs less than starting a process).
BACKGROUND_DELETE_BYTES = 64 << 20
_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def locked_temp(folder: Path, prefix: str) -> tuple[int, Path]:
    """A new temporary file in ``folder``, open for writing and locked while this process lives."""
    fd, name = tempfile.mkstemp(dir=folder, prefix=prefix, suffix=TEMP_SUFFIX)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd, Path(name)


def locked_temp_dir(folder: Path, prefix: str) -> tuple[int, Path]:
    """A new temporary folder in ``folder``, locked (through a descriptor of it) while this process lives."""
    path = Path(tempfile.mkdtemp(dir=folder, prefix=prefix, suffix=TEMP_SUFFIX))
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd, path


def remove_stale_temps(folder: Path, prefix: str) -> int:
    """Remove the temporary files and folders (``prefix...TEMP_SUFFIX``) that killed processes left; how many."""
    removed = 0
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    for entry in entries:
        if not (entry.name.startswith(prefix) and entry.name.endswith(TEMP_SUFFIX)) or entry.is_symlink():
            continue
        try:
            fd = os.open(entry.path, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            st = os.fstat(fd)
            young = time.time() - st.st_mtime < _GRACE_S
            if entry.is_dir(follow_symlinks=False):
                if young:
                    continue
                shutil.rmtree(entry.path)
            else:
                if st.st_size == 0 and young:
                    continue
                os.unlink(entry.path)
            removed += 1
        except OSError:  # locked: a live process is writing it (or it is already gone)
            continue
        finally:
            os.close(fd)
    return removed


def _umask() -> int:
    # os.umask can only be read by setting it; set it straight back.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextmanager
def atomic_output(path: Path, *, durable: bool = False, mode: int | None = None) -> Iterator[BinaryIO]:
    """Yield a binary file that replaces ``path`` when the block ends without error.

    The new file gets ``mode``, else the usual ``0o666`` less the umask.
    """
    folder = path.parent
    remove_stale_temps(folder, TEMP_PREFIX + path.name + ".")
    fd, temp = locked_temp(folder, TEMP_PREFIX + path.name + ".")
    try:
        with os.fdopen(fd, "w+b") as out:
            yield out
            out.flush()
            if durable:
                os.fsync(out.fileno())
            os.fchmod(out.fileno(), 0o666 & ~_umask() if mode is None else mode)
            # Renamed while still open, so still locked: no other run's cleanup can take it first.
            replace_file(temp, path)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    if durable:
        _fsync_dir(folder)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def replace_file(temp: Path, path: Path) -> None:
    """Put the file ``temp`` at ``path`` in one step, as ``os.replace`` does, without ext4's flush of the new file
    when ``path`` is an existing regular file (the module docstring says why); ``temp`` is gone afterwards."""
    try:
        existing = stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        existing = False
    if not existing or not _exchange(temp, path):
        os.replace(temp, path)
        return
    _delete_old(temp)


def _exchange(a: Path, b: Path) -> bool:
    """Swap the names ``a`` and ``b`` (``renameat2(RENAME_EXCHANGE)``); False where the system or the file system
    cannot (then nothing moved)."""
    libc = _libc()
    renameat2 = getattr(libc, "renameat2", None) if libc is not None else None
    if renameat2 is None:
        return False
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = _errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EPERM, errno.EXDEV):
        return False
    raise OSError(code, os.strerror(code), str(b))


def _delete_old(path: Path) -> None:
    """Delete the replaced file now at ``path``: a large one by a detached ``rm`` (the module docstring says why)."""
    try:
        size = os.lstat(path).st_size
    except OSError:
        return
    rm = shutil.which("rm") if size >= BACKGROUND_DELETE_BYTES else None
    if rm is not None:
        try:
            pid = os.posix_spawn(rm, ["rm", "-f", "--", os.fspath(path)], {}, setsid=True)
        except OSError:
            pass
        else:
            # Reaped by a daemon thread, so a long-lived process (the Python API) leaves no zombie and the CLI's
            # exit does not wait for the rm.
            threading.Thread(target=os.waitpid, args=(pid, 0), daemon=True).start()
            return
    with suppress(FileNotFoundError):
        os.unlink(path)


@functools.cache
def _libc() -> Any:
    """The C library, through ctypes; None where it cannot be loaded. Imported here, on the first replacement,
    not with the module: most commands never replace a file, and ctypes costs every start-up (start-up time)."""
    import ctypes

    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


def _errno() -> int:
    import ctypes  # loaded by _libc already (start-up time)

    return ctypes.get_errno()
