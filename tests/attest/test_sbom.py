"""The bill of materials of a build: a CycloneDX 1.6 ML-BOM, checked by CycloneDX's own strict validator.

Every example is built in both formats and its BOM validated; what it says is checked against the files (each
file's SHA-256 from disk), the model's config and the base. Licenses are found in the label, in the weights'
metadata and in license files; a license file is read bounded, never as a FIFO, and only if it is still the file
the model holds.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from modeloci import api
from modeloci.attest import provenance, sbom
from modeloci.builder import BuildResult, build_archive
from modeloci.compiler import BuildPlan
from modeloci.errors import BuildError
from modeloci.formats.artifact import Artifact, read_artifact
from modeloci.oci.digest import Digest
from modeloci.oci.manifest import Descriptor
from modeloci.oci.mediatypes import MediaType
from modeloci.oci.referrers import Referrer, read_referrer
from modeloci.sources import open_source
from modeloci.sources.referrers import referrers_of
from tests.archive_tools import EXAMPLE_NAMES, EXAMPLES
from tests.attest.test_provenance import EPOCH, build_model
from tests.factories import STRING, gguf

VALIDATOR = JsonStrictValidator(SchemaVersion.V1_6)
MIT = (EXAMPLES / "single-gguf" / "LICENSE").read_text()
APACHE = """
                                 Apache License
                           Version 2.0, January 2004
                        http://www.apache.org/licenses/

   TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION
"""
BSD3 = """Copyright (c) 2026, the authors

Redistribution and use in source and binary forms, with or without modification, are permitted provided that the
following conditions are met:
3. Neither the name of the copyright holder nor the names of its contributors may be used to endorse or promote
"""


def schema_problem(raw: bytes) -> str | None:
    """What CycloneDX's strict JSON validator for schema 1.6 finds wrong first, or None."""
    error = VALIDATOR.validate_str(raw.decode("utf-8"))
    if error is None:
        return None
    data = getattr(error, "data", error)
    return f"{list(getattr(data, 'absolute_path', []))}: {getattr(data, 'message', data)}"


def artifact_of(result: BuildResult) -> Artifact:
    assert result.output is not None
    with open_source(result.output) as layout:
        return read_artifact(layout)


def made(plan: BuildPlan, result: BuildResult) -> dict[str, Any]:
    raw = sbom.bom(plan, result, artifact_of(result))
    assert schema_problem(raw) is None
    return json.loads(raw)


def the_model(doc: dict[str, Any]) -> dict[str, Any]:
    models = [c for c in doc["components"] if "modelCard" in c]
    assert len(models) == 1 and models[0]["type"] == "machine-learning-model"
    return models[0]


def test_the_validator_refuses_what_the_schema_forbids() -> None:
    """The oracle is not vacuous: a model card on a file, an unknown SPDX id, a bad serial number."""
    good = {"bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1,
            "components": [{"type": "file", "name": "f"}]}
    assert schema_problem(json.dumps(good).encode()) is None
    for broken in ({"serialNumber": "urn:uuid:not-a-uuid"},
                   {"components": [{"type": "file", "name": "f", "licenses": [{"license": {"id": "llama3"}}]}]},
                   {"components": [{"type": "file", "name": "f", "hashes": [{"alg": "SHA-256", "content": "xyz"}]}]},
                   {"components": [{"type": "file", "name": "f", "modelCard": {"unknown": 1}}]}):
        assert schema_problem(json.dumps({**good, **broken}).encode()) is not None


