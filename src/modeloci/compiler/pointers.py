"""Git LFS pointers where the weights should be: one clear error before any header is read.

A repository cloned without Git LFS (or with ``GIT_LFS_SKIP_SMUDGE=1``) holds,
in place of each large file, a pointer of a few lines starting
``version https://git-lfs.github.com/spec/v1``. Read as GGUF or safetensors,
such a file gives a confusing header error; it is recognised first, and all
of a model's pointers are named in one diagnostic (MF060 for GGUF weights,
MF063 for safetensors, MF065 for a projector), telling to run ``git lfs pull``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from modeloci.compiler.state import Planned, State
from modeloci.diagnostics import Diagnostic, Span
from modeloci.model.hfdir import is_lfs_pointer
from modeloci.modelfile import codes

# By the first pointer's suffix: which weights the pointers stand for.
_DIAGNOSTIC: dict[str, Callable[[str, Span, Sequence[str]], Diagnostic]] = {
    ".gguf": codes.gguf_lfs_pointer,
    ".safetensors": codes.safetensors_lfs_pointer,
}


def check(state: State) -> None:
    """Report the weights files (and the projector) that are Git LFS pointers."""
    report = state.report
    weights = [p for p in state.weights if p.file.rel.lower().endswith(tuple(_DIAGNOSTIC))]
    pointers = [p for p in _unique(weights) if is_lfs_pointer(p.file.path, p.file.size)]
    if pointers:
        diagnostic = _DIAGNOSTIC[next(s for s in _DIAGNOSTIC if pointers[0].file.rel.lower().endswith(s))]
        report.add(diagnostic(report.file, pointers[0].span, [p.file.rel for p in pointers]))
    mmproj = state.mmproj
    if mmproj is not None and is_lfs_pointer(mmproj.file.path, mmproj.file.size):
        report.add(codes.projector_lfs_pointer(report.file, mmproj.span, mmproj.file.rel))


def _unique(planned: list[Planned]) -> list[Planned]:
    return list({p.file.rel: p for p in sorted(planned, key=lambda p: p.file.rel.split("/"))}.values())
