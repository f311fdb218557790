"""``package``: a model folder (a training run's output) planned without a Modelfile on disk.

The Modelfile is built in code (:mod:`modeloci.modelfile.build`): ``FROM
scratch``, ``WEIGHTS <the folder>`` and a ``LABEL`` line of the labels given,
every user value a literal word (quoted as needed, never globbed, never split
at ``=``, never expanded as ``${...}``). It goes through the same compiler as a
hand-written Modelfile, with the folder's parent as the build context, so the
model is the one ``WEIGHTS <folder>`` gives: every file of the folder a layer
under its path in the folder. Its diagnostics point into the generated text,
named :data:`GENERATED`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path

from modeloci.compiler import BuildPlan, compile_plan
from modeloci.compiler.created import Created, default_created
from modeloci.errors import UsageError, describe_os_error
from modeloci.modelfile import build
from modeloci.reference import normalise_tag

GENERATED = "Modelfile (modeloci.package)"


def package_plan(model_dir: str | Path, *, name: str, version: str | None = None, format: str = "docker",
                 labels: Mapping[str, str] | None = None, created: int | None = None) -> BuildPlan:
    """The plan of ``model_dir`` (a folder, or one weights file) packaged as the model ``name:version``
    (``latest`` when no version is given, unless ``name`` has a tag)."""
    reference = normalise_tag(name if version is None else f"{name}:{version}")
    folder = _located(model_dir)
    modelfile = build.modelfile(weights=[folder.name], labels=labels, path=GENERATED)
    when = Created(created) if created is not None else default_created(folder, folder)
    compiled = compile_plan(modelfile, context=folder.parent, reference=reference, created=when.epoch,
                            context_display=str(folder.parent),
                            target_format="modelpack" if format in ("modelpack", "cncf") else format)
    return dataclasses.replace(compiled, notes=[*compiled.notes, when.note]) if when.note else compiled


def _located(model_dir: str | Path) -> Path:
    """``model_dir`` as an absolute path, its symlinks resolved: its parent is the build context."""
    try:
        found = Path(model_dir).resolve(strict=True)
    except FileNotFoundError:
        raise UsageError(f"`{model_dir}` not found", hint="give the folder holding the model's files") from None
    except (OSError, RuntimeError) as exc:  # a name too long; a symlink loop (RuntimeError before Python 3.13)
        why = describe_os_error(exc) if isinstance(exc, OSError) else "a symlink loop"
        raise UsageError(f"`{model_dir}` cannot be read: {why}", hint="give the folder holding the model's files") \
            from None
    if found.parent == found:
        raise UsageError(f"`{model_dir}` is the root folder", hint="give the folder holding the model's files")
    return found
