"""The provenance of a build: an in-toto Statement v1 with a SLSA Provenance v1 predicate.

Every example is built (both formats), its statement made and checked twice: against the rules of the in-toto
Statement, ResourceDescriptor and DigestSet specs and SLSA v1's field rules, written out below from the specs
(:func:`spec_problems`), and by parsing it strictly into the in-toto project's own protobuf types. Then what it
says is checked against the files: the Modelfile's digest, every input file's, the base's manifest. A real git
repository in tmp_path gives the checkout cases: a clean tree, a dirty one, credentials in the remote URL, and a
checkout configuring commands for git to run.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from google.protobuf import json_format
from in_toto_attestation.predicates.provenance.v1 import provenance_pb2
from in_toto_attestation.v1 import resource_descriptor_pb2, statement_pb2
from in_toto_attestation.v1.resource_descriptor import ResourceDescriptor
from in_toto_attestation.v1.statement import Statement

import modeloci
from modeloci import api
from modeloci.attest import provenance
from modeloci.attest.bundle import pae, read_bundle
from modeloci.attest.keys import KeySigner
from modeloci.builder import BuildResult, build_archive
from modeloci.compiler import BuildPlan
from modeloci.errors import BuildError
from modeloci.oci.digest import Digest
from modeloci.oci.manifest import Descriptor
from modeloci.oci.mediatypes import MediaType
from modeloci.oci.referrers import EMPTY, read_referrer
from tests.archive_tools import EXAMPLE_NAMES, Archive, copy_example

EPOCH = 1_749_988_800  # 2025-06-15T12:00:00Z


# --- the rules of the specs ------------------------------------------------------------------------------------------

STATEMENT_FIELDS = {"_type", "subject", "predicateType", "predicate"}
DESCRIPTOR_FIELDS = {"name", "uri", "digest", "content", "downloadLocation", "mediaType", "annotations"}
# DigestSet: the named algorithms, in lowercase hex of their length (gitCommit: SHA-1 or SHA-256 git objects).
HEX_LENGTHS = {"sha256": (64,), "sha224": (56,), "sha384": (96,), "sha512": (128,), "sha1": (40,),
               "gitCommit": (40, 64), "gitTree": (40, 64), "gitBlob": (40, 64), "gitTag": (40, 64)}
SLSA_FIELDS = {
    "predicate": {"buildDefinition", "runDetails"},
    "buildDefinition": {"buildType", "externalParameters", "internalParameters", "resolvedDependencies"},
    "runDetails": {"builder", "metadata", "byproducts"},
    "builder": {"id", "version", "builderDependencies"},
    "metadata": {"invocationId", "startedOn", "finishedOn"},
}
TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z\Z")  # RFC 3339, in UTC ("Z")
MIME = re.compile(r"[a-z0-9][-a-z0-9!#$&^_.+]*/[a-z0-9][-a-z0-9!#$&^_.+]*\Z")


def uri_problems(value: object, where: str) -> list[str]:
    """TypeURI and ResourceURI: an RFC 3986 URI whose scheme and authority are lowercase."""
    if not isinstance(value, str) or not value:
        return [f"{where}: not a URI string"]
    parts = urlsplit(value)
    if not re.fullmatch(r"[a-z][a-z0-9+.-]*", value.partition(":")[0]) or not parts.scheme:
        return [f"{where}: `{value}` has no lowercase scheme"]
    if parts.netloc != parts.netloc.lower():
        return [f"{where}: `{value}` has capitals in its authority"]
    if any(c.isspace() or ord(c) < 0x20 for c in value):
        return [f"{where}: `{value}` holds blanks"]
    return []


def digest_set_problems(value: object, where: str) -> list[str]:
    if not isinstance(value, dict) or not value:
        return [f"{where}: a DigestSet is a non-empty object"]
    problems = []
    for algorithm, encoded in value.items():
        lengths = HEX_LENGTHS.get(algorithm)
        if lengths is None:
            problems.append(f"{where}: `{algorithm}` is not a standard algorithm")
        elif not isinstance(encoded, str) or not re.fullmatch("[0-9a-f]+", encoded) or len(encoded) not in lengths:
            problems.append(f"{where}.{algorithm}: `{encoded}` is not lowercase hex of its length")
    return problems


def descriptor_problems(value: object, where: str, *, digest_required: bool = False) -> list[str]:
    """A ResourceDescriptor: known fields, at least one of uri, digest and content (the subject: digest)."""
    if not isinstance(value, dict):
        return [f"{where}: not an object"]
    problems = [f"{where}: unknown field `{k}`" for k in value if k not in DESCRIPTOR_FIELDS]
    if not {"uri", "digest", "content"} & set(value):
        problems.append(f"{where}: none of uri, digest, content")
    if digest_required and "digest" not in value:
        problems.append(f"{where}: a subject needs a digest")
    if "digest" in value:
        problems += digest_set_problems(value["digest"], f"{where}.digest")
    for key in ("uri", "downloadLocation"):
        if key in value:
            problems += uri_problems(value[key], f"{where}.{key}")
    if "name" in value and (not isinstance(value["name"], str) or not value["name"]):
        problems.append(f"{where}.name: not a string")
    if "mediaType" in value and not MIME.match(str(value["mediaType"])):
        problems.append(f"{where}.mediaType: `{value['mediaType']}` is not a MIME type")
    if "annotations" in value and not isinstance(value["annotations"], dict):
        problems.append(f"{where}.annotations: not a map")
    return problems


def known_fields(value: object, kind: str, where: str) -> list[str]:
    """SLSA's objects hold their fields, and extension fields only as `<vendor>_<name>`."""
    if not isinstance(value, dict):
        return [f"{where}: not an object"]
    return [f"{where}: unknown field `{k}`" for k in value if k not in SLSA_FIELDS[kind] and "_" not in k]


