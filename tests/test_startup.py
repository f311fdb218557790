"""Start-up: what a command imports before it does its work (issue 20, "Start-up").

Timings are measured by bench/run.py, not here; these tests pin the behaviour a
regression would break: the heavy libraries a command never needs stay
unimported (checked in a fresh interpreter through ``sys.modules``).
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import tomllib
from pathlib import Path

from modeloci import __version__, api
from modeloci.__main__ import COMMANDS
from modeloci.cli import cli
from modeloci.findings import Problem
from modeloci.ops.inspect import ModelReport
from tests.archive_tools import copy_example

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "sharded-vision" / "Modelfile"


def _run(argv: list[str], tmp_path: Path, *, load_all: bool = False) -> tuple[str, set[str]]:
    """What ``modeloci ARGV`` prints, and the modules it loaded, run in a fresh interpreter (it must succeed);
    with ``load_all``, every command's module is imported first."""
    script = (
        "import json, sys\n"
        "from modeloci.cli import cli, main\n"
        + ("list(cli.commands.values())\n" if load_all else "")
        + f"code = main({argv!r})\n"
        "print(json.dumps([code, sorted(sys.modules)]), file=sys.stderr)\n"
    )
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin", "COLUMNS": "100"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60,
                          cwd=tmp_path)
    code, modules = json.loads(done.stderr.strip().splitlines()[-1])
    assert code == 0, done.stderr
    return done.stdout, set(modules)


def _packages(modules: set[str]) -> set[str]:
    return {m.split(".")[0] for m in modules}


def test_plan_of_an_example_imports_neither_pydantic_nor_jinja2(tmp_path: Path) -> None:
    _, loaded = _run(["plan", "-f", str(EXAMPLE)], tmp_path)
    assert {"modeloci", "lark"} <= _packages(loaded)  # it did parse the Modelfile
    assert not _packages(loaded) & {"pydantic", "pydantic_core", "jinja2"}


def test_a_command_imports_its_own_module_and_no_other_command_s(tmp_path: Path) -> None:
    _, loaded = _run(["plan", "-f", str(EXAMPLE)], tmp_path)
    assert {m for m in loaded if m.startswith("modeloci.cli_")} == {"modeloci.cli_build", "modeloci.cli_options"}


def test_help_imports_no_command_module_and_lists_every_command_as_the_commands_say(tmp_path: Path) -> None:
    lazy, loaded = _run(["--help"], tmp_path)
    assert not {m for m in loaded if m.startswith("modeloci.cli_")}
    assert not _packages(loaded) & {"pydantic", "jinja2", "lark"}
    assert not loaded & {"traceback", "pathlib"}  # cli.py needs neither to show help (rich-click imports neither)
    eager, loaded = _run(["--help"], tmp_path, load_all=True)
    assert {f"modeloci.{module}" for module, _ in COMMANDS.values()} <= loaded
    assert lazy == eager, "modeloci.__main__.COMMANDS is stale: a command's short help changed"
    assert all(f" {name} " in lazy for name in COMMANDS)


def _run_entry(argv: list[str], tmp_path: Path) -> tuple[int, str, str, set[str]]:
    """``modeloci ARGV`` through the console script's entry (modeloci.__main__), in a fresh interpreter: its exit
    code, stdout, stderr, and the modules it loaded."""
    script = ("import json, sys\n"
              "from modeloci.__main__ import main\n"
              f"code = main({argv!r})\n"
              "print('\\0' + json.dumps([code, sorted(sys.modules)]), file=sys.stderr)\n")
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin", "COLUMNS": "100"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60,
                          cwd=tmp_path)
    err, _, report = done.stderr.rpartition("\0")
    code, modules = json.loads(report)
    return code, done.stdout, err, set(modules)


def test_top_level_help_imports_neither_click_nor_rich_nor_any_command(tmp_path: Path) -> None:
    """`modeloci --help`, `-h` and `modeloci` alone are drawn by the entry itself (start-up time)."""
    for argv, code in ((["--help"], 0), (["-h"], 0), ([], 2)):
        exit_code, out, err, loaded = _run_entry(argv, tmp_path)
        assert exit_code == code and " build " in (out if argv else err)
        assert not _packages(loaded) & {"click", "rich", "rich_click", "pydantic", "jinja2", "lark"}, argv
        assert {m for m in loaded if m.startswith("modeloci")} == {"modeloci", "modeloci.__main__",
                                                                     "modeloci.version"}, argv


def test_any_other_command_line_is_handed_to_click(tmp_path: Path) -> None:
    exit_code, out, _, loaded = _run_entry(["--version"], tmp_path)
    assert (exit_code, out) == (0, f"modeloci, version {__version__}\n") and {"click", "modeloci.cli"} <= loaded


def test_the_console_script_is_the_entry_that_draws_the_help_itself() -> None:
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]
    assert scripts == {"modeloci": "modeloci.__main__:entry"}


def test_the_command_table_names_every_command_its_modules_register_and_no_other() -> None:
    for module in sorted(p.stem for p in (REPO / "src" / "modeloci").glob("cli_*.py")):
        importlib.import_module(f"modeloci.{module}")
    registered = {name: command.callback.__module__ for name, command in cli.commands.items()
                  if command.callback is not None}
    assert registered == {name: f"modeloci.{module}" for name, (module, _) in COMMANDS.items()}, (
        "modeloci.__main__.COMMANDS must name every command and the module that defines it")


def test_a_report_model_dumps_and_validates_its_problems_in_their_json_shape() -> None:
    report = ModelReport(path="m.gguf", kind="gguf", problems=[
        Problem(message="x"), Problem(severity="warning", message="y", where="layer 2")])
    shape = [{"severity": "error", "message": "x"}, {"severity": "warning", "message": "y", "where": "layer 2"}]
    assert report.model_dump(mode="json")["problems"] == shape
    assert json.loads(report.model_dump_json())["problems"] == shape
    again = ModelReport.model_validate({"path": "m.gguf", "kind": "gguf", "problems": shape})
    assert again.problems == report.problems and all(isinstance(p, Problem) for p in again.problems)


def test_verify_imports_no_pydantic_and_its_json_keeps_its_shape(tmp_path: Path) -> None:
    archive = tmp_path / "m.tar"
    api.build(copy_example("single-gguf", tmp_path), archive)
    out, loaded = _run(["verify", str(archive), "--json"], tmp_path)
    assert not _packages(loaded) & {"pydantic", "pydantic_core", "jinja2"}
    document = json.loads(out)
    assert list(document) == ["source", "format", "manifest_digest", "blobs_checked", "bytes_checked", "problems",
                              "ok"]
    assert document["ok"] is True and document["problems"] == [] and document["blobs_checked"] == 3
