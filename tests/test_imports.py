"""Start-up cost is kept by what each command imports: heavy modules load only for the commands that use them.

`modeloci --help` must not load the compiler (lark), templates (jinja2), pydantic or the registry client
(httpx); a local build or plan must not load httpx (about 0.1 s). Each command runs in a fresh interpreter,
which writes the modules it loaded when it exits. Timing stays in `bench/` (startup section); this pins the
cause, which a timing would only hint at.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.archive_tools import copy_example

HEAVY = ("lark", "jinja2", "pydantic", "httpx", "modeloci.compiler", "modeloci.registry.client")


def loaded(args: list[str], tmp_path: Path) -> set[str]:
    out = tmp_path / "modules.txt"
    code = ("import atexit, sys\n"
            f"atexit.register(lambda: open({str(out)!r}, 'w').write('\\n'.join(sorted(sys.modules))))\n"
            f"sys.argv = ['modeloci', *{args!r}]\n"
            "from modeloci.cli import entry\n"
            "entry()\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    return {name for name in out.read_text().split("\n") if name}


def _top(names: set[str], heavy: str) -> bool:
    return heavy in names or any(name.startswith(heavy + ".") for name in names)


def test_help_loads_nothing_heavy(tmp_path: Path) -> None:
    names = loaded(["--help"], tmp_path)
    assert "modeloci.cli" in names  # the probe works
    assert [h for h in HEAVY if _top(names, h)] == []


@pytest.mark.parametrize("command", ["plan", "build", "lint"])
def test_local_plan_build_and_lint_do_not_load_the_registry_client(tmp_path: Path, command: str) -> None:
    modelfile = copy_example("single-gguf", tmp_path)
    extra = ["-o", str(tmp_path / "out.tar")] if command == "build" else []
    names = loaded([command, "-f", str(modelfile), *extra], tmp_path)
    assert "modeloci.compiler" in names and "lark" in names  # the probe works: these commands do compile
    assert not _top(names, "httpx") and "modeloci.registry.client" not in names


def test_a_plan_from_scratch_loads_no_base_machinery_and_piped_no_rich(tmp_path: Path) -> None:
    """A Modelfile FROM scratch opens no model: no store, no layout reader (tarfile), no formats' checks; its plan,
    piped (as here), is printed without rich, and the plan imports no pydantic."""
    modelfile = copy_example("sharded-vision", tmp_path)
    names = loaded(["plan", "-f", str(modelfile)], tmp_path)
    assert "modeloci.compiler" in names  # the probe works
    unwanted = ("tarfile", "modeloci.store", "modeloci.oci.layout", "modeloci.sources.open",
                "modeloci.compiler.from_base", "modeloci.formats.derive", "rich.console", "rich.table", "pydantic")
    assert [name for name in unwanted if _top(names, name)] == []


def test_an_up_to_date_build_loads_no_pydantic_and_no_rich(tmp_path: Path) -> None:
    modelfile = copy_example("sharded-vision", tmp_path)
    args = ["build", "-f", str(modelfile), "-o", str(tmp_path / "out.tar")]
    loaded(args, tmp_path)  # writes it
    names = loaded(args, tmp_path)  # up to date
    assert "modeloci.builder" in names  # the probe works
    assert [name for name in ("pydantic", "rich.console") if _top(names, name)] == []


def test_a_plan_from_a_base_still_loads_what_it_needs(tmp_path: Path) -> None:
    """The other side of the lazy imports above: FROM an archive does load the base machinery (and plans)."""
    modelfile = copy_example("sharded-vision", tmp_path)
    derived = tmp_path / "derived"
    loaded(["build", "-f", str(modelfile), "-o", str(derived / "base.tar")], tmp_path)
    (derived / "Modelfile").write_text("FROM base.tar\nLABEL a=b\n")
    names = loaded(["plan", "-f", str(derived / "Modelfile")], tmp_path)
    assert {"modeloci.compiler.from_base", "modeloci.oci.layout", "modeloci.formats.derive"} <= names


def test_convert_in_the_store_loads_no_parser_no_pydantic_and_no_rich(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Converting a stored model writes a config and a manifest: it parses no Modelfile (lark), prints no JSON
    (pydantic) and, piped, prints without rich."""
    monkeypatch.setenv("MODELOCI_HOME", str(tmp_path / "home"))
    modelfile = copy_example("sharded-vision", tmp_path)
    loaded(["build", "-f", str(modelfile), "-t", "tiny:1"], tmp_path)
    names = loaded(["convert", "tiny:1", "--format", "modelpack", "-t", "tiny:mp"], tmp_path)
    assert "modeloci.ops.convert_inplace" in names  # the probe works
    assert [name for name in ("lark", "pydantic", "rich.console", "modeloci.compiler.compile") if _top(names, name)] \
        == []
