"""CI never skips the tests of ``../shared`` without anyone noticing: with ``MODELOCI_REQUIRE_TOOLS`` a missing
folder fails the run; without it, its tests skip and say why."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO


def _pytest(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k != "MODELOCI_REQUIRE_TOOLS"}
    environment.update(env, MODELOCI_SHARED=str(tmp_path / "no-shared-here"))
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "tests/test_conformance.py", "-k", "test_manifest_index_and_layout_match_the_oci_schemas"],
                          cwd=REPO, env=environment, capture_output=True, text=True, timeout=120, check=False)


def test_a_missing_shared_folder_fails_the_run_where_ci_requires_the_tools(tmp_path: Path) -> None:
    run = _pytest(tmp_path, MODELOCI_REQUIRE_TOOLS="1")
    assert run.returncode != 0
    assert f"{tmp_path / 'no-shared-here'} is absent, and MODELOCI_REQUIRE_TOOLS is set" in run.stdout + run.stderr


def test_a_missing_shared_folder_skips_its_tests_elsewhere(tmp_path: Path) -> None:
    run = _pytest(tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "skipped" in run.stdout and "passed" not in run.stdout
