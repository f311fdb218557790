"""Lint: advice ``modeloci lint`` gives about a Modelfile that builds (MF110-MF113, MF117)."""

from __future__ import annotations

from collections.abc import Sequence

from modeloci.diagnostics import Diagnostic, Span
from modeloci.modelfile.codes.table import Code, first_few


def no_license(file: str, span: Span | None) -> Diagnostic:
    return Code.MF110("The model ships no license", file, span, label="no LICENSE layer",
                      detail="users and registries look for the license next to the weights",
                      hint="add the license file: `LICENSE LICENSE`")


def no_chat_template(file: str, span: Span | None, why: str) -> Diagnostic:
    return Code.MF111("A chat model with no chat template", file, span, label="chat model", detail=why,
                      hint="add one with `CHAT_TEMPLATE chat_template.jinja`, or use weights that embed "
                           "tokenizer.chat_template")


def unpinned_from(file: str, span: Span, reference: str, pinned: str | None) -> Diagnostic:
    return Code.MF112(f"FROM `{reference}` is not pinned", file, span, label="a tag can move",
                      detail="a tag may point at another model tomorrow, and the build will change with it",
                      hint=f"pin the digest it names today: `FROM {pinned}`" if pinned else
                           "pin it by digest: `FROM host/repo@sha256:...`")


def context_beyond_training(file: str, span: Span, size: int, trained: int, where: str) -> Diagnostic:
    return Code.MF113(f"context_size {size} is larger than the model's trained length {trained}", file, span,
                      label="beyond the trained context",
                      detail=f"{where} says the model was trained on {trained} tokens",
                      hint=f"use at most `context_size={trained}` unless the runtime extends the context "
                           "(RoPE scaling)")


def runtime_files_left_out(file: str, span: Span, folder: str, paths: Sequence[str]) -> Diagnostic:
    shown = first_few([f"`{p}`" for p in paths], 6)
    return Code.MF117("Only the weights of a model folder are packaged", file, span,
                      label="the weights alone",
                      detail=f"{shown} beside them {'is' if len(paths) == 1 else 'are'} left out, and a runtime "
                             "loading these weights (vLLM, transformers) reads them",
                      hint=f"package the folder: `WEIGHTS {folder}` takes every file in it (EXCLUDE leaves some out)")
