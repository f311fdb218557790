"""A bill of materials: the CycloneDX 1.6 ML-BOM of a built model, and its referrer.

The BOM has one component of type ``machine-learning-model``: the model,
named by its reference (else its own name, else its manifest digest), hashed
by its manifest digest, with the licenses found and a model card of what its
config says (architecture, parameters, quantization, context size, size, the
weights' format and the artifact's): the written config when the model is
given, else the config its plan writes, so that a BOM can be made while the
build runs, before the model is written (the builder's referrers callback).
Each of its files is a nested ``file``
component with its SHA-256, which is its layer's digest (no weight is read).
A FROM base is a second model component the model depends on, by its
reference as written and its manifest digest.

Licenses come from the ``org.opencontainers.image.licenses`` label, the
weights' own ``general.license`` (ModelPack: the descriptor's ``licenses``)
and the license files: an SPDX id when the value is one (in any case) or the
file's text is a license's standard wording, else the value, or the file's
path, as a name. Only license files of the build context are read (at most
256 KiB, never a FIFO, and checked to be the bytes the model holds); one
carried from the base is named by its path.

Deterministic: the serial number is derived from the manifest digest, and the
only time is the build's creation time, when it has one.
"""

from __future__ import annotations

import os
import re
import stat
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modeloci.attest.provenance import modeloci_version
from modeloci.compiler.model import BuildPlan, FileSource, LayerPlan
from modeloci.errors import BuildError, describe_os_error
from modeloci.formats import modelcar
from modeloci.formats.artifact import ModelArtifact, ModelConfig
from modeloci.formats.configs import DockerConfig, ModelcarConfig, ModelPackConfig
from modeloci.formats.roles import Role
from modeloci.jsondoc import InvalidJSON, load_json
from modeloci.oci.digest import Digest
from modeloci.oci.jsonenc import go_json
from modeloci.oci.manifest import Descriptor
from modeloci.oci.mediatypes import MediaType
from modeloci.oci.referrers import Referrer, make_referrer

if TYPE_CHECKING:
    from modeloci.builder import BuildResult

SPEC_VERSION = "1.6"
SCHEMA = "http://cyclonedx.org/schema/bom-1.6.schema.json"
LICENSE_LABEL = "org.opencontainers.image.licenses"
LICENSE_BYTES = 256 << 10  # longer than any standard license text; a bigger file is named, not read
_MIME = re.compile(r"[-+a-z0-9.]+/[-+a-z0-9.]+\Z")  # CycloneDX's mime-type pattern

# SPDX ids of licenses models are published under (Hugging Face's license list, where SPDX has the license),
# found in any case: a Hub card says `apache-2.0`, a GGUF `general.license` often the same.
SPDX_IDS = {i.lower(): i for i in (
    "AFL-3.0", "AGPL-3.0", "AGPL-3.0-only", "AGPL-3.0-or-later", "Apache-2.0", "Artistic-2.0", "BSD-2-Clause",
    "BSD-3-Clause", "BSD-3-Clause-Clear", "BSL-1.0", "C-UDA-1.0", "CC-BY-2.0", "CC-BY-2.5", "CC-BY-3.0",
    "CC-BY-4.0", "CC-BY-NC-2.0", "CC-BY-NC-3.0", "CC-BY-NC-4.0", "CC-BY-NC-ND-3.0", "CC-BY-NC-ND-4.0",
    "CC-BY-NC-SA-2.0", "CC-BY-NC-SA-3.0", "CC-BY-NC-SA-4.0", "CC-BY-ND-4.0", "CC-BY-SA-3.0", "CC-BY-SA-4.0",
    "CC0-1.0", "CDLA-Permissive-1.0", "CDLA-Permissive-2.0", "CDLA-Sharing-1.0", "ECL-2.0", "EPL-1.0", "EPL-2.0",
    "etalab-2.0", "EUPL-1.1", "EUPL-1.2", "GPL-2.0", "GPL-2.0-only", "GPL-2.0-or-later", "GPL-3.0",
    "GPL-3.0-only", "GPL-3.0-or-later", "ISC", "LGPL-2.1", "LGPL-2.1-only", "LGPL-2.1-or-later", "LGPL-3.0",
    "LGPL-3.0-only", "LGPL-3.0-or-later", "LPPL-1.3c", "MIT", "MIT-0", "MPL-2.0", "MS-PL", "NCSA", "ODbL-1.0",
    "ODC-By-1.0", "OFL-1.1", "OSL-3.0", "PDDL-1.0", "PostgreSQL", "Unlicense", "WTFPL", "Zlib",
)}
# Standard license texts, by phrases of their opening (whitespace and case folded); the most specific first.
_TEXTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Apache-2.0", ("apache license", "version 2.0, january 2004")),
    ("MIT", ("permission is hereby granted, free of charge, to any person obtaining a copy",
             "the above copyright notice and this permission notice shall be included")),
    ("BSD-3-Clause", ("redistribution and use in source and binary forms", "neither the name of")),
    ("MPL-2.0", ("mozilla public license version 2.0",)),
    ("CC0-1.0", ("cc0 1.0 universal",)),
    ("CC-BY-NC-SA-4.0", ("attribution-noncommercial-sharealike 4.0 international",)),
    ("CC-BY-NC-ND-4.0", ("attribution-noncommercial-noderivatives 4.0 international",)),
    ("CC-BY-NC-4.0", ("attribution-noncommercial 4.0 international",)),
    ("CC-BY-SA-4.0", ("attribution-sharealike 4.0 international",)),
    ("CC-BY-ND-4.0", ("attribution-noderivatives 4.0 international",)),
    ("CC-BY-4.0", ("attribution 4.0 international",)),
    ("Unlicense", ("this is free and unencumbered software released into the public domain",)),
    ("ISC", ("permission to use, copy, modify, and/or distribute this software for any purpose",
             "with or without fee is hereby granted")),
)
_OPENING = 4096  # where a standard text's title and grant stand


