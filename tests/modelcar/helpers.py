"""Shared by the modelcar tests: a small model's build context, building it, and reading a modelcar archive."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from modeloci import api
from tests.archive_tools import Archive, copy_example

EPOCH = 1700000000


def single_gguf(dest: Path) -> Path:
    """The single-gguf example's Modelfile, copied under ``dest`` (a GGUF, a chat template, a license)."""
    return copy_example("single-gguf", dest)


def build_modelcar(modelfile: Path, output: Path, **options: object) -> api.BuildResult:
    options.setdefault("created", EPOCH)
    return api.build(modelfile, output, format="modelcar", display="Modelfile", **options)


def read(archive: Path) -> Archive:
    return Archive.read(archive)


def umoci_path() -> str:
    """The umoci binary; skips without it, or fails where CI requires the tools."""
    path = shutil.which("umoci")
    if path is None:
        if os.environ.get("MODELOCI_REQUIRE_TOOLS"):
            pytest.fail("umoci is required (MODELOCI_REQUIRE_TOOLS is set) but not installed")
        pytest.skip("umoci is not installed (apt-get install umoci); .ci/run installs it")
    return path


def umoci_unpack(layout: Path, tag: str, bundle: Path) -> Path:
    """``umoci unpack --rootless`` of ``layout:tag`` into ``bundle``; its ``rootfs``."""
    done = subprocess.run([umoci_path(), "unpack", "--rootless", "--image", f"{layout}:{tag}", str(bundle)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return bundle / "rootfs"
