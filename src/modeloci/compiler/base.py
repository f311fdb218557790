"""The FROM base: reading a local model archive or layout, in either format, and what it contributes.

A base contributes its layers (carried over by digest), its config (a Docker
base keeps its config media type, so a v0.2 model stays v0.2), and its
manifest annotations. Only manifest and config are read here; layer bytes
are copied by the builder, and weight headers are read by
:mod:`.metadata` only when the output needs facts the base's config lacks.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modeloci.compiler.model import BasePlan, BaseSource, LayerPlan
from modeloci.diagnostics import Diagnostic, Span
from modeloci.errors import ArchiveError, ModelociError
from modeloci.formats import modelcar_checks
from modeloci.formats.artifact import Artifact, ModelLayer, read_artifact
from modeloci.formats.configs import DockerConfig
from modeloci.jsondoc import InvalidJSON, load_json
from modeloci.modelfile import codes
from modeloci.modelfile.directives import Report
from modeloci.oci.layout import Layout, index_entries, read_blob
from modeloci.oci.manifest import InvalidDocument
from modeloci.oci.mediatypes import MediaType
from modeloci.sources import RemoteRef, Source, open_source


@dataclass(frozen=True, slots=True)
class Base:
    plan: BasePlan
    path: Source
    artifact: Artifact
    layers: tuple[LayerPlan, ...]

    @property
    def format(self) -> str:
        return self.artifact.format

    @property
    def config(self) -> dict[str, Any]:
        """Docker config fields of a Docker base; {} for ModelPack, whose fields are re-derived."""
        return dict(self.artifact.config.fields) if isinstance(self.artifact.config, DockerConfig) else {}


def load_base(path: Source, rel: str, span: Span, report: Report, *, images: bool = False) -> Base | None:
    """Read the base at ``path``; None after reporting why it cannot be used. With ``images`` (a modelcar's
    build), a container image is a base too, its tar layers carried as they are."""
    platforms: list[str] | None = None
    try:
        with open_source(path) as layout:
            try:
                artifact = read_artifact(layout, where=f"`{rel}`", images=images)
            except ArchiveError:
                platforms = platforms_of(layout)
                raise
            lies = _image_problems(layout, artifact) if images and not isinstance(path, RemoteRef) else []
    except ArchiveError as exc:  # its hint, when it has one, says how to use it (which model of a layout)
        if platforms is not None:
            report.add(_multi_platform(report, span, rel, platforms, images, remote=isinstance(path, RemoteRef)))
            return None
        report.add(codes.bad_base(report.file, span, rel, _as_written(exc.message, path, rel),
                                  exc.hint and _as_written(exc.hint, path, rel)))
        return None
    except (OSError, ValueError) as exc:
        report.add(codes.bad_base(report.file, span, rel, str(exc)))
        return None
    except ModelociError as exc:  # a registry that cannot be reached, or refuses
        report.add(codes.bad_base(report.file, span, rel, exc.message, exc.hint))
        return None
    if lies:
        more = f" (and {len(lies) - 1} more)" if len(lies) > 1 else ""
        report.add(codes.bad_base(report.file, span, rel, lies[0] + more,
                                  f"run `modeloci verify {rel}` to list every problem"))
        return None
    image = images and artifact.format == "modelcar"  # an image's tar layers are carried as they are
    packed = [layer for layer in artifact.layers if layer.packing != "raw" and not image]
    if packed:
        report.add(codes.bad_base(report.file, span, rel, tar_layers(packed), UNPACK_HINT.replace("BASE", rel)))
        return None
    plan = BasePlan(
        path=rel,
        manifest_digest=str(artifact.manifest.digest),
        config_media_type=artifact.manifest.config.media_type,
        ref_name=artifact.ref_name,
        format=artifact.format,
    )
    diff_ids = _diff_ids(artifact) if image else []
    return Base(plan, path, artifact, tuple(_layer(layer, diff_ids[i] if i < len(diff_ids) else None)
                                            for i, layer in enumerate(artifact.layers)))


def platforms_of(layout: Layout) -> list[str] | None:
    """The platforms (``os/arch[/variant]``) of the multi-platform image a layout's one index entry names (an
    index, as skopeo and docker write a multi-platform image); None when it names no index. Read bounded, as
    every small blob is; an unreadable one is no answer (the reader's own message stands)."""
    try:
        entries = index_entries(layout)
        if len(entries) != 1 or entries[0].media_type not in INDEXES:
            return None
        doc = load_json(read_blob(layout, entries[0].digest, size=entries[0].size), "an index")
    except (ArchiveError, InvalidDocument, InvalidJSON, OSError):
        return None
    manifests = doc.get("manifests") if isinstance(doc, dict) else None
    if not isinstance(manifests, list):
        return None
    return [_platform(m.get("platform") if isinstance(m, dict) else None) for m in manifests]


INDEXES = (str(MediaType.OCI_INDEX), str(MediaType.DOCKER_MANIFEST_LIST))


def _platform(found: object) -> str:
    """``os/arch[/variant]`` of an index entry's platform; ``unknown`` for an entry that gives none."""
    if not isinstance(found, dict):
        return "unknown"
    parts = [found.get("os"), found.get("architecture"), found.get("variant")]
    return "/".join(p for p in parts if isinstance(p, str) and p) or "unknown"


MULTI_HINT = ("copy the platform the model is served on out of it, as `skopeo --override-arch ARCH copy "
              "BASE oci:DIR:TAG`, and build FROM that folder")


def _multi_platform(report: Report, span: Span, rel: str, platforms: list[str], images: bool, *,
                    remote: bool) -> Diagnostic:
    """A base that is a multi-platform image: a modelcar is built on one of its images (not several, yet); any
    other build is built on a model, which an image index is not."""
    named = f"it is an index of {len(platforms)} platforms ({', '.join(platforms[:8])}" + (
        f" and {len(platforms) - 8} more)" if len(platforms) > 8 else ")")
    if not images:
        return codes.bad_base(report.file, span, rel, f"{named}, not a model")
    return codes.bad_base(report.file, span, rel, f"{named}, and a modelcar is built on one image: FROM a "
                          "multi-platform image is not supported yet",
                          MULTI_HINT.replace("BASE", f"docker://{rel}" if remote else f"oci:{rel}:TAG"))


def _image_problems(layout: Layout, artifact: Artifact) -> list[str]:
    """What makes a container image (or modelcar) base unfit to carry: a model layer that breaks the modelcar
    rules, or a config whose diff_ids are not its layers' (a gzip layer's is the digest of the tar inside,
    computed here within the inflate bound; a zstd layer's cannot be, and is carried as its config states)."""
    if artifact.format != "modelcar":
        return []
    expected, findings = modelcar_checks.diff_ids(layout, artifact.manifest, artifact.config.doc)
    findings += modelcar_checks.config_findings(artifact.manifest, artifact.config.doc,
                                                [str(d) if d else None for d in expected])
    return [message for severity, message in findings if severity == "error"]


def _diff_ids(artifact: Artifact) -> list[str | None]:
    """An image base's ``rootfs.diff_ids`` (each layer's, as the base's config states them; checked with the base's
    blobs only for uncompressed layers, whose diff_id is their digest)."""
    rootfs = artifact.config.doc.get("rootfs")
    ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    return [i if isinstance(i, str) else None for i in ids] if isinstance(ids, list) else []


def _as_written(text: str, path: Source, rel: str) -> str:
    """``text`` naming the base as the Modelfile does: readers name it by its full path."""
    return text.replace(str(path), rel) if isinstance(path, Path) else text


def split_layout_name(text: str, root: Path) -> tuple[str, str] | None:
    """``FROM DIR:NAME``, one model of a layout folder or archive of the build context (as skopeo's
    ``oci:DIR:NAME``): ``(DIR, NAME)`` when nothing is named ``text`` itself and some ``DIR`` before a colon
    exists under ``root`` (the first one: a name may hold colons, as in ``tiny:f32``). ``DIR`` is still to be
    resolved by the context's path rules."""
    if os.path.lexists(root / text):
        return None
    at = text.find(":")
    while at > 0:
        if at + 1 < len(text) and os.path.lexists(root / text[:at]):
            return text[:at], text[at + 1:]
        at = text.find(":", at + 1)
    return None


UNPACK_HINT = "unpack it (`modeloci unpack BASE -o DIR --layout files`) and build from its files"


def tar_layers(packed: list[ModelLayer]) -> str:
    """Why a model with tar layers (modctl's ``.tar``) cannot be built on or converted: layers are carried over
    byte for byte, and a tar of a file is not the file a raw layer must be."""
    first = packed[0].descriptor
    more = f" (and {len(packed) - 1} more)" if len(packed) > 1 else ""
    return (f"its layer {first.digest}{more} is a tar of files (`{first.media_type}`); "
            "modeloci carries layers over byte for byte and writes raw ones")


def _layer(layer: ModelLayer, diff_id: str | None = None) -> LayerPlan:
    d = layer.descriptor
    return LayerPlan(
        role=layer.role,
        media_type=d.media_type,
        filepath=layer.filepath,
        size=d.size,
        source=BaseSource(digest=str(d.digest)),
        annotations=dict(d.annotations),
        diff_id=diff_id if diff_id and diff_id != str(d.digest) else None,
    )
