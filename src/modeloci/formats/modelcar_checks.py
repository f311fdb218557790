"""``verify`` of a modelcar: its image config, its layers' types and diff_ids, and each model layer's one file.

A modelcar is checked as any OCI image is (an image config with ``rootfs``
of type ``layers``, a ``diff_id`` per layer: an uncompressed layer's own
digest, a gzip layer's the digest of the tar inside), and each model layer as
unpack would read it (:mod:`.modelcar_layers`: one regular file at
``models/<path>``, only the folders on the way to it, no link, no member
outside). The file digest a layer's annotation claims is compared with the
file's bytes when the blobs are hashed (:func:`file_digest_problems`): convert
and unpack trust it no further than that check.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

from modeloci.blobs.engine import BlobSource, FileState, hash_range
from modeloci.errors import ArchiveError, BuildError
from modeloci.formats import modelcar
from modeloci.formats.artifact import ModelLayer, image_packing, model_layer
from modeloci.formats.layertar import MAX_INFLATE_RATIO, Member, uncompressed_digest
from modeloci.formats.modelcar_layers import file_problems
from modeloci.oci.digest import Digest
from modeloci.oci.layout import Layout
from modeloci.oci.manifest import Descriptor, Manifest

Severity = Literal["error", "warning"]
Finding = tuple[Severity, str]


def _source(layout: Layout, i: int, layer: Descriptor) -> BlobSource | None:
    """Layer ``i``'s blob, when it is there at its size (a missing or mis-sized one is reported with the blobs)."""
    name = layer.digest.blob_path
    if not layout.exists(name) or layout.size(name) != layer.size:
        return None
    path, offset, size = layout.locate(name)
    return BlobSource(path, offset, size, f"layer {i + 1} ({layer.media_type})", FileState.from_stat(path.stat()))


def diff_ids(layout: Layout, manifest: Manifest, config: dict[str, Any], max_ratio: int = MAX_INFLATE_RATIO) -> \
        tuple[list[Digest | None], list[Finding]]:
    """Each layer's expected diff_id (None: not known here, not compared), and the problems of its model layers."""
    expected: list[Digest | None] = []
    findings: list[Finding] = []
    recorded = modelcar.history_paths(config, len(manifest.layers))
    for i, layer in enumerate(manifest.layers):
        source = _source(layout, i, layer)
        packing = image_packing(layer.media_type)
        expected.append(layer.digest if packing == "tar" else None)
        if source is None:
            continue
        findings += _model_layer(source, i, model_layer(layer, "modelcar", i + 1, recorded=recorded[i]), max_ratio)
        if packing == "tar+gzip":
            try:
                expected[i] = uncompressed_digest(source, max_ratio=max_ratio)
            except ArchiveError as exc:
                findings.append(("error", exc.message))
    return expected, findings


def _model_layer(source: BlobSource, i: int, found: ModelLayer, max_ratio: int) -> list[Finding]:
    if not found.is_file:
        return []
    problems = file_problems(source, found, max_ratio=max_ratio)
    if isinstance(problems, Member):
        return []
    return [("error", f"layer {i + 1} ({found.filepath}): {problem}") for problem in problems]


def config_findings(manifest: Manifest, config: dict[str, Any], digests: list[str | None]) -> Iterator[Finding]:
    """The image config's problems: its media type, platform, ``rootfs`` and ``diff_ids`` against the layers."""
    if manifest.config.media_type not in modelcar.IMAGE_CONFIG_TYPES:
        yield "error", f"config media type `{manifest.config.media_type}` is not an image config's"
    for key in ("architecture", "os"):
        if not isinstance(config.get(key), str) or not config[key]:
            yield "error", f"the image config has no `{key}`"
    rootfs = config.get("rootfs")
    if not isinstance(rootfs, dict) or rootfs.get("type") != "layers" or not isinstance(rootfs.get("diff_ids"), list):
        yield "error", "the image config has no rootfs of type `layers` with its diff_ids"
        return
    ids = rootfs["diff_ids"]
    if len(ids) != len(digests):
        yield "error", f"rootfs.diff_ids lists {len(ids)} layers; the manifest has {len(digests)}"
    for i, (expected, found) in enumerate(zip(digests, ids, strict=False), 1):
        if expected is not None and expected != found:
            yield "error", f"rootfs.diff_ids[{i - 1}] is {found}, but layer {i} holds a tar of digest {expected}"


def layer_findings(i: int, layer: Descriptor) -> Iterator[Finding]:
    """A modelcar layer's media type must be an image layer's."""
    if layer.media_type not in modelcar.LAYER_TYPES:
        yield "error", f"layer {i}: `{layer.media_type}` is not an image layer type"


def file_digest_problems(layout: Layout, manifest: Manifest) -> list[str]:
    """Each model layer whose file digest annotation does not match the file it holds (one more read of the
    file's bytes, found by its tar header)."""
    problems = []
    for i, layer in enumerate(manifest.layers):
        found = model_layer(layer, "modelcar", i + 1)
        claimed = modelcar.file_digest(layer.annotations)
        source = _source(layout, i, layer)
        if not found.is_file or claimed is None or source is None or found.packing != "tar":
            continue
        member = file_problems(source, found)
        if not isinstance(member, Member) or member.offset is None:
            continue  # reported with the documents
        inner = BlobSource(source.path, source.offset + member.offset, member.size, source.label, source.state)
        try:
            digest = hash_range(inner)
        except BuildError as exc:
            problems.append(exc.message)
            continue
        if digest != claimed:
            problems.append(f"layer {i + 1} ({found.filepath}): its annotation says the file's digest is {claimed}, "
                            f"but the file it holds is {digest}")
    return problems