def bom(plan: BuildPlan, result: BuildResult, artifact: ModelArtifact | None = None) -> bytes:
    """The CycloneDX 1.6 ML-BOM (JSON) of ``result``, built from ``plan``. Its config (the model card, the
    weights' license) is read from ``artifact``, the model written, when given; else from the plan, which says
    the same while the build runs (the builder's referrers callback, before the model is written)."""
    if artifact is not None and artifact.manifest.digest != result.manifest.digest:
        raise BuildError(f"the bill of materials of {result.manifest.digest} was given the model "
                         f"{artifact.manifest.digest}")
    described = _described(artifact) if artifact is not None else _planned(plan)
    model = _model(plan, result, described)
    components: list[dict[str, Any]] = [model]
    dependencies: list[dict[str, Any]] = [{"ref": "model"}]
    if plan.base is not None:
        components.append({"type": "machine-learning-model", "bom-ref": "base", "name": plan.base.path,
                           "hashes": _hashes(Digest.parse(plan.base.manifest_digest))})
        dependencies = [{"ref": "model", "dependsOn": ["base"]}, {"ref": "base"}]
    metadata: dict[str, Any] = {}
    if plan.created is not None:
        metadata["timestamp"] = plan.created
    metadata["tools"] = {"components": [{"type": "application", "name": "modeloci", "version": modeloci_version()}]}
    return go_json({
        "$schema": SCHEMA,
        "bomFormat": "CycloneDX",
        "specVersion": SPEC_VERSION,
        "serialNumber": serial_number(result.manifest.digest),
        "version": 1,
        "metadata": metadata,
        "components": components,
        "dependencies": dependencies,
    })


def referrer(bom: bytes, subject: Descriptor) -> Referrer:
    """The artifact holding ``bom`` that refers to ``subject``."""
    return make_referrer(subject, MediaType.CYCLONEDX, bom, MediaType.CYCLONEDX)


