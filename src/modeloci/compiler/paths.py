"""Paths in the build context: containment, globs, and the files they name.

Every path in a Modelfile is relative to the build context. A path may not
leave it, neither lexically (``..``) nor through a symlink; absolute paths are
refused so Modelfiles stay portable. Globs support ``*``, ``?``, ``[...]`` and
``**`` (any number of folders); like a shell, ``*`` does not match a leading
``.``, and a glob matching no file is an error. Matches come back sorted, so
directory order never leaks into a build.

A Modelfile's paths are hostile input too: a path or glob is at most
:data:`MAX_PATH_CHARS` long (MF072), globs are matched in time linear in
their length whatever brackets they hold, and walking a glob uses no
recursion, so neither ``[[[[...`` nor ``**/**/...`` can stall or crash a plan (its segment matchers live in
:mod:`modeloci.oci.globs`, shared with layer selections).
"""

from __future__ import annotations

import glob
import os
import posixpath
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from modeloci.compiler.args import Expanded
from modeloci.diagnostics import Span, did_you_mean
from modeloci.modelfile import codes
from modeloci.modelfile.directives import Report
from modeloci.oci import globs

_NEARBY = 5
# The matchers moved to the OCI level, shared with layer selections; their old names stay (folders.py uses them).
_collapse_double_stars = globs.collapse_double_stars
_segment_matcher = globs.segment_matcher
_literal_brackets = globs.literal_brackets
# PATH_MAX on Linux: no longer path can name a file. Read at call time (tests lower it).
MAX_PATH_CHARS = 4096


@dataclass(frozen=True, slots=True)
class ContextFile:
    """A regular file in the context: its context-relative name, full path and size."""

    rel: str
    path: Path
    size: int


