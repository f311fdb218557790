"""``.pre-commit-hooks.yaml``: each hook's entry runs as pre-commit runs it (file names appended)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from tests.archive_tools import copy_example
from tests.conftest import REPO


def _hooks() -> dict[str, dict[str, str]]:
    """The hooks file's list of flat mappings (no YAML library is needed for this shape)."""
    hooks: dict[str, dict[str, str]] = {}
    current: dict[str, str] = {}
    for line in (REPO / ".pre-commit-hooks.yaml").read_text().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        match = re.fullmatch(r"(- |  )(\w+): (.*)", line)
        assert match, f"unexpected line in .pre-commit-hooks.yaml: {line!r}"
        if match[1] == "- ":
            current = {}
        current[match[2]] = match[3]
        if match[2] == "id":
            hooks[match[3]] = current
    return hooks


def test_the_hooks_pre_commit_users_expect_exist() -> None:
    hooks = _hooks()
    assert {"modeloci-fmt", "modeloci-lint"} <= set(hooks)
    for hook in hooks.values():
        assert hook["language"] == "python"
        pattern = re.compile(hook["files"])
        assert pattern.search("Modelfile") and pattern.search("models/llama/Modelfile")
        assert not pattern.search("Modelfile.bak") and not pattern.search("docs/Modelfile.md")


def test_each_entry_runs_on_the_files_pre_commit_passes(tmp_path: Path, cli) -> None:
    modelfile = copy_example("single-gguf", tmp_path)
    modelfile.write_text(modelfile.read_text().replace("FROM scratch", "from   scratch"))
    hooks = _hooks()

    check = cli(*shlex.split(hooks["modeloci-fmt-check"]["entry"])[1:], str(modelfile))
    assert check.code == 1 and "+FROM scratch" in check.stdout

    fmt = cli(*shlex.split(hooks["modeloci-fmt"]["entry"])[1:], str(modelfile))
    assert fmt.code == 0 and "FROM scratch\n" in modelfile.read_text()

    lint = cli(*shlex.split(hooks["modeloci-lint"]["entry"])[1:], str(modelfile))
    assert lint.code == 0, lint.stderr
    modelfile.write_text("FROM scratch\nWEIGHTS gone.gguf\n")
    assert cli(*shlex.split(hooks["modeloci-lint"]["entry"])[1:], str(modelfile)).code == 2
