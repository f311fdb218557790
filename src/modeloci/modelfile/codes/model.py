"""Diagnostics of reading the model: the FROM base, weights headers and shard sets, Git LFS pointers,
the projector and chat template (MF056-MF069, MF073, MF076), and the warnings about what a build keeps
or leaves out (MF100-MF105, MF116, MF118, MF119)."""

from __future__ import annotations

from collections.abc import Sequence

from modeloci.diagnostics import Diagnostic, Span
from modeloci.modelfile.codes.table import Code, first_few, listed


def from_weights(file: str, span: Span, path: str, what: str) -> Diagnostic:
    return Code.MF076(f"`{path}` is {what}, not a model", file, span, label=what,
                      detail="FROM takes a base model: `scratch`, a model archive or layout folder, a stored model or "
                             "a registry reference",
                      hint=f"start from nothing and package it: `FROM scratch`, then `WEIGHTS {path}`")


def gguf_lfs_pointer(file: str, span: Span, paths: Sequence[str]) -> Diagnostic:
    """GGUF weights files that are Git LFS pointers."""
    return _lfs_pointer(Code.MF060, file, span, paths)


def safetensors_lfs_pointer(file: str, span: Span, paths: Sequence[str]) -> Diagnostic:
    """Safetensors weights files that are Git LFS pointers."""
    return _lfs_pointer(Code.MF063, file, span, paths)


def projector_lfs_pointer(file: str, span: Span, path: str) -> Diagnostic:
    """A projector that is a Git LFS pointer."""
    return _lfs_pointer(Code.MF065, file, span, [path])


def _lfs_pointer(code: Code, file: str, span: Span, paths: Sequence[str]) -> Diagnostic:
    if len(paths) == 1:
        summary, label = f"`{paths[0]}` is a Git LFS pointer, not the file", "a Git LFS pointer"
    else:
        summary, label = f"{len(paths)} files are Git LFS pointers, not the files", "Git LFS pointers"
    shown = first_few([f"`{p}`" for p in paths], 5)
    return code(summary, file, span, label=label,
                detail=f"{shown} {'holds' if len(paths) == 1 else 'hold'} the few lines git keeps in place of a file "
                       "it stores with Git LFS, not the file itself",
                hint="this is a Git LFS pointer; run `git lfs pull` in the repository to fetch the files")


def no_weights(file: str, span: Span | None) -> Diagnostic:
    return Code.MF056("The model has no weights", file, span, label="no WEIGHTS after this",
                      hint="add `WEIGHTS <file.gguf>`, or build `FROM` a model that has weights")


def bad_base(file: str, span: Span, path: str, reason: str, hint: str | None = None) -> Diagnostic:
    return Code.MF057(f"Cannot use `{path}` as a base", file, span, label="not a readable model archive",
                      detail=reason,
                      hint=hint or "FROM takes `scratch` or an archive or layout folder built by modeloci")


def folder_without_weights(file: str, span: Span, path: str) -> Diagnostic:
    return Code.MF059(f"No weights in folder `{path}`", file, span, label="no weights file here",
                      detail="weights files end in .gguf, .safetensors or .dduf; hidden files and symlinks are "
                             "not taken",
                      hint="name the folder that holds the model's weights")


def unreadable_gguf(file: str, span: Span, path: str, reason: str) -> Diagnostic:
    return Code.MF060(f"Cannot read GGUF file `{path}`", file, span, label="not a readable GGUF file",
                      detail=reason, hint="check that the file is complete; re-download or re-convert it")


def missing_shard(file: str, span: Span, missing: str, found: int, total: int) -> Diagnostic:
    return Code.MF061(f"Shard `{missing}` is missing", file, span, label=f"found {found} of {total} shards",
                      hint="every shard of a split model must be in the build context")


def shard_mismatch(file: str, span: Span, path: str, reason: str) -> Diagnostic:
    return Code.MF062(f"Shard `{path}` does not match its name", file, span, label="inconsistent shard", detail=reason,
                      hint="shards must keep the names gguf-split gave them")


def unreadable_safetensors(file: str, span: Span, path: str, reason: str) -> Diagnostic:
    return Code.MF063(f"Cannot read safetensors file `{path}`", file, span, label="not a readable safetensors file",
                      detail=reason, hint="check that the file is complete; re-download it")


def safetensors_set(file: str, span: Span, reason: str) -> Diagnostic:
    return Code.MF064("Safetensors files do not form a complete model", file, span, label="incomplete", detail=reason,
                      hint="every shard named by the index (and no other) must be packaged")


def not_a_projector(file: str, span: Span, path: str, what: str) -> Diagnostic:
    return Code.MF065(f"`{path}` is not a multimodal projector", file, span, label="not a projector",
                      detail=f"it is {what}",
                      hint="MMPROJ takes a GGUF projector (general.type `mmproj`, or architecture `clip`)")


def template_syntax(file: str, span: Span, message: str) -> Diagnostic:
    return Code.MF066("Syntax error in chat template", file, span, label=message,
                      hint="chat templates are Jinja, rendered as Hugging Face transformers does")


def template_render(file: str, span: Span, path: str, conversation: str, message: str) -> Diagnostic:
    return Code.MF067(f"Chat template `{path}` fails {conversation}", file, span, label="fails to render",
                      detail=message, hint="runtimes render this template for every request; fix it or choose another")