def slsa_problems(predicate: object) -> list[str]:
    problems = known_fields(predicate, "predicate", "predicate")
    if problems:
        return problems
    assert isinstance(predicate, dict)
    definition, run = predicate.get("buildDefinition"), predicate.get("runDetails")
    problems = known_fields(definition, "buildDefinition", "buildDefinition")
    problems += known_fields(run, "runDetails", "runDetails")
    if problems:
        return problems
    assert isinstance(definition, dict) and isinstance(run, dict)
    problems += uri_problems(definition.get("buildType"), "buildType")
    external, internal = definition.get("externalParameters"), definition.get("internalParameters", {})
    if not isinstance(external, dict) or not isinstance(internal, dict):
        problems.append("externalParameters and internalParameters are objects (the first required)")
    else:
        problems += [f"parameter `{k}` is both external and internal" for k in set(external) & set(internal)]
    for key in ("resolvedDependencies",):
        items = definition.get(key, [])
        problems += [f"{key}: not an array"] if not isinstance(items, list) else [
            p for i, item in enumerate(items) for p in descriptor_problems(item, f"{key}[{i}]")]
    builder = run.get("builder")
    problems += known_fields(builder, "builder", "builder")
    if isinstance(builder, dict):
        problems += uri_problems(builder.get("id"), "builder.id")
        version = builder.get("version", {})
        if not isinstance(version, dict) or not all(isinstance(v, str) for v in version.values()):
            problems.append("builder.version: a map of string to string")
    metadata = run.get("metadata", {})
    problems += known_fields(metadata, "metadata", "metadata")
    if isinstance(metadata, dict):
        problems += [f"metadata.{k}: `{metadata[k]}` is not an RFC 3339 UTC timestamp"
                     for k in ("startedOn", "finishedOn") if k in metadata and not TIMESTAMP.match(str(metadata[k]))]
    return problems


