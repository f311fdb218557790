"""``-q``: every command that prints progress or status lines on stderr takes it, and then prints none of them.
Results (stdout), diagnostics and errors still show: quiet is not silent about problems."""

from __future__ import annotations

from pathlib import Path

import pytest

from modeloci.cli import cli as command_tree
from tests.archive_tools import copy_example

UGLY = "from scratch\n\n\n  weights   tiny-llama-F32.gguf\n"

# Commands that print progress or status lines on stderr when they succeed. push and pull (progress, like build)
# are run against a real registry in tests/registry/test_json_registry.py.
CHATTY = ("build", "push", "pull", "fmt", "lint", "init")


@pytest.mark.parametrize("name", CHATTY)
def test_every_command_that_prints_progress_or_status_lines_takes_q(name: str) -> None:
    options = {opt for param in command_tree.commands[name].params for opt in getattr(param, "opts", ())}
    assert {"-q", "--quiet"} <= options, f"`modeloci {name}` prints status lines but has no -q"


def test_quiet_commands_print_nothing_on_stderr_when_all_is_well(tmp_path: Path, cli) -> None:
    folder = copy_example("single-gguf", tmp_path).parent
    drafts = copy_example("single-gguf", tmp_path / "drafts").parent  # init --force rewrites its Modelfile
    loud = {
        "build": cli("build", str(folder), "-o", str(tmp_path / "m.tar"), "--progress", "plain"),
        "lint": cli("lint", str(folder)),
        "init": cli("init", str(drafts), "--force"),
    }
    (tmp_path / "ugly").mkdir()
    (tmp_path / "ugly" / "Modelfile").write_text(UGLY)
    loud["fmt"] = cli("fmt", str(tmp_path / "ugly"))
    assert all(result.code == 0 and result.stderr for result in loud.values()), loud
    (tmp_path / "ugly" / "Modelfile").write_text(UGLY)
    quiet = {
        "build": cli("build", str(folder), "-o", str(tmp_path / "m.tar"), "--progress", "plain", "-q"),
        "lint": cli("lint", str(folder), "-q"),
        "init": cli("init", str(drafts), "--force", "-q"),
        "fmt": cli("fmt", str(tmp_path / "ugly"), "-q"),
    }
    assert {name: (r.code, r.stderr) for name, r in quiet.items()} == {name: (0, "") for name in quiet}
    assert quiet["build"].stdout == loud["build"].stdout  # the result is still printed
    assert (tmp_path / "ugly" / "Modelfile").read_text().startswith("FROM scratch\n")  # and the work still done


def test_quiet_fmt_check_still_prints_its_diff_and_fails(tmp_path: Path, cli) -> None:
    (tmp_path / "Modelfile").write_text(UGLY)
    result = cli("fmt", "--check", "-q", cwd=tmp_path)
    assert (result.code, result.stderr) == (1, "")
    assert result.stdout.startswith("--- Modelfile\n+++ Modelfile (formatted)\n")
