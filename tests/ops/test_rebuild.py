"""``modeloci verify --rebuild``: a model proved by building it again from its Modelfile, writing nothing.

Every example, built into an archive, a layout folder and the store, is reproduced; then one input is changed at a
time (a file's bytes, a CONFIG value, a LICENSE line, a build argument) and the first difference is asserted in
full. TARGETs that are not models, and TARGETs another tool wrote, give clear answers. A registry TARGET is
rebuilt against the real ``docker-registry`` without downloading a layer.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from modeloci import api
from modeloci.attest import provenance
from modeloci.attest.keys import KeySigner
from modeloci.builder import build_archive
from modeloci.oci.mediatypes import MediaType
from modeloci.oci.referrers import make_referrer
from modeloci.ops import rebuild as rebuild_module
from modeloci.ops.differences import Difference
from modeloci.ops.rebuild import MAX_DIFFERENCES, rebuild, recorded
from modeloci.sources import resolve
from modeloci.sources.referrers import attach
from tests.archive_tools import EXAMPLE_NAMES, EXAMPLES, Archive, copy_example
from tests.registry.conftest import registry, registry_binary  # noqa: F401  (fixtures: the real registry)
from tests.workflow.schemas import RebuildOutput

WHEN = "2025-06-15T12:00:00Z"
EPOCH = 1_749_988_800


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def example(name: str, tmp_path: Path) -> Path:
    """A copy of example ``name`` (the rebase example with its base built beside it); its Modelfile."""
    modelfile = copy_example(name, tmp_path)
    if name == "rebase":
        api.build(copy_example("single-gguf", tmp_path / "base-src"), modelfile.parent / "base.tar")
    return modelfile


def built(cli, modelfile: Path, *args: str) -> str:
    """``modeloci build -f MODELFILE ARGS --json``: the manifest digest."""
    result = cli("build", "-f", str(modelfile), *args, "-q", "--json")
    assert result.code == 0, result.stderr
    return str(json.loads(result.stdout)["digest"])


def check(cli, modelfile: Path, target: str, *args: str, **options: Any):
    return cli("verify", "--rebuild", "-f", str(modelfile), target, *args, **options)


# -- reproduced ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_every_example_is_reproduced_from_an_archive_a_layout_and_the_store(name: str, tmp_path: Path, cli) -> None:
    modelfile = example(name, tmp_path)
    targets = {
        str(tmp_path / "m.tar"): built(cli, modelfile, "-o", str(tmp_path / "m.tar"), "--created", WHEN),
        str(tmp_path / "layout"): built(cli, modelfile, "--layout", str(tmp_path / "layout")),
        "rebuilt/model:1": built(cli, modelfile, "-t", "rebuilt/model:1", "--created", "1700000000"),
    }
    for target, digest in targets.items():
        result = check(cli, modelfile, target)
        assert (result.code, result.stdout, result.stderr) == (0, f"reproduced: {digest}\n", ""), target


def test_a_modelpack_model_is_reproduced_with_the_name_its_config_records(tmp_path: Path, cli) -> None:
    """ModelPack writes the name and tag into the config: the rebuild takes them from there, whatever the
    layout's index says (here, nothing: a second model in the layout names them apart)."""
    modelfile = example("single-gguf", tmp_path)
    layout = tmp_path / "layout"
    digests = [built(cli, modelfile, "--format", "modelpack", "-t", tag, "--layout", str(layout), "--created", WHEN)
               for tag in ("tiny/llama:f32", "other:latest")]
    assert digests[0] != digests[1]
    for tag, digest in zip(("tiny/llama:f32", "other:latest"), digests, strict=True):
        result = check(cli, modelfile, f"{layout}:{tag}", "--json")
        report = RebuildOutput.model_validate_json(result.stdout)
        assert (result.code, report.reproduced, report.digest, report.format) == (0, True, digest, "modelpack")
        assert report.created == WHEN


def test_the_creation_time_is_the_targets_whatever_the_environment_says(tmp_path: Path, cli) -> None:
    modelfile = example("single-gguf", tmp_path)
    digest = built(cli, modelfile, "-o", str(tmp_path / "m.tar"), "--created", WHEN)
    result = check(cli, modelfile, str(tmp_path / "m.tar"), env={"SOURCE_DATE_EPOCH": "1"})
    assert (result.code, result.stdout) == (0, f"reproduced: {digest}\n")
    untimed = built(cli, modelfile, "-o", str(tmp_path / "untimed.tar"))
    result = check(cli, modelfile, str(tmp_path / "untimed.tar"), env={"SOURCE_DATE_EPOCH": str(EPOCH)})
    assert (result.code, result.stdout) == (0, f"reproduced: {untimed}\n")


