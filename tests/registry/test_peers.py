"""Peers read what we write, and we read what peers write: oras-py and modelpack-client against the real registry.

* oras-py (``oras`` on PyPI) names a pulled file from ``org.opencontainers.image.title`` and nothing else (without
  it, the file is named by its digest); modelpack-client from ``org.cncf.model.filepath``, then the title, then
  ``layer-N``, and it checks the config against the ModelPack schema.
* What they push (oras-py pushing files with ModelPack media types, modelpack-client's own push) is pulled,
  verified, unpacked and used in ``FROM`` by modeloci, or refused with a clear message.
"""

from __future__ import annotations

import importlib
import json
import os
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.archive_tools import EXAMPLES
from tests.registry.helpers import build, manifest_of


def _peer(module: str, package: str) -> ModuleType:
    """A peer client library; skipped when missing, or failed where CI requires the tools."""
    try:
        return importlib.import_module(module)
    except ImportError:
        reason = f"{package} is not installed: pip install -e '.[test]'"
        if os.environ.get("MODELOCI_REQUIRE_TOOLS"):
            pytest.fail(f"{reason} (MODELOCI_REQUIRE_TOOLS is set)", pytrace=False)
        pytest.skip(reason)


@pytest.fixture
def oras_client(registry) -> Any:
    oras = _peer("oras.client", "oras")
    return oras.OrasClient(hostname=registry.host, insecure=True)


def tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def packaged_files(archive: Path, example: str) -> dict[str, bytes]:
    """The example's files that ``archive`` packages, by the path its layers carry."""
    folder = EXAMPLES / example / ("tiny-qwen" if example == "hf-safetensors" else "")
    paths = [layer["annotations"]["org.cncf.model.filepath"] for layer in json.loads(manifest_of(archive))["layers"]]
    return {path: (folder / path).read_bytes() for path in paths}


# ----------------------------------------------------------------------------------------------------------------
# Peers read what we write
# ----------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["docker", "modelpack"])
@pytest.mark.parametrize("example", ["single-gguf", "sharded-vision", "hf-safetensors"])
def test_oras_pull_saves_our_layers_under_their_names(registry, repo_name, cli, oras_client, tmp_path: Path,
                                                      example: str, fmt: str) -> None:
    ref = f"{registry.host}/{repo_name}:v1"
    archive, _ = build(cli, tmp_path, example, args=("--format", fmt))
    assert cli("push", str(archive), ref).code == 0

    pulled = tmp_path / "pulled"
    oras_client.pull(target=ref, outdir=str(pulled))
    assert tree(pulled) == packaged_files(archive, example)