@pytest.mark.parametrize("fmt", ["docker", "modelpack"])
@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_every_example_s_bom_is_valid_cyclonedx_1_6_and_lists_its_files(tmp_path: Path, name: str,
                                                                         fmt: str) -> None:
    plan, result, modelfile = build_model(name, tmp_path, format=fmt)
    doc = made(plan, result)
    assert (doc["bomFormat"], doc["specVersion"], doc["version"]) == ("CycloneDX", "1.6", 1)
    assert doc["serialNumber"] == uuid.uuid5(uuid.NAMESPACE_URL, f"modeloci:bom:{result.manifest.digest}").urn
    model = the_model(doc)
    assert model["hashes"] == [{"alg": "SHA-256", "content": result.manifest.digest.hex}]
    mit = {"license": {"id": "MIT", "acknowledgement": "declared"}}  # the label, the license file, or both
    carried = [{"license": {"name": "LICENSE", "acknowledgement": "declared"}}] if name == "rebase" else []
    assert model["licenses"] == [mit, *carried]
    files = []
    for layer in plan.layers:
        on_disk = (modelfile.parent / layer.source.path if layer.source.kind == "file"
                   else tmp_path / "single-gguf" / layer.filepath)  # the rebase example's base
        files.append({"type": "file", "bom-ref": f"file:{layer.filepath}", "name": layer.filepath,
                      "mime-type": layer.media_type,
                      "hashes": [{"alg": "SHA-256", "content": hashlib.sha256(on_disk.read_bytes()).hexdigest()}],
                      "properties": [{"name": "modeloci:role", "value": str(layer.role)}]})
    assert model["components"] == files
    card = {p["name"]: p["value"] for p in model["modelCard"]["properties"]}
    assert card["modeloci:artifact_format"] == fmt
    assert card["modeloci:format"] == ("safetensors" if name == "hf-safetensors" else "gguf")
    if name == "rebase":
        assert doc["components"][1] == {"type": "machine-learning-model", "bom-ref": "base", "name": "base.tar",
                                        "hashes": [{"alg": "SHA-256",
                                                    "content": Digest.parse(plan.base.manifest_digest).hex}]}
        assert doc["dependencies"] == [{"ref": "model", "dependsOn": ["base"]}, {"ref": "base"}]
    else:
        assert len(doc["components"]) == 1
        assert doc["dependencies"] == [{"ref": "model"}]


@pytest.mark.parametrize("fmt", ["docker", "modelpack"])
@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_a_bom_made_during_the_build_from_the_plan_alone_is_the_same(tmp_path: Path, name: str, fmt: str) -> None:
    """While a build runs (the builder's referrers callback) the model is not written yet: its config comes from
    the plan, and must say what the written config says."""
    plan, result, _ = build_model(name, tmp_path, format=fmt, reference="m:1", created=EPOCH)
    assert sbom.bom(plan, result) == sbom.bom(plan, result, artifact_of(result))


def test_the_model_card_says_what_the_config_says(tmp_path: Path) -> None:
    plan, result, _ = build_model("single-gguf", tmp_path, reference="tiny-llama:f32")
    model = the_model(made(plan, result))
    assert (model["name"], model["version"]) == ("tiny-llama", "f32")
    assert model["licenses"] == [{"license": {"id": "MIT", "acknowledgement": "declared"}}]
    assert model["modelCard"] == {
        "modelParameters": {"modelArchitecture": "llama"},
        "properties": [{"name": "modeloci:format", "value": "gguf"},
                       {"name": "modeloci:parameters", "value": "88"},
                       {"name": "modeloci:quantization", "value": "MOSTLY_F32"},
                       {"name": "modeloci:context_size", "value": "2048"},
                       {"name": "modeloci:size", "value": "352B"},
                       {"name": "modeloci:artifact_format", "value": "docker"}]}


def test_the_same_build_in_another_folder_gives_the_same_bytes_and_a_time_only_when_it_has_one(
        tmp_path: Path) -> None:
    one = build_model("rebase", tmp_path / "one")
    two = build_model("rebase", tmp_path / "two" / "deeper")
    first = sbom.bom(one[0], one[1], artifact_of(one[1]))
    assert first == sbom.bom(two[0], two[1], artifact_of(two[1]))
    assert not re.search(rb"\d{4}-\d{2}-\d{2}T", first)
    dated = build_model("single-gguf", tmp_path / "dated", created=EPOCH)
    assert made(dated[0], dated[1])["metadata"]["timestamp"] == "2025-06-15T12:00:00Z"