def test_the_json_report_says_how_the_rebuild_was_made(tmp_path: Path, cli) -> None:
    modelfile = example("rebase", tmp_path)
    built(cli, modelfile, "-o", str(tmp_path / "m.tar"), "-t", "tiny-llama:chat", "--created", WHEN)
    result = check(cli, modelfile, str(tmp_path / "m.tar"), "--json")
    assert result.code == 0, result.stderr
    report = RebuildOutput.model_validate_json(result.stdout)
    base = _manifest_digest(modelfile.parent / "base.tar")
    assert report.model_dump() == {
        "source": str(tmp_path / "m.tar"), "modelfile": str(modelfile), "format": "docker", "reproduced": True,
        "digest": report.digest, "rebuilt": report.digest, "created": WHEN, "reference": "tiny-llama:chat",
        "build_args": {}, "base": base, "provenance": None, "files_hashed": 1,
        "bytes_hashed": (modelfile.parent / "chat template.jinja").stat().st_size, "differences": []}


def _manifest_digest(archive: Path) -> str:
    return str(Archive.read(archive).index["manifests"][0]["digest"])


def test_a_rebuild_writes_nothing(tmp_path: Path, cli) -> None:
    modelfile = example("single-gguf", tmp_path)
    built(cli, modelfile, "-t", "tiny:1")
    store, cache = Path(os.environ["MODELOCI_HOME"]), Path(os.environ["XDG_CACHE_HOME"])
    before = {p: p.stat().st_mtime_ns for root in (store, cache, tmp_path) for p in root.rglob("*")}
    assert check(cli, modelfile, "tiny:1", cwd=tmp_path).code == 0
    assert {p: p.stat().st_mtime_ns for root in (store, cache, tmp_path) for p in root.rglob("*")} == before


# -- the first difference ------------------------------------------------------------------------------------------


def test_a_changed_input_file_names_its_layer(tmp_path: Path, cli) -> None:
    modelfile = example("single-gguf", tmp_path)
    digest = built(cli, modelfile, "-o", str(tmp_path / "m.tar"))
    license_file = modelfile.parent / "LICENSE"
    old = license_file.read_bytes()
    license_file.write_bytes(old.replace(b"MIT", b"MTI", 1))
    result = check(cli, modelfile, str(tmp_path / "m.tar"))
    report = RebuildOutput.model_validate_json(check(cli, modelfile, str(tmp_path / "m.tar"), "--json").stdout)
    assert (result.code, result.stderr) == (1, "")
    assert result.stdout == (
        f"differs: {tmp_path / 'm.tar'} is {digest}, the rebuild {report.rebuilt}\n"
        f"first difference: layer `LICENSE`: digest is {sha256(old)} in TARGET, "
        f"{sha256(license_file.read_bytes())} in the rebuild\n"
        "(1 more difference: --json lists them)\n")
    assert [(d.part, d.name, d.field) for d in report.differences] == [
        ("layer", "LICENSE", "digest"), ("config", "rootfs.diff_ids", None)]


def test_a_changed_weights_byte_names_the_weights_layer(tmp_path: Path, cli) -> None:
    modelfile = example("sharded-vision", tmp_path)
    built(cli, modelfile, "-o", str(tmp_path / "m.tar"))
    shard = modelfile.parent / "tiny-vision-00002-of-00002.gguf"
    data = bytearray(shard.read_bytes())
    old = bytes(data)
    data[-1] ^= 0x01  # a byte of tensor data: the header, and so the plan, stay the same
    shard.write_bytes(bytes(data))
    result = check(cli, modelfile, str(tmp_path / "m.tar"))
    assert result.code == 1
    assert result.stdout.splitlines()[1] == (
        f"first difference: layer `tiny-vision-00002-of-00002.gguf`: digest is {sha256(old)} in TARGET, "
        f"{sha256(bytes(data))} in the rebuild")


def test_a_changed_config_value_names_the_field(tmp_path: Path, cli) -> None:
    modelfile = example("single-gguf", tmp_path)
    built(cli, modelfile, "-o", str(tmp_path / "m.tar"))
    modelfile.write_text(modelfile.read_text().replace("context_size=2048", "context_size=4096"))
    result = check(cli, modelfile, str(tmp_path / "m.tar"))
    assert (result.code, result.stdout.splitlines()[1:]) == (
        1, ["first difference: config `config.context_size` is 2048 in TARGET, 4096 in the rebuild"])


