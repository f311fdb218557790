"""Which layers of a model a selection takes: ``--include``/``--exclude`` globs over the layers' file paths and
``--role`` names, for ``pull``, ``unpack`` and ``model_files`` alike; and the mark of a model kept in part.

A layer is taken when its path matches an ``--include`` glob or its role is a
``--role``; with neither, every layer is. ``--exclude`` then leaves out the
layers whose paths match it. The path is the layer's
``org.cncf.model.filepath``, else its OCI title (:attr:`ModelLayer.filepath`).
Globs are the Modelfile's (:mod:`modeloci.oci.globs`): ``*`` stays within a
folder, ``**`` crosses folders. A selection that takes no layer is an error
naming the layers there are.

Globs and paths are both outside input: a glob is at most
:data:`MAX_GLOB_CHARS` long (the Modelfile's MF072 rule), and a path deeper
or longer than a file system holds (which ``unpack`` refuses anyway) matches
no glob, so a match costs at most the path's depth times the glob's length.

A model pulled in part is stored with the annotation :data:`PARTIAL` on its
index entry: its absent layers are then expected, not damage.
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from modeloci.errors import UsageError
from modeloci.formats import modelpack
from modeloci.formats.roles import Role
from modeloci.oci.globs import Matcher, path_matcher
from modeloci.oci.mediatypes import CNAI_MODEL_PREFIX, CNCF_MODEL_PREFIX
from modeloci.oci.safety import shown_path, too_long

if TYPE_CHECKING:  # a type only: the artifact reader loads the layout reader, which the API's start-up does not need
    from modeloci.formats.artifact import ModelLayer

PARTIAL = "org.modeloci.partial"  # on a stored model's index entry: some of its layers were not pulled
MAX_GLOB_CHARS = 4096  # PATH_MAX, as MF072 bounds a Modelfile's globs
ROLES = ("weights", "template", "projector", "license", "config", "docs")
_SHOWN = 10  # layers named in an error, at most

_BY_ROLE = {Role.WEIGHTS: "weights", Role.CHAT_TEMPLATE: "template", Role.MMPROJ: "projector",
            Role.LICENSE: "license"}


def role_name(layer: ModelLayer) -> str:
    """The ``--role`` a layer answers to: weights, template, projector, license; else ``docs`` for a model card,
    README or other document, and ``config`` for the rest (configs, tokenizers, code) a runtime reads beside the
    weights. A ModelPack layer's media type says which; another's file name does, as ModelPack names it."""
    named = _BY_ROLE.get(layer.role)
    if named is not None:
        return named
    media_type = layer.descriptor.media_type
    if media_type.startswith((CNCF_MODEL_PREFIX, CNAI_MODEL_PREFIX)):
        kind = media_type.removeprefix(CNCF_MODEL_PREFIX).removeprefix(CNAI_MODEL_PREFIX).split(".v1", 1)[0]
        return "docs" if kind in ("doc", "dataset") else "config"
    return "docs" if modelpack.file_media_type(layer.filepath) == modelpack.DOC else "config"


@dataclass(frozen=True, slots=True)
class Selection:
    """What ``--include``, ``--exclude`` and ``--role`` ask for; empty: the whole model."""

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for option, globs in (("--include", self.include), ("--exclude", self.exclude)):
            for text in globs:
                _check_glob(option, text)
        for role in self.roles:
            if role not in ROLES:
                raise UsageError(f"--role `{role}` is not a role", hint=f"roles are {', '.join(ROLES)}")

    @property
    def whole(self) -> bool:
        """Whether it takes every layer (nothing asked for)."""
        return not (self.include or self.exclude or self.roles)

    def describe(self) -> str:
        """The selection as it was written: ``--include 'a*' --role weights``."""
        words = [f"{option} `{value}`" for option, values in (("--include", self.include), ("--role", self.roles),
                                                                 ("--exclude", self.exclude)) for value in values]
        return " ".join(words) or "the whole model"


WHOLE = Selection()  # every layer: nothing asked for


def _check_glob(option: str, text: str) -> None:
    if not text:
        raise UsageError(f"{option} takes a glob of layer paths; it was given an empty one")
    if len(text) > MAX_GLOB_CHARS:
        raise UsageError(f"the {option} glob is {len(text)} characters long; at most {MAX_GLOB_CHARS} are taken",
                         hint="no layer path is that long")
    clean = posixpath.normpath(text)
    if text.startswith("/") or clean == ".." or clean.startswith("../"):
        raise UsageError(f"{option} `{text}` can match no layer: layer paths are relative, inside the model",
                         hint="write the path as `inspect` shows it, e.g. `*.gguf` or `tokenizer/*`")


def _matchers(globs: Sequence[str]) -> list[Matcher]:
    return [path_matcher(posixpath.normpath(text)) for text in globs]


def _matches(matchers: list[Matcher], path: str) -> bool:
    # A path no file system holds matches nothing: its cost stays bounded, and unpack refuses it anyway.
    if not matchers or too_long(path) is not None:
        return False
    return any(match(path) for match in matchers)


def choose(layers: Sequence[ModelLayer], selection: Selection, where: str) -> tuple[ModelLayer, ...]:
    """The layers ``selection`` takes, in manifest order; UsageError naming the layers there are when it takes
    none. ``where`` names the model in the message."""
    if selection.whole:
        return tuple(layers)
    include, exclude = _matchers(selection.include), _matchers(selection.exclude)
    asked = bool(selection.include or selection.roles)
    # A layer with no file path (a container image's, under a modelcar's model) is no file to ask for.
    chosen = tuple(layer for layer in layers
                   if (not asked or (layer.filepath and (_matches(include, layer.filepath)
                                                         or role_name(layer) in selection.roles)))
                   and not _matches(exclude, layer.filepath))
    if not chosen:
        raise UsageError(f"{selection.describe()} matches no layer of {where}; its layers are: {listing(layers)}",
                         hint="globs match a layer's path as `inspect` shows it (`*` stays within a folder, `**` "
                              f"crosses folders); roles are {', '.join(ROLES)}")
    return chosen


def listing(layers: Sequence[ModelLayer]) -> str:
    """``a.gguf (weights), LICENSE (license)``, at most :data:`_SHOWN` of them (the layers that are files)."""
    files = [layer for layer in layers if layer.filepath]
    shown = [f"`{shown_path(layer.filepath)}` ({role_name(layer)})" for layer in files[:_SHOWN]]
    more = f" and {len(files) - _SHOWN} more" if len(files) > _SHOWN else ""
    return (", ".join(shown) or "none") + more