def serial_number(manifest: Digest) -> str:
    """The BOM's RFC 4122 serial number: a name-based UUID of the manifest digest (the same model, the same BOM)."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"modeloci:bom:{manifest}").urn


@dataclass(frozen=True, slots=True)
class _Config:
    """What the model's config says: its fields as the readers give them, its document, the artifact's format."""

    fields: ModelConfig
    doc: dict[str, Any]
    format: str


def _described(artifact: ModelArtifact) -> _Config:
    try:
        doc = load_json(artifact.config_bytes, "the config")
    except InvalidJSON:
        doc = {}
    return _Config(artifact.config, doc if isinstance(doc, dict) else {}, artifact.format)


def _planned(plan: BuildPlan) -> _Config:
    """The config the plan will write, read as :func:`read_artifact` reads the written one."""
    if plan.format == "modelpack":
        doc = dict(plan.config)
        weights = sum(layer.size for layer in plan.layers if layer.role is Role.WEIGHTS)
        return _Config(ModelPackConfig(doc, weights), doc, "modelpack")
    if plan.format == "modelcar":  # the image config: the facts are its labels
        doc = dict(plan.config)
        weights = sum(layer.file_size or layer.size for layer in plan.layers if layer.role is Role.WEIGHTS)
        return _Config(ModelcarConfig(doc, weights), doc, "modelcar")
    doc = {"config": dict(plan.config)}
    return _Config(DockerConfig(doc), doc, "docker")


def _model(plan: BuildPlan, result: BuildResult, config: _Config) -> dict[str, Any]:
    name, version = _name(plan, result, config.doc)
    model: dict[str, Any] = {"type": "machine-learning-model", "bom-ref": "model", "name": name}
    if version is not None:
        model["version"] = version
    model["hashes"] = _hashes(result.manifest.digest)
    licenses = list(_unique(_licenses(plan, result, config.doc)))
    if licenses:
        model["licenses"] = [{"license": lic} for lic in licenses]
    model["components"] = [_file(layer, written) for layer, written in zip(plan.layers, result.layers, strict=True)
                           if layer.filepath]  # not the layers of a container image under a modelcar's model
    model["modelCard"] = _model_card(config)
    return model


def _name(plan: BuildPlan, result: BuildResult, config: dict[str, Any]) -> tuple[str, str | None]:
    """The model's name and version: its reference split at the tag, else the name its weights or ModelPack
    descriptor give, else its manifest digest."""
    reference = result.reference or plan.reference
    if reference:
        at = reference.rfind(":")
        if at > reference.rfind("/"):
            return reference[:at], reference[at + 1:]
        return reference, None
    gguf = _section(_section(config, "config"), "gguf")
    for named in (gguf.get("general.name"), _section(config, "descriptor").get("name")):
        if isinstance(named, str) and named.strip():
            return named.strip(), None
    return str(result.manifest.digest), None


def _file(layer: LayerPlan, written: Descriptor) -> dict[str, Any]:
    path = layer.filepath
    entry: dict[str, Any] = {"type": "file", "bom-ref": f"file:{path}", "name": path}
    if _MIME.match(written.media_type):
        entry["mime-type"] = written.media_type
    entry["hashes"] = _hashes(_content(layer, written)[0])
    entry["properties"] = [{"name": "modeloci:role", "value": str(layer.role)}]
    return entry


def _model_card(described: _Config) -> dict[str, Any]:
    config = described.fields
    card: dict[str, Any] = {}
    if config.architecture:
        card["modelParameters"] = {"modelArchitecture": config.architecture}
    facts = {"format": config.format, "parameters": config.parameters, "quantization": config.quantization,
             "context_size": str(config.context_size) if config.context_size else None, "size": config.size,
             "artifact_format": described.format}
    properties = [{"name": f"modeloci:{key}", "value": value} for key, value in facts.items() if value]
    if properties:
        card["properties"] = properties
    return card


def _hashes(digest: Digest) -> list[dict[str, str]]:
    return [{"alg": "SHA-256", "content": digest.hex}]


def _section(doc: dict[str, Any], key: str) -> dict[str, Any]:
    value = doc.get(key)
    return value if isinstance(value, dict) else {}


def _licenses(plan: BuildPlan, result: BuildResult, config: dict[str, Any]) -> Iterator[dict[str, str]]:
    """Every license the model states, in order: its label, its weights' metadata, its license files."""
    label = plan.labels.get(LICENSE_LABEL)
    if label:
        yield _named(label)
    gguf = _section(_section(config, "config"), "gguf").get("general.license")
    stated = _section(config, "descriptor").get("licenses")
    for value in [gguf, *(stated if isinstance(stated, list) else [])]:
        if isinstance(value, str) and value.strip():
            yield _named(value.strip())
    for layer, written in zip(plan.layers, result.layers, strict=True):
        if layer.role is Role.LICENSE:
            found = _recognise(plan.context, layer, written) if isinstance(layer.source, FileSource) else None
            yield {"id": found} if found else {"name": layer.filepath}


def _named(value: str) -> dict[str, str]:
    """An SPDX id when ``value`` is one (in any case), else ``value`` as the license's name."""
    spdx = SPDX_IDS.get(value.lower())
    return {"id": spdx} if spdx else {"name": value}


def _unique(licenses: Iterable[dict[str, str]]) -> Iterator[dict[str, str]]:
    seen: set[tuple[str, str]] = set()
    for lic in licenses:
        key = next(iter(lic.items()))
        if key not in seen:
            seen.add(key)
            yield {**lic, "acknowledgement": "declared"}


def _recognise(context: Path, layer: LayerPlan, written: Descriptor) -> str | None:
    """The SPDX id of the license file of ``layer`` when its text is a standard one; None otherwise."""
    assert isinstance(layer.source, FileSource)
    data = _read_license(context / layer.source.path, layer.source.path, layer, written)
    if data is None:
        return None
    opening = " ".join(data[: _OPENING * 2].decode("utf-8", "replace").lower().split())[:_OPENING]
    return next((spdx for spdx, phrases in _TEXTS if all(p in opening for p in phrases)), None)


def _content(layer: LayerPlan, written: Descriptor) -> tuple[Digest, int]:
    """The digest and size of a layer's file: the layer's own, or, for a modelcar's tar around it, the file's (its
    annotation, which the build wrote)."""
    found = modelcar.file_digest(written.annotations) if layer.file_size is not None else None
    return (found, layer.file_size) if found is not None and layer.file_size is not None \
        else (written.digest, written.size)


def _read_license(path: Path, shown: str, layer: LayerPlan, written: Descriptor) -> bytes | None:
    """The license file's bytes, when it is a regular file of at most LICENSE_BYTES; checked to be the layer's."""
    digest, size = _content(layer, written)
    if size > LICENSE_BYTES:
        return None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise BuildError(f"writing the bill of materials: reading {shown}: {describe_os_error(exc)}",
                         path=shown) from None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise BuildError(f"writing the bill of materials: {shown} is not a regular file", path=shown)
        data = f.read(LICENSE_BYTES + 1)
    if Digest.of(data) != digest:
        raise BuildError(f"writing the bill of materials: {shown} changed after it was packaged", path=shown,
                         hint="build again, and do not change input files during a build")
    return data
