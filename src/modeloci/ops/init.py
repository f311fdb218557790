"""``modeloci init``: a first Modelfile for a model folder, each choice explained in a comment.

Files are recognised by what they are, not only by their names: a GGUF is a
projector when its header says so (``general.type`` mmproj, or the ``clip``
architecture), shard sets are grouped by the llama.cpp shard pattern, and a
folder with safetensors weights is packaged whole, as a Hugging Face folder.
Only the top level of the folder (and, for Hugging Face folders, its direct
subfolders) is looked at: a draft names what it found, the user edits it.
The draft is built with :mod:`modeloci.modelfile.build`, so its text is in
``fmt``'s canonical layout and means what was found: a file name is literal
text, a shard set a glob. A model name from a GGUF header that a Modelfile
cannot hold (a line break would start a line of directives) is left out.
"""

from __future__ import annotations

import os
import textwrap
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel

from modeloci.errors import UsageError
from modeloci.model.gguf import GGUFError, read_gguf_header
from modeloci.model.ggufset import shard_name
from modeloci.model.hfdir import FileKind, HFConfigError, classify, read_hf_config
from modeloci.modelfile import build

_TEMPLATE_PREFERRED = "chat_template.jinja"


@dataclass
class _Weights:
    word: build.Arg  # the WEIGHTS argument
    files: list[str]
    name: str | None = None
    trained_context: int | None = None
    embedded_template: bool = False
    note: str = ""
    shards: int = 0  # the size of the shard set, 0 for a single file


@dataclass
class Draft:
    """A drafted Modelfile and what went into it."""

    folder: Path
    text: str
    weights: str
    mmproj: str | None = None
    chat_template: str | None = None
    licenses: list[str] = field(default_factory=list)
    alternatives: list[str] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)

    def report(self, modelfile: Path | None) -> InitReport:
        """The JSON of ``init``: the draft, where it was written (None: printed) and its text."""
        return InitReport(folder=str(self.folder), weights=self.weights, mmproj=self.mmproj,
                          chat_template=self.chat_template, licenses=self.licenses, alternatives=self.alternatives,
                          left_out=self.left_out, modelfile=str(modelfile) if modelfile else None, text=self.text)


class InitReport(BaseModel):
    """``init --json`` (docs/json/init.schema.json)."""

    folder: str
    weights: str
    mmproj: str | None
    chat_template: str | None
    licenses: list[str]
    alternatives: list[str]
    left_out: list[str]
    modelfile: str | None
    text: str


def draft(folder: Path) -> Draft:
    """Draft a Modelfile for the model files in ``folder``; UsageError if there are none."""
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as exc:
        raise UsageError(f"cannot read `{folder}`: {exc.strerror or exc}") from None
    files = [e.name for e in entries if e.is_file() and not e.name.startswith(".") and e.name != "Modelfile"]
    folders = [e.name for e in entries if e.is_dir() and not e.name.startswith(".")]
    weights, projectors, unreadable = _ggufs(folder, files)
    if not weights and any(n.lower().endswith(".safetensors") for n in files):
        weights = [_hf_folder(folder, ".", "this folder")]
    if not weights:
        weights = [_hf_folder(folder / d, d, f"`{d}/`") for d in folders if _has_safetensors(folder / d)]
    if not weights:
        raise UsageError(f"no model weights in `{folder}`",
                         hint="init looks for GGUF files, GGUF shard sets and folders of safetensors weights")
    # `WEIGHTS .` takes the folder's templates, licenses and tokenizer files itself.
    whole = weights[0].word == "."
    templates = [] if whole else [n for n in files if n.lower().endswith(".jinja")]
    licenses = [] if whole else [n for n in files if classify(n) is FileKind.LICENSE]
    used = {*(f for w in weights for f in w.files), *projectors, *templates, *licenses}
    if whole:
        used |= {n for n in files if classify(n) is not None}
    left_out = [n for n in files if n not in used and n not in unreadable]
    return _write(folder, weights, projectors, templates, licenses, left_out, unreadable)


_KIND_WORDS = {FileKind.WEIGHTS: "safetensors file", FileKind.CONFIG: "config file",
               FileKind.TOKENIZER: "tokenizer file", FileKind.CHAT_TEMPLATE: "chat template",
               FileKind.LICENSE: "license"}


def _hf_folder(path: Path, word: build.Arg, shown: str) -> _Weights:
    """A Hugging Face folder packaged whole by ``WEIGHTS <folder>``; what it holds, for the comment."""
    counts: dict[FileKind, int] = {}
    for root, dirs, names in os.walk(path):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in names:
            kind = classify(os.path.relpath(os.path.join(root, name), path).replace(os.sep, "/"))
            if kind is not None:
                counts[kind] = counts.get(kind, 0) + 1
    held = [f"{counts[k]} {word}{'s' if counts[k] != 1 else ''}" for k, word in _KIND_WORDS.items() if k in counts]
    listed = ", ".join(held[:-1]) + f" and {held[-1]}" if len(held) > 1 else held[0]
    note = (f"{shown}, a Hugging Face model folder. Its {listed} each become a layer under their own "
            "path; other files are left out")
    context = None
    if (path / "config.json").is_file():
        with suppress(HFConfigError, OSError):
            context = read_hf_config(path / "config.json").context_length
    return _Weights(word, [], trained_context=context, note=note)


