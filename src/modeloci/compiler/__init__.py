"""COMPILER: Modelfile AST to BuildPlan (paths, globs, ARGs, the FROM base, layer order)."""

from modeloci.compiler.compile import compile_plan
from modeloci.compiler.model import BasePlan, BuildPlan, LayerPlan, Role

__all__ = ["BasePlan", "BuildPlan", "LayerPlan", "Role", "compile_plan"]
