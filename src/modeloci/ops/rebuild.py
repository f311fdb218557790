"""``verify --rebuild``: prove a model by building it again from its Modelfile and comparing manifest digests.

The rebuild writes nothing. The files of the build context are hashed once, on
every core, where they lie (no copy, and no digest cache: a proof reads the
bytes); the layers of a FROM base are taken by the digests its manifest gives;
the builder's :func:`~modeloci.builder.describe` makes the config and manifest
from those digests, as a build would. What a build records but a Modelfile
cannot say is taken from TARGET: its format, its creation time (which is also
every file's time in the layers' metadata) and, for ModelPack, whose config
records it, its name and tag. So a reproducible build compares equal.

When the digests differ, :func:`differences` says where, in this order: layer
by layer (a layer only one side has; its position; its digest, size, media type
and annotations), then the config field by field, then the manifest's own
fields and annotations. Values are shortened; the list is bounded.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from itertools import chain, islice
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from modeloci.blobs.engine import hash_range, run_ordered
from modeloci.builder import describe, file_source
from modeloci.compiler import BuildPlan, compile_plan
from modeloci.compiler.model import BaseSource
from modeloci.diagnostics import Diagnostic
from modeloci.errors import UsageError
from modeloci.formats.artifact import Artifact, ModelPackConfig, created_of, epoch_of, filepath_of, read_artifact
from modeloci.jsondoc import InvalidJSON, load_json
from modeloci.modelfile import read_modelfile
from modeloci.oci.digest import Digest
from modeloci.oci.manifest import Descriptor, Manifest, parse_manifest
from modeloci.reference import names_host, normalise_tag
from modeloci.registry.client import RegistryClient
from modeloci.registry.image_ref import parse_reference
from modeloci.sources import RemoteRef, Source, open_source, resolve

__all__ = ["MAX_DIFFERENCES", "Difference", "RebuildReport", "Rebuilt", "differences", "rebuild", "resolve_target"]

MAX_DIFFERENCES = 100  # a config of thousands of keys, all different, is still one screen of JSON
SHORT = 80  # characters of a value shown in a difference

Part = Literal["layer", "config", "manifest"]


class Difference(BaseModel):
    """One way the rebuild differs from TARGET: in a ``layer`` (``name`` its path; ``field`` what differs, None
    when the layer is on one side only), in the ``config`` (``name`` the dotted key) or in the ``manifest`` itself
    (``name`` a field or ``annotations.KEY``). Values are JSON, shortened; None where a side has none."""

    part: Part
    name: str
    field: str | None
    target: str | None
    rebuilt: str | None
    message: str


class RebuildReport(BaseModel):
    """``verify --rebuild``'s answer: TARGET's manifest digest, the rebuild's, and how the rebuild was made."""

    source: str
    modelfile: str
    format: str
    reproduced: bool
    digest: str
    rebuilt: str
    created: str | None  # TARGET's creation time, which the rebuild took
    reference: str | None  # the name the rebuild was given (TARGET's)
    build_args: dict[str, str]
    base: str | None  # the manifest digest of the FROM base the rebuild used
    files_hashed: int
    bytes_hashed: int
    differences: list[Difference]


@dataclass(frozen=True, slots=True)
class Rebuilt:
    """The report, and the plan's warnings with the texts they point into (for the CLI to render)."""

    report: RebuildReport
    warnings: tuple[Diagnostic, ...]
    sources: dict[str, str]


def rebuild(modelfile: Path, target: Source, *, context: Path | None = None,
            build_args: Mapping[str, str] | None = None, display: str | None = None,
            shown_target: str | None = None) -> Rebuilt:
    """Rebuild ``modelfile`` (with ``context``, default its folder) as TARGET was built and compare manifests.

    ArchiveError when TARGET is not a model; a ModelfileError when the Modelfile does not compile.
    """
    with open_source(target) as layout:
        artifact = read_artifact(layout, where=f"`{shown_target or target}`")
    created = created_of(_config_doc(artifact.config_bytes, "TARGET's config"))
    plan = _plan(modelfile, context, build_args or {}, display, created=epoch_of(created), artifact=artifact)
    digests, files, hashed = _digests(plan)
    _, config, manifest = describe(plan, digests)
    reproduced = manifest.digest == artifact.digest
    found = [] if reproduced else list(islice(differences(artifact, parse_manifest(manifest.data), config.data),
                                              MAX_DIFFERENCES))
    report = RebuildReport(
        source=shown_target or str(target), modelfile=display or str(modelfile), format=artifact.format,
        reproduced=reproduced, digest=str(artifact.digest), rebuilt=str(manifest.digest),
        created=created, reference=plan.reference, build_args=dict(build_args or {}),
        base=plan.base.manifest_digest if plan.base else None, files_hashed=files, bytes_hashed=hashed,
        differences=found)
    return Rebuilt(report, plan.warnings, plan.sources)


