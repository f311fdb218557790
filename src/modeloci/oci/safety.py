"""What an archive may not hold: members that would write outside a folder, or lie about themselves.

A layout tar holds regular files and folders only, at relative paths that
stay inside it. Absolute paths, ``..``, symlinks, hard links, device and fifo
entries, two members at one path, and data that runs past the end of the
file are all refused, whatever a reader would do with them.
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from typing import TYPE_CHECKING

from modeloci.findings import Problem

if TYPE_CHECKING:  # a type only (start-up time: a plan imports this module and reads no tar)
    import tarfile


def _unsafe(name: str, reason: str) -> Problem:
    """A member the policy refuses: where it is (the member's name) and why, as one line."""
    return Problem(message=f"`{name}` {reason}", where=name)


def tar_problems(members: Sequence[tarfile.TarInfo], file_size: int) -> list[Problem]:
    """Every member of a tar the member policy refuses, each a finding whose ``where`` is the member's name."""
    problems: list[Problem] = []
    seen: set[str] = set()
    for member in members:
        name = member.name
        clean = posixpath.normpath(name.removeprefix("./"))
        if name.startswith("/") or _has_drive(name):
            problems.append(_unsafe(name, "has an absolute path"))
        elif clean == ".." or clean.startswith("../") or "/../" in f"/{name}/":
            problems.append(_unsafe(name, "leaves the archive's folder through `..`"))
        if member.issym():
            problems.append(_unsafe(name, f"is a symlink (to `{member.linkname}`)"))
        elif member.islnk():
            problems.append(_unsafe(name, f"is a hard link (to `{member.linkname}`)"))
        elif not (member.isreg() or member.isdir()):
            problems.append(_unsafe(name, "is a device, fifo or other special file"))
        if member.isreg():
            if clean in seen:
                problems.append(_unsafe(name, "appears twice"))
            seen.add(clean)
            if member.offset_data + member.size > file_size:
                problems.append(_unsafe(name, f"is cut short: the archive ends before its {member.size} bytes"))
    return problems


def _has_drive(name: str) -> bool:
    return len(name) > 1 and name[1] == ":" and name[0].isalpha()


#: What a file system holds: one name of at most 255 bytes (NAME_MAX on Linux and macOS). Paths are bounded
#: further than PATH_MAX (4096), so that the destination folder's own path fits in front of them, and in depth,
#: so that no folder chain outgrows what tools walking it recursively (pathlib's ``mkdir(parents=True)``) take.
MAX_NAME_BYTES = 255
MAX_PATH_BYTES = 1024
MAX_PATH_DEPTH = 64


def too_long(path: str) -> str | None:
    """Why a relative path cannot be unpacked however safe it is (a name or path too long, too deep), or None."""
    parts = path.split("/")
    if len(parts) > MAX_PATH_DEPTH:
        return f"is {len(parts)} folders deep; at most {MAX_PATH_DEPTH} are unpacked"
    longest = max(parts, key=lambda part: len(part.encode("utf-8", "surrogatepass")))
    if len(longest.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
        return f"has a name of {len(longest.encode('utf-8', 'surrogatepass'))} bytes; file systems hold at most " \
               f"{MAX_NAME_BYTES}"
    if len(path.encode("utf-8", "surrogatepass")) > MAX_PATH_BYTES:
        return f"is {len(path.encode('utf-8', 'surrogatepass'))} bytes long; at most {MAX_PATH_BYTES} are unpacked"
    return None


def shown_path(path: str, limit: int = 60) -> str:
    """A path short enough to show in one line of an error: its start, and how long it is."""
    return path if len(path) <= limit else f"{path[:limit]}... ({len(path)} characters)"


def safe_relative(path: str) -> str | None:
    """``path`` as a safe relative path (``/`` separators, no ``..``), or None if it cannot be one."""
    if not path or path.startswith("/") or "\\" in path or "\0" in path or _has_drive(path):
        return None
    clean = posixpath.normpath(path)
    if clean in (".", "..") or clean.startswith("../"):
        return None
    return clean
