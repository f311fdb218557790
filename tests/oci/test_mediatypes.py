"""Each media type is spelled once, in oci/mediatypes.py: a second spelling can drift (a typo, a version bump
made in one place), and then a format is written one way and recognised another."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from modeloci.oci.mediatypes import MediaType

SRC = Path(__file__).resolve().parents[2] / "src" / "modeloci"
HOME = SRC / "oci" / "mediatypes.py"
# A whole media type; a prefix ending in "." (a family, or what a display leaves out) is not one.
_MEDIA_TYPE = re.compile(r"application/vnd\.\S*[^.\s]\Z")
# Owned by another engineer of issue 17; its one-line change is proposed. Remove when it is applied.


def _literals(tree: ast.Module) -> list[tuple[int, str]]:
    """String constants that are values, not docstrings."""
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr)
                  and isinstance(node.body[0].value, ast.Constant)}
    return [(node.lineno, node.value) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings]


def test_no_module_but_mediatypes_spells_a_media_type() -> None:
    spelled = [f"{path.relative_to(SRC)}:{line}: {text}"
               for path in sorted(SRC.rglob("*.py")) if path != HOME
               for line, text in _literals(ast.parse(path.read_text()))
               if _MEDIA_TYPE.match(text)]
    assert spelled == []


def test_each_media_type_has_one_name() -> None:
    """An enum member with another's value silently becomes its alias: two names for one type."""
    values = [member.value for member in MediaType.__members__.values()]
    assert len(values) == len(set(values))
    assert list(MediaType.__members__) == [member.name for member in MediaType]
