"""The FROM base: reading a local model archive or layout, in either format, and what it contributes.

A base contributes its layers (carried over by digest), its config (a Docker
base keeps its config media type, so a v0.2 model stays v0.2), and its
manifest annotations. Only manifest and config are read here; layer bytes
are copied by the builder, and weight headers are read by
:mod:`.metadata` only when the output needs facts the base's config lacks.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from modeloci.compiler.model import BasePlan, BaseSource, LayerPlan
from modeloci.diagnostics import Diagnostic, Span
from modeloci.errors import ArchiveError, ModelociError
from modeloci.formats import modelcar_checks
from modeloci.formats.artifact import Artifact, ModelLayer, read_artifact
from modeloci.formats.configs import DockerConfig
from modeloci.modelfile import codes
from modeloci.modelfile.directives import Report
from modeloci.oci.layout import Layout, SelectedLayout, index_platforms
from modeloci.oci.mediatypes import MediaType
from modeloci.oci.platforms import PlatformEntry, named
from modeloci.sources import RemoteRef, Source, open_source


@dataclass(frozen=True, slots=True)
class Base:
    plan: BasePlan
    path: Source
    artifact: Artifact
    layers: tuple[LayerPlan, ...]
    # A platform of a multi-platform base (its index entry's ``platform``); the first platform's base holds the
    # others' bases, in the index's order.
    platform: dict[str, Any] | None = None
    others: tuple[Base, ...] = ()

    @property
    def format(self) -> str:
        return self.artifact.format

    @property
    def config(self) -> dict[str, Any]:
        """Docker config fields of a Docker base; {} for ModelPack, whose fields are re-derived."""
        return dict(self.artifact.config.fields) if isinstance(self.artifact.config, DockerConfig) else {}


def load_base(path: Source, rel: str, span: Span, report: Report, *, images: bool = False) -> Base | None:
    """Read the base at ``path``; None after reporting why it cannot be used. With ``images`` (a modelcar's
    build), a container image is a base too, its tar layers carried as they are, and a multi-platform one
    in a layout folder or archive gives one base per platform (:func:`_load_platforms`)."""
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
        if platforms is not None and images and isinstance(path, Path):
            return _guarded(lambda: _load_platforms(path, rel, span, report), rel, span, report)
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
    return _base(path, rel, artifact, images=image)


def _guarded(load: Callable[[], Base | None], rel: str, span: Span, report: Report) -> Base | None:
    """``load()``, with a base that cannot be read reported instead of raised."""
    try:
        return load()
    except ModelociError as exc:
        report.add(codes.bad_base(report.file, span, rel, exc.message, exc.hint))
    except (OSError, ValueError) as exc:
        report.add(codes.bad_base(report.file, span, rel, str(exc)))
    return None


def _base(path: Source, rel: str, artifact: Artifact, *, images: bool,
          platform: dict[str, Any] | None = None) -> Base:
    """The base ``artifact`` read at ``path`` (``images``: its tar layers carried with their diff_ids)."""
    plan = BasePlan(
        path=rel,
        manifest_digest=str(artifact.manifest.digest),
        config_media_type=artifact.manifest.config.media_type,
        ref_name=artifact.ref_name,
        format=artifact.format,
    )
    diff_ids = _diff_ids(artifact) if images else []
    return Base(plan, path, artifact, tuple(_layer(layer, diff_ids[i] if i < len(diff_ids) else None)
                                            for i, layer in enumerate(artifact.layers)), platform)


def platforms_of(layout: Layout) -> list[str] | None:
    """The platforms (``os/arch[/variant]``) of the multi-platform image a layout's one index entry names; None
    when it names no index."""
    found = index_platforms(layout)
    return [entry.name for entry in found[1]] if found is not None else None


MULTI_HINT = ("copy it into a layout folder, as `skopeo copy --all BASE oci:DIR:TAG`, and build FROM that folder "
              "(or copy one platform out with `--override-arch ARCH`)")


def _multi_platform(report: Report, span: Span, rel: str, platforms: list[str], images: bool, *,
                    remote: bool) -> Diagnostic:
    """A base that is a multi-platform image: any build but a modelcar's is built on a model, which an image index
    is not; a modelcar is built on a local one (a layout folder or archive), not yet on one in a registry."""
    if not images:
        return codes.bad_base(report.file, span, rel, f"it is {named(platforms)}, not a model")
    return codes.bad_base(report.file, span, rel, f"it is {named(platforms)} in a registry: a modelcar is built "
                          "on a multi-platform image from a layout folder or archive only, for now",
                          MULTI_HINT.replace("BASE", f"docker://{rel}"))


def _load_platforms(path: Path, rel: str, span: Span, report: Report) -> Base | None:
    """A modelcar's base that is a multi-platform image in a layout folder or archive: one base per platform (its
    manifest, config and layers), in the index's order, attestation manifests (``unknown/unknown``) skipped; the
    first, with the others in ``others``. None after reporting why it cannot be used."""
    bases: list[Base] = []
    with open_source(path) as layout:
        found = index_platforms(layout)
        entries = [e for e in found[1] if e.is_image] if found is not None else []
        if not entries:
            report.add(codes.bad_base(report.file, span, rel, "its image index lists no image of a platform"))
            return None
        for entry in entries:
            problem = _platform_problem(entry, layout)
            if problem is None:
                view = SelectedLayout(layout, entry.descriptor) if entry.descriptor else layout
                artifact = read_artifact(view, where=f"`{rel}` ({entry.name})", images=True)
                problems = _image_problems(view, artifact)
                files = [layer.filepath for layer in artifact.layers if layer.filepath]
                problem = problems[0] if problems else (
                    f"its {entry.name} image holds model files ({files[0]}); a multi-platform base must be a "
                    "container image without a model" if files or artifact.format != "modelcar" else None)
            if problem is not None:
                report.add(codes.bad_base(report.file, span, rel, problem,
                                          f"run `modeloci verify {rel}` to list every problem"))
                return None
            bases.append(_base(path, rel, artifact, images=True, platform=entry.platform))
    return replace(bases[0], others=tuple(bases[1:]))


def _platform_problem(entry: PlatformEntry, layout: Layout) -> str | None:
    """Why an index entry cannot be built on: it names no image manifest of this layout."""
    d = entry.descriptor
    if d is None or d.media_type != MediaType.OCI_MANIFEST:
        shown = f"`{d.media_type}`" if d is not None else "a malformed descriptor"
        return f"its {entry.name} entry is {shown}, not an OCI image manifest"
    if not layout.exists(d.digest.blob_path):
        return f"its {entry.name} image manifest {d.digest} is missing"
    return None


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
