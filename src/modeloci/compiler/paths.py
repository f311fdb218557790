"""Paths in the build context: containment, globs, and the files they name.

Every path in a Modelfile is relative to the build context. A path may not
leave it, neither lexically (``..``) nor through a symlink; absolute paths are
refused so Modelfiles stay portable. Globs support ``*``, ``?``, ``[...]`` and
``**`` (any number of folders); like a shell, ``*`` does not match a leading
``.``, and a glob matching no file is an error. Matches come back sorted, so
directory order never leaks into a build.
"""

from __future__ import annotations

import fnmatch
import glob
import os
import posixpath
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from modeloci.diagnostics import Span, did_you_mean
from modeloci.modelfile import codes
from modeloci.modelfile.directives import Report
from modeloci.compiler.args import Expanded

_NEARBY = 5


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
        if text.startswith(("/", "~")):
            report.add(codes.absolute_path(report.file, span, text))
            return None
        rel = posixpath.normpath(text)
        if rel == ".." or rel.startswith("../"):
            report.add(codes.escapes_context(report.file, span, text))
            return None
        return rel

    def resolve_one(self, word: Expanded, span: Span, report: Report, *, keyword: str, allow_dir: bool = False) -> ContextFile | None:
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

    def walk(self, folder: str, span: Span, report: Report) -> list[ContextFile]:
        """Every regular file under ``folder`` (context-relative), sorted; hidden entries and
        symlinked folders are skipped, symlinked files must stay inside the context."""
        files: list[ContextFile] = []
        prefix = "" if folder == "." else folder + "/"
        for rel in self._glob(self.root / folder, prefix, ["**", "*"]) if folder else []:
            full = self.root / rel
            if not self.contains(full):
                report.add(codes.symlink_escapes(report.file, span, rel, self._escaping_link(rel)))
            elif os.path.isfile(full):
                files.append(ContextFile(rel, full, os.stat(full).st_size))
        return sorted(files, key=lambda f: f.rel)

    def _literal(self, rel: str, shown: str, span: Span, report: Report, *, keyword: str, allow_dir: bool) -> ContextFile | None:
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
        segment, rest = segments[0], segments[1:]
        if segment == "**":
            yield from self._glob(folder, prefix, rest or ["*"])
            for entry in _entries(folder, hidden=False):
                if entry.is_dir(follow_symlinks=False):
                    yield from self._glob(Path(entry.path), prefix + entry.name + "/", segments)
            return
        if not glob.has_magic(segment):
            name = segment
            child = folder / name
            if rest and child.is_dir():
                yield from self._glob(child, prefix + name + "/", rest)
            elif not rest and os.path.lexists(child):
                yield prefix + name
            return
        for entry in _entries(folder, hidden=segment.startswith(".")):
            if not fnmatch.fnmatchcase(entry.name, segment):
                continue
            if rest and entry.is_dir():
                yield from self._glob(Path(entry.path), prefix + entry.name + "/", rest)
            elif not rest:
                yield prefix + entry.name

    def _suggest(self, rel: str) -> str | None:
        parent, _, name = rel.rpartition("/")
        folder = self.root / parent
        if not folder.is_dir():
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
        if not folder.is_dir():
            return []
        names = [e.name + ("/" if e.is_dir() else "") for e in _entries(folder, hidden=False)]
        return names[:_NEARBY] + (["..."] if len(names) > _NEARBY else [])

    def _escaping_link(self, rel: str) -> str:
        """The first component of ``rel`` that is a symlink resolving outside the context."""
        parts = rel.split("/")
        for i in range(1, len(parts) + 1):
            candidate = self.root.joinpath(*parts[:i])
            if candidate.is_symlink() and not self.contains(candidate):
                return "/".join(parts[:i])
        return rel


def _entries(folder: Path, *, hidden: bool) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(folder) as it:
            entries = [e for e in it if hidden or not e.name.startswith(".")]
    except OSError:
        return []
    return sorted(entries, key=lambda e: e.name)

