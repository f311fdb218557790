"""Artifacts that refer to a model: their manifest bytes, read back, the fallback tag and index, and the schemas."""

from __future__ import annotations

import json
from pathlib import Path

from modeloci.oci.digest import Digest
from modeloci.oci.manifest import Descriptor
from modeloci.oci.mediatypes import MediaType
from modeloci.oci.referrers import EMPTY, fallback_tag, make_referrer, read_referrer, referrers_index
from tests.test_conformance import _validator

SUBJECT = Descriptor(str(MediaType.OCI_MANIFEST), Digest.of(b"a model manifest"), 16)


def test_a_referrer_is_an_artifact_manifest_whose_subject_is_the_model() -> None:
    referrer = make_referrer(SUBJECT, MediaType.SIGSTORE_BUNDLE, b'{"bundle":1}', MediaType.SIGSTORE_BUNDLE,
                             annotations={"b": "2", "a": "1"})
    doc = json.loads(referrer.manifest)
    assert doc == {
        "schemaVersion": 2, "mediaType": MediaType.OCI_MANIFEST, "artifactType": MediaType.SIGSTORE_BUNDLE,
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": str(EMPTY.digest), "size": 2},
        "layers": [{"mediaType": MediaType.SIGSTORE_BUNDLE, "digest": str(Digest.of(b'{"bundle":1}')), "size": 12}],
        "subject": {"mediaType": MediaType.OCI_MANIFEST, "digest": str(SUBJECT.digest), "size": 16},
        "annotations": {"a": "1", "b": "2"},
    }
    assert referrer.manifest == make_referrer(SUBJECT, MediaType.SIGSTORE_BUNDLE, b'{"bundle":1}',
                                              MediaType.SIGSTORE_BUNDLE, annotations={"a": "1", "b": "2"}).manifest
    assert EMPTY.digest.hex == "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"  # the OCI spec's
    assert set(referrer.blobs) == {EMPTY.digest, Digest.of(b'{"bundle":1}')}
    artifact_type, subject, layers = read_referrer(referrer.manifest) or ("", SUBJECT, [])
    assert (artifact_type, subject.digest, [d.size for d in layers]) == (MediaType.SIGSTORE_BUNDLE, SUBJECT.digest,
                                                                         [12])


def test_a_manifest_without_a_subject_is_no_referrer() -> None:
    assert read_referrer(b'{"schemaVersion":2,"layers":[]}') is None
    assert read_referrer(b"[" * 10_000) is None


def test_the_fallback_tag_and_its_index() -> None:
    referrer = make_referrer(SUBJECT, MediaType.IN_TOTO, b"{}", MediaType.IN_TOTO)
    assert fallback_tag(SUBJECT.digest) == f"sha256-{SUBJECT.digest.hex}"
    index = json.loads(referrers_index([referrer.descriptor({"x": "y"})]))
    assert index["manifests"] == [{"mediaType": MediaType.OCI_MANIFEST, "digest": str(referrer.digest),
                                   "size": len(referrer.manifest), "artifactType": MediaType.IN_TOTO,
                                   "annotations": {"x": "y"}}]


def test_referrer_and_index_match_the_oci_schemas(shared: Path) -> None:
    referrer = make_referrer(SUBJECT, MediaType.CYCLONEDX, b"{}", MediaType.CYCLONEDX)
    for schema, doc in (("image-manifest-schema.json", json.loads(referrer.manifest)),
                        ("image-index-schema.json", json.loads(referrers_index([referrer.descriptor()])))):
        errors = sorted(_validator(shared, schema).iter_errors(doc), key=str)
        assert not errors, [e.message for e in errors]
