"""COMPILER: Modelfile AST to BuildPlan (paths, globs, ARGs, the FROM base, layer order)."""

from modeloci.plan.compile import compile_plan
from modeloci.plan.model import BasePlan, BuildPlan, LayerPlan, Role

__all__ = ["BasePlan", "BuildPlan", "LayerPlan", "Role", "compile_plan"]