def spec_problems(doc: object) -> list[str]:
    """Every rule of the in-toto Statement v1 and SLSA Provenance v1 a statement breaks."""
    if not isinstance(doc, dict):
        return ["a statement is a JSON object"]
    problems = [f"unknown field `{k}`" for k in doc if k not in STATEMENT_FIELDS]
    if doc.get("_type") != "https://in-toto.io/Statement/v1":
        problems.append(f"_type is `{doc.get('_type')}`")
    subject = doc.get("subject")
    if not isinstance(subject, list) or not subject:
        problems.append("subject: a non-empty array")
    else:
        for i, item in enumerate(subject):
            problems += descriptor_problems(item, f"subject[{i}]", digest_required=True)
        for key in ("name", "uri"):
            values = [s[key] for s in subject if isinstance(s, dict) and key in s]
            if len(values) != len(set(values)):
                problems.append(f"subject: {key}s are not unique")
    problems += uri_problems(doc.get("predicateType"), "predicateType")
    if doc.get("predicateType") == "https://slsa.dev/provenance/v1":
        problems += slsa_problems(doc.get("predicate"))
    return problems


def proto_problems(raw: bytes) -> list[str]:
    """The in-toto project's own types: a strict parse (no unknown field, every type right), then its checks."""
    doc = json.loads(raw)
    try:
        parsed = json_format.Parse(raw, statement_pb2.Statement(), ignore_unknown_fields=False)
        Statement.copy_from_pb(parsed).validate()
        json_format.ParseDict(doc["predicate"], provenance_pb2.Provenance(), ignore_unknown_fields=False)
        for item in doc["predicate"]["buildDefinition"].get("resolvedDependencies", []):
            pb = json_format.ParseDict(item, resource_descriptor_pb2.ResourceDescriptor())
            ResourceDescriptor.copy_from_pb(pb).validate()
    except (json_format.ParseError, ValueError) as exc:
        return [str(exc)]
    return []


def test_the_checks_catch_what_the_specs_forbid() -> None:
    """The oracle is not vacuous: each broken rule is named."""
    good = {"_type": "https://in-toto.io/Statement/v1", "subject": [{"name": "m", "digest": {"sha256": "a" * 64}}],
            "predicateType": "https://slsa.dev/provenance/v1",
            "predicate": {"buildDefinition": {"buildType": "https://x.example/t", "externalParameters": {}},
                          "runDetails": {"builder": {"id": "https://x.example/b"}}}}
    assert spec_problems(good) == []
    assert proto_problems(json.dumps(good).encode()) == []
    bad = json.loads(json.dumps(good))
    bad["subject"][0] = {"name": "m", "uri": "https://x.example/m"}
    bad["predicate"]["buildDefinition"]["resolvedDependencies"] = [{"digest": {"sha256": "A" * 64}}, {"name": "x"}]
    bad["predicate"]["runDetails"]["builder"] = {"id": "HTTPS://X.example/b", "version": {"modeloci": 1}}
    bad["predicate"]["runDetails"]["metadata"] = {"startedOn": "2025-06-15 12:00:00"}
    bad["predicate"]["buildDefinition"]["extra"] = 1
    assert spec_problems(bad) == ["subject[0]: a subject needs a digest", "buildDefinition: unknown field `extra`"]
    del bad["predicate"]["buildDefinition"]["extra"]
    assert spec_problems(bad) == [
        "subject[0]: a subject needs a digest",
        f"resolvedDependencies[0].digest.sha256: `{'A' * 64}` is not lowercase hex of its length",
        "resolvedDependencies[1]: none of uri, digest, content",
        "builder.id: `HTTPS://X.example/b` has no lowercase scheme",
        "builder.version: a map of string to string",
        "metadata.startedOn: `2025-06-15 12:00:00` is not an RFC 3339 UTC timestamp",
    ]
    assert proto_problems(json.dumps({**good, "extra": 1}).encode()) != []


# --- building ---------------------------------------------------------------------------------------------------------

