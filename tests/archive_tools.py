"""Test helpers: build the bundled examples, and read archives with independent readers.

Archives are read back with Python's ``tarfile`` (not with modeloci's own
reader), so a bug in our reader cannot hide a bug in our writer.
"""

from __future__ import annotations

import json
import shutil
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modeloci import api

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
EXAMPLE_NAMES = ("single-gguf", "sharded-vision", "rebase", "hf-safetensors")


@dataclass
class Archive:
    """An archive's members, read with tarfile."""

    path: Path
    names: list[str]
    files: dict[str, bytes]

    @classmethod
    def read(cls, path: Path) -> Archive:
        with tarfile.open(path) as tar:
            members = tar.getmembers()
            files = {m.name: tar.extractfile(m).read() for m in members if m.isreg()}  # type: ignore[union-attr]
        return cls(path, [m.name for m in members], files)

    def json(self, name: str) -> Any:
        return json.loads(self.files[name])

    @property
    def index(self) -> Any:
        return self.json("index.json")

    @property
    def manifest_bytes(self) -> bytes:
        digest = self.index["manifests"][0]["digest"]
        return self.files["blobs/sha256/" + digest.split(":")[1]]

    @property
    def manifest(self) -> Any:
        return json.loads(self.manifest_bytes)

    @property
    def config_bytes(self) -> bytes:
        return self.files["blobs/sha256/" + self.manifest["config"]["digest"].split(":")[1]]

    @property
    def config(self) -> Any:
        return json.loads(self.config_bytes)


def copy_example(name: str, dest: Path) -> Path:
    """Copy an example folder to ``dest/name``; returns the copy's Modelfile."""
    target = dest / name
    shutil.copytree(EXAMPLES / name, target, ignore=shutil.ignore_patterns("*.tar"))
    return target / "Modelfile"


def build_example(
    name: str,
    dest: Path,
    *,
    output: Path | None = None,
    prepare: Callable[[Path], None] | None = None,
    **options: Any,
) -> tuple[Path, api.BuildResult]:
    """Build example ``name`` from a copy under ``dest``; the rebase example gets its base built first.

    ``prepare`` may alter the copied folder(s) before anything is built.
    """
    modelfile = copy_example(name, dest)
    base = copy_example("single-gguf", dest) if name == "rebase" else None
    if prepare is not None:
        prepare(dest)
    if base is not None:
        api.build(base, modelfile.parent / "base.tar", **{k: v for k, v in options.items() if k == "created"})
    output = output or dest / f"{name}.tar"
    result = api.build(modelfile, output, display="Modelfile", **options)
    return output, result
