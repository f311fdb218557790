"""Shared fixtures: the repository, the shared corpus, and an in-process CLI runner."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from modeloci.cli import main

REPO = Path(__file__).resolve().parents[1]
# ``MODELOCI_SHARED`` moves it (tests of this very rule point it at a folder that is not there).
SHARED = Path(os.environ.get("MODELOCI_SHARED") or REPO.parent / "shared")
EXAMPLES = REPO / "examples"


def pytest_configure(config: pytest.Config) -> None:
    """Where CI requires the tools (``MODELOCI_REQUIRE_TOOLS``), a missing ``../shared`` stops the run: its
    schema and corpus tests would otherwise be skipped, one by one, without anyone noticing."""
    if os.environ.get("MODELOCI_REQUIRE_TOOLS") and not SHARED.is_dir():
        raise pytest.UsageError(f"{SHARED} is absent, and MODELOCI_REQUIRE_TOOLS is set: the conformance schemas "
                                "and the real-world corpus must be there (unset it to skip their tests instead)")


@pytest.fixture
def shared() -> Path:
    """``../shared`` (conformance schemas, real-world corpus); skips where it is absent."""
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is absent: the shared conformance schemas and corpus are not on this machine")
    return SHARED


def skopeo_path() -> str:
    """The skopeo binary; skips the test without it, or fails it where CI requires the tools."""
    path = shutil.which("skopeo")
    if path is None:
        if os.environ.get("MODELOCI_REQUIRE_TOOLS"):
            pytest.fail("skopeo is required (MODELOCI_REQUIRE_TOOLS is set) but not installed")
        pytest.skip("skopeo is not installed (apt-get install skopeo); .ci/run installs it")
    return path


@pytest.fixture
def skopeo() -> Callable[..., str]:
    """Run ``skopeo ARGS...``; returns its stdout (a failure fails the test with skopeo's stderr)."""
    path = skopeo_path()

    def run(*args: str) -> str:
        done = subprocess.run([path, *args], capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr
        return done.stdout

    return run


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Callable[..., CliResult]:
    """Run ``modeloci ARGS...`` in-process from a folder; returns exit code and output. An internal error fails
    the test, unless it says it expects one."""
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)

    def run(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
            internal_error_expected: bool = False) -> CliResult:
        capsys.readouterr()
        with monkeypatch.context() as m:
            if cwd is not None:
                m.chdir(cwd)
            for key, value in (env or {}).items():
                m.setenv(key, value)
            code = main(list(args))
        out = capsys.readouterr()
        # No input in the suite, however hostile, may end a command in "internal error" (a bug's report).
        if not internal_error_expected and "internal error" in out.err + out.out:
            pytest.fail(f"`modeloci {' '.join(args)}` ended in an internal error:\n{out.err}{out.out}")
        return CliResult(code, out.out, out.err)

    return run


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Tests see no SOURCE_DATE_EPOCH or registry credentials from the environment, and a digest
    cache, store and credential folders of their own (never the user's ~/.docker or ~/.config)."""
    for name in ("SOURCE_DATE_EPOCH", "MODELOCI_USERNAME", "MODELOCI_PASSWORD", "NO_COLOR", "FORCE_COLOR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("config")))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path_factory.mktemp("docker")))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.setenv("MODELOCI_HOME", str(tmp_path_factory.mktemp("store")))
    monkeypatch.setenv("COLUMNS", "200")
    os.environ.pop("MODELOCI_DEBUG", None)