def resolve_target(text: str, make_client: Callable[[str], RegistryClient]) -> Source:
    """What ``verify --rebuild`` is given, read as ``FROM`` reads a base: a path, ``PATH:NAME`` or a stored
    model, else a registry reference (``host/repository:tag``, its first part naming a host)."""
    try:
        return resolve(text)
    except UsageError:
        first = text.split("/", 1)[0]
        if "/" not in text or not names_host(first):
            raise
    reference = parse_reference(text)
    return RemoteRef(reference, make_client(reference.registry))


def _plan(modelfile: Path, context: Path | None, build_args: Mapping[str, str], display: str | None, *,
          created: int | None, artifact: Artifact) -> BuildPlan:
    """The Modelfile compiled as TARGET was: its format, its creation time (none when it has none, whatever
    SOURCE_DATE_EPOCH or git say), its name."""
    shown = display or str(modelfile)
    try:
        parsed = read_modelfile(modelfile, display=shown)
    except FileNotFoundError:
        raise UsageError(f"Modelfile `{modelfile}` not found", hint="name it with `-f PATH`") from None
    except IsADirectoryError:
        raise UsageError(f"`{modelfile}` is a directory",
                         hint="name the Modelfile itself with `-f DIR/Modelfile`") from None
    return compile_plan(parsed, context=context if context is not None else modelfile.parent,
                        build_args=build_args, reference=_reference(artifact), created=created,
                        context_display=str(context) if context is not None else posixpath.dirname(shown),
                        target_format=artifact.format)


def _reference(artifact: Artifact) -> str | None:
    """The name TARGET was built with, as far as it changes the bytes: a ModelPack config records it (its
    ``name``, and its tag as ``version`` unless it was ``latest``); Docker's records none (its index's name is
    kept, for the report)."""
    if isinstance(artifact.config, ModelPackConfig):
        name, version = artifact.config.descriptor.get("name"), artifact.config.descriptor.get("version")
        if not isinstance(name, str) or not name:
            return None
        return f"{name}:{version if isinstance(version, str) and version else 'latest'}"
    try:
        return normalise_tag(artifact.ref_name) if artifact.ref_name else None
    except UsageError:
        return None


def _digests(plan: BuildPlan) -> tuple[list[Digest], int, int]:
    """Every layer's digest: files of the context hashed (once, in parallel), a base's by its manifest. Also how
    many files and bytes were hashed."""
    files = {i: file_source(layer, plan) for i, layer in enumerate(plan.layers)
             if not isinstance(layer.source, BaseSource)}
    hashed = dict(zip(files, run_ordered([partial(hash_range, s) for s in files.values()]), strict=True))
    digests = [hashed[i] if i in hashed else Digest.parse(_base_digest(layer.source))
               for i, layer in enumerate(plan.layers)]
    return digests, len(files), sum(s.size for s in files.values())


def _base_digest(source: object) -> str:
    assert isinstance(source, BaseSource), "a layer not made from a file of the context comes from the base"
    return source.digest


def _config_doc(data: bytes, what: str) -> dict[str, Any]:
    """A config as a JSON object; {} when it is not one (read_artifact refused those already)."""
    try:
        doc = load_json(data, what)
    except InvalidJSON:
        return {}
    return doc if isinstance(doc, dict) else {}


# -- where two manifests differ ------------------------------------------------------------------------------------


def differences(target: Artifact, manifest: Manifest, config: bytes) -> Iterator[Difference]:
    """How the rebuilt ``manifest`` and ``config`` bytes differ from ``target``: layers,
    then config fields, then the manifest's own fields and annotations; one note if only the bytes differ."""
    found = False
    for difference in chain(_layers(target.manifest.layers, manifest.layers),
                             _config(target.config_bytes, config),
                             _manifest(target.manifest, manifest)):
        found = True
        yield difference
    if not found:
        yield Difference(part="manifest", name="bytes", field=None, target=None, rebuilt=None,
                         message="the manifests hold the same fields in other bytes (another tool wrote TARGET's)")