class BuildContext:
    """The folder Modelfile paths are relative to."""

    def __init__(self, root: Path) -> None:
        self.root = Path(os.path.abspath(root))
        self.real_root = Path(os.path.realpath(root))

    def contains(self, path: Path) -> bool:
        real, root = os.path.realpath(path), str(self.real_root)
        # The separator matters: without it `ctx-evil/x` would be inside `ctx`. A root
        # that is `/` already ends in one.
        return real == root or real.startswith(os.path.join(root, ""))

    def relative(self, text: str, span: Span, report: Report) -> str | None:
        """``text`` as a normalised context-relative path, or None after reporting why not."""
        if not text:
            report.add(codes.empty_path(report.file, span))
            return None
        if len(text) > MAX_PATH_CHARS:
            report.add(codes.path_too_long(report.file, span, len(text), MAX_PATH_CHARS))
            return None
        if text.startswith(("/", "~")):
            report.add(codes.absolute_path(report.file, span, text))
            return None
        rel = posixpath.normpath(text)
        if rel == ".." or rel.startswith("../"):
            report.add(codes.escapes_context(report.file, span, text))
            return None
        return rel

    def resolve_one(
        self, word: Expanded, span: Span, report: Report, *, keyword: str, allow_dir: bool = False
    ) -> ContextFile | None:
        """The one file (or, with ``allow_dir``, folder) a path names, glob characters taken literally."""
        rel = self.relative(word.text, span, report)
        if rel is None:
            return None
        return self._literal(rel, word.text, span, report, keyword=keyword, allow_dir=allow_dir)

    def resolve(self, word: Expanded, span: Span, report: Report, *, keyword: str) -> list[ContextFile]:
        """The files a path or glob names, sorted; [] after reporting a problem."""
        if not word.is_glob:
            found = self.resolve_one(word, span, report, keyword=keyword)
            return [found] if found else []
        rel = self.relative(word.pattern, span, report)
        if rel is None:
            return []
        files, escaped = [], False
        for match in sorted(set(self._glob(self.root, "", rel.split("/")))):
            if not self.contains(self.root / match):
                report.add(codes.symlink_escapes(report.file, span, match, self._escaping_link(match)))
                escaped = True
            elif os.path.isfile(self.root / match):
                files.append(ContextFile(match, self.root / match, os.stat(self.root / match).st_size))
        if not files and not escaped:
            report.add(codes.glob_matches_nothing(report.file, span, word.text, self._nearby(rel)))
        return files

    def find(self, rel: str) -> ContextFile | None:
        """The regular file at context-relative ``rel`` if it exists inside the context, quietly."""
        full = self.root / rel
        if not os.path.isfile(full) or not self.contains(full):
            return None
        return ContextFile(rel, full, os.stat(full).st_size)

    def walk(self, folder: str) -> tuple[list[ContextFile], list[tuple[str, str]]]:
        """The regular files under ``folder`` (context-relative) as Docker Model Runner walks a model folder,
        and the entries it leaves out for not being regular files, each with what it is.

        Hidden entries (a name starting with ``.``) are not visited, at any depth. A
        symlink is never followed, to a file or a folder, so nothing outside the folder
        is reached; symlinks, FIFOs, sockets and devices are left out and listed. Files
        come in walk order: each folder's entries by name, a subfolder's files where
        the subfolder's name comes (``a/x`` before ``a.json``), as Go's ``filepath.Walk``.
        """
        files: list[ContextFile] = []
        skipped: list[tuple[str, str]] = []
        prefix = "" if folder == "." else folder + "/"
        stack = [(self.root / folder, prefix)]
        while stack:  # each folder is pushed once, by its parent, and symlinked folders never: it ends
            path, name = stack.pop()
            for entry in _entries(path, hidden=False):
                rel = name + entry.name
                try:
                    info = entry.stat(follow_symlinks=False)
                except OSError:
                    skipped.append((rel, "unreadable"))
                    continue
                if stat.S_ISDIR(info.st_mode):
                    stack.append((Path(entry.path), rel + "/"))
                elif stat.S_ISREG(info.st_mode):
                    files.append(ContextFile(rel, Path(entry.path), info.st_size))
                else:
                    skipped.append((rel, _FILE_TYPES.get(stat.S_IFMT(info.st_mode), "not a regular file")))
        return sorted(files, key=lambda f: f.rel.split("/")), sorted(skipped, key=lambda s: s[0].split("/"))

    def files_in(self, folder: str) -> list[str]:
        """The context paths of the regular, non-hidden files directly in ``folder``, sorted; quietly."""
        prefix = "" if folder in ("", ".") else folder + "/"
        return [prefix + e.name for e in _entries(self.root / folder, hidden=False) if _is_file(e)]

    def matching(self, rel: str, *, is_glob: bool) -> frozenset[str]:
        """The context paths (files or folders) a normalised path or glob names, quietly; none is fine."""
        if not is_glob:
            return frozenset({rel}) if os.path.lexists(self.root / rel) else frozenset()
        return frozenset(self._glob(self.root, "", rel.split("/")))

    def _literal(
        self, rel: str, shown: str, span: Span, report: Report, *, keyword: str, allow_dir: bool
    ) -> ContextFile | None:
        full = self.root / rel
        if not os.path.exists(full):
            report.add(codes.file_not_found(report.file, span, shown, self._suggest(rel), keyword))
            return None
        if not self.contains(full):
            report.add(codes.symlink_escapes(report.file, span, shown, self._escaping_link(rel)))
            return None
        info = os.stat(full)
        if stat.S_ISDIR(info.st_mode) and not allow_dir:
            inside = [f"{rel}/{e.name}" for e in _entries(full, hidden=False) if e.is_file()]
            report.add(codes.is_directory(report.file, span, shown, keyword, inside))
            return None
        if not stat.S_ISREG(info.st_mode) and not stat.S_ISDIR(info.st_mode):
            report.add(codes.not_regular_file(report.file, span, shown))
            return None
        return ContextFile(rel, full, info.st_size)

    def _glob(self, folder: Path, prefix: str, segments: list[str]) -> Iterator[str]:
        """Names (``prefix`` + path under ``folder``) matching ``segments``, in no particular order.

        A stack instead of recursion (a glob may have thousands of segments), and
        each (folder, segment) pair is visited once, so that ``**/a/**/a/...``
        does not try every way of spreading the folders over the ``**``s.
        """
        segments = _collapse_double_stars(segments)
        matchers = [None if s == "**" or not glob.has_magic(s) else _segment_matcher(s) for s in segments]
        stack, seen = [(str(folder), prefix, 0)], set()
        while stack:
            path, name, index = stack.pop()
            if (path, index) in seen:
                continue
            seen.add((path, index))
            segment, match, last = segments[index], matchers[index], index == len(segments) - 1
            if segment == "**":  # never last: zero folders here, or one more
                stack.append((path, name, index + 1))
                stack += [(e.path, f"{name}{e.name}/", index) for e in _entries(Path(path), hidden=False)
                          if _is_dir(e, follow_symlinks=False)]
            elif match is None:
                child = os.path.join(path, segment)
                if not last and os.path.isdir(child):
                    stack.append((child, f"{name}{segment}/", index + 1))
                elif last and os.path.lexists(child):
                    yield name + segment
            else:
                for entry in _entries(Path(path), hidden=segment.startswith(".")):
                    if not match(entry.name):
                        continue
                    if not last and _is_dir(entry):
                        stack.append((entry.path, f"{name}{entry.name}/", index + 1))
                    elif last:
                        yield name + entry.name

    def _suggest(self, rel: str) -> str | None:
        parent, _, name = rel.rpartition("/")
        folder = self.root / parent
        if not os.path.isdir(folder):
            return None
        match = did_you_mean(name, [e.name for e in _entries(folder, hidden=True)], fold_case=False)
        return f"{parent}/{match}" if match and parent else match

    def _nearby(self, rel: str) -> list[str]:
        literal: list[str] = []
        for segment in rel.split("/")[:-1]:
            if glob.has_magic(segment):
                break
            literal.append(segment)
        folder = self.root.joinpath(*literal)
        if not os.path.isdir(folder):
            return []
        names = [e.name + ("/" if _is_dir(e) else "") for e in _entries(folder, hidden=False)]
        return names[:_NEARBY] + (["..."] if len(names) > _NEARBY else [])

    def _escaping_link(self, rel: str) -> str:
        """The first component of ``rel`` that is a symlink resolving outside the context."""
        parts = rel.split("/")
        for i in range(1, len(parts) + 1):
            candidate = self.root.joinpath(*parts[:i])
            if os.path.islink(candidate) and not self.contains(candidate):
                return "/".join(parts[:i])
        return rel


_FILE_TYPES = {stat.S_IFLNK: "a symlink", stat.S_IFIFO: "a FIFO", stat.S_IFSOCK: "a socket",
               stat.S_IFCHR: "a device", stat.S_IFBLK: "a device"}


def _entries(folder: Path, *, hidden: bool) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(folder) as it:
            entries = [e for e in it if hidden or not e.name.startswith(".")]
    except OSError:
        return []
    return sorted(entries, key=lambda e: e.name)



def _is_dir(entry: os.DirEntry[str], *, follow_symlinks: bool = True) -> bool:
    """``entry.is_dir()``, False where the answer is an error (a symlink loop, a path past PATH_MAX)."""
    try:
        return entry.is_dir(follow_symlinks=follow_symlinks)
    except OSError:
        return False


def _is_file(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_file(follow_symlinks=False)
    except OSError:
        return False
