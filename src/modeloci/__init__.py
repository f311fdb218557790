"""modeloci: package AI models as reproducible OCI artifacts from a Modelfile.

The public API is pinned in ``__all__``: the verbs (:mod:`modeloci.api`), the
errors, and the seed's types, the ``Protocol``s the readers answer with
(``Image``, ``ModelArtifact``, ``Model``, ``ModelBundle``, ``ModelConfig``).
Its names are imported on first use, so that ``import modeloci`` (and
``modeloci --help``) stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    # The public names as a type checker sees them (``model: modeloci.Model = modeloci.model_files(...)`` is
    # checked); at run time they are imported on first use, by __getattr__ below (start-up time).
    from modeloci.api import artifact, build, inspect, model_files, package, plan, unpack, verify
    from modeloci.builder import BuildResult
    from modeloci.compiler import BuildPlan
    from modeloci.errors import ArchiveError, BuildError, ModelfileError, ModelociError, UsageError
    from modeloci.formats.artifact import Image, Model, ModelArtifact, ModelBundle, ModelConfig
    from modeloci.modelfile import parse_modelfile

from modeloci.version import __version__

__all__ = [
    "ArchiveError",
    "BuildError",
    "BuildPlan",
    "BuildResult",
    "Image",
    "Model",
    "ModelArtifact",
    "ModelBundle",
    "ModelConfig",
    "ModelfileError",
    "ModelociError",
    "UsageError",
    "__version__",
    "artifact",
    "build",
    "inspect",
    "model_files",
    "package",
    "parse_modelfile",
    "plan",
    "unpack",
    "verify",
]

_LAZY = {
    "build": "modeloci.api",
    "plan": "modeloci.api",
    "inspect": "modeloci.api",
    "model_files": "modeloci.api",
    "verify": "modeloci.api",
    "unpack": "modeloci.api",
    "artifact": "modeloci.api",
    "package": "modeloci.api",
    "parse_modelfile": "modeloci.modelfile",
    "BuildPlan": "modeloci.compiler",
    "BuildResult": "modeloci.builder",
    "ModelociError": "modeloci.errors",
    "ModelfileError": "modeloci.errors",
    "UsageError": "modeloci.errors",
    "ArchiveError": "modeloci.errors",
    "BuildError": "modeloci.errors",
    "Image": "modeloci.formats.artifact",
    "ModelArtifact": "modeloci.formats.artifact",
    "Model": "modeloci.formats.artifact",
    "ModelBundle": "modeloci.formats.artifact",
    "ModelConfig": "modeloci.formats.artifact",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'modeloci' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted(__all__)
