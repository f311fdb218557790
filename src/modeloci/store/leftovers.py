"""Unpacks in flight, recorded in the store, so that ``prune`` removes what a killed one left behind.

An unpack writes into a temporary folder beside its destination
(``.modeloci-NAME.XXXX.partial``), locked while it runs, and renames it into
place at the end. A killed unpack cannot remove it; the next unpack into the
same folder does, but there may never be one, and models are gigabytes. So
each unpack records its temporary folder in the store's ``.unpacking/`` while
it runs and forgets it when it ends; ``prune`` removes every recorded folder
that no live process holds, then its record. Only folders named as modeloci
names them are ever removed, whatever a record says.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path

from modeloci.atomic import TEMP_PREFIX, TEMP_SUFFIX, remove_stale_temps

JOURNAL = ".unpacking"


def record(root: Path, temp: Path) -> Path | None:
    """Note that ``temp`` is being written; the record's path (None if the store cannot be written: the unpack
    goes on, it only loses this safety net)."""
    folder = root / JOURNAL
    entry = folder / hashlib.sha256(str(temp).encode()).hexdigest()[:32]
    try:
        folder.mkdir(parents=True, exist_ok=True)
        entry.write_text(str(temp), encoding="utf-8")
    except OSError:
        return None
    return entry


def forget(entry: Path | None) -> None:
    if entry is not None:
        entry.unlink(missing_ok=True)


def sweep(root: Path) -> tuple[int, int]:
    """Remove the temporary folders of killed unpacks that the store recorded: (folders, bytes) freed."""
    folder = root / JOURNAL
    try:
        entries = sorted(folder.iterdir())
    except OSError:
        return 0, 0
    removed = freed = 0
    for entry in entries:
        try:
            temp = Path(entry.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError):
            entry.unlink(missing_ok=True)
            continue
        if not (temp.name.startswith(TEMP_PREFIX) and temp.name.endswith(TEMP_SUFFIX)) or temp.is_symlink():
            entry.unlink(missing_ok=True)  # not a name modeloci gives: never touched
            continue
        size = _size(temp)
        if remove_stale_temps(temp.parent, temp.name):  # only if no live process holds its lock
            removed, freed = removed + 1, freed + size
        if not temp.exists():
            entry.unlink(missing_ok=True)
    return removed, freed


def _size(folder: Path) -> int:
    total = 0
    for parent, _, files in os.walk(folder):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(parent, name)).st_size
    return total
