"""``verify --rebuild``: prove a model by building it again from its Modelfile and comparing manifest digests.

The rebuild writes nothing. The files of the build context are hashed once, on
every core, where they lie (no copy, and no digest cache: a proof reads the
bytes); the layers of a FROM base are taken by the digests its manifest gives;
the builder's :func:`~modeloci.builder.describe` makes the config and manifest
from those digests, as a build would. What a build records but a Modelfile
cannot say is taken from TARGET: its format, its creation time (which is also
every file's time in the layers' metadata) and, for ModelPack, whose config
records it, its name and tag. So a reproducible build compares equal.

When TARGET carries SLSA provenance (a referrer, :mod:`modeloci.attest.provenance`),
the rebuild also takes from it the build arguments the Modelfile declares (those
given on the command line win), the name, and the FROM base's digest: a
registry base is pinned to the manifest recorded, whatever its tag names now;
another base whose digest changed is the first difference. The provenance is
not trusted for anything else: it only says how to rebuild, and the digests
decide. Where the two differ, :mod:`.differences` says how.
"""

from __future__ import annotations

import posixpath
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import partial
from itertools import chain, islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from modeloci.attest.bundle import BundleError, read_bundle
from modeloci.attest.provenance import BUILD_TYPE, PREDICATE_TYPE, STATEMENT_TYPE
from modeloci.blobs.engine import BlobSource, hash_range, hash_wrapped, run_ordered
from modeloci.builder import describe, file_source, layer_sources, local_base
from modeloci.compiler import BuildPlan, compile_plan
from modeloci.compiler.model import BaseSource, FileSource
from modeloci.diagnostics import Diagnostic
from modeloci.errors import UsageError
from modeloci.formats.artifact import Artifact, created_of, epoch_of, read_artifact
from modeloci.formats.configs import ModelPackConfig
from modeloci.formats.modelcar_layers import tar_mtime
from modeloci.jsondoc import InvalidJSON, load_json
from modeloci.modelfile import read_modelfile
from modeloci.modelfile.ast import ArgDirective, FromDirective, Modelfile, Text, Word
from modeloci.oci.digest import Digest
from modeloci.oci.manifest import parse_manifest
from modeloci.oci.mediatypes import MediaType
from modeloci.oci.referrers import Referrer, read_referrer
from modeloci.ops.differences import Difference, config_doc, differences
from modeloci.reference import names_host, normalise_tag
from modeloci.registry.image_ref import parse_reference
from modeloci.sources import RemoteRef, Source, open_source, resolve
from modeloci.sources.referrers import referrers_of

if TYPE_CHECKING:
    from modeloci.registry.client import RegistryClient  # its module loads httpx: a local TARGET needs none

__all__ = ["MAX_DIFFERENCES", "Difference", "RebuildReport", "Rebuilt", "Recorded", "rebuild", "recorded",
           "resolve_target"]

MAX_DIFFERENCES = 100  # a config of thousands of keys, all different, is still one screen of JSON


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
    build_args: dict[str, str]  # those used: the provenance's the Modelfile declares, and the command line's
    base: str | None  # the manifest digest of the FROM base the rebuild used
    provenance: str | None  # the digest of the provenance referrer the rebuild followed
    files_hashed: int
    bytes_hashed: int
    differences: list[Difference]


@dataclass(frozen=True, slots=True)
class Rebuilt:
    """The report, and the plan's warnings with the texts they point into (for the CLI to render)."""

    report: RebuildReport
    warnings: tuple[Diagnostic, ...]
    sources: dict[str, str]


@dataclass(frozen=True, slots=True)
class Recorded:
    """What a model's SLSA provenance says a rebuild needs: the referrer's digest, the build arguments, the
    name, and the FROM base's manifest digest."""

    digest: Digest
    build_args: dict[str, str]
    reference: str | None
    base: Digest | None


