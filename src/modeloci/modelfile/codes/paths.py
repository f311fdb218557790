"""Diagnostics of compiling a directive's words: ARG references and build arguments, CONFIG values,
paths in the build context, and the files they name given roles and layer paths (MF040-MF055,
MF070-MF072, MF074)."""

from __future__ import annotations

from collections.abc import Sequence

from modeloci.diagnostics import Diagnostic, Span, did_you_mean
from modeloci.modelfile.codes.table import Code, first_few, listed, suggest


def undefined_variable(file: str, span: Span, name: str, declared: Sequence[str], later_line: int | None) -> Diagnostic:
    if later_line is not None:
        return Code.MF040(f"`${{{name}}}` is used before its ARG", file, span,
                          label=f"declared later, on line {later_line}", hint=f"move `ARG {name}` above this line")
    return Code.MF040(f"Undefined variable `{name}`", file, span,
                      label=suggest(name, declared) or "no ARG declares it",
                      hint=f"declare it first with `ARG {name}` or `ARG {name}=DEFAULT`")


def arg_without_value(file: str, span: Span, name: str) -> Diagnostic:
    return Code.MF041(f"ARG `{name}` has no value", file, span, label="no default and no --build-arg",
                      hint=f"pass `--build-arg {name}=VALUE` or give a default with `ARG {name}=VALUE`")


def unknown_build_arg(file: str, name: str, declared: Sequence[str]) -> Diagnostic:
    match = did_you_mean(name, declared, fold_case=False)
    hint = f"did you mean `{match}`?" if match else (
        f"the Modelfile declares {listed(declared)}" if declared else "the Modelfile declares no ARG")
    return Code.MF042(f"--build-arg `{name}` is not declared by any ARG", file, None, hint=hint)


def invalid_config_value(file: str, span: Span, key: str, value: str, expected: str) -> Diagnostic:
    summary = f"Invalid value `{value}` for `{key}`" if value else f"Missing value for `{key}`"
    return Code.MF043(summary, file, span, label=f"expected {expected}", hint=f"write `{key}=VALUE` with {expected}")


def substitution_too_large(file: str, span: Span, name: str, limit: int) -> Diagnostic:
    return Code.MF071("ARG substitution makes too much text", file, span,
                      label=f"`${{{name}}}` passes the limit here",
                      detail=f"the values substituted for `${{NAME}}` references add up to more than {limit} "
                             "characters",
                      hint="ARG values are short (a quantization, a version); check for an ARG that doubles an "
                           "earlier one")


def path_too_long(file: str, span: Span, length: int, limit: int) -> Diagnostic:
    return Code.MF072("Path too long", file, span, label=f"{length} characters",
                      detail=f"a path or glob is at most {limit} characters, the longest path a file system takes",
                      hint="check the path, and the ARG values used in it")


def empty_path(file: str, span: Span) -> Diagnostic:
    return Code.MF044("Empty path", file, span, label="this path is empty")


def absolute_path(file: str, span: Span, path: str) -> Diagnostic:
    return Code.MF045(f"Absolute path `{path}`", file, span, label="paths are relative to the build context",
                      hint="write the path relative to the build context (the Modelfile's folder, or --context)")


def escapes_context(file: str, span: Span, path: str) -> Diagnostic:
    return Code.MF046(f"Path `{path}` leaves the build context", file, span, label="goes above the context",
                      hint="move the file into the build context, or widen it with --context")


def symlink_escapes(file: str, span: Span, path: str, link: str) -> Diagnostic:
    return Code.MF047(f"Path `{path}` leaves the build context through a symlink", file, span,
                      label="resolves outside the context", detail=f"`{link}` is a symlink pointing outside",
                      hint="copy the file into the build context, or widen it with --context")


def file_not_found(file: str, span: Span, path: str, suggestion: str | None, keyword: str = "") -> Diagnostic:
    where = "the build context (the Modelfile's folder, or --context)"
    hint = f"FROM takes an archive or layout folder in {where}, or a model in the local store (`modeloci ls`)" \
        if keyword == "FROM" else f"paths are relative to {where}"
    return Code.MF048(f"File `{path}` not found", file, span,
                      label=f"did you mean `{suggestion}`?" if suggestion else "no such file", hint=hint)


def glob_matches_nothing(file: str, span: Span, pattern: str, nearby: Sequence[str]) -> Diagnostic:
    detail = f"files there: {listed(nearby)}" if nearby else "no files there"
    return Code.MF049(f"`{pattern}` matches no file", file, span, label="matches nothing", detail=detail,
                      hint="check the pattern; `*` does not match `/` or a leading `.`; use `**/` to match folders")


def is_directory(file: str, span: Span, path: str, keyword: str, inside: Sequence[str]) -> Diagnostic:
    examples = ", ".join(f"`{keyword} {name}`" for name in inside[:2])
    hint = f"name a file inside it, for example {examples}" if inside else "the folder is empty; name a file"
    return Code.MF050(f"`{path}` is a directory", file, span, label="expected a file", hint=hint)


def not_regular_file(file: str, span: Span, path: str) -> Diagnostic:
    return Code.MF051(f"`{path}` is not a regular file", file, span, label="not a regular file",
                      hint="only regular files can be packaged")


def unsupported_weights(file: str, span: Span, path: str, supported: Sequence[str]) -> Diagnostic:
    return Code.MF052(f"Unsupported weights file `{path}`", file, span, label="unknown weights format",
                      detail=f"weights files end in {listed(supported)}",
                      hint="package other files with LICENSE, CHAT_TEMPLATE or MMPROJ")


def mixed_formats(file: str, span: Span, path: str, found: str, first: str) -> Diagnostic:
    return Code.MF053(f"`{path}` is {found} but the model is {first}", file, span, label=f"{found} weights",
                      hint="a model has weights of one format; build the other format separately")


def two_roles(file: str, span: Span, path: str, role: str, other: str, other_line: int) -> Diagnostic:
    return Code.MF054(f"`{path}` is given to both {other} and {role}", file, span,
                      label=f"also matched by {other} on line {other_line}",
                      hint="narrow the glob so each file has one role")


def path_collision(file: str, span: Span, filepath: str, first: str, second: str) -> Diagnostic:
    return Code.MF055(f"Two files would both be `{filepath}` in the artifact", file, span,
                      label="same name as another layer", detail=f"`{first}` and `{second}` have the same file name",
                      hint="rename one of them: layers are stored under their file names")


def unsafe_layer_path(file: str, span: Span, filepath: str) -> Diagnostic:
    return Code.MF070(f"`{filepath}` cannot be unpacked safely", file, span, label="unsafe name in the artifact",
                      detail="a backslash or a drive letter (`C:`) in a file name is a path separator or a root on "
                             "Windows, so unpacking tools refuse it",
                      hint="rename the file")


def excludes_every_weight(file: str, span: Span, pattern: str, weights: Sequence[str]) -> Diagnostic:
    shown = first_few([f"`{w}`" for w in weights], 3)
    return Code.MF074(f"`EXCLUDE {pattern}` leaves out every weights file", file, span, label="excludes the weights",
                      detail=f"WEIGHTS takes {shown}, and EXCLUDE leaves all of them out",
                      hint="narrow the pattern: a model needs its weights")
