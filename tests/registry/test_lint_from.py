"""``modeloci lint`` on a Modelfile whose FROM is a model in a (real) registry: MF112 asks for a digest."""

from __future__ import annotations

import json
from pathlib import Path

from tests.archive_tools import copy_example
from tests.workflow.schemas import LintOutput


def test_a_tag_is_flagged_and_the_hint_pins_todays_digest(registry, repo_name: str, tmp_path: Path, cli) -> None:
    modelfile = copy_example("single-gguf", tmp_path)
    assert cli("build", "-f", str(modelfile), "-o", str(tmp_path / "base.tar"), "-q").code == 0
    pushed = cli("push", str(tmp_path / "base.tar"), f"{registry.host}/{repo_name}:1", "-q", "--json")
    assert pushed.code == 0, pushed.stderr
    digest = json.loads(pushed.stdout)["digest"]
    child = tmp_path / "child"
    child.mkdir()
    (child / "Modelfile").write_text(f"FROM {registry.host}/{repo_name}:1\nLABEL stage=child\n")

    result = cli("lint", "--json", cwd=child)
    doc = LintOutput.model_validate_json(result.stdout)
    (warning,) = [d for d in doc.files[0].diagnostics if d.code == "MF112"]
    assert warning.summary == f"FROM `{registry.host}/{repo_name}:1` is not pinned"
    assert warning.hint == f"pin the digest it names today: `FROM {registry.host}/{repo_name}:1@{digest}`"
    assert (warning.line, warning.column) == (1, 1)

    (child / "Modelfile").write_text(f"FROM {registry.host}/{repo_name}:1@{digest}\nLABEL stage=child\n")
    pinned = LintOutput.model_validate_json(cli("lint", "--json", cwd=child).stdout)
    assert pinned.errors == 0 and pinned.warnings == 0 and "MF112" not in [d.code for d in pinned.files[0].diagnostics]
