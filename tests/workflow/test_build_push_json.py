"""``build --json`` has one shape whatever its outputs: ``build --push REF --json`` and ``build -o X --push REF
--json`` both print the model built and the push (``push``), where the second used to drop the push and the first
printed a push document instead of a build one. Against a real registry (the fixtures of tests/registry)."""

from __future__ import annotations

from pathlib import Path

from tests.archive_tools import copy_example
from tests.registry.conftest import (  # noqa: F401
    _isolated_credentials,
    registry,
    registry_binary,
    repo_name,
)
from tests.workflow.schemas import BuildOutput, PushOutput
from tests.workflow.test_json import one_document


def test_build_push_has_one_shape_with_or_without_another_output(registry, repo_name: str, cli,  # noqa: F811
                                                                  tmp_path: Path) -> None:
    modelfile = copy_example("single-gguf", tmp_path)
    ref = f"{registry.host}/{repo_name}:1"
    local = one_document(cli("build", "-f", str(modelfile), "-o", str(tmp_path / "local.tar"), "-q", "--json"),
                         BuildOutput)
    assert local.push is None

    both = one_document(cli("build", "-f", str(modelfile), "-o", str(tmp_path / "m.tar"), "--push", ref, "-q",
                            "--json"), BuildOutput)
    assert both.push is not None, "the push result was dropped"
    assert (both.output, both.size) == (str(tmp_path / "m.tar"), (tmp_path / "m.tar").stat().st_size)
    assert (both.push.reference, both.push.digest, both.push.mounted) == (ref, local.digest, [])
    assert sorted(both.push.uploaded) == sorted({both.config.digest, *(layer.digest for layer in both.layers)})

    alone = one_document(cli("build", "-f", str(modelfile), "--push", ref, "-t", "tiny:1", "-q", "--json"),
                         BuildOutput)
    assert (alone.output, alone.size, alone.reference) == (None, None, "tiny:1")
    assert (alone.digest, alone.manifest, alone.config, alone.layers) == (
        local.digest, local.manifest, local.config, local.layers)
    assert alone.push is not None and (alone.push.digest, alone.push.uploaded) == (local.digest, [])
    assert PushOutput.model_validate(alone.push.model_dump()) == alone.push
    text = cli("build", "-f", str(modelfile), "--push", ref, "-q")
    assert (text.code, text.stdout) == (0, f"digest: {local.digest}\n")