def template_too_large(file: str, span: Span, path: str, size: int, limit: int) -> Diagnostic:
    return Code.MF073(f"Chat template `{path}` is too large", file, span, label=f"{size} bytes",
                      detail=f"a chat template is at most {limit} bytes; the largest real ones are a few dozen KB",
                      hint="check that CHAT_TEMPLATE names the template, not another file")


def template_not_text(file: str, span: Span, path: str) -> Diagnostic:
    return Code.MF068(f"Chat template `{path}` is not UTF-8 text", file, span, label="not text",
                      hint="a chat template is a Jinja text file")


def bad_hf_config(file: str, span: Span, path: str, reason: str) -> Diagnostic:
    return Code.MF069(f"Cannot read `{path}`", file, span, label="unreadable config.json", detail=reason)


def modelpack_context_size(file: str, span: Span) -> Diagnostic:
    return Code.MF104("ModelPack has no context size", file, span, label="left out of the ModelPack config",
                      detail="the CNCF ModelPack config has no field for a context length",
                      hint="build with --format docker to record it; runtimes fall back to the weights' own length")


def modelpack_base_context_size(file: str, span: Span, size: object) -> Diagnostic:
    return Code.MF104("ModelPack has no context size", file, span, label="left out of the ModelPack config",
                      detail=f"the base sets context_size {size}, which its weights do not say, and the CNCF ModelPack "
                             "config has no field for a context length",
                      hint="build with --format docker to keep it; runtimes fall back to the weights' own length")


def modelpack_role_by_name(file: str, span: Span, path: str, role: str, rule: str) -> Diagnostic:
    return Code.MF105(f"ModelPack will not know `{path}` is the {role}", file, span,
                      label=f"read back as {'a weights file' if role == 'projector' else 'a model file'}",
                      detail=f"ModelPack has no media type for a {role}; readers (Docker Model Runner, modeloci) "
                             f"tell it by the file name, which must {rule}",
                      hint="rename the file, or build with --format docker, which records the role in the media type")


def template_raises(file: str, span: Span, path: str, conversation: str, message: str) -> Diagnostic:
    return Code.MF101(f"Chat template `{path}` refuses {conversation}", file, span, label="raises on purpose",
                      detail=f"it raises: {message}", hint="runtimes will report this error for such requests")


def template_fails_optionally(file: str, span: Span, path: str, conversation: str, message: str) -> Diagnostic:
    return Code.MF101(f"Chat template `{path}` fails {conversation}", file, span, label="fails to render",
                      detail=message, hint="runtimes will fail such requests; plain conversations are not affected")


def template_differs(file: str, span: Span, weights: str) -> Diagnostic:
    return Code.MF102("CHAT_TEMPLATE differs from the template in the weights", file, span,
                      label="this template wins", detail=f"`{weights}` carries another tokenizer.chat_template",
                      hint="runtimes use the CHAT_TEMPLATE layer; drop CHAT_TEMPLATE to keep the embedded one")


def template_replaces_folder(file: str, span: Span, replaced: str) -> Diagnostic:
    return Code.MF103("CHAT_TEMPLATE replaces the folder's chat template", file, span, label="this template wins",
                      detail=f"`{replaced}` from the WEIGHTS folder is left out")


def exclude_unused(file: str, span: Span, pattern: str, why: str, hint: str) -> Diagnostic:
    return Code.MF116(f"`EXCLUDE {pattern}` leaves nothing out", file, span, label="excludes nothing",
                      detail=why, hint=hint)


def other_weights_in_folder(file: str, span: Span, folder: str, paths: Sequence[str], size: str,
                            fmt: str, exclude: str) -> Diagnostic:
    shown = first_few([f"`{p}`" for p in paths], 5)
    return Code.MF118(f"WEIGHTS folder `{folder}` packages PyTorch, TensorFlow or ONNX files", file, span,
                      label=f"{len(paths)} such {'file' if len(paths) == 1 else 'files'}, {size}",
                      detail=f"{shown} become model files ({size} in all), but runtimes load the {fmt} weights; "
                             "in a Hugging Face folder such files are mostly the same weights in another format",
                      hint=f"leave them out: `EXCLUDE {exclude}`")


def folder_skips(file: str, span: Span, folder: str, entries: Sequence[tuple[str, str]]) -> Diagnostic:
    shown = first_few([f"`{path}` ({what})" for path, what in entries], 5)
    links = all(what == "a symlink" for _, what in entries)
    noun = ("symlink" if links else "entry") if len(entries) == 1 else ("symlinks" if links else "entries")
    return Code.MF119(f"WEIGHTS folder `{folder}` leaves out {len(entries)} {noun}", file, span,
                      label="not regular files",
                      detail=f"{shown}: as Docker Model Runner packages a folder, only regular files are taken; "
                             "a symlink is never followed",
                      hint="copy the files into the folder in place of the links (`cp -L`), or name a symlink that "
                           "stays in the build context by its path")


def base_metadata_dropped(file: str, span: Span, fields: Sequence[str]) -> Diagnostic:
    return Code.MF100("WEIGHTS replaces the base's weights", file, span, label="new weights",
                      detail=f"config fields taken from the old weights are dropped: {listed(fields)}",
                      hint="set them again with CONFIG if they still apply")
