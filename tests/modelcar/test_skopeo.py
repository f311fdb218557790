"""skopeo moves a modelcar between an archive, a layout and the real registry, its digest unchanged.

A modelcar is a container image, so skopeo would gzip its uncompressed layers on the way (a new digest);
``--preserve-digests`` keeps them, and every blob, as they are."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from tests.modelcar.helpers import build_modelcar, single_gguf


def test_skopeo_copies_a_modelcar_archive_to_a_layout_and_the_registry_keeping_its_digest(
        tmp_path: Path, skopeo: Callable[..., str], registry, repo_name: str) -> None:
    built = build_modelcar(single_gguf(tmp_path), tmp_path / "car.tar", reference="tiny:car")
    digest = str(built.manifest.digest)
    layout = f"oci:{tmp_path / 'layout'}:copied"
    skopeo("copy", "--quiet", "--preserve-digests", f"oci-archive:{tmp_path / 'car.tar'}", layout)
    index = json.loads((tmp_path / "layout" / "index.json").read_text())
    assert index["manifests"][0]["digest"] == digest
    dest = f"docker://{registry.host}/{repo_name}:car"
    skopeo("copy", "--quiet", "--preserve-digests", "--retry-times", "0", "--dest-tls-verify=false", layout, dest)
    pushed = json.loads(skopeo("inspect", "--tls-verify=false", dest))
    assert pushed["Digest"] == digest
    raw = skopeo("inspect", "--raw", "--tls-verify=false", dest)
    assert raw.encode() == (tmp_path / "layout" / "blobs" / "sha256" / digest[7:]).read_bytes()
