"""Writing an output file atomically: all of it, or none of it.

The file is written under a temporary name in the destination's folder (so
the final rename never crosses filesystems), given the mode a plain ``open()``
would have given it, and renamed over the destination only once complete. On
any failure, interruption included, the temporary file is removed and the
previous output is left as it was. Readers see the old file or the new one,
never a part. Data is not fsynced by default (``durable=True`` does): that
would tie every build of a multi-GB model to the disk's write speed, and
ext4's default ``auto_da_alloc`` already flushes a file renamed over another.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

TEMP_PREFIX = ".modeloci-"
TEMP_SUFFIX = ".partial"


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
    fd, temp = tempfile.mkstemp(dir=folder, prefix=TEMP_PREFIX + path.name + ".", suffix=TEMP_SUFFIX)
    try:
        with os.fdopen(fd, "w+b") as out:
            yield out
            out.flush()
            if durable:
                os.fsync(out.fileno())
            os.fchmod(out.fileno(), 0o666 & ~_umask() if mode is None else mode)
        os.replace(temp, path)
    except BaseException:
        try:
            os.unlink(temp)
        except FileNotFoundError:
            pass
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
