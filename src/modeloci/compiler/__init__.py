"""COMPILER: Modelfile AST to BuildPlan (paths, globs, ARGs, the FROM base, layer order).

:func:`compile_plan` is loaded when first used (start-up time): it brings the whole compiler, which the modules
that only read a plan's types (the builder, convert) never need.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from modeloci.compiler.model import BasePlan, BuildPlan, LayerPlan, Role

if TYPE_CHECKING:
    from modeloci.compiler.compile import compile_plan

__all__ = ["BasePlan", "BuildPlan", "LayerPlan", "Role", "compile_plan"]


def __getattr__(name: str) -> Any:
    if name == "compile_plan":
        # Imported on first use (start-up time): see the module's docstring.
        from modeloci.compiler.compile import compile_plan

        return compile_plan
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
