"""modeloci: package AI models as reproducible OCI artifacts from a Modelfile.

The public API is pinned in ``__all__``. Its names are imported on first use,
so that ``import modeloci`` (and ``modeloci --help``) stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0.dev0"

__all__ = [
    "ArchiveError",
    "BuildError",
    "BuildPlan",
    "BuildResult",
    "ModelfileError",
    "ModelociError",
    "UsageError",
    "__version__",
    "build",
    "inspect",
    "model_files",
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
    "parse_modelfile": "modeloci.modelfile",
    "BuildPlan": "modeloci.compiler",
    "BuildResult": "modeloci.builder",
    "ModelociError": "modeloci.errors",
    "ModelfileError": "modeloci.errors",
    "UsageError": "modeloci.errors",
    "ArchiveError": "modeloci.errors",
    "BuildError": "modeloci.errors",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'modeloci' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted(__all__)
