"""SECURITY.md names the tests that hold each defence: every file and test it names must exist, and every promise
(a row of its tables) names at least one test by ``path::name``."""

from __future__ import annotations

import re

from tests.conftest import REPO


def test_every_test_security_md_names_exists() -> None:
    text = (REPO / "SECURITY.md").read_text(encoding="utf-8")
    named = re.findall(r"`(tests/[^`:]+?)(?:::(\w+))?`", text)
    assert len(named) >= 10
    for path, test in named:
        target = REPO / path
        assert target.exists(), f"SECURITY.md names {path}, which does not exist"
        if test:
            assert f"def {test}(" in target.read_text(encoding="utf-8"), f"no test {test} in {path}"


def test_every_promise_names_a_test() -> None:
    text = (REPO / "SECURITY.md").read_text(encoding="utf-8")
    rows = [line for line in text.splitlines()
            if line.startswith("| ") and not line.startswith(("| Threat", "|---"))]
    assert len(rows) >= 20
    bare = [row.split(" | ")[0].removeprefix("| ") for row in rows if not re.search(r"`tests/[^`]+::test_\w+`", row)]
    assert not bare, f"promises in SECURITY.md that name no test: {bare}"
