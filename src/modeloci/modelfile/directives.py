"""The directive table, and turning grammar :class:`Line` nodes into typed directives.

One table (:data:`DIRECTIVES`) says which directives exist, what each takes
and whether it may repeat. It drives the keyword check and did-you-mean here,
and ``fmt`` and the docs elsewhere. Each directive's converter has the
directive's name (``_weights`` makes a :class:`WeightsDirective`), as does its
compile step in :mod:`modeloci.compiler.compile` (``_compile_weights``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from modeloci.diagnostics import Diagnostic, Span
from modeloci.modelfile import codes
from modeloci.modelfile.ast import (
    ArgDecl,
    ArgDirective,
    ChatTemplateDirective,
    ConfigDirective,
    Directive,
    ExcludeDirective,
    FromDirective,
    LabelDirective,
    LicenseDirective,
    Line,
    MmprojDirective,
    Pair,
    WeightsDirective,
    Word,
)
from modeloci.oci.manifest import REF_NAME

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


@dataclass(frozen=True, slots=True)
class ConfigKey:
    """A key CONFIG accepts: what its value must be, and how to read it."""

    name: str
    expected: str
    parse: Callable[[str], object | None]
    summary: str


def _positive_int32(text: str) -> int | None:
    if not re.fullmatch(r"[0-9]+", text):
        return None
    value = int(text)
    return value if 0 < value <= 2**31 - 1 else None


CONFIG_KEYS: dict[str, ConfigKey] = {
    key.name: key
    for key in (
        ConfigKey("context_size", "an integer from 1 to 2147483647", _positive_int32,
                  "context length runtimes should use (Docker `config.context_size`)"),
    )
}

RESERVED_LABELS = frozenset({REF_NAME})


class Report:
    """Collects diagnostics for one file."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.diagnostics: list[Diagnostic] = []

    def add(self, diagnostic: Diagnostic) -> None:
        self.diagnostics.append(diagnostic)


@dataclass(frozen=True, slots=True)
class DirectiveSpec:
    """One row of the directive table."""

    name: str
    usage: str
    node: type
    min_args: int
    max_args: int | None
    once: bool
    convert: Callable[[Line, Report], Directive | None]
    summary: str


def _from(line: Line, report: Report) -> Directive:
    return FromDirective(line.args[0], line.span, line.keyword_span)


def _weights(line: Line, report: Report) -> Directive:
    return WeightsDirective(line.args, line.span, line.keyword_span)


def _chat_template(line: Line, report: Report) -> Directive:
    return ChatTemplateDirective(line.args[0], line.span, line.keyword_span)


def _mmproj(line: Line, report: Report) -> Directive:
    return MmprojDirective(line.args[0], line.span, line.keyword_span)


def _license(line: Line, report: Report) -> Directive:
    return LicenseDirective(line.args, line.span, line.keyword_span)


def _exclude(line: Line, report: Report) -> Directive:
    return ExcludeDirective(line.args, line.span, line.keyword_span)


def _config(line: Line, report: Report) -> Directive | None:
    # The known keys are kept even when another word of the line is wrong, so that their values
    # are checked too: `CONFIG context_size=4k temperature=0.7` reports both problems at once.
    known = []
    for pair in _pairs(line, report):
        if pair.key in CONFIG_KEYS:
            known.append(pair)
        else:
            report.add(codes.unknown_config_key(report.file, pair.key_span, pair.key, list(CONFIG_KEYS)))
    return ConfigDirective(tuple(known), line.span, line.keyword_span) if known else None


def _label(line: Line, report: Report) -> Directive | None:
    before = len(report.diagnostics)
    items = _pairs(line, report)
    for pair in items:
        if pair.key in RESERVED_LABELS:
            report.add(codes.reserved_label(report.file, pair.key_span, pair.key))
    return LabelDirective(items, line.span, line.keyword_span) if len(report.diagnostics) == before else None


def _arg(line: Line, report: Report) -> Directive | None:
    decls: list[ArgDecl] = []
    for word in line.args:
        split = word.split_pair()
        name_word, default = split if split else (word, None)
        if not name_word.is_literal:
            report.add(codes.reference_not_allowed(report.file, name_word.span, "an ARG name"))
            continue
        name = name_word.literal()
        if not _IDENTIFIER.match(name):
            report.add(codes.invalid_arg_name(report.file, name_word.span, name))
            continue
        decls.append(ArgDecl(name, name_word.span, default, word.span))
    if len(decls) != len(line.args):
        return None
    return ArgDirective(tuple(decls), line.span, line.keyword_span)


