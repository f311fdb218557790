"""Diagnostics of the directive table's checks: arguments, FROM first and once, ``key=value`` words,
ARG names and reserved labels (MF020-MF031, MF078)."""

from __future__ import annotations

from collections.abc import Sequence

from modeloci.diagnostics import Diagnostic, Span
from modeloci.modelfile.codes.table import Code, listed, suggest


def missing_argument(file: str, span: Span, keyword: str, usage: str) -> Diagnostic:
    return Code.MF020(f"`{keyword}` needs an argument", file, span, label="missing argument",
                      hint=f"write `{usage}`")


def too_many_arguments(file: str, span: Span, keyword: str, usage: str) -> Diagnostic:
    return Code.MF021(f"Too many arguments to `{keyword}`", file, span, label="unexpected argument",
                      hint=f"write `{usage}`; put a path with spaces in double quotes")


def duplicate_directive(file: str, span: Span, keyword: str, first_line: int) -> Diagnostic:
    return Code.MF022(f"Duplicate `{keyword}`", file, span, label=f"already given on line {first_line}",
                      hint=f"a Modelfile has at most one `{keyword}`; remove one of them")


def missing_from(file: str) -> Diagnostic:
    return Code.MF023("Missing `FROM`", file, None,
                      hint="start the Modelfile with `FROM scratch`, or `FROM <archive>` to build on a model")


def from_not_first(file: str, span: Span, keyword: str, from_line: int) -> Diagnostic:
    return Code.MF024(f"`{keyword}` comes before `FROM`", file, span, label="before FROM",
                      detail=f"`FROM` is on line {from_line}; only `ARG` may come before it",
                      hint="move `FROM` to the top")


def expected_pair(file: str, span: Span, keyword: str, found: str) -> Diagnostic:
    return Code.MF025(f"Expected `key=value` after `{keyword}`", file, span, label="no `=` in this argument",
                      detail=f"found `{found}`", hint=f"write `{keyword} {found}=VALUE`" if found else None)


def config_file(file: str, span: Span, found: str) -> Diagnostic:
    return Code.MF078("`CONFIG` takes settings, not files", file, span, label="a file, not `key=value`",
                      detail=f"modctl's `CONFIG {found}` packages a file; modeloci's `CONFIG key=value` records a "
                             "setting such as `context_size=4096`",
                      hint="config files are packaged with their model folder: `WEIGHTS <folder>` takes every file "
                           "in it")


def empty_key(file: str, span: Span) -> Diagnostic:
    return Code.MF026("Empty key", file, span, label="nothing before `=`", hint="write `key=value`")


def reference_not_allowed(file: str, span: Span, what: str) -> Diagnostic:
    return Code.MF027(f"A variable reference cannot be used in {what}", file, span, label="reference",
                      hint="write the name literally")


def unknown_config_key(file: str, span: Span, key: str, known: Sequence[str]) -> Diagnostic:
    return Code.MF028(f"Unknown CONFIG key `{key}`", file, span, label=suggest(key, known) or "unknown key",
                      hint=f"CONFIG keys are {listed(known)}")


def duplicate_key(file: str, span: Span, keyword: str, key: str, first_line: int) -> Diagnostic:
    return Code.MF029(f"`{keyword}` key `{key}` is set twice", file, span,
                      label=f"already set on line {first_line}", hint="remove one of them")


def invalid_arg_name(file: str, span: Span, name: str) -> Diagnostic:
    return Code.MF030(f"Invalid ARG name `{name}`", file, span, label="not an identifier",
                      hint="names start with a letter or `_` and hold only letters, digits and `_`")


def reserved_label(file: str, span: Span, key: str) -> Diagnostic:
    return Code.MF031(f"LABEL key `{key}` is reserved", file, span, label="set by -t",
                      detail="this annotation belongs on the OCI index, not on the manifest",
                      hint="name the model with `modeloci build -t NAME:TAG`")
