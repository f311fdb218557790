"""What we write, checked by independent judges: the official OCI schemas and skopeo."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest

from tests.archive_tools import EXAMPLE_NAMES, Archive, build_example

SCHEMAS = ("image-manifest-schema.json", "image-index-schema.json", "image-layout-schema.json")


@pytest.fixture(scope="module")
def archives(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("conformance")
    return {name: build_example(name, root / name, reference=f"example/{name}:test")[0] for name in EXAMPLE_NAMES}


def _validator(shared: Path, schema_name: str):
    jsonschema = pytest.importorskip("jsonschema")
    referencing = pytest.importorskip("referencing")
    folder = shared / "conformance" / "oci-image-spec"

    def retrieve(uri: str):
        # The schemas refer to each other by relative file name under several
        # base URIs (their draft-04 `id`s); resolve every one to the local copy.
        contents = json.loads((folder / uri.rsplit("/", 1)[-1]).read_text())
        return referencing.Resource.from_contents(contents, default_specification=referencing.jsonschema.DRAFT4)

    schema = json.loads((folder / schema_name).read_text())
    registry = referencing.Registry(retrieve=retrieve)
    return jsonschema.Draft4Validator(schema, registry=registry)


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_manifest_index_and_layout_match_the_oci_schemas(shared: Path, archives: dict[str, Path], name: str) -> None:
    archive = Archive.read(archives[name])
    for schema_name, doc in zip(SCHEMAS, (archive.manifest, archive.index, archive.json("oci-layout")), strict=True):
        errors = sorted(_validator(shared, schema_name).iter_errors(doc), key=str)
        assert not errors, f"{schema_name}: {[e.message for e in errors]}"


def test_schema_validator_rejects_a_broken_manifest(shared: Path, archives: dict[str, Path]) -> None:
    """The validator is really checking: an uppercase digest and a missing size are caught."""
    manifest = Archive.read(archives["single-gguf"]).manifest
    manifest["layers"][0]["digest"] = manifest["layers"][0]["digest"].upper()
    del manifest["config"]["size"]
    errors = list(_validator(shared, "image-manifest-schema.json").iter_errors(manifest))
    assert len(errors) >= 2


def _skopeo() -> str:
    from tests.conftest import skopeo_path

    return skopeo_path()


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_skopeo_reads_the_same_manifest(archives: dict[str, Path], name: str) -> None:
    skopeo = _skopeo()
    archive = Archive.read(archives[name])
    raw = subprocess.run([skopeo, "inspect", "--raw", f"oci-archive:{archives[name]}"],
                         check=True, capture_output=True).stdout
    assert raw == archive.manifest_bytes
    digest = "sha256:" + hashlib.sha256(raw).hexdigest()
    assert digest == archive.index["manifests"][0]["digest"]
    tagged = subprocess.run([skopeo, "inspect", "--raw", f"oci-archive:{archives[name]}:example/{name}:test"],
                            check=True, capture_output=True).stdout
    assert tagged == raw


def test_skopeo_copies_every_blob(archives: dict[str, Path], tmp_path: Path) -> None:
    """skopeo copy re-reads and re-verifies every blob into a fresh OCI layout."""
    skopeo = _skopeo()
    source = archives["sharded-vision"]
    subprocess.run([skopeo, "copy", "--quiet", f"oci-archive:{source}", f"oci:{tmp_path / 'layout'}:copied"],
                   check=True, capture_output=True)
    archive = Archive.read(source)
    copied = tmp_path / "layout" / "blobs" / "sha256"
    for layer in archive.manifest["layers"]:
        hex_ = layer["digest"][7:]
        assert (copied / hex_).read_bytes() == archive.files[f"blobs/sha256/{hex_}"]
    index = json.loads((tmp_path / "layout" / "index.json").read_text())
    assert index["manifests"][0]["digest"] == archive.index["manifests"][0]["digest"]
