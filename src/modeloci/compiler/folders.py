"""``WEIGHTS <folder>`` and ``EXCLUDE``: which files of the build context a model takes.

A folder is packaged the way Docker Model Runner packages one
(``builder/from_directory.go``): every regular, non-hidden file under it is a
layer under its path in the folder, classified by
:func:`modeloci.model.hfdir.folder_kind`; symlinks are not followed. Nothing
is left out implicitly: ``EXCLUDE`` patterns leave out files that folders and
globs would take, like ``docker model package`` exclusions and
``.dockerignore``. They are paths and globs relative to the build context,
matched as every Modelfile glob is (:mod:`.paths`); a pattern naming a folder
leaves out everything under it. A file named by its own path is always taken.

Exclusions apply once every directive is compiled (:func:`settle`), so that
an ``EXCLUDE`` line may come anywhere, and the warnings about what a folder
holds (MF118, MF119) are given for what is finally packaged.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator

from modeloci.compiler.args import Expanded
from modeloci.compiler.model import Role
from modeloci.compiler.paths import _segment_matcher
from modeloci.compiler.state import Exclusion, Planned, State
from modeloci.model.hfdir import FolderKind, folder_kind
from modeloci.modelfile import codes
from modeloci.modelfile.ast import ExcludeDirective, Word

_FOLDER_ROLES = {
    FolderKind.WEIGHTS: Role.WEIGHTS,
    FolderKind.MODEL_FILE: Role.MODEL_FILE,
    FolderKind.CHAT_TEMPLATE: Role.CHAT_TEMPLATE,
    FolderKind.LICENSE: Role.LICENSE,
}
# PyTorch, TensorFlow, Flax and ONNX files (checkpoints, pickles): runtimes loading a Docker model's
# weights read none of them, and in a Hugging Face folder they are mostly the same weights again.
OTHER_WEIGHT_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".h5", ".msgpack", ".onnx", ".onnx_data", ".tflite")


def compile_folder(word: Word, expanded: Expanded, state: State) -> None:
    """``WEIGHTS <folder>``: every regular, non-hidden file in it, each a layer under its path there."""
    folder = state.context.resolve_one(expanded, word.span, state.report, keyword="WEIGHTS", allow_dir=True)
    if folder is None:
        return
    prefix = "" if folder.rel == "." else folder.rel + "/"
    files, skipped = state.context.walk(folder.rel)
    if skipped:
        state.report.add(codes.folder_skips(state.report.file, word.span, expanded.text, skipped))
    kinds = [(f, folder_kind(f.rel)) for f in files]
    if not any(kind is FolderKind.WEIGHTS for _, kind in kinds):
        state.report.add(codes.folder_without_weights(state.report.file, word.span, expanded.text))
        return
    state.folder_spans.append((word.span, folder.rel))
    targets = {Role.WEIGHTS: state.weights, Role.MODEL_FILE: state.model_files,
               Role.CHAT_TEMPLATE: state.folder_templates, Role.LICENSE: state.licenses}
    for file, kind in kinds:
        role = _FOLDER_ROLES[kind]
        targets[role].append(state.planned(file, role, word.span, "WEIGHTS", file.rel[len(prefix):], via="folder"))


def compile_exclude(directive: ExcludeDirective, state: State) -> None:
    for word in directive.paths:
        expanded = state.args.expand(word)
        if expanded is None:
            continue
        text = expanded.pattern if expanded.is_glob else expanded.text
        rel = state.context.relative(text, word.span, state.report)
        if rel is not None:
            matched = state.context.matching(rel, is_glob=expanded.is_glob)
            state.excludes.append(Exclusion(word.span, expanded.text, matched, expanded.is_glob))


def settle(state: State) -> None:
    """After every directive: explicit choices win over folders, EXCLUDE applies, folders are checked."""
    _explicit_wins(state)
    before = list(_all(state))
    weights = list(state.weights)
    # Each matched path once, with the patterns that match it: a file is then looked up by its folders,
    # never tried against every pattern (a Modelfile may hold thousands of them).
    by_path: dict[str, list[Exclusion]] = {}
    for exclusion in state.excludes:
        for path in exclusion.matched:
            by_path.setdefault(path, []).append(exclusion)
    for name in ("weights", "model_files", "licenses", "folder_templates"):
        setattr(state, name, [p for p in getattr(state, name) if not _excluded(p, by_path)])
    _check_exclusions(state, weights, [p for p in before if p.via != "path"])
    _check_other_weights(state)


def _explicit_wins(state: State) -> None:
    """A folder's file that another directive names takes that directive's role only: naming it says what it
    is. Named by WEIGHTS or LICENSE for the role the folder gives it anyway, it is one layer under its path in
    the folder, and as sure to be packaged as any file named outright (EXCLUDE does not apply to it)."""
    explicit = {p.file.rel: p for p in _all(state) if p.via != "folder"}
    single = {p.file.rel for p in (state.chat_template, state.mmproj) if p is not None}
    merged: set[int] = set()
    for p in _all(state):
        same = explicit.get(p.file.rel)
        if p.via == "folder" and same is not None and same.role is p.role and p.file.rel not in single:
            p.via = same.via
            merged.add(id(same))
    for name in ("weights", "model_files", "licenses", "folder_templates"):
        kept = [p for p in getattr(state, name) if id(p) not in merged
                and not (p.via == "folder" and (p.file.rel in explicit or p.file.rel in single))]
        setattr(state, name, kept)


def _all(state: State) -> Iterator[Planned]:
    yield from state.weights
    yield from state.model_files
    yield from state.licenses
    yield from state.folder_templates


def _excluded(p: Planned, by_path: dict[str, list[Exclusion]]) -> bool:
    """Whether an EXCLUDE pattern matches the file or a folder it is in (noted on each such pattern)."""
    if p.via == "path":
        return False
    parts = p.file.rel.split("/")
    hits = {id(e): e for i in range(1, len(parts) + 1) for e in by_path.get("/".join(parts[:i]), ())}
    for exclusion in hits.values():
        exclusion.hits.append(p)
    return bool(hits)


def _check_exclusions(state: State, weights: list[Planned], taken: list[Planned]) -> None:
    """MF074 when EXCLUDE leaves no weights; MF116 for each pattern that leaves nothing out (``taken``:
    what folders and globs took before EXCLUDE)."""
    report = state.report
    if weights and not state.weights:
        first = next(e for e in state.excludes if any(p.role is Role.WEIGHTS for p in e.hits))
        names = list(dict.fromkeys(p.file.rel for p in weights))
        report.add(codes.excludes_every_weight(report.file, first.span, first.pattern, names))
    unused = [e for e in state.excludes if not e.hits]
    named = [p.file.rel for p in _all(state) if p.via == "path"]
    by_name: dict[str, list[str]] = {}
    for p in taken:
        by_name.setdefault(posixpath.basename(p.file.rel), []).append(p.file.rel)
    for i, exclusion in enumerate(unused):
        # The reasons take a look at every file; past the first few patterns a shorter one does.
        why, hint = _why_unused(exclusion, named, by_name) if i < _EXPLAINED else (_NOTHING, _RELATIVE)
        report.add(codes.exclude_unused(report.file, exclusion.span, exclusion.pattern, why, hint))


_EXPLAINED = 20
_RULE = "EXCLUDE leaves out files that WEIGHTS folders and globs (in WEIGHTS and LICENSE) take"
_NOTHING = "no file of the build context matches it"
_RELATIVE = "paths are relative to the build context, as in WEIGHTS"


def _why_unused(exclusion: Exclusion, named: list[str], by_name: dict[str, list[str]]) -> tuple[str, str]:
    """What an EXCLUDE pattern that left nothing out matches, and what to write instead (``named``: the files
    named by their paths; ``by_name``: what folders and globs took, by base name)."""
    if exclusion.matched:
        shown = ", ".join(f"`{m}`" for m in sorted(exclusion.matched)[:3])
        if any(exclusion.covers(rel) for rel in named):
            why = f"it matches {shown}, which the Modelfile names by its path; a file named outright is always packaged"
            return why, "remove the EXCLUDE, or the path that names the file"
        return f"it matches {shown}, which no WEIGHTS folder or glob takes", _RULE
    pattern = exclusion.pattern.rstrip("/")
    if "/" not in pattern:
        # `EXCLUDE README.md` meant for a folder's README: the pattern is relative to the context.
        match = _segment_matcher(pattern if exclusion.is_glob else _escape(pattern))
        deeper = sorted({rel for name, rels in by_name.items() if match(name) for rel in rels})
        if deeper:
            shown = ", ".join(f"`{d}`" for d in deeper[:3])
            verb = "is" if len(deeper) == 1 else "are"
            why = f"no file of the build context is at `{pattern}`, but {shown} {verb} packaged"
            return why, (f"paths are relative to the build context: write `EXCLUDE **/{pattern}` "
                         "to match it in any folder")
    return _NOTHING, _RELATIVE


def _escape(text: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)


def _check_other_weights(state: State) -> None:
    """MF118: a folder's PyTorch, TensorFlow, Flax or ONNX files become plain files: say so, once per folder."""
    fmt = next((posixpath.splitext(p.file.rel)[1].lstrip(".") for p in state.weights), "safetensors")
    for span, folder in state.folder_spans:
        prefix = "" if folder == "." else folder + "/"
        others = [p for p in state.model_files if p.via == "folder" and p.span == span
                  and p.file.rel.lower().endswith(OTHER_WEIGHT_SUFFIXES)]
        if others:
            size = _human(sum(p.file.size for p in others))
            patterns = list(dict.fromkeys(_exclude_for(p.file.rel, prefix) for p in others))
            state.report.add(codes.other_weights_in_folder(state.report.file, span, folder,
                                                           [p.file.rel for p in others], size, fmt,
                                                           " ".join(patterns)))


def _exclude_for(rel: str, prefix: str) -> str:
    """The EXCLUDE pattern that leaves a duplicate checkpoint out: its subfolder of the model folder
    (Meta's `original/`), else every file of its kind beside it."""
    inside = rel[len(prefix):]
    if "/" in inside:
        return prefix + inside.split("/", 1)[0]
    return prefix + "*" + posixpath.splitext(inside)[1]


def _human(size: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} B"
