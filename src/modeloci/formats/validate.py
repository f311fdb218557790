"""Validating a model artifact in a layout: is it exactly what its manifest says, and a well-formed model?

:func:`check_documents` makes every check but hashing the layers: the
archive's members, then the documents must agree: the index entry with the
manifest, the config's ``diff_ids`` or ``diffIds`` with the layers in order,
media types and annotations with the format, the Docker ``manifest.json`` copy
with the manifest blob. The JSON is checked against the shape the OCI and
ModelPack schemas give. The archive itself may not hold unsafe members, nor
may a ModelPack tar layer (whose diffID, for gzip, is the digest of the tar
inside). :func:`modeloci.formats.blobcheck.check_blobs` then hashes every layer
blob once against its digest and size. Every problem is reported, not just the
first, into a :class:`~modeloci.formats.report.VerifyReport`. ``verify`` runs both;
``load`` and ``pull`` into the store run :func:`refuse_unverified`, since they
hash every blob as they copy it.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from modeloci.blobs.engine import BlobSource, FileState
from modeloci.errors import ArchiveError
from modeloci.formats import modelcar, modelcar_checks
from modeloci.formats.artifact import detect_format, filepath_of, packing_of
from modeloci.formats.layertar import MAX_INFLATE_RATIO, list_members, uncompressed_digest
from modeloci.formats.report import VerifyReport, error, warn
from modeloci.jsondoc import InvalidJSON, load_json
from modeloci.oci.digest import Digest
from modeloci.oci.layout import (
    Layout,
    TarLayout,
    index_platforms,
    model_entries,
    names_of,
    read_blob,
)
from modeloci.oci.manifest import REF_NAME, Descriptor, InvalidDocument, Manifest, parse_index, parse_manifest
from modeloci.oci.mediatypes import DOCKER_CONFIG_TYPES, MODELPACK_CONFIGS, MODELPACK_MANIFESTS, MediaType
from modeloci.oci.safety import safe_relative, shown_path, tar_problems, too_long

_MEDIA_TYPE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$")
_DOCKER_LAYERS = frozenset({MediaType.DOCKER_GGUF, MediaType.DOCKER_SAFETENSORS, MediaType.DOCKER_DDUF,
                            MediaType.DOCKER_LICENSE, MediaType.DOCKER_MMPROJ, MediaType.DOCKER_CHAT_TEMPLATE,
                            MediaType.DOCKER_MODEL_FILE, MediaType.DOCKER_VLLM_CONFIG_TAR, MediaType.DOCKER_DIR_TAR})
_MODELPACK_LAYER = re.compile(r"^application/vnd\.(cncf|cnai)\.model\.(weight|weight\.config|doc|code|dataset)"
                              r"\.v1\.(raw|tar|tar\+gzip|tar\+zstd)$")


def check_documents(layout: Layout, report: VerifyReport, *, max_inflate_ratio: int = MAX_INFLATE_RATIO,
                    images: bool = False) -> Manifest | None:
    """Every check but hashing the layers: the archive's members, the index, manifest and config and how
    they agree, the layers' descriptors and a tar layer's members. Problems go into ``report``. With ``images``,
    a container image with no model file is checked as a modelcar (a modelcar's ``FROM`` base)."""
    if isinstance(layout, TarLayout):
        for unsafe in tar_problems(layout.members, layout.path.stat().st_size):
            error(report, f"archive member {unsafe.message}")
        if layout.truncated and not report.problems:
            error(report, "the archive is cut short: it ends inside a member header")
    platforms = _platforms(layout, report)
    if platforms is not None:  # a multi-platform image (a modelcar built on one): each platform's image checked
        for name, one in platforms:
            before = len(report.problems)
            _check(layout, one, report, max_inflate_ratio, images)
            report.problems[before:] = [replace(p, message=f"{name}: {p.message}") for p in report.problems[before:]]
        report.manifest_digest = str(report.index.digest) if report.index else None
        return platforms[0][1] if platforms else None
    manifest = _manifest(layout, report)
    if manifest is not None:
        _check(layout, manifest, report, max_inflate_ratio, images)
    return manifest


def _platforms(layout: Layout, report: VerifyReport) -> list[tuple[str, Manifest]] | None:
    """Each platform's manifest of the multi-platform image ``index.json`` names (read into ``report.platforms``;
    one that cannot be read is an error); None when it names none."""
    if getattr(layout, "selected", None) is not None or not layout.exists("index.json"):
        return None
    found = index_platforms(layout)
    if found is None:
        return None
    report.index, out = found[0], []
    for entry in found[1]:
        if entry.descriptor is None or entry.descriptor.media_type != MediaType.OCI_MANIFEST:
            error(report, f"the index's {entry.name} entry is not an OCI image manifest")
            continue
        data = _blob_bytes(layout, entry.descriptor, f"the {entry.name} manifest", report)
        manifest = _parse(data, f"the {entry.name} manifest {entry.descriptor.digest}", report) if data else None
        if manifest is not None:
            out.append((entry.name, manifest))
    if not found[1]:
        error(report, "the image index lists no manifest")
    report.platforms = out
    return out


def refuse_unverified(layout: Layout, source: str, *, verb: str, hint: str, images: bool = False) -> None:
    """ArchiveError naming the first problem (and how many more) if ``check_documents`` finds any error: what
    lets nothing into the store unverified (load and pull hash every blob while they copy it; this is the rest)."""
    report = VerifyReport(source=source)
    check_documents(layout, report, images=images)
    errors = [p.message for p in report.problems if p.severity == "error"]
    if errors:
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise ArchiveError(f"refusing to {verb} `{source}`: {errors[0]}{more}", path=source, hint=hint)


def _manifest(layout: Layout, report: VerifyReport) -> Manifest | None:
    """The manifest the index names (checking the entry), or the Docker ``manifest.json``."""
    selected = getattr(layout, "selected", None)
    if selected is not None:  # one model of the store
        data = _blob_bytes(layout, selected, "the manifest", report)
        return _parse(data, f"manifest {selected.digest}", report) if data is not None else None
    if not layout.exists("index.json"):
        if not layout.exists("manifest.json"):
            error(report, "neither `index.json` nor `manifest.json` is present: not a layout or model archive")
            return None
        return _parse(_read(layout, "manifest.json"), "manifest.json", report)
    if not layout.exists("oci-layout"):
        error(report, "`oci-layout` is missing")
    else:
        try:
            doc = load_json(_read(layout, "oci-layout"), "`oci-layout`")
            if not isinstance(doc, dict) or doc.get("imageLayoutVersion") != "1.0.0":
                error(report, "`oci-layout` does not say imageLayoutVersion 1.0.0")
        except InvalidJSON:
            error(report, "`oci-layout` is not JSON")
    try:
        entries = model_entries(layout, parse_index(_read(layout, "index.json")))
    except InvalidDocument as exc:
        error(report, str(exc) if str(exc).startswith("index.json") else f"index.json: {exc}")
        return None
    if len(entries) != 1:
        several = f": {names_of(entries)} (name one, as `PATH:NAME`)" if entries else ""
        error(report, f"index.json lists {len(entries)} image manifests; expected one{several}")
        return None
    entry = entries[0]
    _check_media(entry.artifact_type, "index.json's artifactType", report)
    if REF_NAME in entry.annotations and not re.fullmatch(r"[A-Za-z0-9._:@/+-]+", entry.annotations[REF_NAME]):
        error(report, f"index.json's ref name `{entry.annotations[REF_NAME]}` is not a valid reference")
    data = _blob_bytes(layout, entry, "the manifest", report)
    if data is None:
        return None
    manifest = _parse(data, f"manifest {entry.digest}", report)
    if manifest is not None and layout.exists("manifest.json") and _read(layout, "manifest.json") != data:
        error(report, "`manifest.json` differs from the manifest blob the index names")
    return manifest


def _read(layout: Layout, name: str) -> bytes:
    with layout.open(name) as stream:
        return stream.read(16 << 20)


def _parse(data: bytes, where: str, report: VerifyReport) -> Manifest | None:
    try:
        return parse_manifest(data)
    except InvalidDocument as exc:
        error(report, f"{where}: {exc}")
        return None


def _blob_bytes(layout: Layout, descriptor: Descriptor, what: str, report: VerifyReport) -> bytes | None:
    name = descriptor.digest.blob_path
    if not layout.exists(name):
        error(report, f"{what} blob {descriptor.digest} is missing")
        return None
    if layout.size(name) != descriptor.size:
        error(report, f"{what} blob {descriptor.digest} is {layout.size(name)} bytes; "
                       f"its descriptor says {descriptor.size}")
        return None
    try:
        return read_blob(layout, descriptor.digest)
    except ArchiveError as exc:
        error(report, f"{what} blob {exc.message.removeprefix('blob ')}")
        return None


def _check(layout: Layout, manifest: Manifest, report: VerifyReport, max_inflate_ratio: int,
           images: bool = False) -> None:
    report.manifest_digest = str(manifest.digest)
    config_bytes = _blob_bytes(layout, manifest.config, "the config", report)
    config = _json_object(config_bytes, report) if config_bytes is not None else None
    fmt = detect_format(manifest, config or {}) if config is not None else None
    if fmt is None and images and manifest.config.media_type in modelcar.IMAGE_CONFIG_TYPES:
        fmt = "modelcar"  # a container image to build a modelcar on
    report.format = fmt
    if config is not None and fmt is None:
        error(report, f"the config media type `{manifest.config.media_type}` is not a model config")
    if not manifest.layers:
        error(report, "the manifest has no layers")
    if fmt == "modelcar":
        _check_modelcar(layout, manifest, config or {}, report, max_inflate_ratio)
        return
    expected = _tar_layers(layout, manifest, report, max_inflate_ratio) if fmt == "modelpack" \
        else [layer.digest for layer in manifest.layers]
    if config is not None and fmt is not None:
        _check_config(manifest, config, fmt, [str(d) if d else None for d in expected], report)
    for i, layer in enumerate(manifest.layers, 1):
        _check_layer(i, layer, fmt, report)


def _check_modelcar(layout: Layout, manifest: Manifest, config: dict[str, Any], report: VerifyReport,
                    max_ratio: int) -> None:
    """A modelcar's checks (:mod:`.modelcar_checks`), and the paths of its model layers as any format's."""
    expected, findings = modelcar_checks.diff_ids(layout, manifest, config, max_ratio)
    findings += modelcar_checks.config_findings(manifest, config, [str(d) if d else None for d in expected])
    for i, layer in enumerate(manifest.layers, 1):
        findings += modelcar_checks.layer_findings(i, layer)
        if filepath_of(layer) is not None:
            _check_layer(i, layer, "modelcar", report)
    for severity, message in findings:
        (error if severity == "error" else warn)(report, message)


def _tar_layers(layout: Layout, manifest: Manifest, report: VerifyReport, max_ratio: int) -> list[Digest | None]:
    """Each ModelPack layer's expected diffID; the members of tar layers checked as unpack would check them.

    A raw or plain tar layer's diffID is its digest; a gzip one's is the digest of the tar inside (one more
    streaming pass, of that layer only); a zstd one's cannot be computed here (None: not compared).
    """
    expected: list[Digest | None] = [layer.digest for layer in manifest.layers]
    for i, layer in enumerate(manifest.layers):
        packing = packing_of(layer.media_type)
        name = layer.digest.blob_path
        if packing == "raw" or not layout.exists(name) or layout.size(name) != layer.size:
            continue  # a missing or mis-sized blob is reported with the blobs
        path, offset, size = layout.locate(name)
        source = BlobSource(path, offset, size, f"layer {i + 1} ({layer.media_type})", FileState.from_stat(path.stat()))
        _, problems = list_members(source, packing, max_ratio=max_ratio)
        for problem in problems:
            (warn if packing == "tar+zstd" else error)(report, f"layer {i + 1} ({layer.media_type}): {problem}")
        if packing == "tar+zstd" or problems:
            expected[i] = None
        elif packing == "tar+gzip":
            try:
                expected[i] = uncompressed_digest(source, max_ratio=max_ratio)
            except ArchiveError as exc:
                error(report, exc.message)
                expected[i] = None
    return expected


def _json_object(data: bytes, report: VerifyReport) -> dict[str, Any] | None:
    try:
        doc = load_json(data, "the config")
    except InvalidJSON as exc:
        error(report, str(exc))
        return None
    if not isinstance(doc, dict):
        error(report, "the config is not a JSON object")
        return None
    return doc


def _check_config(manifest: Manifest, config: dict[str, Any], fmt: str, digests: list[str | None],
                  report: VerifyReport) -> None:
    """``digests``: the diffID each layer must have (None: it cannot be known, not compared)."""
    if fmt == "docker":
        if manifest.config.media_type not in DOCKER_CONFIG_TYPES:
            warn(report, f"config media type `{manifest.config.media_type}` is not one Docker Model Runner reads")
        rootfs = config.get("rootfs")
        ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
        where = "rootfs.diff_ids"
    else:
        if manifest.config.media_type not in MODELPACK_CONFIGS:
            error(report, f"config media type `{manifest.config.media_type}` is not ModelPack's")
        if manifest.artifact_type is None:  # oras-py pushes so: the config's media type says what it is
            warn(report, "the manifest has no artifactType, which ModelPack requires; its config is ModelPack's")
        elif manifest.artifact_type not in MODELPACK_MANIFESTS:
            error(report, f"the manifest's artifactType `{manifest.artifact_type}` is not ModelPack's")
        modelfs = config.get("modelfs")
        ids = modelfs.get("diffIds") if isinstance(modelfs, dict) else None
        where = "modelfs.diffIds"
        for key in set(config) - {"descriptor", "modelfs", "config"}:
            error(report, f"the config has a key `{key}` the ModelPack schema does not allow")
    if not isinstance(ids, list):
        error(report, f"the config has no {where}")
        return
    if len(ids) != len(digests):
        error(report, f"{where} lists {len(ids)} layers; the manifest has {len(digests)}")
    for i, (expected, found) in enumerate(zip(digests, ids, strict=False), 1):
        if expected is not None and expected != found:
            packed = packing_of(manifest.layers[i - 1].media_type) == "tar+gzip"
            error(report, f"{where}[{i - 1}] is {found}, but layer {i}"
                           f"{' holds a tar of digest' if packed else ' is'} {expected}")


def _check_layer(i: int, layer: Descriptor, fmt: str | None, report: VerifyReport) -> None:
    if not _MEDIA_TYPE.match(layer.media_type):
        error(report, f"layer {i}: `{layer.media_type}` is not a media type")
    elif fmt == "docker" and layer.media_type not in _DOCKER_LAYERS:
        error(report, f"layer {i}: `{layer.media_type}` is not a Docker model layer type")
    elif fmt == "modelpack" and not _MODELPACK_LAYER.match(layer.media_type):
        error(report, f"layer {i}: `{layer.media_type}` is not a ModelPack layer type")
    path = filepath_of(layer)
    if path is None and fmt == "modelpack" and layer.media_type.endswith(".raw"):
        error(report, f"layer {i} ({layer.digest}) has no `org.cncf.model.filepath`; a raw layer needs one")
    elif path is None and fmt == "docker":
        warn(report, f"layer {i} ({layer.digest}) has no `org.cncf.model.filepath`")
    elif path is not None:
        safe = safe_relative(path)
        problem = "is not a relative path inside the model" if safe is None else too_long(safe)
        if problem is not None:
            (error if safe is None else warn)(report, f"layer {i}: its path `{shown_path(path)}` {problem}; "
                                                        "unpack refuses it")


def _check_media(media_type: str | None, what: str, report: VerifyReport) -> None:
    if media_type is not None and not _MEDIA_TYPE.match(media_type):
        error(report, f"{what} `{media_type}` is not a media type")