def test_a_changed_label_names_the_manifest_annotation(tmp_path: Path, cli) -> None:
    modelfile = example("sharded-vision", tmp_path)
    built(cli, modelfile, "-o", str(tmp_path / "m.tar"))
    modelfile.write_text(modelfile.read_text().replace('"Tiny Vision"', '"Tiny Vision 2"'))
    result = check(cli, modelfile, str(tmp_path / "m.tar"))
    assert (result.code, result.stdout.splitlines()[1:]) == (
        1, ['first difference: manifest annotation `org.opencontainers.image.title` is "Tiny Vision" in TARGET, '
            '"Tiny Vision 2" in the rebuild'])


def test_a_layer_only_one_side_has_is_named(tmp_path: Path, cli) -> None:
    modelfile = example("single-gguf", tmp_path)
    built(cli, modelfile, "-o", str(tmp_path / "m.tar"))
    text = modelfile.read_text()
    modelfile.write_text(text.replace("LICENSE LICENSE\n", ""))
    result = check(cli, modelfile, str(tmp_path / "m.tar"), "--json")
    report = RebuildOutput.model_validate_json(result.stdout)
    assert result.code == 1
    first = report.differences[0]
    assert (first.part, first.name, first.field, first.rebuilt, first.message) == (
        "layer", "LICENSE", None, None, "layer `LICENSE` is only in TARGET")
    assert first.target == sha256((modelfile.parent / "LICENSE").read_bytes())
    (modelfile.parent / "NOTICE").write_text("notice\n")
    modelfile.write_text(text.replace("LICENSE LICENSE", "LICENSE LICENSE NOTICE"))
    result = check(cli, modelfile, str(tmp_path / "m.tar"))
    assert result.stdout.splitlines()[1] == "first difference: layer `NOTICE` is only in the rebuild"


def test_layers_in_another_order_are_named_by_their_place(tmp_path: Path, cli) -> None:
    folder = tmp_path / "m"
    folder.mkdir()
    shutil.copy(EXAMPLES / "single-gguf" / "tiny-llama-F32.gguf", folder)
    (folder / "A").write_text("a\n")
    (folder / "B").write_text("b\n")
    modelfile = folder / "Modelfile"
    modelfile.write_text("FROM scratch\nWEIGHTS tiny-llama-F32.gguf\nLICENSE A B\n")
    built(cli, modelfile, "-o", str(tmp_path / "m.tar"))
    modelfile.write_text("FROM scratch\nWEIGHTS tiny-llama-F32.gguf\nLICENSE B A\n")
    result = check(cli, modelfile, str(tmp_path / "m.tar"))
    assert result.stdout.splitlines()[1] == "first difference: layer `A`: position is 2 in TARGET, 3 in the rebuild"


# -- build arguments -----------------------------------------------------------------------------------------------


def test_build_args_are_used_and_reported(tmp_path: Path, cli) -> None:
    modelfile = example("rebase", tmp_path)
    other = copy_example("single-gguf", tmp_path / "other-src")
    (other.parent / "LICENSE").write_text("another license\n")
    built(cli, other, "-o", str(modelfile.parent / "other.tar"))
    built(cli, modelfile, "-o", str(tmp_path / "m.tar"), "--build-arg", "BASE=other.tar")
    without = check(cli, modelfile, str(tmp_path / "m.tar"))
    assert without.code == 1
    assert without.stdout.splitlines()[1].startswith("first difference: layer `LICENSE`: digest is ")
    result = check(cli, modelfile, str(tmp_path / "m.tar"), "--build-arg", "BASE=other.tar", "--json")
    report = RebuildOutput.model_validate_json(result.stdout)
    assert (result.code, report.reproduced, report.build_args, report.files_hashed) == (
        0, True, {"BASE": "other.tar"}, 1)
    assert report.base == _manifest_digest(modelfile.parent / "other.tar")


# -- following the provenance --------------------------------------------------------------------------------------


def with_provenance(modelfile: Path, output: Path, *, signed: bool = False, **options: Any) -> tuple[str, str]:
    """Build ``modelfile`` into ``output`` (the API's plan options) and attach its SLSA provenance, signed with a
    new key or not; (the model's digest, the provenance referrer's)."""
    plan = api.plan(modelfile, **options)
    result = build_archive(plan, output)
    statement = provenance.statement(plan, result, modelfile=modelfile, build_args=options.get("build_args"))
    referrer = provenance.referrer(statement, result.manifest,
                                   KeySigner(ec.generate_private_key(ec.SECP256R1())) if signed else None)
    attach(output, [referrer])
    return str(result.manifest.digest), str(referrer.digest)


