"""Byte-exact manifests and configs: golden vectors from Docker Model Runner's own assets."""

from __future__ import annotations

import calendar
import json
from datetime import datetime

import pytest

from modeloci.formats.docker import ANNOTATION_TITLE, config_blob, file_metadata, layer_annotations
from modeloci.oci.digest import Digest
from modeloci.oci.jsonenc import go_json, go_map, go_time
from modeloci.oci.manifest import Descriptor, InvalidDocument, index_json, manifest_blob, parse_manifest

JUNE_15 = calendar.timegm(datetime(2025, 6, 15, 12, 0, 0).timetuple())

# REFERENCE.md §1.8: DMR's test assets packaged with created/mtime 2025-06-15T12:00:00Z.
DMR_LAYERS = [
    ("application/vnd.docker.ai.gguf.v3", "dummy.gguf", 2016,
     "c7790a0a70161f1bfd441cf157313e9efb8fcd1f0831193101def035ead23b32"),
    ("application/vnd.docker.ai.license", "license.txt", 13,
     "d0ce8fae4da6de6e5a4b85ebee156ac8f3ab6d8407caf4493968d34e9bc3939e"),
    ("application/vnd.docker.ai.chat.template.jinja", "template.jinja", 304,
     "6ac6326eb0c2f061fdb7c3354ac08107f85962d43767cda5584f782f5bc275af"),
    ("application/vnd.docker.ai.mmproj", "dummy.mmproj", 137,
     "082957f5eee1008fbe7e372e0ba4f44644f4190f4824f9c6ac9fe12a3e756817"),
]


def _as_dmr(annotations: dict[str, str]) -> dict[str, str]:
    """DMR's three annotations: modeloci adds the title oras reads (which DMR ignores), and nothing else."""
    assert annotations.pop(ANNOTATION_TITLE) == annotations["org.cncf.model.filepath"]
    return annotations


def test_manifest_matches_docker_model_runner_golden_vector() -> None:
    layers = [Descriptor(mt, Digest(hex_), size, _as_dmr(layer_annotations(name, size, JUNE_15)))
              for mt, name, size, hex_ in DMR_LAYERS]
    config = Descriptor("application/vnd.docker.ai.model.config.v0.1+json",
                        Digest("f26d55ee3af3f08726ad142584c732e93f9a698151e272387ef3e918017a4c27"), 1080)
    blob = manifest_blob(config, layers)
    assert len(blob.data) == 1913
    assert str(blob.digest) == "sha256:6663b9a7e13eeb9e2d26ca80fb8840499f4a9971c5ab29d2a28448a229123947"


def test_file_metadata_is_dmr_shaped() -> None:
    assert file_metadata("dummy.gguf", 2016, JUNE_15) == (
        '{"name":"dummy.gguf","mode":420,"uid":0,"gid":0,"size":2016,"mtime":"2025-06-15T12:00:00Z","typeflag":0}'
    )


def test_go_json_escapes_like_go() -> None:
    assert go_json({"t": "<a> & b\u2028\u2029", "u": "é", "c": "\x01\n"}) == (
        '{"t":"\\u003ca\\u003e \\u0026 b\\u2028\\u2029","u":"é","c":"\\u0001\\n"}'.encode()
    )
    assert go_json({"b": 1, "a": [True, None]}) == b'{"b":1,"a":[true,null]}'


def test_go_json_replaces_undecodable_file_name_bytes() -> None:
    name = b"model-\xff.gguf".decode("utf-8", errors="surrogateescape")
    assert go_json(name) == '"model-\ufffd.gguf"'.encode()


def test_go_map_sorts_bytewise() -> None:
    assert list(go_map({"b": 1, "B": 2, "a": 3, "é": 4})) == ["B", "a", "b", "é"]


@pytest.mark.parametrize(("seconds", "nanos", "text"), [
    (0, 0, "1970-01-01T00:00:00Z"),
    (JUNE_15, 0, "2025-06-15T12:00:00Z"),
    (JUNE_15, 500_000_000, "2025-06-15T12:00:00.5Z"),
    (JUNE_15, 120, "2025-06-15T12:00:00.00000012Z"),
])
def test_go_time(seconds: int, nanos: int, text: str) -> None:
    assert go_time(seconds, nanos) == text


def test_config_blob_omits_empty_fields_and_keeps_go_order() -> None:
    digest = Digest("a" * 64)
    blob = config_blob("application/vnd.docker.ai.model.config.v0.1+json",
                       {"context_size": 8192, "format": "gguf", "gguf": {"z": "1", "a": "2"}, "size": ""},
                       [digest], created=JUNE_15)
    assert blob.data == (
        b'{"config":{"format":"gguf","gguf":{"a":"2","z":"1"},"context_size":8192},'
        b'"descriptor":{"created":"2025-06-15T12:00:00Z"},'
        b'"rootfs":{"type":"rootfs","diff_ids":["sha256:' + b"a" * 64 + b'"]}}'
    )


def test_index_entry_order_and_tag() -> None:
    manifest = Descriptor("application/vnd.oci.image.manifest.v1+json", Digest("b" * 64), 10,
                          artifact_type="application/vnd.docker.ai.model.config.v0.1+json")
    doc = json.loads(index_json(manifest, ref_name="ai/tiny:1"))
    assert list(doc["manifests"][0]) == ["mediaType", "digest", "size", "artifactType", "annotations"]
    assert doc["manifests"][0]["annotations"] == {"org.opencontainers.image.ref.name": "ai/tiny:1"}
    assert "annotations" not in json.loads(index_json(manifest, ref_name=None))["manifests"][0]


def test_parse_manifest_round_trip_and_rejections() -> None:
    layer = Descriptor("application/vnd.docker.ai.gguf.v3", Digest("c" * 64), 3, {"k": "v"})
    config = Descriptor("application/vnd.docker.ai.model.config.v0.1+json", Digest("d" * 64), 4)
    blob = manifest_blob(config, [layer], annotations={"x": "y"})
    parsed = parse_manifest(blob.data)
    assert parsed.layers == (layer,) and parsed.config == config and parsed.annotations == {"x": "y"}
    assert parsed.digest == blob.digest
    for bad in (b"[]", b"{", b'{"schemaVersion":1}', b'{"schemaVersion":2,"config":{},"layers":[]}',
                b'{"schemaVersion":2,"config":{"mediaType":"x","size":1,"digest":"sha256:XYZ"},"layers":[]}'):
        with pytest.raises(InvalidDocument):
            parse_manifest(bad)


def test_digest_type() -> None:
    digest = Digest.parse("sha256:" + "e" * 64)
    assert str(digest) == "sha256:" + "e" * 64 and digest.blob_path == "blobs/sha256/" + "e" * 64
    for bad in ("sha256:" + "E" * 64, "sha512:" + "e" * 64, "e" * 64, "sha256:abc"):
        with pytest.raises(ValueError):
            Digest.parse(bad)
