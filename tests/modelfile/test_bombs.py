"""Small Modelfiles that cost a lot: each is refused with a diagnostic, quickly and in little memory.

The bombs are sized so that, with a defence removed, the test fails (a wrong
answer or a blown time bound) rather than filling the machine's memory.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from modeloci.compiler import args as compiler_args
from tests import factories


@pytest.fixture
def context(tmp_path: Path) -> Path:
    factories.gguf(tmp_path / "model.gguf")
    return tmp_path


def _doubling_args(count: int) -> str:
    lines = ["ARG A0=xx"] + [f"ARG A{i}=${{A{i - 1}}}${{A{i - 1}}}" for i in range(1, count)]
    return "\n".join(lines) + f"\nFROM scratch\nWEIGHTS model.gguf\nLABEL a=${{A{count - 1}}}\n"


# ARG substitution (MF071) -------------------------------------------------------------------


def test_doubling_args_are_refused_at_the_substitution_limit(cli, context: Path) -> None:
    # 24 lines would make a 2^25-character label (and 2^26 characters in all); the limit is 2^20.
    (context / "Modelfile").write_text(_doubling_args(24))
    started = time.monotonic()
    result = cli("plan", "-f", "Modelfile", cwd=context)
    assert time.monotonic() - started < 2
    assert (result.code, result.stdout) == (2, "")
    assert result.stderr == (
        "error[MF071]: ARG substitution makes too much text\n"
        "  --> Modelfile:20:9\n"
        "   |\n"
        "20 | ARG A19=${A18}${A18}\n"
        "   |         ^^^^^^ `${A18}` passes the limit here\n"
        "   |\n"
        "   = the values substituted for `${NAME}` references add up to more than 1048576 characters\n"
        "help: ARG values are short (a quantization, a version); check for an ARG that doubles an earlier one\n"
        "\n"
        "error: 1 problem in the Modelfile\n"
    )


@pytest.mark.parametrize("verb", ["lint", "build"])
def test_doubling_args_fail_lint_and_build_the_same_way(verb: str, cli, context: Path) -> None:
    (context / "Modelfile").write_text(_doubling_args(24))
    extra = ("-o", str(context / "out.tar")) if verb == "build" else ()
    result = cli(verb, "-f", "Modelfile", *extra, cwd=context)
    assert result.code == 2
    assert result.stderr.startswith("error[MF071]: ARG substitution makes too much text\n  --> Modelfile:20:9\n")
    last = "failed: 1 Modelfile checked, 1 with errors, 0 warnings" if verb == "lint" else "error: 1 problem in the Modelfile"
    assert result.stderr.endswith(f"\n{last}\n")
    assert not (context / "out.tar").exists()


def test_substitution_limit_counts_every_use_and_build_args(cli, context: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compiler_args, "MAX_SUBSTITUTED_CHARS", 10)
    (context / "Modelfile").write_text("ARG Q\nFROM scratch\nWEIGHTS model.gguf\nLABEL a=${Q} b=${Q} c=${Q}\n")
    assert cli("plan", "-f", "Modelfile", "--build-arg", "Q=abc", cwd=context).code == 0  # 9 characters
    result = cli("plan", "-f", "Modelfile", "--build-arg", "Q=abcd", cwd=context)  # 12
    assert result.code == 2
    assert result.stderr.startswith(
        "error[MF071]: ARG substitution makes too much text\n"
        " --> Modelfile:4:23\n"
        "  |\n"
        "4 | LABEL a=${Q} b=${Q} c=${Q}\n"
        "  |                       ^^^^ `${Q}` passes the limit here\n"
    )
