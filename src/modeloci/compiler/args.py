"""ARG declarations and ``${NAME}`` substitution.

ARGs are declared in order; each takes its value from ``--build-arg``, else
from its default (which may use earlier ARGs), else it has none, which is an
error only where it is used. Substitution keeps track of which characters may
act as glob patterns: unquoted text and unquoted references do (as in a
shell), quoted ones never do.

The text substituted for references in one Modelfile is bounded, and checked
before it is built: 27 lines of ``ARG An=${Am}${Am}`` would otherwise make a
value of 2^28 characters (MF071).
"""

from __future__ import annotations

import glob
from collections.abc import Mapping
from dataclasses import dataclass

from modeloci.modelfile import codes
from modeloci.modelfile.ast import ArgDirective, Equals, Modelfile, Text, VarRef, Word
from modeloci.modelfile.directives import Report

_GLOB_CHARS = frozenset("*?[")

# All the text `${NAME}` references may put into one Modelfile, ARG defaults
# included: as much as the largest Modelfile holds. Read at call time (tests lower it).
MAX_SUBSTITUTED_CHARS = 1 << 20


@dataclass(frozen=True, slots=True)
class Expanded:
    """A word after substitution: its text, and which parts may glob."""

    segments: tuple[tuple[str, bool], ...]

    @property
    def text(self) -> str:
        return "".join(text for text, _ in self.segments)

    @property
    def is_glob(self) -> bool:
        return any(globbable and _GLOB_CHARS & set(text) for text, globbable in self.segments)

    @property
    def pattern(self) -> str:
        """The glob pattern, with non-globbing parts escaped."""
        return "".join(text if globbable else glob.escape(text) for text, globbable in self.segments)


class ArgScope:
    """The ARG values visible while walking a Modelfile's directives in order."""

    def __init__(self, modelfile: Modelfile, build_args: Mapping[str, str], report: Report) -> None:
        self._report = report
        self._build_args = dict(build_args)
        self._substituted = 0  # characters substituted so far, against MAX_SUBSTITUTED_CHARS
        self._over_limit = False
        self._values: dict[str, str | None] = {}
        self._declared_lines: dict[str, int] = {}
        for directive in modelfile.directives:
            if isinstance(directive, ArgDirective):
                for decl in directive.decls:
                    self._declared_lines.setdefault(decl.name, decl.span.start.line)

    def declare(self, directive: ArgDirective) -> None:
        for decl in directive.decls:
            if decl.name in self._build_args:
                self._values[decl.name] = self._build_args[decl.name]
            elif decl.default is not None:
                expanded = self.expand(decl.default)
                self._values[decl.name] = expanded.text if expanded else None
            else:
                self._values[decl.name] = None

    def expand(self, word: Word) -> Expanded | None:
        """Substitute a word's references; None (with diagnostics) if one cannot be."""
        if self._over_limit:
            return None  # reported once, where the limit was passed; what follows is not checked
        segments: list[tuple[str, bool]] = []
        ok = True
        for piece in word.pieces:
            if isinstance(piece, Text):
                segments.append((piece.value, not piece.quoted))
            elif isinstance(piece, Equals):
                segments.append(("=", False))
            else:
                value = self._lookup(piece)
                ok = ok and value is not None and self._count(piece, value)
                segments.append((value or "", not piece.quoted))
        return Expanded(tuple(segments)) if ok else None

    def _count(self, ref: VarRef, value: str) -> bool:
        """Add a substitution to the total; False (reported once) past the limit."""
        self._substituted += len(value)
        if self._substituted > MAX_SUBSTITUTED_CHARS:
            self._over_limit = True
            self._report.add(codes.substitution_too_large(self._report.file, ref.span, ref.name, MAX_SUBSTITUTED_CHARS))
            return False
        return True

    def _lookup(self, ref: VarRef) -> str | None:
        if ref.name in self._values:
            value = self._values[ref.name]
            if value is None:
                self._report.add(codes.arg_without_value(self._report.file, ref.span, ref.name))
            return value
        later = self._declared_lines.get(ref.name)
        declared = sorted(self._values)
        self._report.add(codes.undefined_variable(self._report.file, ref.span, ref.name, declared, later))
        return None

    def check_unused_build_args(self) -> None:
        for name in sorted(set(self._build_args) - set(self._declared_lines)):
            self._report.add(codes.unknown_build_arg(self._report.file, name, sorted(self._declared_lines)))