def _layers(target: Sequence[Descriptor], rebuilt: Sequence[Descriptor]) -> Iterator[Difference]:
    """Layers matched by path (a layer without one by its number): those only one side has, those whose
    place among the shared ones moved, and each shared one's differing fields; in TARGET's order."""
    ours, theirs = _keyed(rebuilt), _keyed(target)
    shared_t = [k for k in theirs if k in ours]
    shared_r = [k for k in ours if k in theirs]
    for key, d in theirs.items():
        if key not in ours:
            yield _one_side(key, d, "TARGET")
            continue
        if shared_t.index(key) != shared_r.index(key):
            yield _layer(key, "position", shared_t.index(key) + 1, shared_r.index(key) + 1)
        yield from _layer_fields(key, d, ours[key])
    for key, d in ours.items():
        if key not in theirs:
            yield _one_side(key, d, "the rebuild")


def _keyed(layers: Sequence[Descriptor]) -> dict[str, Descriptor]:
    """Layers by path; a second layer at one path, or one with no path, by ``path#N`` (N its number)."""
    out: dict[str, Descriptor] = {}
    for n, d in enumerate(layers, 1):
        path = filepath_of(d)
        out[path if path is not None and path not in out else f"{path or 'layer'}#{n}"] = d
    return out


def _one_side(key: str, d: Descriptor, side: str) -> Difference:
    """A layer only one side has: its digest on that side."""
    in_target = side == "TARGET"
    return Difference(part="layer", name=key, field=None, target=str(d.digest) if in_target else None,
                      rebuilt=None if in_target else str(d.digest), message=f"layer `{key}` is only in {side}")


def _layer_fields(key: str, target: Descriptor, rebuilt: Descriptor) -> Iterator[Difference]:
    for name, ours, theirs in (("digest", str(rebuilt.digest), str(target.digest)), ("size", rebuilt.size, target.size),
                               ("mediaType", rebuilt.media_type, target.media_type)):
        if ours != theirs:
            yield _layer(key, name, theirs, ours)
    for name, theirs_value, ours_value in _pairs(target.annotations, rebuilt.annotations):
        yield _layer(key, f"annotations.{name}", theirs_value, ours_value)


def _layer(key: str, field: str, target: Any, rebuilt: Any) -> Difference:
    return _difference("layer", key, field, target, rebuilt, f"layer `{key}`: {field}")


def _config(target: bytes, rebuilt: bytes) -> Iterator[Difference]:
    """The configs' fields, flattened to dotted keys (``config.context_size``), in TARGET's order."""
    theirs = _flat(_config_doc(target, "TARGET's config"))
    ours = _flat(_config_doc(rebuilt, "the rebuilt config"))
    for key, theirs_value, ours_value in _pairs(theirs, ours):
        yield _difference("config", key, None, theirs_value, ours_value, f"config `{key}`")


def _manifest(target: Manifest, rebuilt: Manifest) -> Iterator[Difference]:
    """The manifest's own fields a build sets (artifactType, the config's media type) and its annotations."""
    fields = (("artifactType", target.artifact_type, rebuilt.artifact_type),
              ("config.mediaType", target.config.media_type, rebuilt.config.media_type))
    for name, theirs, ours in fields:
        if theirs != ours:
            yield _difference("manifest", name, None, theirs, ours, f"manifest `{name}`")
    for key, theirs, ours in _pairs(target.annotations, rebuilt.annotations):
        yield _difference("manifest", f"annotations.{key}", None, theirs, ours, f"manifest annotation `{key}`")


_ABSENT = object()


def _pairs(theirs: Mapping[str, Any], ours: Mapping[str, Any]) -> Iterator[tuple[str, Any, Any]]:
    """``(key, TARGET's value, the rebuild's)`` for every key whose values differ (``_ABSENT`` where a side
    has none): TARGET's keys in order, then the rebuild's others."""
    for key in [*theirs, *(k for k in ours if k not in theirs)]:
        a, b = theirs.get(key, _ABSENT), ours.get(key, _ABSENT)
        if a != b or type(a) is not type(b):
            yield key, a, b


def _flat(doc: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """A JSON object as dotted keys to values (lists and empty objects are values). Its depth is bounded by the
    JSON reader's."""
    out: dict[str, Any] = {}
    for key, value in doc.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict) and value:
            out.update(_flat(value, name))
        else:
            out[name] = value
    return out


def _difference(part: Part, name: str, field: str | None, target: Any, rebuilt: Any, what: str) -> Difference:
    a, b = _value(target), _value(rebuilt)
    return Difference(part=part, name=name, field=field, target=a, rebuilt=b,
                      message=f"{what} is {a if a is not None else 'absent'} in TARGET, "
                              f"{b if b is not None else 'absent'} in the rebuild")


def _value(value: Any) -> str | None:
    if value is _ABSENT:
        return None
    return _short(value if isinstance(value, str) and value.startswith("sha256:") else
                  json.dumps(value, ensure_ascii=False))


def _short(text: str) -> str:
    return text if len(text) <= SHORT else text[:SHORT - 1] + "…"