def build_model(name: str, dest: Path, **options: Any) -> tuple[BuildPlan, BuildResult, Path]:
    """Example ``name`` copied under ``dest`` (the rebase example's base built first) and built into
    ``dest/name.tar``: the plan, the result and the Modelfile."""
    modelfile = copy_example(name, dest)
    if name == "rebase":
        api.build(copy_example("single-gguf", dest), modelfile.parent / "base.tar")
    plan = api.plan(modelfile, display="Modelfile", **options)
    return plan, build_archive(plan, dest / f"{name}.tar"), modelfile


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def dependencies(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return doc["predicate"]["buildDefinition"]["resolvedDependencies"]


def parameters(doc: dict[str, Any]) -> dict[str, Any]:
    return doc["predicate"]["buildDefinition"]["externalParameters"]


@pytest.mark.parametrize("fmt", ["docker", "modelpack"])
@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_every_example_s_statement_follows_the_specs_and_names_its_inputs(tmp_path: Path, name: str,
                                                                            fmt: str) -> None:
    plan, result, modelfile = build_model(name, tmp_path, format=fmt)
    raw = provenance.statement(plan, result, modelfile=modelfile)
    doc = json.loads(raw)
    assert spec_problems(doc) == []
    assert proto_problems(raw) == []
    assert doc["subject"] == [{"name": str(result.manifest.digest), "digest": {"sha256": result.manifest.digest.hex}}]
    assert doc["predicateType"] == "https://slsa.dev/provenance/v1"
    modelfile_digest = {"sha256": sha256(modelfile)}
    assert parameters(doc) == {"modelfile": {"path": "Modelfile", "digest": modelfile_digest}, "buildArgs": {},
                               "format": fmt}
    files = {layer.source.path for layer in plan.layers if layer.source.kind == "file"}
    expected = [{"name": "Modelfile", "digest": modelfile_digest}]
    if name == "rebase":
        base = hashlib.sha256(Archive.read(modelfile.parent / "base.tar").manifest_bytes).hexdigest()
        expected.append({"name": "base.tar", "digest": {"sha256": base},
                         "mediaType": "application/vnd.oci.image.manifest.v1+json"})
    by_path = {layer.source.path: layer for layer in plan.layers if layer.source.kind == "file"}
    expected += [{"name": path, "digest": {"sha256": sha256(modelfile.parent / path)},
                  "mediaType": by_path[path].media_type} for path in by_path]
    assert dependencies(doc) == expected
    assert {d["name"] for d in dependencies(doc)[1:]} - {"base.tar"} == files
    assert doc["predicate"]["runDetails"] == {
        "builder": {"id": provenance.BUILDER_ID, "version": {"modeloci": modeloci.__version__}}}


def test_the_same_build_in_another_folder_gives_the_same_bytes(tmp_path: Path) -> None:
    """No clock, no absolute path, no temporary name: a rebuild elsewhere gives a byte-identical statement."""
    first = build_model("rebase", tmp_path / "one")
    second = build_model("rebase", tmp_path / "two" / "deeper")
    one = provenance.statement(first[0], first[1], modelfile=first[2])
    two = provenance.statement(second[0], second[1], modelfile=second[2])
    assert one == two
    assert str(tmp_path).encode() not in one


def test_build_arguments_reference_and_creation_time_are_recorded(tmp_path: Path) -> None:
    plan, result, modelfile = build_model("rebase", tmp_path, build_args={"BASE": "base.tar"},
                                          reference="tiny-llama:chat", created=EPOCH)
    doc = json.loads(provenance.statement(plan, result, modelfile=modelfile, build_args={"BASE": "base.tar"}))
    assert spec_problems(doc) == []
    assert doc["subject"][0]["name"] == "tiny-llama:chat"
    assert {k: v for k, v in parameters(doc).items() if k != "modelfile"} == {
        "buildArgs": {"BASE": "base.tar"}, "format": "docker", "reference": "tiny-llama:chat",
        "created": "2025-06-15T12:00:00Z"}


def test_a_build_without_a_creation_time_records_no_time_at_all(tmp_path: Path) -> None:
    plan, result, modelfile = build_model("single-gguf", tmp_path)
    raw = provenance.statement(plan, result, modelfile=modelfile)
    assert not re.search(rb"\d{4}-\d{2}-\d{2}T", raw)
    assert "metadata" not in json.loads(raw)["predicate"]["runDetails"]


def test_a_modelfile_edited_after_the_build_is_not_attested(tmp_path: Path) -> None:
    """The statement would give the digest of a Modelfile the build never compiled."""
    plan, result, modelfile = build_model("single-gguf", tmp_path)
    modelfile.write_text(modelfile.read_text() + "LABEL edited=later\n")
    with pytest.raises(BuildError) as caught:
        provenance.statement(plan, result, modelfile=modelfile)
    assert caught.value.message == "recording the provenance: `Modelfile` changed after the build read it"
    assert caught.value.hint == "build again, and do not change the Modelfile during a build"


def test_a_modelfile_swapped_for_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    plan, result, modelfile = build_model("single-gguf", tmp_path)
    modelfile.unlink()
    os.mkfifo(modelfile)
    with pytest.raises(BuildError) as caught:
        provenance.statement(plan, result, modelfile=modelfile)
    assert caught.value.message == "recording the provenance: `Modelfile` is not a regular file"


# --- referrers --------------------------------------------------------------------------------------------------------

def test_an_unsigned_statement_is_an_in_toto_referrer_of_the_model(tmp_path: Path) -> None:
    plan, result, modelfile = build_model("single-gguf", tmp_path)
    raw = provenance.statement(plan, result, modelfile=modelfile)
    made = provenance.referrer(raw, result.manifest)
    assert made.artifact_type == "application/vnd.in-toto+json"
    artifact_type, subject, layers = read_referrer(made.manifest) or ("", None, [])
    assert artifact_type == str(MediaType.IN_TOTO)
    assert subject == Descriptor(result.manifest.media_type, result.manifest.digest, result.manifest.size)
    assert [(d.media_type, d.digest) for d in layers] == [(str(MediaType.IN_TOTO), Digest.of(raw))]
    assert made.blobs == {Digest.of(raw): raw, EMPTY.digest: b"{}"}
    assert json.loads(made.manifest)["annotations"] == {"in-toto.io/predicate-type": "https://slsa.dev/provenance/v1"}


def test_a_signed_statement_is_a_sigstore_bundle_referrer_saying_it_holds_provenance(tmp_path: Path) -> None:
    plan, result, modelfile = build_model("single-gguf", tmp_path)
    raw = provenance.statement(plan, result, modelfile=modelfile)
    key = ec.generate_private_key(ec.SECP256R1())
    made = provenance.referrer(raw, result.manifest, KeySigner(key))
    assert made.artifact_type == "application/vnd.dev.sigstore.bundle.v0.3+json"
    artifact_type, subject, layers = read_referrer(made.manifest) or ("", None, [])
    assert (artifact_type, subject) == (str(MediaType.SIGSTORE_BUNDLE), Descriptor(
        result.manifest.media_type, result.manifest.digest, result.manifest.size))
    assert json.loads(made.manifest)["annotations"] == {
        "dev.sigstore.bundle.content": "dsse-envelope", "dev.sigstore.bundle.predicateType": "https://slsa.dev/provenance/v1"}
    [layer] = layers
    assert layer.media_type == str(MediaType.SIGSTORE_BUNDLE)
    bundle = read_bundle(made.blobs[layer.digest])
    assert (bundle.payload_type, bundle.payload) == ("application/vnd.in-toto+json", raw)
    key.public_key().verify(bundle.signature, pae(bundle.payload_type, raw), ec.ECDSA(hashes.SHA256()))
    assert provenance.referrer(raw, result.manifest, KeySigner(key)).manifest == made.manifest  # reproducible


# --- git checkouts ----------------------------------------------------------------------------------------------------

def git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_DATE": f"@{EPOCH} +0000", "GIT_COMMITTER_DATE": f"@{EPOCH} +0000",
           "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    done = subprocess.run(["git", "-c", "user.name=Test", "-c", "user.email=test@example.com",
                           "-c", "commit.gpgsign=false", "-c", "init.defaultBranch=main", *args],
                          cwd=repo, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repository whose origin URL carries a token, holding the single-gguf example under models/."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q")
    git(root, "remote", "add", "origin", "https://x-access-token:ghp_s3cret@GitHub.com/org/models.git?t=1#frag")
    copy_example("single-gguf", root / "models")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "the model")
    return root