def test_a_license_file_carried_from_the_base_is_named_by_its_path(tmp_path: Path) -> None:
    plan, result, _ = build_model("rebase", tmp_path)
    assert the_model(made(plan, result))["licenses"] == [
        {"license": {"id": "MIT", "acknowledgement": "declared"}},  # the base's label, kept
        {"license": {"name": "LICENSE", "acknowledgement": "declared"}}]


def custom_model(tmp_path: Path, *, license_text: str | bytes | None = None, gguf_license: str | None = None,
                 label: str | None = None, fmt: str = "docker") -> tuple[BuildPlan, BuildResult, Path]:
    """A one-file GGUF model, with a license file, a GGUF ``general.license`` and a license label as asked."""
    folder = tmp_path / "model"
    metadata = [("general.license", STRING, gguf_license)] if gguf_license else []
    gguf(folder / "m.gguf", metadata=metadata)
    lines = ["FROM scratch", "WEIGHTS m.gguf"]
    if license_text is not None:
        data = license_text.encode() if isinstance(license_text, str) else license_text
        (folder / "LICENSE.txt").write_bytes(data)
        lines.append("LICENSE LICENSE.txt")
    if label is not None:
        lines.append(f'LABEL org.opencontainers.image.licenses="{label}"')
    (folder / "Modelfile").write_text("\n".join(lines) + "\n")
    plan = api.plan(folder / "Modelfile", display="Modelfile", format=fmt)
    return plan, build_archive(plan, tmp_path / "m.tar"), folder


@pytest.mark.parametrize("fmt", ["docker", "modelpack"])
@pytest.mark.parametrize(("gguf_license", "expected"), [
    ("apache-2.0", {"id": "Apache-2.0"}), ("MIT", {"id": "MIT"}), ("llama3", {"name": "llama3"}),
    ("Acme Model License v2", {"name": "Acme Model License v2"}),
])
def test_the_weights_own_license_is_an_spdx_id_when_it_is_one(tmp_path: Path, gguf_license: str,
                                                               expected: dict[str, str], fmt: str) -> None:
    plan, result, _ = custom_model(tmp_path, gguf_license=gguf_license, fmt=fmt)
    assert the_model(made(plan, result))["licenses"] == [{"license": {**expected, "acknowledgement": "declared"}}]


@pytest.mark.parametrize(("text", "expected"), [
    (MIT, {"id": "MIT"}), (APACHE, {"id": "Apache-2.0"}), (BSD3, {"id": "BSD-3-Clause"}),
    ("You may use this model only on Tuesdays.\n", {"name": "LICENSE.txt"}),
])
def test_a_license_file_in_its_standard_wording_is_an_spdx_id(tmp_path: Path, text: str,
                                                              expected: dict[str, str]) -> None:
    plan, result, _ = custom_model(tmp_path, license_text=text, label="MIT OR Apache-2.0")
    assert the_model(made(plan, result))["licenses"] == [
        {"license": {"name": "MIT OR Apache-2.0", "acknowledgement": "declared"}},
        {"license": {**expected, "acknowledgement": "declared"}}]


def test_a_license_file_past_the_read_limit_is_named_not_read(tmp_path: Path) -> None:
    plan, result, _ = custom_model(tmp_path, license_text=MIT + " " * sbom.LICENSE_BYTES)
    assert the_model(made(plan, result))["licenses"] == [
        {"license": {"name": "LICENSE.txt", "acknowledgement": "declared"}}]


