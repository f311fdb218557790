"""SECURITY.md names the tests that hold each defence: every file and test it names must exist."""

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