def other_base(modelfile: Path, tmp_path: Path, name: str = "other.tar") -> Path:
    """A base beside the rebase example's that differs from base.tar in its LICENSE."""
    other = copy_example("single-gguf", tmp_path / f"{name}-src")
    (other.parent / "LICENSE").write_text(f"the license of {name}\n")
    api.build(other, modelfile.parent / name)
    return modelfile.parent / name


@pytest.mark.parametrize("signed", [False, True], ids=["in-toto", "sigstore-bundle"])
def test_the_build_arguments_the_provenance_records_are_followed(signed: bool, tmp_path: Path, cli) -> None:
    modelfile = example("rebase", tmp_path)
    other_base(modelfile, tmp_path)
    digest, followed = with_provenance(modelfile, tmp_path / "m.tar", signed=signed,
                                       build_args={"BASE": "other.tar"}, created=EPOCH)
    result = check(cli, modelfile, str(tmp_path / "m.tar"), "--json")
    report = RebuildOutput.model_validate_json(result.stdout)
    assert (result.code, report.reproduced, report.digest) == (0, True, digest)
    assert (report.build_args, report.provenance, report.base) == (
        {"BASE": "other.tar"}, followed, _manifest_digest(modelfile.parent / "other.tar"))


def test_build_arguments_on_the_command_line_win_over_the_provenance(tmp_path: Path, cli) -> None:
    modelfile = example("rebase", tmp_path)
    other_base(modelfile, tmp_path)
    with_provenance(modelfile, tmp_path / "m.tar", build_args={"BASE": "other.tar"})
    result = check(cli, modelfile, str(tmp_path / "m.tar"), "--build-arg", "BASE=base.tar", "--json")
    report = RebuildOutput.model_validate_json(result.stdout)
    assert (result.code, report.build_args, report.base) == (
        1, {"BASE": "base.tar"}, _manifest_digest(modelfile.parent / "base.tar"))
    assert [(d.part, d.name, d.field) for d in report.differences[:2]] == [
        ("base", "base.tar", None), ("layer", "LICENSE", "digest")]


def test_a_recorded_argument_the_modelfile_no_longer_declares_is_left_out(tmp_path: Path, cli) -> None:
    modelfile = example("rebase", tmp_path)
    other_base(modelfile, tmp_path)
    digest, _ = with_provenance(modelfile, tmp_path / "m.tar", build_args={"BASE": "other.tar"})
    modelfile.write_text(modelfile.read_text().replace("ARG BASE=base.tar\nFROM ${BASE}", "FROM other.tar"))
    result = check(cli, modelfile, str(tmp_path / "m.tar"), "--json")
    report = RebuildOutput.model_validate_json(result.stdout)
    assert (result.code, report.reproduced, report.digest, report.build_args) == (0, True, digest, {})


def test_a_provenance_statement_about_another_model_is_not_followed(tmp_path: Path, cli) -> None:
    """A referrer of this model whose statement names another subject says nothing about this one."""
    modelfile = example("rebase", tmp_path)
    other_base(modelfile, tmp_path)
    options: dict[str, Any] = {"build_args": {"BASE": "other.tar"}}
    plan = api.plan(modelfile, **options)
    result = build_archive(plan, tmp_path / "m.tar")
    statement = json.loads(provenance.statement(plan, result, modelfile=modelfile, **options))
    statement["subject"][0]["digest"]["sha256"] = "0" * 64
    attach(tmp_path / "m.tar", [make_referrer(result.manifest, MediaType.IN_TOTO, json.dumps(statement).encode(),
                                              MediaType.IN_TOTO)])
    report = RebuildOutput.model_validate_json(check(cli, modelfile, str(tmp_path / "m.tar"), "--json").stdout)
    assert (report.reproduced, report.provenance, report.build_args) == (False, None, {})


