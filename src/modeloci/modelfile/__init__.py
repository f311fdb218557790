"""FRONTEND: Modelfile text to AST.

``parse_modelfile`` runs the whole front half: decode, grammar parse (every
syntax error reported), conversion of lines to typed directives through the
directive table, and the file-level checks. It never raises for a bad
Modelfile: problems travel in ``Modelfile.diagnostics`` so the compiler can add
its own and the CLI can report all of them in one run.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from modeloci.diagnostics import Diagnostic
from modeloci.errors import ModelfileError, UsageError, describe_os_error
from modeloci.modelfile import codes
from modeloci.modelfile.ast import Comment, Directive, Line, Modelfile
from modeloci.modelfile.directives import (
    CONFIG_KEYS,
    DIRECTIVES,
    KEYWORDS,
    Report,
    check_structure,
    convert,
)
from modeloci.modelfile.dump import dump_ast

MAX_MODELFILE_BYTES = 1 << 20  # the largest Modelfile read; a larger one is MF012

__all__ = [
    "CONFIG_KEYS",
    "DIRECTIVES",
    "KEYWORDS",
    "MAX_MODELFILE_BYTES",
    "Modelfile",
    "dump_ast",
    "parse_modelfile",
    "raise_for_errors",
    "read_head",
    "read_modelfile",
]


def parse_modelfile(source: str | bytes, *, path: str = "Modelfile") -> Modelfile:
    """Parse Modelfile text (or raw bytes) into a :class:`Modelfile`.

    ``path`` is the name diagnostics show. Problems are collected into
    ``Modelfile.diagnostics``; call :func:`raise_for_errors` to stop on them.
    """
    # Imported when used (start-up time): the grammar's parser loads lark, which the modules that only name a
    # Modelfile's codes, directives or AST (convert, verify, build's up-to-date path) never need.
    from modeloci.modelfile.syntax import decode, parse_lines

    data = source.encode("utf-8") if isinstance(source, str) else source
    text, decode_diags = decode(data, path)
    nodes, syntax_diags = parse_lines(text, path)
    report = Report(path)
    directives: list[Directive] = []
    for node in nodes:
        if isinstance(node, Line):
            directive = convert(node, report)
            if directive is not None:
                directives.append(directive)
    complete = not decode_diags and not syntax_diags
    check_structure(directives, report, complete=complete and not report.diagnostics)
    diagnostics = sorted([*decode_diags, *syntax_diags, *report.diagnostics], key=Diagnostic.sort_key)
    comments = tuple(n for n in nodes if isinstance(n, Comment))
    return Modelfile(path, text, tuple(directives), comments, tuple(diagnostics))


def read_modelfile(path: Path, *, display: str | None = None) -> Modelfile:
    """Read and parse the Modelfile at ``path``; ``display`` is the name shown in diagnostics.

    A missing path raises FileNotFoundError and a folder IsADirectoryError (the
    caller words them); anything else that is not a readable regular file is a
    :class:`UsageError`.
    """
    shown = display or str(path)
    data, size = read_head(path, shown)
    modelfile = parse_modelfile(data, path=shown)
    if len(data) > MAX_MODELFILE_BYTES:  # MF012 alone; with the file's real size
        modelfile = replace(modelfile, diagnostics=(codes.too_large(shown, size, MAX_MODELFILE_BYTES),))
    return modelfile


def read_head(path: Path, shown: str) -> tuple[bytes, int]:
    """At most one byte past the size limit of the regular file at ``path``, and its size.

    Reading the whole file first made `-f model.gguf` (gigabytes) fill memory
    before MF012. The file is opened without blocking and checked before any
    read: opening a FIFO for reading waits for a writer forever, and a device
    such as /dev/zero never ends.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except (FileNotFoundError, IsADirectoryError):
        raise
    except OSError as exc:
        raise UsageError(f"cannot read `{shown}`: {describe_os_error(exc)}") from None
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
        if not stat.S_ISREG(info.st_mode):
            raise UsageError(f"`{shown}` is not a regular file",
                             hint="a Modelfile is read from a file; a FIFO, socket or device is not read")
        os.set_blocking(fd, True)
        try:
            data = f.read(MAX_MODELFILE_BYTES + 1)
        except OSError as exc:
            raise UsageError(f"cannot read `{shown}`: {describe_os_error(exc)}") from None
    return data, max(len(data), info.st_size)


def raise_for_errors(
    modelfile: Modelfile, extra: list[Diagnostic] | None = None, *, sources: dict[str, str] | None = None
) -> None:
    """Raise one :class:`ModelfileError` carrying every error, if there is any.

    ``sources`` adds the texts of other files diagnostics point into (chat templates).
    """
    diagnostics = sorted([*modelfile.diagnostics, *(extra or [])], key=_order(modelfile.path))
    if any(d.is_error for d in diagnostics):
        raise ModelfileError(diagnostics, {**(sources or {}), modelfile.path: modelfile.text})


def _order(modelfile: str) -> Callable[[Diagnostic], tuple[bool, tuple[str, int, int, str]]]:
    """The Modelfile's own diagnostics first, in line order, then those of other files."""

    def key(diagnostic: Diagnostic) -> tuple[bool, tuple[str, int, int, str]]:
        return (diagnostic.file != modelfile, diagnostic.sort_key())

    return key