def rebuild(modelfile: Path, target: Source, *, context: Path | None = None,
            build_args: Mapping[str, str] | None = None, display: str | None = None,
            shown_target: str | None = None) -> Rebuilt:
    """Rebuild ``modelfile`` (with ``context``, default its folder) as TARGET was built and compare manifests.
    The plan is compiled as TARGET was: its format, its creation time (none when it has none, whatever
    SOURCE_DATE_EPOCH or git say), its name.

    ArchiveError when TARGET is not a model; a ModelfileError when the Modelfile does not compile.
    """
    shown = shown_target or str(target)
    with open_source(target) as layout:
        artifact = read_artifact(layout, where=f"`{shown}`")
        mtime = tar_mtime(layout, artifact.layers) if artifact.format == "modelcar" else None
    followed = recorded(referrers_of(target), artifact.digest)
    parsed = _read(modelfile, display or str(modelfile))
    args = {**_declared(followed.build_args if followed else {}, parsed), **(build_args or {})}
    created = created_of(config_doc(artifact.config_bytes, "TARGET's config"))
    compile_as = partial(
        compile_plan, context=context if context is not None else modelfile.parent, build_args=args,
        created=epoch_of(created), target_format=artifact.format,
        reference=followed.reference if followed and followed.reference else _reference(artifact),
        context_display=str(context) if context is not None else posixpath.dirname(parsed.path))
    plan, moved = _pinned(compile_as(parsed), parsed, followed.base if followed else None, compile_as)
    if mtime is not None:  # a modelcar's tars have TARGET's mtime, whatever SOURCE_DATE_EPOCH says now
        plan = replace(plan, layer_mtime=mtime)
    digests, inner, files, hashed = _digests(plan)
    _, config, manifest = describe(plan, digests, inner)
    reproduced = manifest.digest == artifact.digest
    found = [] if reproduced else list(islice(
        chain(moved, differences(artifact, parse_manifest(manifest.data), config.data)), MAX_DIFFERENCES))
    report = RebuildReport(
        source=shown, modelfile=display or str(modelfile), format=artifact.format, reproduced=reproduced,
        digest=str(artifact.digest), rebuilt=str(manifest.digest), created=created, reference=plan.reference,
        build_args=args, base=plan.base.manifest_digest if plan.base else None,
        provenance=str(followed.digest) if followed else None, files_hashed=files, bytes_hashed=hashed,
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


def _read(modelfile: Path, shown: str) -> Modelfile:
    try:
        return read_modelfile(modelfile, display=shown)
    except FileNotFoundError:
        raise UsageError(f"Modelfile `{modelfile}` not found", hint="name it with `-f PATH`") from None
    except IsADirectoryError:
        raise UsageError(f"`{modelfile}` is a directory",
                         hint="name the Modelfile itself with `-f DIR/Modelfile`") from None


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


def _digests(plan: BuildPlan) -> tuple[list[Digest], dict[int, Digest], int, int]:
    """Every layer's digest: files of the context hashed (once, in parallel), a base's by its manifest, a
    modelcar's tar around a base's blob hashed; the digests of the files modelcar layers wrap. Also how many files
    and bytes were hashed."""
    wrapped = [isinstance(layer.source, BaseSource) and layer.file_size is not None for layer in plan.layers]
    # The base is opened (a registry base pulled) only when a tar is made around one of its blobs.
    every = layer_sources(local_base(plan)) if any(wrapped) else []
    files = {i: every[i] if wrapped[i] else file_source(layer, plan) for i, layer in enumerate(plan.layers)
             if isinstance(layer.source, FileSource) or wrapped[i]}
    hashed = dict(zip(files, run_ordered([partial(_both, s) for s in files.values()]), strict=True))
    digests = [hashed[i][0] if i in hashed else Digest.parse(_base_digest(layer.source))
               for i, layer in enumerate(plan.layers)]
    inner = {i: found for i, (_, found) in hashed.items() if found is not None}
    return digests, inner, len(files), sum(s.size for s in files.values())


def _both(source: BlobSource, cancel: threading.Event) -> tuple[Digest, Digest | None]:
    """A layer's digest, and for a modelcar's tar the file's, from one read."""
    return hash_wrapped(source, cancel) if source.wrapped else (hash_range(source, cancel), None)


def _base_digest(source: object) -> str:
    assert isinstance(source, BaseSource), "a layer not made from a file of the context comes from the base"
    return source.digest


# -- following the provenance --------------------------------------------------------------------------------------


def recorded(referrers: Sequence[Referrer], subject: Digest) -> Recorded | None:
    """What the first SLSA provenance of a modeloci build of ``subject`` among ``referrers`` records (signed in a
    Sigstore bundle or not: a signature is verify --key's business); None if there is none."""
    for referrer in referrers:
        found = _provenance(referrer, subject)
        if found is not None:
            return found
    return None


def _provenance(referrer: Referrer, subject: Digest) -> Recorded | None:
    doc = _statement(referrer)
    predicate = doc.get("predicate") if doc else None
    if (doc is None or doc.get("_type") != STATEMENT_TYPE or doc.get("predicateType") != PREDICATE_TYPE
            or not isinstance(predicate, dict) or not _names(doc.get("subject"), subject)):
        return None
    definition = _object(predicate.get("buildDefinition"))
    if definition.get("buildType") != BUILD_TYPE:
        return None
    parameters = _object(definition.get("externalParameters"))
    args = _object(parameters.get("buildArgs"))
    return Recorded(referrer.digest, {k: v for k, v in args.items() if isinstance(v, str)},
                    _name(parameters.get("reference")), _base(definition.get("resolvedDependencies")))


def _statement(referrer: Referrer) -> dict[str, Any] | None:
    """The in-toto statement a referrer holds, as is or in a Sigstore bundle's envelope (its blobs were read
    bounded by :func:`~modeloci.sources.referrers.referrers_of`)."""
    found = read_referrer(referrer.manifest)
    if found is None or len(found[2]) != 1:
        return None
    payload = referrer.blobs.get(found[2][0].digest, b"")
    if referrer.artifact_type == MediaType.SIGSTORE_BUNDLE:
        try:
            bundle = read_bundle(payload)
        except BundleError:
            return None
        payload = bundle.payload if bundle.payload_type == MediaType.IN_TOTO else b""
    elif referrer.artifact_type != MediaType.IN_TOTO:
        return None
    try:
        doc = load_json(payload, "a provenance statement")
    except InvalidJSON:
        return None
    return doc if isinstance(doc, dict) else None


def _names(subjects: object, digest: Digest) -> bool:
    """Whether a statement's subjects name ``digest`` (a referrer of one model may not speak for another)."""
    return isinstance(subjects, list) and any(
        isinstance(s, dict) and _object(s.get("digest")).get(digest.algorithm) == digest.hex for s in subjects)


def _name(value: object) -> str | None:
    """A recorded name that a build could have been given (``NAME:TAG``, as ``-t`` normalises it), else None:
    the compiler takes a name as given, and one from a statement is outside input."""
    if not isinstance(value, str):
        return None
    try:
        return value if normalise_tag(value) == value else None
    except UsageError:
        return None


def _base(dependencies: object) -> Digest | None:
    """The manifest digest of the FROM base among the resolved dependencies (the one OCI manifest there)."""
    for item in dependencies if isinstance(dependencies, list) else []:
        entry = _object(item)
        value = _object(entry.get("digest")).get("sha256")
        if entry.get("mediaType") == MediaType.OCI_MANIFEST and isinstance(value, str):
            try:
                return Digest.parse(f"sha256:{value}")
            except ValueError:
                return None
    return None


def _object(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _declared(args: Mapping[str, str], parsed: Modelfile) -> dict[str, str]:
    """The recorded build arguments the Modelfile still declares (one it dropped would be an error, MF042)."""
    names = {decl.name for d in parsed.directives if isinstance(d, ArgDirective) for decl in d.decls}
    return {k: v for k, v in args.items() if k in names}


def _pinned(plan: BuildPlan, parsed: Modelfile, base: Digest | None,
            compile_as: Callable[[Modelfile], BuildPlan]) -> tuple[BuildPlan, list[Difference]]:
    """The plan with its FROM base at the recorded digest: a registry base is pinned (``FROM name:tag@digest``);
    any other base that is no longer the one recorded is the first difference."""
    if base is None or plan.base is None or plan.base.manifest_digest == str(base):
        return plan, []
    if isinstance(plan.base_path, RemoteRef):
        pinned = str(replace(plan.base_path.reference, digest=base))
        return compile_as(_with_from(parsed, pinned)), []
    name, now = plan.base.path, plan.base.manifest_digest
    return plan, [Difference(part="base", name=name, field=None, target=str(base), rebuilt=now,
                             message=f"the base `{name}` is {now}; TARGET's provenance records {base}")]


def _with_from(parsed: Modelfile, text: str) -> Modelfile:
    """``parsed`` with its FROM naming ``text`` (one literal, quoted word, at the same place)."""
    return replace(parsed, directives=tuple(
        replace(d, source=Word((Text(text, d.source.span, quoted=True),), d.source.span))
        if isinstance(d, FromDirective) else d for d in parsed.directives))
