"""Start-up: what a command imports before it does its work (issue 20, "Start-up").

Timings are measured by bench/run.py, not here; these tests pin the behaviour a
regression would break: the heavy libraries a command never needs stay
unimported (checked in a fresh interpreter through ``sys.modules``).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from modeloci.findings import Problem
from modeloci.formats.validate import VerifyReport

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "sharded-vision" / "Modelfile"


def _loaded_after(argv: list[str], tmp_path: Path) -> set[str]:
    """The top-level packages loaded by running ``modeloci ARGV`` in a fresh interpreter (it must succeed)."""
    script = (
        "import json, sys\n"
        "from modeloci.cli import main\n"
        f"code = main({argv!r})\n"
        "print(json.dumps([code, sorted({m.split('.')[0] for m in sys.modules})]), file=sys.stderr)\n"
    )
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60,
                          cwd=tmp_path)
    code, modules = json.loads(done.stderr.strip().splitlines()[-1])
    assert code == 0, done.stderr
    return set(modules)


def test_plan_of_an_example_imports_neither_pydantic_nor_jinja2(tmp_path: Path) -> None:
    loaded = _loaded_after(["plan", "-f", str(EXAMPLE)], tmp_path)
    assert "modeloci" in loaded and "lark" in loaded  # it did parse the Modelfile
    assert not loaded & {"pydantic", "pydantic_core", "jinja2"}


def test_a_report_dumps_and_validates_its_problems_in_their_json_shape() -> None:
    report = VerifyReport(source="s", problems=[Problem(message="x"), Problem(severity="warning", message="y",
                                                                               where="layer 2")])
    shape = [{"severity": "error", "message": "x"}, {"severity": "warning", "message": "y", "where": "layer 2"}]
    assert report.model_dump(mode="json")["problems"] == shape
    assert json.loads(report.model_dump_json())["problems"] == shape
    again = VerifyReport.model_validate({"source": "s", "problems": shape})
    assert again.problems == report.problems and all(isinstance(p, Problem) for p in again.problems)
