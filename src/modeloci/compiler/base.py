"""The FROM base: reading a local model archive or layout and what it contributes.

A base contributes its layers (carried over by digest, annotations kept
verbatim), its config media type (so a v0.2 model stays v0.2), its ``config``
fields and its manifest annotations. Only manifest and config are read here;
layer bytes are copied by the builder.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modeloci.diagnostics import Span
from modeloci.errors import ArchiveError
from modeloci.formats import docker
from modeloci.modelfile import codes
from modeloci.modelfile.directives import Report
from modeloci.oci.layout import open_layout, read_blob, read_manifest
from modeloci.oci.manifest import Manifest
from modeloci.oci.mediatypes import DOCKER_CONFIG_TYPES, MediaType
from modeloci.compiler.model import BasePlan, BaseSource, LayerPlan, Role

_ROLE_OF = {
    MediaType.DOCKER_GGUF: Role.WEIGHTS,
    MediaType.DOCKER_SAFETENSORS: Role.WEIGHTS,
    MediaType.DOCKER_DDUF: Role.WEIGHTS,
    MediaType.DOCKER_LICENSE: Role.LICENSE,
    MediaType.DOCKER_CHAT_TEMPLATE: Role.CHAT_TEMPLATE,
    MediaType.DOCKER_MMPROJ: Role.MMPROJ,
    MediaType.DOCKER_MODEL_FILE: Role.MODEL_FILE,
}


@dataclass(frozen=True, slots=True)
class Base:
    plan: BasePlan
    path: Path
    manifest: Manifest
    config: dict[str, Any]
    layers: tuple[LayerPlan, ...]


def load_base(path: Path, rel: str, span: Span, report: Report) -> Base | None:
    """Read the base at ``path``; None after reporting why it cannot be used."""
    try:
        with open_layout(path) as layout:
            manifest, ref_name = read_manifest(layout)
            if manifest.config.media_type not in DOCKER_CONFIG_TYPES:
                report.add(codes.unsupported_base(report.file, span, rel, manifest.config.media_type))
                return None
            config_doc = json.loads(read_blob(layout, manifest.config.digest))
    except ArchiveError as exc:
        report.add(codes.bad_base(report.file, span, rel, exc.message))
        return None
    except (OSError, ValueError) as exc:
        report.add(codes.bad_base(report.file, span, rel, str(exc)))
        return None
    config = config_doc.get("config") if isinstance(config_doc, dict) else None
    if not isinstance(config, dict):
        report.add(codes.bad_base(report.file, span, rel, "its config has no `config` object"))
        return None
    plan = BasePlan(
        path=rel,
        manifest_digest=str(manifest.digest),
        config_media_type=manifest.config.media_type,
        ref_name=ref_name,
    )
    return Base(plan, path, manifest, config, tuple(_layer(d) for d in manifest.layers))


def _layer(descriptor: Any) -> LayerPlan:
    filepath = descriptor.annotations.get(docker.ANNOTATION_FILEPATH, "")
    return LayerPlan(
        role=_ROLE_OF.get(descriptor.media_type, Role.OTHER),
        media_type=descriptor.media_type,
        filepath=filepath,
        size=descriptor.size,
        source=BaseSource(digest=str(descriptor.digest)),
        annotations=dict(descriptor.annotations),
    )
