"""The levels of the code, and imports that flow one way (docs/architecture.md).

Every import of a modeloci module, at the top of a module or inside a
function, must go to the same level or a lower one. The modules' top-level
imports form no cycle, but for the CLI registering its commands (``cli``
imports ``cli_*`` at its end, and they import ``cli`` for the group). An import
inside a function is for start-up time only: outside the CLI and the public
API, which import their work when a command runs, it says so in a comment.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "modeloci"

# Lowest first. A package's modules share its level; a top-level module is its own entry.
LEVELS: list[set[str]] = [
    {"errors", "diagnostics", "findings", "jsondoc", "termsafe", "progress", "atomic", "reference", "version"},
    {"oci", "blobs", "model", "modelfile"},
    {"formats"},
    {"store", "registry"},
    {"sources"},
    {"compiler", "builder", "attest"},
    {"ops"},
    {"api"},
    {"cli", "cli_options", "cli_artifacts", "cli_attest", "cli_build", "cli_registry", "cli_store", "cli_workflow",
     "render",
     "__init__", "__main__"},
]
CLI = LEVELS[-1] | {"api"}  # their function-level imports are the rule: work is imported when a command runs
REGISTRATION = {"cli", "cli_options", "cli_artifacts", "cli_attest", "cli_build", "cli_registry", "cli_store",
                "cli_workflow"}
WHY = ("start-up", "imported when used", "jinja2 is only needed here")


def _unit(module: str) -> str:
    """``modeloci.x.y`` -> ``x`` (its package, or itself at the top)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _level(unit: str) -> int:
    return next(i for i, units in enumerate(LEVELS) if unit in units)


def _name(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def _imports(tree: ast.Module) -> list[tuple[str, int, bool]]:
    """(imported modeloci module, line, inside a function or a TYPE_CHECKING block) for every import."""
    found: list[tuple[str, int, bool]] = []

    def visit(node: ast.AST, nested: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ImportFrom) and child.module and child.module.startswith("modeloci"):
                for alias in child.names:
                    found.append((f"{child.module}.{alias.name}", child.lineno, nested))
            elif isinstance(child, ast.Import):
                found.extend((a.name, child.lineno, nested) for a in child.names if a.name.startswith("modeloci"))
            inner = nested or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) or (
                isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test))
            visit(child, inner)

    visit(tree, False)
    return found


MODULES = {_name(p): p for p in sorted(SRC.rglob("*.py"))}


def _resolve(target: str) -> str:
    """The module an import names (``from modeloci.x import y`` imports ``x.y`` if it is a module, else ``x``)."""
    return target if target in MODULES else target.rsplit(".", 1)[0]


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_go_to_the_same_level_or_lower(module: str) -> None:
    level = _level(_unit(module))
    upward = [(line, _resolve(target)) for target, line, _ in _imports(ast.parse(MODULES[module].read_text()))
              if _level(_unit(_resolve(target))) > level]
    assert not upward, f"{module} (level {level}) imports from above: {upward}"


def test_top_level_imports_form_no_cycle_but_the_cli_registration() -> None:
    graph = {m: {_resolve(t) for t, _, nested in _imports(ast.parse(p.read_text())) if not nested} - {m}
             for m, p in MODULES.items()}
    cycles = []
    for start in graph:
        stack, seen = [(start, (start,))], set()
        while stack:
            node, path = stack.pop()
            for nxt in graph.get(node, ()):
                if nxt == start:
                    cycles.append(path)
                elif nxt not in seen and nxt in graph:
                    seen.add(nxt)
                    stack.append((nxt, (*path, nxt)))
    real = [c for c in cycles if not {_unit(m) for m in c} <= REGISTRATION | {"__init__"}]
    assert not real, f"import cycles: {sorted({tuple(sorted(c)) for c in real})}"


def test_imports_inside_functions_say_they_are_for_start_up_time() -> None:
    silent = []
    for module, path in MODULES.items():
        if _unit(module) in CLI:
            continue
        lines = path.read_text().splitlines()
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for child in ast.walk(node):
                if isinstance(child, (ast.Import, ast.ImportFrom)):
                    context = "\n".join(lines[max(0, child.lineno - 4):child.end_lineno or child.lineno]).lower()
                    if not any(why in context for why in WHY):
                        silent.append(f"{module}:{child.lineno}")
    assert not silent, f"imports inside functions that do not say why (start-up time): {sorted(set(silent))}"


def test_every_module_has_a_level() -> None:
    assert {_unit(m) for m in MODULES} <= set().union(*LEVELS)
