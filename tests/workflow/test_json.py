"""``--json`` on every command that reports something, validated by the strict models in tests/workflow/schemas.py.

With ``--json`` stdout holds exactly one JSON document and nothing else, whatever stderr shows (warnings,
progress); a failure is a document too (the command's own, or the failure document) with the documented exit
code: 2 for a bad Modelfile or bad usage, 1 for work that failed. Values are tied to reality: the digest a build
prints is the one inspect, ls, load and the store agree on, sizes are the files' sizes, digests are the bytes'.
lint, fmt and init are covered in test_lint.py, test_fmt_cli.py and test_init.py; push, pull, login and logout
in tests/registry/test_json_registry.py.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from types import SimpleNamespace

import pytest
from pydantic import BaseModel, ValidationError

from modeloci.cli import cli as cli_group
from tests.archive_tools import copy_example
from tests.workflow.schemas import (
    BuildOutput,
    ConvertOutput,
    DockerConfigJson,
    FailureJson,
    InspectArtifactOutput,
    InspectModelOutput,
    LoadOutput,
    LsOutput,
    ModelPackConfigJson,
    PlanOutput,
    PruneOutput,
    RmOutput,
    SaveOutput,
    TagOutput,
    UnpackOutput,
    VerifyOutput,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

# Commands that report nothing and so need no --json, each with the reason. Empty: every command reports.
# A command added without --json fails test_every_command_has_json until it gets one or is listed here.
REPORTS_NOTHING: dict[str, str] = {}


def one_document(result, model: type[BaseModel], code: int = 0) -> BaseModel:
    """stdout is exactly one JSON document (one line of output or an indented one, then a newline), valid for
    ``model``; the exit code is ``code``."""
    assert result.code == code, (result.code, result.stdout, result.stderr)
    assert result.stdout.endswith("}\n") or result.stdout.endswith("]\n"), result.stdout
    json.loads(result.stdout)  # raises on a second document or any text around the first
    return model.model_validate_json(result.stdout)


def sha256(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def single(tmp_path: Path) -> Path:
    """A copy of examples/single-gguf; its Modelfile."""
    return copy_example("single-gguf", tmp_path)


def build_archive(cli, modelfile: Path, out: Path, *extra: str) -> BuildOutput:
    return one_document(cli("build", "-f", str(modelfile), "-o", str(out), "--json", *extra), BuildOutput)


# -- plan ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["docker", "modelpack"])
def test_plan(fmt: str, single: Path, cli) -> None:
    result = cli("plan", "-f", str(single), "-t", "tiny:1", "--format", fmt, "--created", "2025-06-15T12:00:00Z",
                 "--json")
    plan = one_document(result, PlanOutput)
    assert (plan.format, plan.reference, plan.created, plan.base) == (fmt, "tiny:1", "2025-06-15T12:00:00Z", None)
    assert isinstance(plan.config, ModelPackConfigJson if fmt == "modelpack" else DockerConfigJson)
    assert [(layer.role, layer.filepath, layer.size) for layer in plan.layers] == [
        (role, name, (single.parent / name).stat().st_size)
        for role, name in [("weights", "tiny-llama-F32.gguf"), ("license", "LICENSE"),
                           ("chat_template", "chat_template.jinja")]]
    if fmt == "modelpack":  # the warning (MF104: no context size in ModelPack) is on stderr, never stdout
        assert "warning[MF104]" in result.stderr


def test_plan_on_a_base(tmp_path: Path, cli) -> None:
    rebase = copy_example("rebase", tmp_path)
    built = build_archive(cli, copy_example("single-gguf", tmp_path), rebase.parent / "base.tar", "-q")
    plan = one_document(cli("plan", "-f", str(rebase), "--json"), PlanOutput)
    assert plan.base is not None and plan.base.manifest_digest == built.digest
    carried = {layer.source.digest for layer in plan.layers if layer.source.kind == "base"}
    assert carried == {layer.digest for layer in built.layers if layer.path != "chat_template.jinja"}


# -- build, inspect, verify, ls: one digest --------------------------------------------------------------------------


def test_build_outputs_agree_with_inspect_verify_and_ls(single: Path, tmp_path: Path, cli) -> None:
    archive = tmp_path / "tiny.tar"
    # Without -q: progress lines go to stderr while stdout stays one document.
    result = cli("build", "-f", str(single), "-o", str(archive), "--progress", "plain", "--json")
    built = one_document(result, BuildOutput)
    assert result.stderr, "expected progress on stderr"
    assert (built.output, built.size, built.reference) == (str(archive), archive.stat().st_size, None)
    assert built.manifest.digest == built.digest
    assert [layer.path for layer in built.layers] == ["tiny-llama-F32.gguf", "LICENSE", "chat_template.jinja"]
    assert all(layer.digest == sha256(single.parent / layer.path) for layer in built.layers)

    layout = one_document(cli("build", "-f", str(single), "--layout", str(tmp_path / "lay"), "-q", "--json"),
                          BuildOutput)
    stored = one_document(cli("build", "-f", str(single), "-t", "tiny:1", "-q", "--json"), BuildOutput)
    assert layout.digest == stored.digest == built.digest
    assert (stored.reference, stored.size, stored.output) == ("tiny:1", None, os.environ["MODELOCI_HOME"])
    assert (tmp_path / "lay" / "blobs" / "sha256" / built.digest.split(":")[1]).is_file()

    for source in (archive, tmp_path / "lay", "tiny:1"):
        shown = one_document(cli("inspect", str(source), "--json"), InspectArtifactOutput)
        assert (shown.manifest_digest, shown.format) == (built.digest, "docker")
        assert [(layer.digest, layer.size) for layer in shown.layers] == [(d.digest, d.size) for d in built.layers]
        assert shown.config.context_size == 2048
    assert shown.reference == "tiny:1"

    checked = one_document(cli("verify", str(archive), "--json"), VerifyOutput)
    assert (checked.ok, checked.manifest_digest, checked.format, checked.problems) == (True, built.digest, "docker", [])
    assert checked.bytes_checked == sum(layer.size for layer in built.layers)
    store = one_document(cli("verify", "--store", "--json"), VerifyOutput)
    assert (store.ok, store.format, store.bytes_checked) == (True, "store", checked.bytes_checked)

    rows = one_document(cli("ls", "--json"), LsOutput).root
    assert [(row.reference, row.digest, row.format, row.architecture) for row in rows] == [
        ("tiny:1", built.digest, "docker", "llama")]


def test_build_modelpack_warns_on_stderr_only(single: Path, tmp_path: Path, cli) -> None:
    result = cli("build", "-f", str(single), "--format", "cncf", "-o", str(tmp_path / "m.tar"), "--json")
    built = one_document(result, BuildOutput)
    assert "warning[MF104]" in result.stderr
    assert built.config.mediaType == "application/vnd.cncf.model.config.v1+json"


# -- inspect of model files ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "kind", "fmt", "projector"), [
    ("single-gguf/tiny-llama-F32.gguf", "gguf", "gguf", False),
    ("sharded-vision/mmproj-tiny-vision-F16.gguf", "gguf", "gguf", True),
    ("sharded-vision", "folder", "gguf", False),
    ("hf-safetensors/tiny-qwen", "folder", "safetensors", False),
    ("hf-safetensors/tiny-qwen/model.safetensors", "safetensors", "safetensors", False),
])
def test_inspect_model_files(path: str, kind: str, fmt: str, projector: bool, cli) -> None:
    report = one_document(cli("inspect", str(EXAMPLES / path), "--json"), InspectModelOutput)
    assert (report.kind, report.format, report.projector, report.problems) == (kind, fmt, projector, [])
    assert report.parameter_count > 0 and report.tensor_count > 0
    assert (report.gguf_version is not None) == (fmt == "gguf")
    folder = EXAMPLES / path if kind == "folder" else (EXAMPLES / path).parent
    assert all(entry.size == (folder / entry.path).stat().st_size for entry in report.files)


# -- unpack, convert ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["bundle", "files"])
def test_unpack(layout: str, single: Path, tmp_path: Path, cli) -> None:
    build_archive(cli, single, tmp_path / "tiny.tar", "-q")
    out = tmp_path / "out"
    report = one_document(cli("unpack", str(tmp_path / "tiny.tar"), "-o", str(out), "--layout", layout, "--json"),
                          UnpackOutput)
    assert (report.layout, report.format, report.output) == (layout, "docker", str(out))
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert written == sorted(f.path for f in report.files)
    for entry in report.files:
        assert (entry.size, entry.digest) == ((out / entry.path).stat().st_size, sha256(out / entry.path))


def test_convert_both_ways(single: Path, tmp_path: Path, cli) -> None:
    built = build_archive(cli, single, tmp_path / "tiny.tar", "-q")
    result = cli("convert", str(tmp_path / "tiny.tar"), "--format", "cncf", "-o", str(tmp_path / "mp.tar"), "--json")
    converted = one_document(result, ConvertOutput)
    assert (converted.from_, converted.to) == ("docker", "modelpack")
    assert converted.size == (tmp_path / "mp.tar").stat().st_size
    assert converted.warnings and all(f"warning: {w}" in result.stderr for w in converted.warnings)
    assert [layer.digest for layer in converted.layers] == [layer.digest for layer in built.layers]
    shown = one_document(cli("inspect", str(tmp_path / "mp.tar"), "--json"), InspectArtifactOutput)
    assert (shown.format, shown.manifest_digest) == ("modelpack", converted.digest)

    back = one_document(cli("convert", str(tmp_path / "mp.tar"), "--format", "docker", "-o", str(tmp_path / "d.tar"),
                            "-t", "back:1", "--json"), ConvertOutput)
    assert (back.from_, back.to, back.reference) == ("modelpack", "docker", "back:1")


# -- the store: tag, ls, save, rm, prune, load -----------------------------------------------------------------------


def test_store_commands(single: Path, tmp_path: Path, cli) -> None:
    built = one_document(cli("build", "-f", str(single), "-t", "tiny:1", "-q", "--json"), BuildOutput)
    tagged = one_document(cli("tag", "tiny:1", "tiny", "--json"), TagOutput)
    assert (tagged.source, tagged.reference, tagged.digest) == ("tiny:1", "tiny:latest", built.digest)
    rows = one_document(cli("ls", "--json"), LsOutput).root
    assert sorted((row.reference, row.digest) for row in rows) == [("tiny:1", built.digest),
                                                                   ("tiny:latest", built.digest)]

    saved = one_document(cli("save", "tiny:1", "-o", str(tmp_path / "s.tar"), "--json"), SaveOutput)
    saved_file = tmp_path / "s.tar"
    assert (saved.reference, saved.output, saved.size) == ("tiny:1", str(saved_file), saved_file.stat().st_size)
    shown = one_document(cli("inspect", str(saved_file), "--json"), InspectArtifactOutput)
    assert shown.manifest_digest == built.digest

    removed = one_document(cli("rm", "tiny:1", "tiny:latest", "--json"), RmOutput)
    assert (removed.removed, removed.missing) == (["tiny:1", "tiny:latest"], [])
    assert one_document(cli("ls", "--json"), LsOutput).root == []
    pruned = one_document(cli("prune", "--json"), PruneOutput)
    assert pruned.files == len(built.layers) + 2  # every blob: the layers, the config and the manifest
    assert pruned.bytes == built.manifest.size + built.config.size + sum(layer.size for layer in built.layers)
    assert one_document(cli("prune", "--json"), PruneOutput).model_dump() == {"files": 0, "bytes": 0}

    loaded = one_document(cli("load", str(tmp_path / "s.tar"), "-t", "again:2", "--json"), LoadOutput)
    assert (loaded.reference, loaded.digest, loaded.format) == ("again:2", built.digest, "docker")
    assert [row.reference for row in one_document(cli("ls", "--json"), LsOutput).root] == ["again:2"]


# -- failures: still one document on stdout, with the documented exit code ------------------------------------------


def test_missing_modelfile(tmp_path: Path, cli) -> None:
    for command in (("plan",), ("build", "-o", "x.tar")):
        failure = one_document(cli(*command, "-f", "absent/Modelfile", "--json", cwd=tmp_path), FailureJson, code=2)
        assert failure.exit_code == 2 and "absent/Modelfile" in failure.error and failure.diagnostics is None
    assert not (tmp_path / "x.tar").exists()


def test_bad_modelfile_lists_both_errors(tmp_path: Path, cli) -> None:
    (tmp_path / "Modelfile").write_text("FROM scratch\nWIEGHTS x.gguf\nCONFIG context_size=abc\n")
    for command in (("plan",), ("build", "-o", "x.tar")):
        failure = one_document(cli(*command, "--json", cwd=tmp_path), FailureJson, code=2)
        assert failure.exit_code == 2 and failure.diagnostics is not None
        assert [(d.code, d.line, d.severity) for d in failure.diagnostics] == [("MF003", 2, "error"),
                                                                               ("MF043", 3, "error")]
        assert "error[MF003]" in cli(*command, cwd=tmp_path).stderr  # the rendered form stays on stderr


def test_verify_corrupted_archive(single: Path, tmp_path: Path, cli) -> None:
    built = build_archive(cli, single, tmp_path / "tiny.tar", "-q")
    data = bytearray((tmp_path / "tiny.tar").read_bytes())
    data[data.index(b"GGUF") + 600] ^= 0xFF  # inside the weights, whose digest no longer matches
    (tmp_path / "bad.tar").write_bytes(data)
    report = one_document(cli("verify", str(tmp_path / "bad.tar"), "--json"), VerifyOutput, code=1)
    assert not report.ok and report.manifest_digest == built.digest
    assert [p.severity for p in report.problems] == ["error"] and built.layers[0].digest in report.problems[0].message

    (tmp_path / "junk.tar").write_text("not a tar\n")  # unreadable at all: the failure document
    failure = one_document(cli("verify", str(tmp_path / "junk.tar"), "--json"), FailureJson, code=1)
    assert failure.exit_code == 1 and "junk.tar" in failure.error


def test_rm_missing_name(single: Path, cli) -> None:
    one_document(cli("build", "-f", str(single), "-t", "tiny:1", "-q", "--json"), BuildOutput)
    removed = one_document(cli("rm", "tiny:1", "absent", "--json"), RmOutput, code=2)
    assert (removed.removed, removed.missing) == (["tiny:1"], ["absent:latest"])
    failure = one_document(cli("tag", "absent", "other", "--json"), FailureJson, code=2)
    assert failure.exit_code == 2 and "absent:latest" in failure.error


@pytest.mark.parametrize("args", [("save", "tiny:1"), ("load", "absent.tar"), ("unpack", "x.tar", "-o", "out",
                                                                            "--layout", "nonsense")],
                         ids=["missing-option", "missing-path", "bad-choice"])
def test_click_usage_error_is_a_failure_document(args: tuple[str, ...], tmp_path: Path, cli) -> None:
    failure = one_document(cli(*args, "--json", cwd=tmp_path), FailureJson, code=2)
    assert failure.exit_code == 2


def test_internal_error_is_a_failure_document(monkeypatch: pytest.MonkeyPatch, cli) -> None:
    def broken(store):
        raise RuntimeError("boom")

    monkeypatch.setattr("modeloci.store.ops.list_models", broken)
    failure = one_document(cli("ls", "--json", internal_error_expected=True), FailureJson, code=1)
    assert failure.exit_code == 1 and "boom" in failure.error


# -- every command has --json ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(cli_group.commands))
def test_every_command_has_json(name: str) -> None:
    options = {opt for param in cli_group.commands[name].params for opt in getattr(param, "opts", ())}
    if name in REPORTS_NOTHING:
        assert "--json" not in options, f"{name} has --json now: take it off REPORTS_NOTHING"
    else:
        assert "--json" in options, f"`modeloci {name}` reports something but has no --json"


def test_allow_list_names_real_commands() -> None:
    assert set(REPORTS_NOTHING) <= set(cli_group.commands)


def test_the_contract_bites(single: Path, tmp_path: Path, cli) -> None:
    """The models reject what a loose schema would let through, and one_document rejects a second document."""
    good = json.loads(cli("build", "-f", str(single), "-o", str(tmp_path / "t.tar"), "-q", "--json").stdout)
    BuildOutput.model_validate(good)
    for broken in ({**good, "extra": 1}, {**good, "digest": good["digest"].upper()}, {**good, "size": -1},
                   {**good, "size": "15872"}, {k: v for k, v in good.items() if k != "reference"}):
        with pytest.raises(ValidationError):
            BuildOutput.model_validate_json(json.dumps(broken))
    with pytest.raises(ValidationError):  # a Docker config field is absent when unset, never null
        DockerConfigJson.model_validate_json('{"context_size": null}')
    with pytest.raises(ValidationError):  # ok must agree with the problems
        VerifyOutput.model_validate_json(json.dumps({"source": "x", "format": None, "manifest_digest": None,
                                                     "blobs_checked": 0, "bytes_checked": 0, "ok": True,
                                                     "problems": [{"severity": "error", "message": "m"}]}))
    twice = SimpleNamespace(code=0, stdout=json.dumps(good) + "\n" + json.dumps(good) + "\n", stderr="")
    with pytest.raises(json.JSONDecodeError):
        one_document(twice, BuildOutput)
