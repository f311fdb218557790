"""`verify --rebuild` of a modelcar: the same Modelfile gives the same digest, whatever SOURCE_DATE_EPOCH says
now (the tar mtime is TARGET's), FROM scratch and FROM a Docker model whose layers it wraps."""

from __future__ import annotations

from pathlib import Path

import pytest

from modeloci import api
from modeloci.ops.rebuild import rebuild
from tests.modelcar.helpers import EPOCH, build_modelcar, single_gguf


def test_a_modelcar_is_rebuilt_to_the_same_digest_with_another_source_date_epoch_set(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    modelfile = single_gguf(tmp_path)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1234567")
    built = build_modelcar(modelfile, tmp_path / "car.tar", reference="tiny:car")
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "7654321")
    report = rebuild(modelfile, tmp_path / "car.tar").report
    assert (report.reproduced, report.rebuilt, report.files_hashed) == (True, str(built.manifest.digest), 3)


def test_a_modelcar_from_a_docker_model_is_rebuilt_to_the_same_digest(tmp_path: Path) -> None:
    modelfile = single_gguf(tmp_path)
    api.build(modelfile, modelfile.parent / "docker.tar", created=EPOCH)
    modelfile.write_text("FROM docker.tar\nCONFIG context_size=4096\n")
    built = build_modelcar(modelfile, tmp_path / "car.tar", reference="tiny:car")
    report = rebuild(modelfile, tmp_path / "car.tar").report
    assert (report.reproduced, report.rebuilt) == (True, str(built.manifest.digest))