def _pairs(line: Line, report: Report) -> tuple[Pair, ...]:
    """The line's well-formed ``key=value`` words, after reporting the others."""
    pairs: list[Pair] = []
    for word in line.args:
        split = word.split_pair()
        if split is None and line.keyword.upper() == "CONFIG" and _names_a_file(word):
            report.add(codes.config_file(report.file, word.span, word.literal()))
            continue
        if split is None:
            report.add(codes.expected_pair(report.file, word.span, line.keyword.upper(), word.literal()))
            continue
        key, value = split
        if not key.pieces:
            report.add(codes.empty_key(report.file, word.span))
        elif not key.is_literal:
            report.add(codes.reference_not_allowed(report.file, key.span, "a key"))
        else:
            pairs.append(Pair(key.literal(), key.span, value, word.span))
    return tuple(pairs)


def _names_a_file(word: Word) -> bool:
    """Whether a word looks like a path or glob (modctl's ``CONFIG config.json``), not a bare key."""
    return any(c in word.literal() for c in "./*?[")


DIRECTIVES: dict[str, DirectiveSpec] = {
    spec.name: spec
    for spec in (
        DirectiveSpec("FROM", "FROM scratch | FROM <archive>", FromDirective, 1, 1, True, _from,
                      "the base: `scratch`, or an OCI archive or layout folder built by modeloci"),
        DirectiveSpec("WEIGHTS", "WEIGHTS <path|glob> ...", WeightsDirective, 1, None, False, _weights,
                      "weight files, one layer each, in GGUF shard order then lexical order"),
        DirectiveSpec("CHAT_TEMPLATE", "CHAT_TEMPLATE <path>", ChatTemplateDirective, 1, 1, True, _chat_template,
                      "the Jinja chat template"),
        DirectiveSpec("MMPROJ", "MMPROJ <path>", MmprojDirective, 1, 1, True, _mmproj,
                      "the multimodal projector (GGUF)"),
        DirectiveSpec("CONFIG", "CONFIG key=value ...", ConfigDirective, 1, None, False, _config,
                      "model settings recorded in the config, such as `context_size`"),
        DirectiveSpec("LICENSE", "LICENSE <path|glob> ...", LicenseDirective, 1, None, False, _license,
                      "license texts"),
        DirectiveSpec("EXCLUDE", "EXCLUDE <path|glob> ...", ExcludeDirective, 1, None, False, _exclude,
                      "files that WEIGHTS folders and globs leave out"),
        DirectiveSpec("LABEL", "LABEL key=value ...", LabelDirective, 1, None, False, _label, "manifest annotations"),
        DirectiveSpec("ARG", "ARG NAME[=default] ...", ArgDirective, 1, None, False, _arg,
                      "build arguments, used as `${NAME}` and set with --build-arg"),
    )
}

KEYWORDS: tuple[str, ...] = tuple(DIRECTIVES)

# Ollama's `LICENSE """<text>"""`: the license text itself, where modeloci's LICENSE names a file.
OLLAMA_TEXT = codes.Foreign("LICENSE", "Ollama", "LICENSE",
                            "write the license text to a file and name the file: `LICENSE LICENSE`")