@pytest.mark.parametrize("reference", ["no-tag", "UPPER:1", "two\nlines:1", ""])
def test_a_recorded_reference_no_build_could_have_used_is_not_followed(reference: str, tmp_path: Path, cli) -> None:
    """A hostile statement's name (no tag, not a name at all) never reaches the compiler: the config's is used."""
    modelfile = example("single-gguf", tmp_path)
    options: dict[str, Any] = {"format": "modelpack", "reference": "tiny:1", "created": EPOCH}
    plan = api.plan(modelfile, **options)
    result = build_archive(plan, tmp_path / "m.tar")
    statement = json.loads(provenance.statement(plan, result, modelfile=modelfile))
    statement["predicate"]["buildDefinition"]["externalParameters"]["reference"] = reference
    attach(tmp_path / "m.tar", [make_referrer(result.manifest, MediaType.IN_TOTO, json.dumps(statement).encode(),
                                              MediaType.IN_TOTO)])
    result_json = check(cli, modelfile, str(tmp_path / "m.tar"), "--json")
    report = RebuildOutput.model_validate_json(result_json.stdout)
    assert (result_json.code, report.reproduced, report.reference) == (0, True, "tiny:1")
    assert report.provenance is not None


MALFORMED: list[Any] = [
    None, [], "text", 1, {"predicate": []}, {"predicate": {"buildDefinition": "x"}},
    {"predicate": {"buildDefinition": {"buildType": provenance.BUILD_TYPE, "externalParameters": []}}},
    {"predicate": {"buildDefinition": {"buildType": provenance.BUILD_TYPE,
                                       "externalParameters": {"buildArgs": {"A": 1, "B": None}, "reference": 7},
                                       "resolvedDependencies": [None, 1, {"mediaType": MediaType.OCI_MANIFEST},
                                                                {"mediaType": MediaType.OCI_MANIFEST,
                                                                 "digest": {"sha256": "not hex"}}]}}},
    {"predicate": {"buildDefinition": {"buildType": provenance.BUILD_TYPE, "resolvedDependencies": {"a": 1}}}},
]


@pytest.mark.parametrize("body", MALFORMED)
def test_a_malformed_statement_is_read_without_a_crash(body: Any, tmp_path: Path) -> None:
    """Every field of a statement is checked for its type before it is used; what does not fit is left out."""
    modelfile = example("single-gguf", tmp_path)
    result = build_archive(api.plan(modelfile), tmp_path / "m.tar")
    subject = {"name": "m", "digest": {"sha256": result.manifest.digest.hex}}
    doc = {"_type": provenance.STATEMENT_TYPE, "predicateType": provenance.PREDICATE_TYPE, "subject": [subject],
           **(body if isinstance(body, dict) else {"predicate": body})}
    referrer = make_referrer(result.manifest, MediaType.IN_TOTO, json.dumps(doc).encode(), MediaType.IN_TOTO)
    found = recorded([referrer], result.manifest.digest)
    assert found is None or (found.build_args, found.reference, found.base) == ({}, None, None)


def test_a_local_base_that_changed_since_the_recorded_build_is_the_first_difference(tmp_path: Path, cli) -> None:
    modelfile = example("rebase", tmp_path)
    recorded = _manifest_digest(modelfile.parent / "base.tar")
    with_provenance(modelfile, tmp_path / "m.tar")
    other_base(modelfile, tmp_path, "base.tar")  # base.tar built again, from another LICENSE
    result = check(cli, modelfile, str(tmp_path / "m.tar"))
    now = _manifest_digest(modelfile.parent / "base.tar")
    assert (result.code, result.stdout.splitlines()[1]) == (
        1, f"first difference: the base `base.tar` is {now}; TARGET's provenance records {recorded}")


def test_a_registry_base_is_pinned_to_the_digest_the_provenance_records(tmp_path: Path, cli, registry) -> None:  # noqa: F811
    base = copy_example("single-gguf", tmp_path / "base-src")
    recorded = built(cli, base, "--push", f"{registry.host}/rebuild/base:1")
    folder = tmp_path / "model"
    folder.mkdir()
    shutil.copy(EXAMPLES / "rebase" / "chat template.jinja", folder)
    modelfile = folder / "Modelfile"
    modelfile.write_text(f'FROM {registry.host}/rebuild/base:1\nCHAT_TEMPLATE "chat template.jinja"\n')
    digest, _ = with_provenance(modelfile, tmp_path / "m.tar", created=EPOCH)
    (base.parent / "LICENSE").write_text("the base moved on\n")
    assert cli("build", "-f", str(base), "--push", f"{registry.host}/rebuild/base:1", "-q").code == 0
    fresh = {"MODELOCI_HOME": str(tmp_path / "fresh-store")}  # another machine: the base is read from the registry
    result = check(cli, modelfile, str(tmp_path / "m.tar"), "--json", env=fresh)
    report = RebuildOutput.model_validate_json(result.stdout)
    assert (result.code, report.reproduced, report.digest, report.base) == (0, True, digest, recorded)
    moved = json.loads(cli("plan", "-f", str(modelfile), "--json", env=fresh).stdout)["base"]["manifest_digest"]
    assert moved != recorded  # the tag has moved on: without the provenance, the rebuild would differ


