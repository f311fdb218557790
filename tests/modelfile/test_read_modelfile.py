"""``-f PATH`` names something that is not a Modelfile on disk: refused at once, never waited on.

A FIFO blocks whoever opens it for reading until a writer comes, so these
tests run the command in a thread and, if it is still running after a few
seconds, open the FIFO for writing themselves to release it: a regression
fails the test instead of hanging the run.
"""

from __future__ import annotations

import os
import resource
import threading
from pathlib import Path

import pytest

from tests import factories
from tests.conftest import CliResult

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")

_PATIENCE_S = 5.0


def _run_releasing_fifo(cli, fifo: Path, *args: str, cwd: Path) -> CliResult:
    """``cli(*args)``, failing the test (after unblocking it) if it waits on ``fifo``."""
    done: list[CliResult] = []
    thread = threading.Thread(target=lambda: done.append(cli(*args, cwd=cwd)), daemon=True)
    thread.start()
    thread.join(_PATIENCE_S)
    if thread.is_alive():
        writer = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)  # a reader is waiting, so this opens
        os.close(writer)
        thread.join(_PATIENCE_S)
        pytest.fail(f"`modeloci {' '.join(args)}` blocked on a FIFO")
    return done[0]


@pytest.mark.parametrize("verb", ["plan", "lint", "build"])
def test_modelfile_that_is_a_fifo_is_refused_without_blocking(verb: str, cli, tmp_path: Path) -> None:
    fifo = tmp_path / "Modelfile"
    os.mkfifo(fifo)
    factories.gguf(tmp_path / "model.gguf")
    extra = ("-o", str(tmp_path / "out.tar")) if verb == "build" else ()
    result = _run_releasing_fifo(cli, fifo, verb, "-f", "Modelfile", *extra, cwd=tmp_path)
    assert (result.code, result.stdout) == (2, "")
    assert result.stderr == (
        "error: `Modelfile` is not a regular file\n"
        "help: a Modelfile is read from a file; a FIFO, socket or device is not read\n"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Modelfile", "model.gguf"]


def test_modelfile_that_is_a_character_device_is_refused(cli, tmp_path: Path) -> None:
    # /dev/zero never ends; reading it was bounded by MF012's limit, but it is not a Modelfile either.
    result = cli("plan", "-f", "/dev/zero", cwd=tmp_path)
    assert (result.code, result.stdout) == (2, "")
    assert result.stderr == (
        "error: `/dev/zero` is not a regular file\n"
        "help: a Modelfile is read from a file; a FIFO, socket or device is not read\n"
    )


def test_modelfile_path_that_cannot_be_opened_is_a_usage_error_not_an_internal_error(cli, tmp_path: Path) -> None:
    (tmp_path / "loop").symlink_to("loop")
    result = cli("plan", "-f", "loop", cwd=tmp_path)
    assert (result.code, result.stdout) == (2, "")
    assert result.stderr == "error: cannot read `loop`: too many levels of symbolic links\n"
    name = "m" * 300
    result = cli("plan", "-f", name, cwd=tmp_path)
    assert (result.code, result.stdout) == (2, "")
    assert result.stderr == f"error: cannot read `{name}`: file name too long\n"


def test_regular_modelfile_is_still_read(cli, tmp_path: Path) -> None:
    factories.gguf(tmp_path / "model.gguf")
    (tmp_path / "Modelfile").write_text("FROM scratch\nWEIGHTS model.gguf\n")
    result = cli("plan", "-f", "Modelfile", cwd=tmp_path)
    assert (result.code, result.stderr) == (0, "")


@pytest.mark.parametrize("check", [False, True])
def test_fmt_of_a_fifo_is_refused_without_blocking(cli, tmp_path: Path, check: bool) -> None:
    """`fmt` read its files whole with read_bytes: a FIFO blocked it forever, a 4 GB file filled memory."""
    fifo = tmp_path / "Modelfile"
    os.mkfifo(fifo)
    result = _run_releasing_fifo(cli, fifo, "fmt", *(["--check"] if check else []), "Modelfile", cwd=tmp_path)
    assert (result.code, result.stdout) == (2, "")
    assert result.stderr.splitlines()[0] == "error: `Modelfile` is not a regular file"


def test_fmt_of_a_huge_file_reads_one_byte_past_the_limit(cli, tmp_path: Path) -> None:
    big = tmp_path / "Modelfile"
    with big.open("wb") as out:
        out.truncate(3 << 30)  # 3 GiB, sparse: reading it whole is what must not happen
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    result = cli("fmt", "--check", "Modelfile", cwd=tmp_path)
    assert result.code == 2
    assert "error[MF012]: The Modelfile is too large" in result.stderr
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak < (256 << 10)  # not the 3 GiB
