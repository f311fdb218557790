"""Small container images written by the tests: an OCI layout holding an image with a shell-like file, a config
with an entrypoint, an environment, labels and history; one layer gzip-compressed."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path
from typing import Any


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def tar_of(files: dict[str, bytes], mode: int = 0o755) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        folders = sorted({"/".join(path.split("/")[:i]) for path in files for i in range(1, path.count("/") + 1)})
        for folder in folders:
            info = tarfile.TarInfo(folder)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        for path, data in files.items():
            info = tarfile.TarInfo(path)
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _put(layout: Path, data: bytes) -> str:
    digest = _sha(data)
    (layout / "blobs" / "sha256" / digest[7:]).write_bytes(data)
    return digest


SHELL = b"#!/bin/true\n# not a real shell: a file the test looks for\n"
CONFIG: dict[str, Any] = {"Entrypoint": ["/bin/sh", "-c"], "Env": ["PATH=/bin", "MODEL_DIR=/models"],
                          "Labels": {"org.opencontainers.image.vendor": "base-vendor"}}


def image_manifest(layout: Path, *, architecture: str = "amd64", variant: str | None = None,
                   marker: bytes = b"") -> dict[str, Any]:
    """An image (two layers: ``bin/sh`` uncompressed, ``etc/motd`` gzip) put into ``layout``; its descriptor."""
    (layout / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
    plain = tar_of({"bin/sh": SHELL})
    motd = tar_of({"etc/motd": b"hello from the base " + marker + b"\n"}, mode=0o644)
    packed = gzip.compress(motd, mtime=0)
    config = {"created": "2024-01-01T00:00:00Z", "architecture": architecture, "os": "linux",
              **({"variant": variant} if variant else {}), "config": CONFIG,
              "rootfs": {"type": "layers", "diff_ids": [_sha(plain), _sha(motd)]},
              "history": [{"created_by": "ADD sh /bin/sh"}, {"created_by": "ENV PATH=/bin", "empty_layer": True},
                          {"created_by": "ADD motd /etc/motd"}]}
    config_bytes = json.dumps(config).encode()
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                           "digest": _put(layout, config_bytes), "size": len(config_bytes)},
                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": _put(layout, plain),
                            "size": len(plain)},
                           {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                            "digest": _put(layout, packed), "size": len(packed)}]}
    data = json.dumps(manifest).encode()
    return {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": _put(layout, data),
            "size": len(data), "platform": {"architecture": architecture, "os": "linux",
                                            **({"variant": variant} if variant else {})}}


def write_image(layout: Path, name: str = "base:1") -> Path:
    """An OCI layout holding one image, tagged ``name``."""
    entry = image_manifest(layout)
    del entry["platform"]
    entry["annotations"] = {"org.opencontainers.image.ref.name": name}
    (layout / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [entry]}))
    return layout


def attestation_manifest(layout: Path, subject: str) -> dict[str, Any]:
    """An attestation manifest as buildx lists one in an index: platform ``unknown/unknown``, an in-toto layer."""
    statement = json.dumps({"_type": "https://in-toto.io/Statement/v0.1", "predicate": {}}).encode()
    config = b"{}"
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                      "digest": _put(layout, config), "size": len(config)},
                           "layers": [{"mediaType": "application/vnd.in-toto+json",
                                       "digest": _put(layout, statement), "size": len(statement)}]}).encode()
    return {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": _put(layout, manifest),
            "size": len(manifest), "platform": {"architecture": "unknown", "os": "unknown"},
            "annotations": {"vnd.docker.reference.type": "attestation-manifest",
                            "vnd.docker.reference.digest": subject}}


def write_index(layout: Path, name: str = "base:1", *, attestation: bool = False) -> Path:
    """An OCI layout holding a multi-platform image (linux/amd64 and linux/arm64/v8) as one index, tagged ``name``
    (with ``attestation``, an attestation manifest after each platform's, as buildx writes them)."""
    entries = [image_manifest(layout), image_manifest(layout, architecture="arm64", variant="v8", marker=b"arm")]
    if attestation:
        entries = [e for image in entries for e in (image, attestation_manifest(layout, image["digest"]))]
    data = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                       "manifests": entries}).encode()
    entry = {"mediaType": "application/vnd.oci.image.index.v1+json", "digest": _put(layout, data), "size": len(data),
             "annotations": {"org.opencontainers.image.ref.name": name}}
    (layout / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [entry]}))
    return layout
