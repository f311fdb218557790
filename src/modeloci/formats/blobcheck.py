"""The half of ``verify`` that reads the layers: every layer blob hashed once against its digest and size.

:func:`check_blobs` runs after :func:`modeloci.formats.validate.check_documents` has checked the documents.
A blob that several platforms of a multi-platform image share is hashed once; blobs nothing refers to are
named (warnings).
"""

from __future__ import annotations

from pathlib import Path

from modeloci.blobs.check import digests
from modeloci.blobs.engine import BlobSource, FileState
from modeloci.formats import modelcar_checks
from modeloci.formats.report import VerifyReport, error, warn
from modeloci.oci.layout import Layout, index_entries, referrer_entries
from modeloci.oci.manifest import Manifest


def check_blobs(layout: Layout, manifest: Manifest, report: VerifyReport) -> None:
    """Stream every layer blob once and compare digest and size; name blobs nothing refers to (warnings). A
    multi-platform image's (``report.platforms``): every platform's layers, each blob hashed once."""
    if report.platforms and report.index is not None:
        referenced = {report.index.digest.blob_path}
        for name, one in report.platforms:
            referenced |= _check_layers(layout, one, report, referenced, f"{name}: ")
    else:
        referenced = _check_layers(layout, manifest, report, set(), "")
    if getattr(layout, "selected", None) is not None:
        return  # one model of the store: other blobs belong to other models
    if layout.exists("index.json"):  # the blobs of the referrers beside the model (a signature, a BOM) are used
        for entry in referrer_entries(layout, index_entries(layout)):
            if entry.subject.digest == manifest.digest:
                referenced.update(d.digest.blob_path for d in (entry.descriptor, *entry.blobs))
    for name in layout.names():
        if name.startswith("blobs/") and name not in referenced:
            warn(report, f"`{name}` is not referenced by the manifest")


def _check_layers(layout: Layout, manifest: Manifest, report: VerifyReport, done: set[str],
                  prefix: str) -> set[str]:
    """Hash the layers of ``manifest`` not in ``done`` (blobs already checked), problems prefixed with ``prefix``;
    the blobs it refers to."""
    referenced = {manifest.config.digest.blob_path, manifest.digest.blob_path}
    sources, layers = [], []
    states: dict[Path, FileState] = {}
    for i, layer in enumerate(manifest.layers, 1):
        name = layer.digest.blob_path
        if name in done or name in referenced:
            continue
        referenced.add(name)
        if not layout.exists(name):
            error(report, f"{prefix}layer {i} blob {layer.digest} is missing")
        elif layout.size(name) != layer.size:
            error(report, f"{prefix}layer {i} blob {layer.digest} is {layout.size(name)} bytes; "
                          f"the manifest says {layer.size}")
        else:
            path, offset, size = layout.locate(name)
            if path not in states:  # every blob of an archive lies in one file: looked at once
                states[path] = FileState.from_stat(path.stat())
            sources.append(BlobSource(path, offset, size, f"layer {i}", states[path]))
            layers.append((i, layer))
    for (i, layer), found in zip(layers, digests(sources), strict=True):
        report.blobs_checked += 1
        report.bytes_checked += layer.size
        if isinstance(found, str):
            error(report, f"{prefix}layer {i}: {found}")
        elif found != layer.digest:
            error(report, f"{prefix}layer {i} blob {layer.digest} does not match its digest: its content is {found}")
    if report.format == "modelcar":
        for problem in modelcar_checks.file_digest_problems(layout, manifest):
            error(report, prefix + problem)
    return referenced