def checkout_statement(root: Path) -> tuple[dict[str, Any], bytes]:
    modelfile = root / "models" / "single-gguf" / "Modelfile"
    plan = api.plan(modelfile, display="Modelfile")
    result = build_archive(plan, root.parent / "out" / "m.tar")
    raw = provenance.statement(plan, result, modelfile=modelfile)
    return json.loads(raw), raw


def test_a_clean_checkout_names_its_repository_and_commit_without_credentials(repo: Path) -> None:
    doc, raw = checkout_statement(repo)
    assert spec_problems(doc) == []
    assert proto_problems(raw) == []
    head = git(repo, "rev-parse", "HEAD")
    assert parameters(doc)["source"] == {"repository": "https://github.com/org/models.git", "commit": head,
                                         "path": "models/single-gguf", "clean": True}
    assert {"uri": "git+https://github.com/org/models.git", "digest": {"gitCommit": head}} in dependencies(doc)
    assert b"s3cret" not in raw and b"x-access-token" not in raw and b"t=1" not in raw
    assert parameters(doc)["created"] == "2025-06-15T12:00:00Z"  # the commit's time (compiler/created.py)


@pytest.mark.parametrize("change", ["edit", "untracked"])
def test_a_dirty_tree_does_not_claim_its_commit_as_a_dependency(repo: Path, change: str) -> None:
    """A policy checking the source commit among the resolved dependencies must not pass a build made with
    uncommitted changes: the commit is only in ``source``, with ``clean: false``."""
    folder = repo / "models" / "single-gguf"
    if change == "edit":
        (folder / "chat_template.jinja").write_text("{{ messages }}\n")
    else:
        (folder / "notes.txt").write_text("not committed\n")
    doc, _ = checkout_statement(repo)
    assert spec_problems(doc) == []
    head = git(repo, "rev-parse", "HEAD")
    assert parameters(doc)["source"] == {"repository": "https://github.com/org/models.git", "commit": head,
                                         "path": "models/single-gguf", "clean": False}
    assert not [d for d in dependencies(doc) if "gitCommit" in d.get("digest", {})]
    assert "created" not in parameters(doc)  # a dirty tree has no commit time either


