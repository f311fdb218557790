"""Every Modelfile diagnostic code, with its wording, in one place.

Each function builds one kind of :class:`Diagnostic`; callers pass what was
found and where. Keeping the wording here keeps it consistent (DESIGN.md's
rules: summaries are short phrases without a period, user values in
backticks, suggestions only for edit distance under 3) and lets the docs list
every code. ``CODES`` maps each code to a one-line description.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from modeloci.diagnostics import Diagnostic, Severity, Span, did_you_mean

CODES: dict[str, str] = {
    "MF001": "a double-quoted string is not closed on its line",
    "MF002": "an escape other than \\\", \\\\ or \\$ inside double quotes",
    "MF003": "a line starts with a word that is not a directive",
    "MF004": "a `$` that does not start a `${NAME}` reference",
    "MF005": "a backslash outside double quotes that does not end the line",
    "MF006": "a line starts with something that cannot be a directive (a quote, `=`, ...)",
    "MF007": "the last line ends with a `\\` continuation",
    "MF008": "the Modelfile is not UTF-8 text",
    "MF009": "a control character in the Modelfile",
    "MF010": "a directive keyword run into its first argument",
    "MF011": "a character the grammar does not allow here",
    "MF012": "the Modelfile is larger than 1 MiB",
    "MF013": "a Modelfile of more than 20,000 words, quotes, `=` signs and lines",
    "MF020": "a directive without the arguments it needs",
    "MF021": "a directive with more arguments than it takes",
    "MF022": "a directive that may appear once appears again",
    "MF023": "no FROM directive",
    "MF024": "a directive other than ARG before FROM",
    "MF025": "an argument that must be `key=value` has no `=`",
    "MF026": "`key=value` with an empty key",
    "MF027": "a `${NAME}` reference where only literal text is allowed",
    "MF028": "a CONFIG key that does not exist",
    "MF029": "the same key set twice",
    "MF030": "an ARG name that is not an identifier",
    "MF031": "a LABEL key reserved for the OCI index",
    "MF040": "a `${NAME}` reference to an ARG that is not declared before it",
    "MF041": "a `${NAME}` reference to an ARG with no default and no --build-arg",
    "MF042": "a --build-arg that no ARG declares",
    "MF043": "a CONFIG value of the wrong type or out of range",
    "MF044": "an empty path",
    "MF045": "an absolute path",
    "MF046": "a path that leaves the build context through `..`",
    "MF047": "a path that leaves the build context through a symlink",
    "MF048": "a file that does not exist",
    "MF049": "a glob that matches no file",
    "MF050": "a path that names a directory",
    "MF051": "a path that names something other than a regular file",
    "MF052": "a WEIGHTS file of a kind modeloci does not package",
    "MF053": "WEIGHTS files of different formats",
    "MF054": "one file given to two directives",
    "MF055": "two files that would get the same path in the artifact",
    "MF056": "a model with no weights",
    "MF057": "a FROM base that is not a readable model archive",
    "MF059": "a WEIGHTS folder with no weights files in it",
    "MF060": "a GGUF file whose header cannot be read",
    "MF061": "a GGUF shard set with a shard missing",
    "MF062": "a GGUF shard whose split.no or split.count disagrees with its name",
    "MF063": "a safetensors file whose header cannot be read",
    "MF064": "a safetensors shard set or index that does not match the files",
    "MF065": "an MMPROJ file that is not a GGUF projector",
    "MF066": "a chat template with a syntax error",
    "MF067": "a chat template that fails to render a standard conversation",
    "MF068": "a chat template that is not UTF-8 text",
    "MF069": "a config.json that cannot be read",
    "MF070": "a file name an unpacked model cannot hold safely (a backslash, a drive letter)",
    "MF071": "`${NAME}` references that substitute more than 1 MiB of text in all",
    "MF072": "a path or glob longer than 4096 characters",
    "MF073": "a chat template file larger than 1 MiB",
    "MF074": "EXCLUDE leaves out every weights file WEIGHTS takes",
    "MF076": "FROM names a weights file or a model folder, not a model",
    "MF077": "a directive of Ollama's or modctl's Modelfile",
    "MF078": "CONFIG given a file, as modctl's CONFIG takes",
    "MF100": "warning: new WEIGHTS drop config fields the base derived from its weights",
    "MF101": "warning: a chat template refuses or fails an optional conversation (a system message, tools)",
    "MF102": "warning: CHAT_TEMPLATE differs from the template embedded in the weights",
    "MF103": "warning: CHAT_TEMPLATE replaces the chat template of a WEIGHTS folder",
    "MF104": "warning: a context size (CONFIG, or a Docker base's) in a ModelPack build, which has no field for it",
    "MF105": "warning: a projector or chat template whose role ModelPack can only tell from its file name",
    "MF110": "lint warning: the model ships no license file",
    "MF111": "lint warning: a chat model with no chat template",
    "MF112": "lint warning: a registry FROM pinned by tag, not by digest",
    "MF113": "lint warning: CONFIG context_size larger than the model was trained for",
    "MF116": "warning: an EXCLUDE pattern that leaves nothing out",
    "MF117": "lint warning: WEIGHTS takes only the weights of a folder holding files runtimes need",
    "MF118": "warning: a WEIGHTS folder holding weights of another format, packaged as plain files",
    "MF119": "warning: symlinks and other non-regular files a WEIGHTS folder leaves out",
}


def _d(code: str, summary: str, file: str | None, span: Span | None, *, label: str | None = None,
       detail: str | None = None, hint: str | None = None) -> Diagnostic:
    return Diagnostic(code, summary, file, span, label=label, detail=detail, hint=hint)


def _suggest(word: str, known: Sequence[str]) -> str | None:
    match = did_you_mean(word, known)
    return f"did you mean `{match}`?" if match else None


def _list(names: Sequence[str]) -> str:
    return ", ".join(names)


# Syntax ---------------------------------------------------------------------------------------


def unterminated_string(file: str, span: Span) -> Diagnostic:
    return _d("MF001", "Unterminated string", file, span, label="this string is not closed",
              hint='close the string with `"` on the same line; a string cannot span lines')


def unknown_escape(file: str, span: Span, escape: str) -> Diagnostic:
    return _d("MF002", f"Unknown escape `{escape}` in a string", file, span, label="not an escape",
              detail='inside double quotes the escapes are `\\"`, `\\\\` and `\\$`',
              hint="write `\\\\` for a literal backslash")


def unknown_directive(file: str, span: Span, word: str, known: Sequence[str]) -> Diagnostic:
    return _d("MF003", f"Unknown directive `{word}`", file, span, label=_suggest(word, known) or "not a directive",
              hint=f"directives are {_list(known)}")


@dataclass(frozen=True, slots=True)
class Foreign:
    """A directive of another tool's Modelfile: whose, modeloci's nearest directive (if any), and what to write."""

    keyword: str
    tool: str
    instead: str | None
    advice: str


def foreign_directive(file: str, span: Span, word: str, foreign: Foreign, known: Sequence[str]) -> Diagnostic:
    label = f"in modeloci: `{foreign.instead}`" if foreign.instead else "modeloci has no such directive"
    summary = f"`{word}` is a directive of {foreign.tool}'s Modelfile"
    if foreign.instead == foreign.keyword:  # the same keyword, in the other tool's form
        summary, label = f"`{word} \"\"\"...\"\"\"` is the form of {foreign.tool}'s Modelfile", "text, not a path"
    return _d("MF077", summary, file, span, label=label,
              detail=f"modeloci's directives are {_list(known)}", hint=foreign.advice)


def bad_reference(file: str, span: Span, found: str) -> Diagnostic:
    return _d("MF004", f"Invalid variable reference `{found}`", file, span, label="expected `${NAME}`",
              hint="write `${NAME}` to use an ARG; inside double quotes write `\\$` for a literal `$`")


def stray_backslash(file: str, span: Span) -> Diagnostic:
    return _d("MF005", "Unexpected backslash", file, span, label="a backslash here is not allowed",
              hint="a `\\` continues a line only as its last character; for a backslash in a path, "
                   "put the path in double quotes and write `\\\\`")


def expected_directive(file: str, span: Span, found: str, known: Sequence[str]) -> Diagnostic:
    return _d("MF006", "Expected a directive", file, span, label="a line must start with a directive",
              detail=f"found `{found}`", hint=f"directives are {_list(known)}")


def continuation_at_eof(file: str, span: Span) -> Diagnostic:
    return _d("MF007", "Line continuation at end of file", file, span, label="nothing follows this `\\`",
              hint="remove the trailing `\\`, or finish the directive on the next line")


def not_utf8(file: str, span: Span) -> Diagnostic:
    return _d("MF008", "The Modelfile is not UTF-8 text", file, span, label="this byte is not UTF-8",
              hint="save the file as UTF-8")


def control_character(file: str, span: Span, char: str) -> Diagnostic:
    name = f"U+{ord(char):04X}"
    return _d("MF009", f"Control character {name} in the Modelfile", file, span, label="not allowed",
              hint="remove it; only tabs and line breaks may appear besides printable text")


def missing_space(file: str, span: Span, keyword: str, found: str) -> Diagnostic:
    return _d("MF010", f"Missing space after `{keyword}`", file, span, label="expected a space here",
              detail=f"found `{found}` right after the directive",
              hint=f"`{keyword}` takes its arguments after a space: `{keyword} ARGUMENTS`" if found == "="
              else f"write `{keyword} {found}...`")


def unexpected_character(file: str, span: Span, char: str) -> Diagnostic:
    if char.isprintable() and not char.isspace():
        return _d("MF011", f"Unexpected `{char}`", file, span, label="not allowed here")
    name = unicodedata.name(char, "")
    return _d("MF011", f"Unexpected character U+{ord(char):04X}" + (f" ({name})" if name else ""), file, span,
              label="invisible character", hint="only spaces and tabs may separate arguments; retype this one")


def too_large(file: str, size: int, limit: int) -> Diagnostic:
    return _d("MF012", "The Modelfile is too large", file, None,
              detail=f"it has {size} bytes; the limit is {limit}", hint="is this really a Modelfile?")


def too_many_pieces(file: str, limit: int) -> Diagnostic:
    return _d("MF013", "The Modelfile has too many words", file, None,
              detail=f"it has more than {limit} words, quotes, `=` signs and lines; the limit is {limit}",
              hint="a Modelfile is a few dozen lines; is this really a Modelfile?")


# Directives -----------------------------------------------------------------------------------


def missing_argument(file: str, span: Span, keyword: str, usage: str) -> Diagnostic:
    return _d("MF020", f"`{keyword}` needs an argument", file, span, label="missing argument",
              hint=f"write `{usage}`")


def too_many_arguments(file: str, span: Span, keyword: str, usage: str) -> Diagnostic:
    return _d("MF021", f"Too many arguments to `{keyword}`", file, span, label="unexpected argument",
              hint=f"write `{usage}`; put a path with spaces in double quotes")


def duplicate_directive(file: str, span: Span, keyword: str, first_line: int) -> Diagnostic:
    return _d("MF022", f"Duplicate `{keyword}`", file, span, label=f"already given on line {first_line}",
              hint=f"a Modelfile has at most one `{keyword}`; remove one of them")


def missing_from(file: str) -> Diagnostic:
    return _d("MF023", "Missing `FROM`", file, None,
              hint="start the Modelfile with `FROM scratch`, or `FROM <archive>` to build on a model")


def from_not_first(file: str, span: Span, keyword: str, from_line: int) -> Diagnostic:
    return _d("MF024", f"`{keyword}` comes before `FROM`", file, span, label="before FROM",
              detail=f"`FROM` is on line {from_line}; only `ARG` may come before it",
              hint="move `FROM` to the top")


def expected_pair(file: str, span: Span, keyword: str, found: str) -> Diagnostic:
    return _d("MF025", f"Expected `key=value` after `{keyword}`", file, span, label="no `=` in this argument",
              detail=f"found `{found}`", hint=f"write `{keyword} {found}=VALUE`" if found else None)


def config_file(file: str, span: Span, found: str) -> Diagnostic:
    return _d("MF078", "`CONFIG` takes settings, not files", file, span, label="a file, not `key=value`",
              detail=f"modctl's `CONFIG {found}` packages a file; modeloci's `CONFIG key=value` records a setting "
                     "such as `context_size=4096`",
              hint="config files are packaged with their model folder: `WEIGHTS <folder>` takes every file in it")


def empty_key(file: str, span: Span) -> Diagnostic:
    return _d("MF026", "Empty key", file, span, label="nothing before `=`", hint="write `key=value`")


def reference_not_allowed(file: str, span: Span, what: str) -> Diagnostic:
    return _d("MF027", f"A variable reference cannot be used in {what}", file, span, label="reference",
              hint="write the name literally")


def unknown_config_key(file: str, span: Span, key: str, known: Sequence[str]) -> Diagnostic:
    return _d("MF028", f"Unknown CONFIG key `{key}`", file, span, label=_suggest(key, known) or "unknown key",
              hint=f"CONFIG keys are {_list(known)}")


def duplicate_key(file: str, span: Span, keyword: str, key: str, first_line: int) -> Diagnostic:
    return _d("MF029", f"`{keyword}` key `{key}` is set twice", file, span,
              label=f"already set on line {first_line}", hint="remove one of them")


def invalid_arg_name(file: str, span: Span, name: str) -> Diagnostic:
    return _d("MF030", f"Invalid ARG name `{name}`", file, span, label="not an identifier",
              hint="names start with a letter or `_` and hold only letters, digits and `_`")


def reserved_label(file: str, span: Span, key: str) -> Diagnostic:
    return _d("MF031", f"LABEL key `{key}` is reserved", file, span, label="set by -t",
              detail="this annotation belongs on the OCI index, not on the manifest",
              hint="name the model with `modeloci build -t NAME:TAG`")


# Compilation ----------------------------------------------------------------------------------


def undefined_variable(file: str, span: Span, name: str, declared: Sequence[str], later_line: int | None) -> Diagnostic:
    if later_line is not None:
        return _d("MF040", f"`${{{name}}}` is used before its ARG", file, span,
                  label=f"declared later, on line {later_line}", hint=f"move `ARG {name}` above this line")
    return _d("MF040", f"Undefined variable `{name}`", file, span,
              label=_suggest(name, declared) or "no ARG declares it",
              hint=f"declare it first with `ARG {name}` or `ARG {name}=DEFAULT`")


def arg_without_value(file: str, span: Span, name: str) -> Diagnostic:
    return _d("MF041", f"ARG `{name}` has no value", file, span, label="no default and no --build-arg",
              hint=f"pass `--build-arg {name}=VALUE` or give a default with `ARG {name}=VALUE`")


def unknown_build_arg(file: str, name: str, declared: Sequence[str]) -> Diagnostic:
    match = did_you_mean(name, declared, fold_case=False)
    hint = f"did you mean `{match}`?" if match else (
        f"the Modelfile declares {_list(declared)}" if declared else "the Modelfile declares no ARG")
    return _d("MF042", f"--build-arg `{name}` is not declared by any ARG", file, None, hint=hint)


def invalid_config_value(file: str, span: Span, key: str, value: str, expected: str) -> Diagnostic:
    summary = f"Invalid value `{value}` for `{key}`" if value else f"Missing value for `{key}`"
    return _d("MF043", summary, file, span, label=f"expected {expected}", hint=f"write `{key}=VALUE` with {expected}")


def substitution_too_large(file: str, span: Span, name: str, limit: int) -> Diagnostic:
    return _d("MF071", "ARG substitution makes too much text", file, span,
              label=f"`${{{name}}}` passes the limit here",
              detail=f"the values substituted for `${{NAME}}` references add up to more than {limit} characters",
              hint="ARG values are short (a quantization, a version); check for an ARG that doubles an earlier one")


def path_too_long(file: str, span: Span, length: int, limit: int) -> Diagnostic:
    return _d("MF072", "Path too long", file, span, label=f"{length} characters",
              detail=f"a path or glob is at most {limit} characters, the longest path a file system takes",
              hint="check the path, and the ARG values used in it")


def empty_path(file: str, span: Span) -> Diagnostic:
    return _d("MF044", "Empty path", file, span, label="this path is empty")


def absolute_path(file: str, span: Span, path: str) -> Diagnostic:
    return _d("MF045", f"Absolute path `{path}`", file, span, label="paths are relative to the build context",
              hint="write the path relative to the build context (the Modelfile's folder, or --context)")


def escapes_context(file: str, span: Span, path: str) -> Diagnostic:
    return _d("MF046", f"Path `{path}` leaves the build context", file, span, label="goes above the context",
              hint="move the file into the build context, or widen it with --context")


def symlink_escapes(file: str, span: Span, path: str, link: str) -> Diagnostic:
    return _d("MF047", f"Path `{path}` leaves the build context through a symlink", file, span,
              label="resolves outside the context", detail=f"`{link}` is a symlink pointing outside",
              hint="copy the file into the build context, or widen it with --context")


def file_not_found(file: str, span: Span, path: str, suggestion: str | None, keyword: str = "") -> Diagnostic:
    where = "the build context (the Modelfile's folder, or --context)"
    hint = f"FROM takes an archive or layout folder in {where}, or a model in the local store (`modeloci ls`)" \
        if keyword == "FROM" else f"paths are relative to {where}"
    return _d("MF048", f"File `{path}` not found", file, span,
              label=f"did you mean `{suggestion}`?" if suggestion else "no such file", hint=hint)


def glob_matches_nothing(file: str, span: Span, pattern: str, nearby: Sequence[str]) -> Diagnostic:
    detail = f"files there: {_list(nearby)}" if nearby else "no files there"
    return _d("MF049", f"`{pattern}` matches no file", file, span, label="matches nothing", detail=detail,
              hint="check the pattern; `*` does not match `/` or a leading `.`; use `**/` to match folders")


def is_directory(file: str, span: Span, path: str, keyword: str, inside: Sequence[str]) -> Diagnostic:
    examples = ", ".join(f"`{keyword} {name}`" for name in inside[:2])
    hint = f"name a file inside it, for example {examples}" if inside else "the folder is empty; name a file"
    return _d("MF050", f"`{path}` is a directory", file, span, label="expected a file", hint=hint)


def not_regular_file(file: str, span: Span, path: str) -> Diagnostic:
    return _d("MF051", f"`{path}` is not a regular file", file, span, label="not a regular file",
              hint="only regular files can be packaged")


def unsupported_weights(file: str, span: Span, path: str, supported: Sequence[str]) -> Diagnostic:
    return _d("MF052", f"Unsupported weights file `{path}`", file, span, label="unknown weights format",
              detail=f"weights files end in {_list(supported)}",
              hint="package other files with LICENSE, CHAT_TEMPLATE or MMPROJ")


def mixed_formats(file: str, span: Span, path: str, found: str, first: str) -> Diagnostic:
    return _d("MF053", f"`{path}` is {found} but the model is {first}", file, span, label=f"{found} weights",
              hint="a model has weights of one format; build the other format separately")


def two_roles(file: str, span: Span, path: str, role: str, other: str, other_line: int) -> Diagnostic:
    return _d("MF054", f"`{path}` is given to both {other} and {role}", file, span,
              label=f"also matched by {other} on line {other_line}",
              hint="narrow the glob so each file has one role")


def path_collision(file: str, span: Span, filepath: str, first: str, second: str) -> Diagnostic:
    return _d("MF055", f"Two files would both be `{filepath}` in the artifact", file, span,
              label="same name as another layer", detail=f"`{first}` and `{second}` have the same file name",
              hint="rename one of them: layers are stored under their file names")


def unsafe_layer_path(file: str, span: Span, filepath: str) -> Diagnostic:
    return _d("MF070", f"`{filepath}` cannot be unpacked safely", file, span, label="unsafe name in the artifact",
              detail="a backslash or a drive letter (`C:`) in a file name is a path separator or a root on Windows, "
                     "so unpacking tools refuse it",
              hint="rename the file")


def excludes_every_weight(file: str, span: Span, pattern: str, weights: Sequence[str]) -> Diagnostic:
    shown = _list([f"`{w}`" for w in weights[:3]]) + (f" and {len(weights) - 3} more" if len(weights) > 3 else "")
    return _d("MF074", f"`EXCLUDE {pattern}` leaves out every weights file", file, span, label="excludes the weights",
              detail=f"WEIGHTS takes {shown}, and EXCLUDE leaves all of them out",
              hint="narrow the pattern: a model needs its weights")


def from_weights(file: str, span: Span, path: str, what: str) -> Diagnostic:
    return _d("MF076", f"`{path}` is {what}, not a model", file, span, label=what,
              detail="FROM takes a base model: `scratch`, a model archive or layout folder, a stored model or "
                     "a registry reference",
              hint=f"start from nothing and package it: `FROM scratch`, then `WEIGHTS {path}`")


def lfs_pointer(code: str, file: str, span: Span, paths: Sequence[str]) -> Diagnostic:
    """A weights file (MF060 GGUF, MF063 safetensors) or projector (MF065) that is a Git LFS pointer."""
    if len(paths) == 1:
        summary, label = f"`{paths[0]}` is a Git LFS pointer, not the file", "a Git LFS pointer"
    else:
        summary, label = f"{len(paths)} files are Git LFS pointers, not the files", "Git LFS pointers"
    shown = _list([f"`{p}`" for p in paths[:5]]) + (f" and {len(paths) - 5} more" if len(paths) > 5 else "")
    return _d(code, summary, file, span, label=label,
              detail=f"{shown} {'holds' if len(paths) == 1 else 'hold'} the few lines git keeps in place of a file "
                     "it stores with Git LFS, not the file itself",
              hint="this is a Git LFS pointer; run `git lfs pull` in the repository to fetch the files")


def no_weights(file: str, span: Span | None) -> Diagnostic:
    return _d("MF056", "The model has no weights", file, span, label="no WEIGHTS after this",
              hint="add `WEIGHTS <file.gguf>`, or build `FROM` a model that has weights")


def bad_base(file: str, span: Span, path: str, reason: str, hint: str | None = None) -> Diagnostic:
    return _d("MF057", f"Cannot use `{path}` as a base", file, span, label="not a readable model archive",
              detail=reason, hint=hint or "FROM takes `scratch` or an archive or layout folder built by modeloci")


def folder_without_weights(file: str, span: Span, path: str) -> Diagnostic:
    return _d("MF059", f"No weights in folder `{path}`", file, span, label="no weights file here",
              detail="weights files end in .gguf, .safetensors or .dduf; hidden files and symlinks are not taken",
              hint="name the folder that holds the model's weights")


def unreadable_gguf(file: str, span: Span, path: str, reason: str) -> Diagnostic:
    return _d("MF060", f"Cannot read GGUF file `{path}`", file, span, label="not a readable GGUF file",
              detail=reason, hint="check that the file is complete; re-download or re-convert it")


def missing_shard(file: str, span: Span, missing: str, found: int, total: int) -> Diagnostic:
    return _d("MF061", f"Shard `{missing}` is missing", file, span, label=f"found {found} of {total} shards",
              hint="every shard of a split model must be in the build context")


def shard_mismatch(file: str, span: Span, path: str, reason: str) -> Diagnostic:
    return _d("MF062", f"Shard `{path}` does not match its name", file, span, label="inconsistent shard", detail=reason,
              hint="shards must keep the names gguf-split gave them")


def unreadable_safetensors(file: str, span: Span, path: str, reason: str) -> Diagnostic:
    return _d("MF063", f"Cannot read safetensors file `{path}`", file, span, label="not a readable safetensors file",
              detail=reason, hint="check that the file is complete; re-download it")


def safetensors_set(file: str, span: Span, reason: str) -> Diagnostic:
    return _d("MF064", "Safetensors files do not form a complete model", file, span, label="incomplete", detail=reason,
              hint="every shard named by the index (and no other) must be packaged")


def not_a_projector(file: str, span: Span, path: str, what: str) -> Diagnostic:
    return _d("MF065", f"`{path}` is not a multimodal projector", file, span, label="not a projector",
              detail=f"it is {what}",
              hint="MMPROJ takes a GGUF projector (general.type `mmproj`, or architecture `clip`)")


def template_syntax(file: str, span: Span, message: str) -> Diagnostic:
    return _d("MF066", "Syntax error in chat template", file, span, label=message,
              hint="chat templates are Jinja, rendered as Hugging Face transformers does")


def template_render(file: str, span: Span, path: str, conversation: str, message: str) -> Diagnostic:
    return _d("MF067", f"Chat template `{path}` fails {conversation}", file, span, label="fails to render",
              detail=message, hint="runtimes render this template for every request; fix it or choose another")


def template_too_large(file: str, span: Span, path: str, size: int, limit: int) -> Diagnostic:
    return _d("MF073", f"Chat template `{path}` is too large", file, span, label=f"{size} bytes",
              detail=f"a chat template is at most {limit} bytes; the largest real ones are a few dozen KB",
              hint="check that CHAT_TEMPLATE names the template, not another file")


def template_not_text(file: str, span: Span, path: str) -> Diagnostic:
    return _d("MF068", f"Chat template `{path}` is not UTF-8 text", file, span, label="not text",
              hint="a chat template is a Jinja text file")


def bad_hf_config(file: str, span: Span, path: str, reason: str) -> Diagnostic:
    return _d("MF069", f"Cannot read `{path}`", file, span, label="unreadable config.json", detail=reason)


def modelpack_context_size(file: str, span: Span) -> Diagnostic:
    return warning("MF104", "ModelPack has no context size", file, span, label="left out of the ModelPack config",
                   detail="the CNCF ModelPack config has no field for a context length",
                   hint="build with --format docker to record it; runtimes fall back to the weights' own length")


def modelpack_base_context_size(file: str, span: Span, size: object) -> Diagnostic:
    return warning("MF104", "ModelPack has no context size", file, span, label="left out of the ModelPack config",
                   detail=f"the base sets context_size {size}, which its weights do not say, and the CNCF ModelPack "
                          "config has no field for a context length",
                   hint="build with --format docker to keep it; runtimes fall back to the weights' own length")


def modelpack_role_by_name(file: str, span: Span, path: str, role: str, rule: str) -> Diagnostic:
    return warning("MF105", f"ModelPack will not know `{path}` is the {role}", file, span,
                   label=f"read back as {'a weights file' if role == 'projector' else 'a model file'}",
                   detail=f"ModelPack has no media type for a {role}; readers (Docker Model Runner, modeloci) "
                          f"tell it by the file name, which must {rule}",
                   hint="rename the file, or build with --format docker, which records the role in the media type")


def template_raises(file: str, span: Span, path: str, conversation: str, message: str) -> Diagnostic:
    return warning("MF101", f"Chat template `{path}` refuses {conversation}", file, span, label="raises on purpose",
                   detail=f"it raises: {message}", hint="runtimes will report this error for such requests")


def template_fails_optionally(file: str, span: Span, path: str, conversation: str, message: str) -> Diagnostic:
    return warning("MF101", f"Chat template `{path}` fails {conversation}", file, span, label="fails to render",
                   detail=message, hint="runtimes will fail such requests; plain conversations are not affected")


def template_differs(file: str, span: Span, weights: str) -> Diagnostic:
    return warning("MF102", "CHAT_TEMPLATE differs from the template in the weights", file, span,
                   label="this template wins", detail=f"`{weights}` carries another tokenizer.chat_template",
                   hint="runtimes use the CHAT_TEMPLATE layer; drop CHAT_TEMPLATE to keep the embedded one")


def template_replaces_folder(file: str, span: Span, replaced: str) -> Diagnostic:
    return warning("MF103", "CHAT_TEMPLATE replaces the folder's chat template", file, span, label="this template wins",
                   detail=f"`{replaced}` from the WEIGHTS folder is left out")


def exclude_unused(file: str, span: Span, pattern: str, why: str, hint: str) -> Diagnostic:
    return warning("MF116", f"`EXCLUDE {pattern}` leaves nothing out", file, span, label="excludes nothing",
                   detail=why, hint=hint)


def other_weights_in_folder(file: str, span: Span, folder: str, paths: Sequence[str], size: str,
                            fmt: str, exclude: str) -> Diagnostic:
    shown = _list([f"`{p}`" for p in paths[:5]]) + (f" and {len(paths) - 5} more" if len(paths) > 5 else "")
    return warning("MF118", f"WEIGHTS folder `{folder}` packages PyTorch, TensorFlow or ONNX files", file, span,
                   label=f"{len(paths)} such {'file' if len(paths) == 1 else 'files'}, {size}",
                   detail=f"{shown} become model files ({size} in all), but runtimes load the {fmt} weights; "
                          "in a Hugging Face folder such files are mostly the same weights in another format",
                   hint=f"leave them out: `EXCLUDE {exclude}`")


def folder_skips(file: str, span: Span, folder: str, entries: Sequence[tuple[str, str]]) -> Diagnostic:
    shown = _list([f"`{path}` ({what})" for path, what in entries[:5]])
    shown += f" and {len(entries) - 5} more" if len(entries) > 5 else ""
    links = all(what == "a symlink" for _, what in entries)
    noun = ("symlink" if links else "entry") if len(entries) == 1 else ("symlinks" if links else "entries")
    return warning("MF119", f"WEIGHTS folder `{folder}` leaves out {len(entries)} {noun}", file, span,
                   label="not regular files", detail=f"{shown}: as Docker Model Runner packages a folder, only "
                   "regular files are taken; a symlink is never followed",
                   hint="copy the files into the folder in place of the links (`cp -L`), or name a symlink that stays "
                        "in the build context by its path")


def base_metadata_dropped(file: str, span: Span, fields: Sequence[str]) -> Diagnostic:
    return warning("MF100", "WEIGHTS replaces the base's weights", file, span, label="new weights",
                   detail=f"config fields taken from the old weights are dropped: {_list(fields)}",
                   hint="set them again with CONFIG if they still apply")


# Lint: advice `modeloci lint` gives about a Modelfile that builds ------------------------------


def no_license(file: str, span: Span | None) -> Diagnostic:
    return warning("MF110", "The model ships no license", file, span, label="no LICENSE layer",
                   detail="users and registries look for the license next to the weights",
                   hint="add the license file: `LICENSE LICENSE`")


def no_chat_template(file: str, span: Span | None, why: str) -> Diagnostic:
    return warning("MF111", "A chat model with no chat template", file, span, label="chat model", detail=why,
                   hint="add one with `CHAT_TEMPLATE chat_template.jinja`, or use weights that embed "
                        "tokenizer.chat_template")


def unpinned_from(file: str, span: Span, reference: str, pinned: str | None) -> Diagnostic:
    return warning("MF112", f"FROM `{reference}` is not pinned", file, span, label="a tag can move",
                   detail="a tag may point at another model tomorrow, and the build will change with it",
                   hint=f"pin the digest it names today: `FROM {pinned}`" if pinned else
                        "pin it by digest: `FROM host/repo@sha256:...`")


def context_beyond_training(file: str, span: Span, size: int, trained: int, where: str) -> Diagnostic:
    return warning("MF113", f"context_size {size} is larger than the model's trained length {trained}", file, span,
                   label="beyond the trained context", detail=f"{where} says the model was trained on {trained} tokens",
                   hint=f"use at most `context_size={trained}` unless the runtime extends the context (RoPE scaling)")


def runtime_files_left_out(file: str, span: Span, folder: str, paths: Sequence[str]) -> Diagnostic:
    shown = _list([f"`{p}`" for p in paths[:6]]) + (f" and {len(paths) - 6} more" if len(paths) > 6 else "")
    return warning("MF117", "Only the weights of a model folder are packaged", file, span,
                   label="the weights alone",
                   detail=f"{shown} beside them {'is' if len(paths) == 1 else 'are'} left out, and a runtime "
                          "loading these weights (vLLM, transformers) reads them",
                   hint=f"package the folder: `WEIGHTS {folder}` takes every file in it (EXCLUDE leaves some out)")


def warning(code: str, summary: str, file: str, span: Span | None, *, label: str | None = None,
            detail: str | None = None, hint: str | None = None) -> Diagnostic:
    return Diagnostic(code, summary, file, span, label=label, detail=detail, hint=hint, severity=Severity.WARNING)