def _has_safetensors(folder: Path) -> bool:
    try:
        return any(e.is_file() and e.name.lower().endswith(".safetensors") for e in os.scandir(folder))
    except OSError:
        return False


def _ggufs(folder: Path, files: list[str]) -> tuple[list[_Weights], list[str], list[str]]:
    """GGUF weights (shard sets grouped), projectors, and GGUF files that cannot be read."""
    sets: dict[str, _Weights] = {}
    projectors, unreadable = [], []
    for name in files:
        if not name.lower().endswith(".gguf"):
            continue
        try:
            header = read_gguf_header(folder / name)
        except (GGUFError, OSError):
            unreadable.append(name)
            continue
        kind, architecture = header.get("general.type"), header.get("general.architecture")
        if kind in ("mmproj", "projector") or architecture == "clip":
            projectors.append(name)
            continue
        shard = shard_name(name)
        key = shard.pattern if shard else name
        if key not in sets:
            context = header.get(f"{architecture}.context_length") if isinstance(architecture, str) else None
            template = header.get("tokenizer.chat_template")
            model_name = header.get("general.name")
            word = _shard_word(shard.prefix, shard.total) if shard else name
            # A name a Modelfile cannot hold (a line break would start a line of directives) is left out.
            named = model_name if isinstance(model_name, str) and build.writable(model_name) else None
            sets[key] = _Weights(word, [], named,
                                 context if isinstance(context, int) and not isinstance(context, bool) else None,
                                 isinstance(template, str) and bool(template.strip()))
            sets[key].shards = shard.total if shard else 0
        sets[key].files.append(name)
    for weights in sets.values():
        if weights.shards:
            weights.note = f"a set of {weights.shards} GGUF shards, packaged in shard order"
            if len(weights.files) != weights.shards:
                weights.note += f" ({len(weights.files)} present: lint names the missing ones)"
    return list(sets.values()), projectors, unreadable


def _shard_word(prefix: str, total: int) -> build.Arg:
    return (prefix + "-", build.Glob("*"), f"-of-{total:05d}.gguf")


def _write(folder: Path, weights: list[_Weights], projectors: list[str], templates: list[str], licenses: list[str],
           left_out: list[str], unreadable: list[str]) -> Draft:
    chosen = weights[0]
    template = _TEMPLATE_PREFERRED if _TEMPLATE_PREFERRED in templates else (templates[0] if templates else None)
    out: list[build.Node] = [
        build.comment(f"A first Modelfile for {build.word_text(folder.resolve().name)}, drafted by `modeloci init`."),
        build.comment("Check it, then: modeloci lint && modeloci build -t NAME:TAG"), build.BLANK,
        build.comment("A new model, not built on top of another one."), build.from_("scratch"), build.BLANK]
    out += _comment(f"The weights: {chosen.note or 'a GGUF file'}.")
    if chosen.name:
        out.append(build.comment(f'Their metadata calls the model "{chosen.name}".'))
    out.append(build.weights(chosen.word))
    out += [build.comment("Also here (one model per Modelfile; swap to package it instead): WEIGHTS "
                          + build.word_text(other.word)) for other in weights[1:]]
    if projectors:
        out += [build.BLANK,
                build.comment("A multimodal projector: its GGUF header says it is one (general.type or the clip "
                              "architecture)."),
                build.mmproj(projectors[0])]
        out += [build.comment(f"Another projector here: MMPROJ {build.word_text(p)}") for p in projectors[1:]]
    if template:
        out.append(build.BLANK)
        if chosen.embedded_template:
            out.append(build.comment("The weights embed a chat template too; this file replaces it (lint says if "
                                     "they differ)."))
        else:
            out.append(build.comment("The chat template runtimes format conversations with."))
        out.append(build.chat_template(template))
        out += [build.comment(f"Another template here: CHAT_TEMPLATE {build.word_text(t)}")
                for t in templates if t != template]
    elif chosen.embedded_template:
        out += [build.BLANK,
                build.comment("No CHAT_TEMPLATE: the weights embed one (tokenizer.chat_template), which runtimes use.")]
    if licenses:
        out += [build.BLANK, build.comment("The license travels with the weights."), build.license(*licenses)]
    if chosen.trained_context:
        out += [build.BLANK,
                build.comment(f"The weights were trained on a context of {chosen.trained_context} tokens; runtimes "
                              "use that"),
                build.comment("unless told otherwise. Set a smaller value to use less memory:"),
                build.comment(f"CONFIG context_size={chosen.trained_context}")]
    if chosen.name:
        out += [build.BLANK, build.label({"org.opencontainers.image.title": chosen.name})]
    if left_out or unreadable:
        out.append(build.BLANK)
    if left_out:
        out += _comment("Left out, not model files: " + ", ".join(left_out))
    if unreadable:
        out += _comment("Left out, GGUF files that cannot be read (see `modeloci inspect FILE`): "
                        + ", ".join(unreadable))
    return Draft(folder, build.render(out), build.word_text(chosen.word),
                 build.word_text(projectors[0]) if projectors else None, template, licenses,
                 [build.word_text(w.word) for w in weights[1:]], sorted([*left_out, *unreadable]))


def _comment(text: str) -> list[build.Node]:
    return [build.comment(line) for line in textwrap.wrap(text, 86, break_long_words=False, break_on_hyphens=False)]