def test_a_license_file_changed_after_the_build_is_not_described(tmp_path: Path) -> None:
    """The BOM would name the license of bytes the model does not hold."""
    plan, result, folder = custom_model(tmp_path, license_text="You may use this model only on Tuesdays.\n")
    (folder / "LICENSE.txt").write_text(MIT)
    with pytest.raises(BuildError) as caught:
        sbom.bom(plan, result, artifact_of(result))
    assert caught.value.message == "writing the bill of materials: LICENSE.txt changed after it was packaged"
    assert caught.value.hint == "build again, and do not change input files during a build"


def test_a_license_file_swapped_for_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    plan, result, folder = custom_model(tmp_path, license_text=MIT)
    (folder / "LICENSE.txt").unlink()
    os.mkfifo(folder / "LICENSE.txt")
    with pytest.raises(BuildError) as caught:
        sbom.bom(plan, result, artifact_of(result))
    assert caught.value.message == "writing the bill of materials: LICENSE.txt is not a regular file"


def test_a_bom_of_another_model_is_refused(tmp_path: Path) -> None:
    plan, result, _ = build_model("single-gguf", tmp_path / "one")
    other = build_model("sharded-vision", tmp_path / "two")[1]
    with pytest.raises(BuildError) as caught:
        sbom.bom(plan, result, artifact_of(other))
    assert caught.value.message == (f"the bill of materials of {result.manifest.digest} was given the model "
                                    f"{other.manifest.digest}")


def test_every_spdx_id_recognised_is_one_cyclonedx_knows() -> None:
    schema = Path(__import__("cyclonedx.schema._res", fromlist=["_"]).__file__).parent / "spdx.SNAPSHOT.schema.json"
    known = set(json.loads(schema.read_text())["enum"])
    assert set(sbom.SPDX_IDS.values()) <= known
    assert {spdx for spdx, _ in sbom._TEXTS} <= set(sbom.SPDX_IDS.values())


def test_the_bom_is_a_cyclonedx_referrer_of_the_model(tmp_path: Path) -> None:
    plan, result, _ = build_model("single-gguf", tmp_path)
    raw = sbom.bom(plan, result, artifact_of(result))
    referrer = sbom.referrer(raw, result.manifest)
    assert referrer.artifact_type == "application/vnd.cyclonedx+json"
    artifact_type, subject, layers = read_referrer(referrer.manifest) or ("", None, [])
    assert artifact_type == str(MediaType.CYCLONEDX)
    assert subject is not None and subject.digest == result.manifest.digest
    assert [(d.media_type, d.digest) for d in layers] == [(str(MediaType.CYCLONEDX), Digest.of(raw))]
    assert referrer.blobs[Digest.of(raw)] == raw


def test_provenance_and_bom_made_while_building_sit_beside_the_model(tmp_path: Path) -> None:
    """The way ``build --provenance --sbom`` makes them: in the builder's referrers callback, before the model is
    written, from the plan and the result alone; the model is the same, and so are the documents made after."""
    plan, plain, modelfile = build_model("rebase", tmp_path)

    def attestations(subject: Descriptor, result: BuildResult) -> list[Referrer]:
        statement = provenance.statement(plan, result, modelfile=modelfile)
        return [provenance.referrer(statement, subject), sbom.referrer(sbom.bom(plan, result), subject)]

    result = build_archive(plan, tmp_path / "attested.tar", referrers=attestations)
    assert result.manifest == plain.manifest
    found = {r.artifact_type: r for r in referrers_of(tmp_path / "attested.tar")}
    assert set(found) == {"application/vnd.in-toto+json", "application/vnd.cyclonedx+json"}
    statement, bom = (payload(found[kind]) for kind in ("application/vnd.in-toto+json",
                                                          "application/vnd.cyclonedx+json"))
    assert statement == provenance.statement(plan, plain, modelfile=modelfile)
    assert bom == sbom.bom(plan, plain, artifact_of(plain))


def payload(referrer: Referrer) -> bytes:
    """The document a referrer holds: its one layer."""
    [layer] = (read_referrer(referrer.manifest) or ("", None, []))[2]
    return referrer.blobs[layer.digest]