# What users of Ollama's and modctl's Modelfiles write first, and what modeloci offers instead
# (MF077): checked before did-you-mean, so that `ARCH` is not taken for a misspelt `ARG`.
FOREIGN_DIRECTIVES: dict[str, codes.Foreign] = {
    foreign.keyword: foreign
    for foreign in (
        codes.Foreign("TEMPLATE", "Ollama", "CHAT_TEMPLATE",
                      "write the template as a Jinja file and name it: `CHAT_TEMPLATE chat_template.jinja` "
                      "(Ollama's TEMPLATE is a Go template, which runtimes reading Jinja cannot use)"),
        codes.Foreign("SYSTEM", "Ollama", None,
                      "a model artifact holds no system message; a default one belongs in the chat template"),
        codes.Foreign("PARAMETER", "Ollama", "CONFIG",
                      "the one runtime setting modeloci records is the context size: `PARAMETER num_ctx 4096` "
                      "is `CONFIG context_size=4096`; sampling parameters (temperature, top_p, stop) are not recorded"),
        codes.Foreign("ADAPTER", "Ollama", None, "modeloci packages no LoRA adapter; merge it into the weights"),
        codes.Foreign("MESSAGE", "Ollama", None, "a model artifact holds no conversation; there is no equivalent"),
        codes.Foreign("REQUIRES", "Ollama", None, "a model artifact records no required runtime version"),
        codes.Foreign("MODEL", "modctl", "WEIGHTS", "write `WEIGHTS <path|glob|folder>`"),
        codes.Foreign("DOC", "modctl", "WEIGHTS",
                      "`WEIGHTS <folder>` packages every file of a model folder, its docs included; "
                      "licenses can also be named with `LICENSE <path>`"),
        codes.Foreign("CODE", "modctl", "WEIGHTS",
                      "`WEIGHTS <folder>` packages every file of a model folder, its code included"),
        codes.Foreign("DATASET", "modctl", None, "modeloci packages no datasets"),
        codes.Foreign("NAME", "modctl", None, "name the model when you build it: `modeloci build -t NAME:TAG`"),
        *(codes.Foreign(word, "modctl", None, f"the {what} is read from the weights' headers")
          for word, what in (("ARCH", "architecture"), ("FAMILY", "model family"), ("FORMAT", "weights format"),
                             ("PARAMSIZE", "parameter count"), ("PRECISION", "precision"),
                             ("QUANTIZATION", "quantization"))),
    )
}


def convert(line: Line, report: Report) -> Directive | None:
    """The typed directive for ``line``, or None after reporting why there is none."""
    spec = DIRECTIVES.get(line.keyword.upper())
    foreign = FOREIGN_DIRECTIVES.get(line.keyword.upper())
    if spec is None and foreign is not None:
        report.add(codes.foreign_directive(report.file, line.keyword_span, line.keyword, foreign, KEYWORDS))
        return None
    if spec is None:
        report.add(codes.unknown_directive(report.file, line.keyword_span, line.keyword, KEYWORDS))
        return None
    if len(line.args) < spec.min_args:
        report.add(codes.missing_argument(report.file, line.keyword_span, spec.name, spec.usage))
        return None
    if spec.max_args is not None and len(line.args) > spec.max_args:
        extra = line.args[spec.max_args :]
        span = Span(extra[0].span.start, extra[-1].span.end)
        report.add(codes.too_many_arguments(report.file, span, spec.name, spec.usage))
        return None
    return spec.convert(line, report)


def check_structure(directives: Sequence[Directive], report: Report, *, complete: bool) -> None:
    """File-level rules: FROM first and present, single directives once, keys once.

    ``complete`` is False when some lines were dropped for syntax errors; the
    missing-FROM rule is then skipped, as the FROM may be on a dropped line.
    """
    _check_from(directives, report, complete=complete)
    _check_once(directives, report)
    for kind, keyword in ((ConfigDirective, "CONFIG"), (LabelDirective, "LABEL")):
        _check_keys([d for d in directives if isinstance(d, kind)], keyword, report)


def _check_from(directives: Sequence[Directive], report: Report, *, complete: bool) -> None:
    first_from = next((d for d in directives if isinstance(d, FromDirective)), None)
    if first_from is None:
        if complete:
            report.add(codes.missing_from(report.file))
        return
    early = next((d for d in directives if not isinstance(d, ArgDirective | FromDirective)), None)
    if early is not None and early.span.start < first_from.span.start:
        keyword = keyword_of(early)
        report.add(codes.from_not_first(report.file, early.keyword_span, keyword, first_from.span.start.line))


def _check_once(directives: Sequence[Directive], report: Report) -> None:
    seen: dict[str, Directive] = {}
    for directive in directives:
        keyword = keyword_of(directive)
        if not DIRECTIVES[keyword].once:
            continue
        if keyword in seen:
            first = seen[keyword].span.start.line
            report.add(codes.duplicate_directive(report.file, directive.keyword_span, keyword, first))
        else:
            seen[keyword] = directive


def _check_keys(directives: Sequence[ConfigDirective | LabelDirective], keyword: str, report: Report) -> None:
    seen: dict[str, Pair] = {}
    for directive in directives:
        for pair in directive.items:
            if pair.key in seen:
                first = seen[pair.key].span.start.line
                report.add(codes.duplicate_key(report.file, pair.key_span, keyword, pair.key, first))
            else:
                seen[pair.key] = pair


_KEYWORD_OF: dict[type, str] = {spec.node: spec.name for spec in DIRECTIVES.values()}


def keyword_of(directive: Directive) -> str:
    """The canonical keyword of a typed directive."""
    return _KEYWORD_OF[type(directive)]