def test_an_input_file_git_ignores_is_not_in_the_commit_so_the_tree_is_not_clean(tmp_path: Path) -> None:
    """Weights kept out of git (``.gitignore``) leave ``git status`` empty, but the commit does not hold them: a
    policy trusting the commit must not take the build for one made from it alone."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q")
    copy_example("single-gguf", root / "models")
    (root / ".gitignore").write_text("*.gguf\n")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "the model, its weights ignored")
    assert git(root, "status", "--porcelain") == ""
    doc, _ = checkout_statement(root)
    assert parameters(doc)["source"] == {"commit": git(root, "rev-parse", "HEAD"), "path": "models/single-gguf",
                                         "clean": False}
    assert not [d for d in dependencies(doc) if "gitCommit" in d.get("digest", {})]
    weights = root / "models" / "single-gguf" / "tiny-llama-F32.gguf"
    assert {"name": "tiny-llama-F32.gguf", "digest": {"sha256": sha256(weights)},
            "mediaType": "application/vnd.docker.ai.gguf.v3"} in dependencies(doc)


def test_a_modelfile_outside_the_context_is_checked_in_the_commit_too(repo: Path) -> None:
    """``-f ../Modelfile``: the Modelfile is an input like any file of the context."""
    context = repo / "models" / "single-gguf"
    outside = repo / "models" / "Modelfile"
    shutil.move(context / "Modelfile", outside)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "the Modelfile beside the context")
    plan = api.plan(outside, context=context, display="Modelfile")
    raw = provenance.statement(plan, build_archive(plan, repo.parent / "m.tar"), modelfile=outside)
    assert parameters(json.loads(raw))["modelfile"]["path"] == "../Modelfile"
    assert parameters(json.loads(raw))["source"]["clean"] is True
    (repo / ".gitignore").write_text("models/Modelfile\n")
    git(repo, "rm", "-q", "--cached", "models/Modelfile")
    git(repo, "add", ".gitignore")
    git(repo, "commit", "-q", "-m", "the Modelfile ignored")
    raw = provenance.statement(plan, build_archive(plan, repo.parent / "m.tar"), modelfile=outside)
    assert parameters(json.loads(raw))["source"]["clean"] is False


def test_a_checkout_without_a_remote_names_its_commit_alone(repo: Path) -> None:
    git(repo, "remote", "remove", "origin")
    doc, _ = checkout_statement(repo)
    head = git(repo, "rev-parse", "HEAD")
    assert parameters(doc)["source"] == {"commit": head, "path": "models/single-gguf", "clean": True}
    assert {"name": "source", "digest": {"gitCommit": head}} in dependencies(doc)


def test_a_remote_url_too_long_to_read_whole_is_left_out(repo: Path) -> None:
    """A URL cut at the read limit would name another repository."""
    git(repo, "remote", "set-url", "origin", "https://github.com/org/" + "m" * 5000)
    doc, _ = checkout_statement(repo)
    assert "repository" not in parameters(doc)["source"]
    assert {"name": "source", "digest": {"gitCommit": git(repo, "rev-parse", "HEAD")}} in dependencies(doc)


def test_a_hostile_clean_filter_in_the_checkout_is_never_run(repo: Path, tmp_path: Path) -> None:
    """``git status`` runs the clean filter a checkout configures: provenance asks git as the creation time does,
    so whether the tree is clean is left unknown (and the commit out of the dependencies), and nothing runs."""
    marker, script = tmp_path / "filter-ran", tmp_path / "filter.sh"
    script.write_text(f"#!/bin/sh\ntouch {marker}\ncat\n")
    script.chmod(0o755)
    (repo / ".gitattributes").write_text("* filter=hostile\n")
    git(repo, "add", ".gitattributes")
    git(repo, "commit", "-q", "-m", "attributes")
    git(repo, "config", "filter.hostile.clean", str(script))
    git(repo, "config", "core.fsmonitor", str(script))
    for path in (repo / "models" / "single-gguf").iterdir():
        os.utime(path, (EPOCH + 5, EPOCH + 5))  # stat data changed: status would run the filter to hash them
    doc, _ = checkout_statement(repo)
    assert not marker.exists()
    head = git(repo, "rev-parse", "HEAD")
    assert parameters(doc)["source"] == {"repository": "https://github.com/org/models.git", "commit": head,
                                         "path": "models/single-gguf"}
    assert not [d for d in dependencies(doc) if "gitCommit" in d.get("digest", {})]


def test_a_folder_outside_any_checkout_records_no_source(tmp_path: Path) -> None:
    plan, result, modelfile = build_model("single-gguf", tmp_path)
    assert "source" not in parameters(json.loads(provenance.statement(plan, result, modelfile=modelfile)))


@pytest.mark.parametrize(("url", "public", "uri"), [
    ("https://x-access-token:ghp_abc@github.com/org/repo.git", "https://github.com/org/repo.git",
     "git+https://github.com/org/repo.git"),
    ("https://ghp_tokenalone@GitHub.COM/Org/Repo", "https://github.com/Org/Repo", "git+https://github.com/Org/Repo"),
    ("https://user:p%40ss@word@host.example:8443/r.git?private_token=abc#x", "https://host.example:8443/r.git",
     "git+https://host.example:8443/r.git"),
    ("ssh://git@host.example:2222/org/repo.git", "ssh://host.example:2222/org/repo.git",
     "git+ssh://host.example:2222/org/repo.git"),
    ("git@github.com:org/repo.git", "github.com:org/repo.git", "git+ssh://github.com/org/repo.git"),
    ("deploy:s3cret@gitlab.example.com:group/repo.git", "gitlab.example.com:group/repo.git",
     "git+ssh://gitlab.example.com/group/repo.git"),
    ("/srv/git/repo.git", "/srv/git/repo.git", None),
    ("../repo", "../repo", None),
])
def test_credentials_in_a_remote_url_are_stripped(url: str, public: str, uri: str | None) -> None:
    assert provenance.public_url(url) == public
    assert provenance._git_uri(public) == uri