def test_the_provenance_of_a_model_in_a_registry_is_followed(tmp_path: Path, cli, registry) -> None:  # noqa: F811
    """Push carries the provenance up with the model (a referrer); the rebuild of the registry model reads it."""
    modelfile = example("rebase", tmp_path)
    other_base(modelfile, tmp_path)
    digest, followed = with_provenance(modelfile, tmp_path / "m.tar", build_args={"BASE": "other.tar"})
    reference = f"{registry.host}/rebuild/with-provenance:1"
    assert cli("push", str(tmp_path / "m.tar"), reference).code == 0
    result = check(cli, modelfile, reference, "--json", env={"MODELOCI_HOME": str(tmp_path / "fresh")})
    report = RebuildOutput.model_validate_json(result.stdout)
    assert (result.code, report.reproduced, report.digest) == (0, True, digest)
    assert (report.build_args, report.provenance) == ({"BASE": "other.tar"}, followed)


# -- what is not a model, and what another tool wrote --------------------------------------------------------------


def test_a_target_that_is_not_a_model_is_a_clear_error(tmp_path: Path, cli) -> None:
    modelfile = example("single-gguf", tmp_path)
    weights = str(modelfile.parent / "tiny-llama-F32.gguf")
    result = check(cli, modelfile, weights)
    assert (result.code, result.stdout, result.stderr) == (
        1, "", "error: `tiny-llama-F32.gguf` is not a readable tar archive: bad checksum\n")
    missing = check(cli, modelfile, "absent:1")
    assert (missing.code, missing.stdout) == (2, "")
    assert missing.stderr.startswith("error: `absent:1` is neither a file nor a model in the store"), missing.stderr
    layout = tmp_path / "layout"
    built(cli, modelfile, "--layout", str(layout))
    _rewrite(layout, lambda manifest, config: (manifest | {"config": manifest["config"] | {
        "mediaType": "application/vnd.oci.image.config.v1+json"}}, {"architecture": "amd64", "os": "linux"}))
    image = check(cli, modelfile, str(layout))
    assert (image.code, image.stdout) == (1, "")
    assert image.stderr == (f"error: `{layout}` is not a model artifact: its config media type is "
                            "`application/vnd.oci.image.config.v1+json`\n")


def test_the_same_fields_in_other_bytes_are_said_to_be_so(tmp_path: Path, cli) -> None:
    modelfile = example("single-gguf", tmp_path)
    layout = tmp_path / "layout"
    built(cli, modelfile, "--layout", str(layout))
    _rewrite(layout, lambda manifest, config: (manifest, config), indent=2)
    result = check(cli, modelfile, str(layout))
    assert (result.code, result.stdout.splitlines()[1:]) == (1, [
        "first difference: the manifests hold the same fields in other bytes (another tool wrote TARGET's)"])


def test_a_config_of_thousands_of_other_fields_gives_a_bounded_answer(tmp_path: Path, cli) -> None:
    modelfile = example("single-gguf", tmp_path)
    layout = tmp_path / "layout"
    built(cli, modelfile, "--layout", str(layout))
    _rewrite(layout, lambda manifest, config: (manifest, config | {
        "config": config["config"] | {f"k{i}": "\x1b]52;c;" + "x" * 1000 for i in range(5000)}}))
    result = check(cli, modelfile, str(layout), "--json")
    report = RebuildOutput.model_validate_json(result.stdout)
    assert (result.code, len(report.differences)) == (1, MAX_DIFFERENCES)
    first = report.differences[0]
    assert (first.part, first.name, first.rebuilt, len(first.target or "")) == ("config", "config.k0", None, 80)
    text = check(cli, modelfile, str(layout))
    assert "\x1b" not in text.stdout
    shown = ('"\\u001b]52;c;' + "x" * 1000)[:79] + "…"
    assert (first.target, text.stdout.splitlines()[1]) == (
        shown, f"first difference: config `config.k0` is {shown} in TARGET, absent in the rebuild")


def test_a_hostile_layer_path_in_the_target_is_escaped_on_the_terminal_and_exact_in_json(tmp_path: Path, cli) -> None:
    modelfile = example("single-gguf", tmp_path)
    layout = tmp_path / "layout"
    built(cli, modelfile, "--layout", str(layout))
    hostile = "LICENSE\x1b]52;c;aGk=\x07"
    _rewrite(layout, lambda manifest, config: (manifest | {"layers": [
        layer | {"annotations": layer["annotations"] | {"org.cncf.model.filepath": hostile}}
        if layer["annotations"]["org.cncf.model.filepath"] == "LICENSE" else layer
        for layer in manifest["layers"]]}, config))
    text = check(cli, modelfile, str(layout))
    assert text.stdout.splitlines()[1] == "first difference: layer `LICENSE\\x1b]52;c;aGk=\\x07` is only in TARGET"
    report = RebuildOutput.model_validate_json(check(cli, modelfile, str(layout), "--json").stdout)
    assert report.differences[0].name == hostile


def test_differences_are_taken_only_up_to_the_bound(tmp_path: Path, cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """The differences are read lazily: a config of millions of small keys makes no more than the bound."""
    modelfile = example("single-gguf", tmp_path)
    built(cli, modelfile, "-o", str(tmp_path / "m.tar"))
    modelfile.write_text(modelfile.read_text().replace("context_size=2048", "context_size=4096"))

    def endless(*_: Any) -> Iterator[Difference]:
        for n in range(MAX_DIFFERENCES):
            yield Difference(part="config", name=f"k{n}", field=None, target=None, rebuilt="1", message=f"k{n}")
        raise AssertionError("a difference past the bound was asked for")

    monkeypatch.setattr(rebuild_module, "differences", endless)
    report = rebuild(modelfile, resolve(str(tmp_path / "m.tar"))).report
    assert (report.reproduced, len(report.differences)) == (False, MAX_DIFFERENCES)


def test_long_values_are_shown_from_where_they_part(tmp_path: Path, cli) -> None:
    """A layer's file metadata differ deep inside (its time): both values are cut to show where."""
    modelfile = example("single-gguf", tmp_path)
    layout = tmp_path / "layout"
    built(cli, modelfile, "--layout", str(layout))  # no creation time: every file's time is 1970
    _rewrite(layout, lambda manifest, config: (manifest, config | {"descriptor": {"created": WHEN}}))
    result = check(cli, modelfile, str(layout), "--json")
    first = RebuildOutput.model_validate_json(result.stdout).differences[0]
    assert (first.part, first.name, first.field) == (
        "layer", "tiny-llama-F32.gguf", "annotations.org.cncf.model.file.metadata+json")
    assert (first.target, first.rebuilt) == (
        '…size\\":1216,\\"mtime\\":\\"1970-01-01T00:00:00Z\\",\\"typeflag\\":0}"',
        '…size\\":1216,\\"mtime\\":\\"2025-06-15T12:00:00Z\\",\\"typeflag\\":0}"')  # 24 characters before


def _rewrite(layout: Path, edit: Callable[[dict[str, Any], dict[str, Any]], tuple[dict[str, Any], dict[str, Any]]],
             indent: int | None = None) -> None:
    """The one model of ``layout`` with its manifest and config passed through ``edit`` (written with ``indent``)."""
    index = json.loads((layout / "index.json").read_text())
    entry = index["manifests"][0]
    blob = lambda d: layout / "blobs" / "sha256" / d.removeprefix("sha256:")  # noqa: E731
    manifest = json.loads(blob(entry["digest"]).read_bytes())
    config = json.loads(blob(manifest["config"]["digest"]).read_bytes())
    manifest, config = edit(manifest, config)
    config_bytes = json.dumps(config, indent=indent).encode()
    blob(sha256(config_bytes)).write_bytes(config_bytes)
    manifest = manifest | {"config": manifest["config"] | {"digest": sha256(config_bytes), "size": len(config_bytes)}}
    manifest_bytes = json.dumps(manifest, indent=indent).encode()
    blob(sha256(manifest_bytes)).write_bytes(manifest_bytes)
    entry |= {"digest": sha256(manifest_bytes), "size": len(manifest_bytes)}
    (layout / "index.json").write_text(json.dumps(index))


# -- usage ---------------------------------------------------------------------------------------------------------


def test_rebuild_options_without_rebuild_or_a_target_are_usage_errors(tmp_path: Path, cli) -> None:
    modelfile = example("single-gguf", tmp_path)
    built(cli, modelfile, "-o", str(tmp_path / "m.tar"))
    cases = {
        ("verify", "-f", str(modelfile), str(tmp_path / "m.tar")): "error: -f, --context and --build-arg only apply "
                                                                    "to --rebuild",
        ("verify", "--rebuild", "-f", str(modelfile)): "error: --rebuild compares one model: give TARGET (an archive, "
                                                       "a layout folder, a stored model or a registry reference), "
                                                       "without --store",
        ("verify", "--rebuild", "--store"): "error: --rebuild compares one model",
    }
    for args, message in cases.items():
        result = cli(*args)
        assert (result.code, result.stdout) == (2, ""), args
        assert result.stderr.startswith(message), (args, result.stderr)


def test_the_modelfile_defaults_to_the_one_in_the_current_folder(tmp_path: Path, cli) -> None:
    modelfile = example("single-gguf", tmp_path)
    digest = built(cli, modelfile, "-o", str(tmp_path / "m.tar"))
    result = cli("verify", "--rebuild", str(tmp_path / "m.tar"), cwd=modelfile.parent)
    assert (result.code, result.stdout) == (0, f"reproduced: {digest}\n")
    result = cli("verify", "--rebuild", "-f", str(modelfile.parent), str(tmp_path / "m.tar"))
    assert (result.code, result.stdout) == (0, f"reproduced: {digest}\n")


def test_the_api_answers_with_a_report(tmp_path: Path, cli) -> None:
    modelfile = example("hf-safetensors", tmp_path)
    digest = built(cli, modelfile, "-o", str(tmp_path / "m.tar"))
    done = rebuild(modelfile, resolve(str(tmp_path / "m.tar")))
    assert (done.report.reproduced, done.report.digest, done.warnings) == (True, digest, ())
    assert done.report.files_hashed == len(list((modelfile.parent / "tiny-qwen").iterdir())) - 1  # README left out


# -- a registry TARGET ---------------------------------------------------------------------------------------------


def test_a_model_in_a_registry_is_rebuilt_without_downloading_a_layer(tmp_path: Path, cli, registry) -> None:  # noqa: F811
    modelfile = example("single-gguf", tmp_path)
    for fmt, repository in (("docker", "rebuild/docker"), ("modelpack", "rebuild/modelpack")):
        archive = tmp_path / f"{fmt}.tar"
        digest = built(cli, modelfile, "-o", str(archive), "--format", fmt, "-t", "tiny:f32", "--created", WHEN)
        reference = f"{registry.host}/{repository}:v1"
        assert cli("push", str(archive), reference).code == 0
        mark = registry.mark()
        result = check(cli, modelfile, reference)
        assert (result.code, result.stdout) == (0, f"reproduced: {digest}\n"), fmt
        assert ("warning[MF104]: ModelPack has no context size" in result.stderr) == (fmt == "modelpack")
        fetched = [r[1] for r in registry.requests(since=mark) if r[0] == "GET" and "/blobs/" in r[1]]
        assert fetched == [f"/v2/{repository}/blobs/{Archive.read(archive).manifest['config']['digest']}"], fmt
    modelfile.write_text(modelfile.read_text().replace("context_size=2048", "context_size=4096"))
    result = check(cli, modelfile, f"{registry.host}/rebuild/docker:v1")
    assert (result.code, result.stdout.splitlines()[1]) == (
        1, "first difference: config `config.context_size` is 2048 in TARGET, 4096 in the rebuild")


def test_the_json_validates_against_the_published_verify_schema(tmp_path: Path, cli) -> None:
    jsonschema = pytest.importorskip("jsonschema", reason="jsonschema is a test dependency")
    schema = json.loads((EXAMPLES.parent / "docs" / "json" / "verify.schema.json").read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(schema)
    modelfile = example("single-gguf", tmp_path)
    built(cli, modelfile, "-o", str(tmp_path / "m.tar"))
    same = json.loads(check(cli, modelfile, str(tmp_path / "m.tar"), "--json").stdout)
    modelfile.write_text(modelfile.read_text().replace("context_size=2048", "context_size=4096"))
    other = json.loads(check(cli, modelfile, str(tmp_path / "m.tar"), "--json").stdout)
    for document in (same, other):
        assert list(validator.iter_errors(document)) == []
        assert not validator.is_valid({**document, "extra": 1})
    with pytest.raises(ValueError, match="`reproduced` disagrees"):  # the tests' model holds what JSON Schema cannot
        RebuildOutput.model_validate({**same, "differences": other["differences"]})
