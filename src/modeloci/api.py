"""The Python API: the pipeline's stages composed for callers (the CLI is one of them).

``plan()`` reads and compiles a Modelfile; ``build()`` also writes the archive;
``package()`` does both for a model folder, with a Modelfile made in code.
The seed's types are what the readers answer: :func:`artifact` gives a
``ModelArtifact`` (from an archive, a layout, the store or a registry),
:func:`model_files` a stored ``Model`` a runtime loads in place, :func:`unpack`
a ``ModelBundle``. Everything raises :class:`~modeloci.errors.ModelociError`
subclasses: a ``ModelfileError`` carrying every diagnostic, a ``BuildError``
when writing fails.
"""

from __future__ import annotations

import dataclasses
import posixpath
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict, Unpack

from modeloci import sources
from modeloci.compiler import BuildPlan, compile_plan
from modeloci.compiler.created import Created, default_created
from modeloci.errors import UsageError
from modeloci.formats import MAX_INFLATE_RATIO
from modeloci.formats.select import Selection
from modeloci.modelfile import read_modelfile
from modeloci.reference import InvalidReference, split_reference
from modeloci.sources import Source

if TYPE_CHECKING:
    from modeloci.builder import BuildResult, ReferrersOf
    from modeloci.formats.artifact import Artifact
    from modeloci.ops.inspect import ArtifactReport, ModelReport
    from modeloci.ops.runtime import Bundle, StoredFiles
    from modeloci.ops.unpack import Layouts
    from modeloci.ops.verify import VerifyReport


class PlanOptions(TypedDict, total=False):
    """The keyword arguments of :func:`plan`, which :func:`build` passes on."""

    context: str | Path | None
    build_args: Mapping[str, str] | None
    reference: str | None
    created: int | None
    display: str | None
    format: str
    lint: bool


def plan(
    modelfile: str | Path,
    *,
    context: str | Path | None = None,
    build_args: Mapping[str, str] | None = None,
    reference: str | None = None,
    created: int | None = None,
    display: str | None = None,
    format: str = "docker",
    lint: bool = False,
) -> BuildPlan:
    """Parse and compile the Modelfile at ``modelfile`` into a :class:`BuildPlan`.

    ``context`` defaults to the Modelfile's folder; ``display`` is the name
    diagnostics show for the Modelfile (default: the path as given). ``lint``
    adds lint's advice (MF11x) to the plan's warnings. ``created`` (Unix
    seconds) defaults to ``SOURCE_DATE_EPOCH``, else to the commit time of the
    context in a clean git checkout, else to none (:mod:`modeloci.compiler.created`).
    """
    path = Path(modelfile)
    shown = display or str(modelfile)
    try:
        parsed = read_modelfile(path, display=shown)
    except FileNotFoundError:
        raise UsageError(f"Modelfile `{modelfile}` not found", hint="name it with `-f PATH`") from None
    except IsADirectoryError:
        raise UsageError(f"`{modelfile}` is a directory",
                         hint="name the Modelfile itself with `-f DIR/Modelfile`") from None
    root = Path(context) if context is not None else path.parent
    # lint records nothing, so it asks git nothing.
    when = Created(created) if created is not None or lint else default_created(root, path)
    compiled = compile_plan(
        parsed,
        context=root,
        build_args=build_args,
        reference=reference,
        created=when.epoch,
        context_display=str(context) if context is not None else posixpath.dirname(shown),
        target_format="modelpack" if format in ("modelpack", "cncf") else format,
        lint=lint,
    )
    return dataclasses.replace(compiled, notes=[*compiled.notes, when.note]) if when.note else compiled


def build(
    modelfile: str | Path,
    output: str | Path | None = None,
    *,
    layout: str | Path | None = None,
    cache: bool = True,
    link: bool = False,
    referrers: ReferrersOf | None = None,
    **options: Unpack[PlanOptions],
) -> BuildResult:
    """Build the Modelfile into the OCI archive ``output`` (written atomically), or into the
    OCI layout folder ``layout``. ``cache`` reuses digests of unchanged files. ``referrers`` makes the model's
    referrers (a signature, provenance, a BOM) once its manifest is known; they are written beside it."""
    if (output is None) == (layout is None):
        raise UsageError("give one output: an archive path or a layout folder")
    return _write(plan(modelfile, **options), output, layout, cache=cache, link=link, referrers=referrers)


def package(
    model_dir: str | Path,
    *,
    name: str,
    version: str | None = None,
    format: str = "docker",
    labels: Mapping[str, str] | None = None,
    output: str | Path | None = None,
    layout: str | Path | None = None,
    tag: str | None = None,
    created: int | None = None,
) -> BuildResult:
    """Package the folder ``model_dir`` (a training run's output, a Hugging Face folder; or one weights file)
    without writing a Modelfile: ``FROM scratch``, ``WEIGHTS <model_dir>`` and a ``LABEL`` of ``labels``, compiled
    by the same compiler, so the model is the one that hand-written Modelfile gives.

    ``name`` and ``version`` name the model ``NAME:VERSION`` (``latest`` by default): in the index of an archive or
    a layout, and as a ModelPack descriptor's name and version. It is written to exactly one of ``output`` (an
    archive), ``layout`` (a layout folder) or ``tag`` (the local store, under that ``NAME[:TAG]``). ``format`` is
    ``docker`` or ``modelpack``; ``created`` (Unix seconds) defaults as :func:`plan`'s does."""
    if sum(given is not None for given in (output, layout, tag)) != 1:
        raise UsageError("give one output: an archive (output=), a layout folder (layout=) or a name in the "
                         "local store (tag=)")
    from modeloci.ops.package import package_plan

    compiled = package_plan(model_dir, name=name, version=version, format=format, labels=labels, created=created)
    if tag is None:
        return _write(compiled, output, layout)
    from modeloci.blobs.cache import DigestCache
    from modeloci.builder import build_store
    from modeloci.reference import normalise_tag
    from modeloci.store import Store

    # The store's name for it is `tag`; the model's own name (a ModelPack descriptor's) stays NAME:VERSION.
    return build_store(dataclasses.replace(compiled, reference=normalise_tag(tag)), Store(), cache=DigestCache())


def _write(compiled: BuildPlan, output: str | Path | None, layout: str | Path | None, *, cache: bool = True,
           link: bool = False, referrers: ReferrersOf | None = None) -> BuildResult:
    """Build ``compiled`` into the archive ``output`` (written atomically), else the layout folder ``layout``."""
    from modeloci.blobs.cache import DigestCache
    from modeloci.builder import build_archive, build_layout

    digests = DigestCache() if cache else None
    if output is not None:
        return build_archive(compiled, Path(output), cache=digests, referrers=referrers)
    assert layout is not None  # one of the two: the callers check
    return build_layout(compiled, Path(layout), cache=digests, link=link, referrers=referrers)


def inspect(path: str | Path) -> ArtifactReport | ModelReport:
    """What an archive, layout, model file or model folder holds (typed, pydantic); reads no weights. A string
    that names no file is read as the CLI reads it: a stored model, or ``PATH:NAME`` in a layout of several."""
    from modeloci.ops.inspect import inspect_artifact, inspect_model, is_artifact

    target = Path(path)
    if isinstance(path, str) and not target.exists():
        return inspect_artifact(_source(path))
    return inspect_artifact(target) if target.exists() and is_artifact(target) else inspect_model(target)


def verify(path: str | Path, *, max_inflate_ratio: int = MAX_INFLATE_RATIO) -> VerifyReport:
    """Check an archive or layout; the report lists every problem (``report.ok`` is the verdict).
    ``max_inflate_ratio`` bounds gzip layers (default 100, 0: none)."""
    from modeloci.ops.verify import verify as run

    return run(_source(path), max_inflate_ratio=max_inflate_ratio)


def unpack(path: str | Path, output: str | Path, *, layout: Layouts = "bundle",
           max_inflate_ratio: int = MAX_INFLATE_RATIO, include: str | Sequence[str] = (),
           exclude: str | Sequence[str] = (), roles: str | Sequence[str] = ()) -> Bundle:
    """Unpack an archive, layout or stored model into the new folder ``output``, every blob verified, and answer
    with the runtime's view of it (a ``ModelBundle``: its GGUF, safetensors, DDUF, projector and template paths,
    and its runtime config). ``layout`` is ``bundle`` (Docker Model Runner's ``config.json`` and ``model/``) or
    ``files`` (every layer at its path). ``max_inflate_ratio`` bounds gzip layers (default 100, 0: none).
    ``include``, ``exclude`` and ``roles`` write only part of the model, as :func:`model_files` takes it."""
    from modeloci.ops.unpack import unpack_bundle

    return unpack_bundle(_source(path), Path(output), layout=layout, max_inflate_ratio=max_inflate_ratio,
                         selection=_selection(include, exclude, roles))


def _source(path: str | Path) -> Source:
    """A Path as it is; a string as the CLI reads it: a path, ``PATH:NAME``, or a model in the store."""
    return path if isinstance(path, Path) else sources.resolve(path)


def model_files(reference: str, *, include: str | Sequence[str] = (), exclude: str | Sequence[str] = (),
                roles: str | Sequence[str] = ()) -> StoredFiles:
    """The stored model ``NAME[:TAG]``, its files where they lie in the store, for a runtime to use in place
    (a ``Model``): id, tags, GGUF shards in order, safetensors, DDUF, projector, chat template, licenses, config.
    Nothing is copied: the paths are the store's blobs, never to be written to.

    ``include``, ``exclude`` (globs of the files' paths: ``*`` within a folder, ``**`` across) and ``roles``
    (``weights``, ``template``, ``projector``, ``license``, ``config``, ``docs``) take part of the model, as
    ``unpack --include/--exclude/--role`` do; UsageError when they take nothing, and for a model pulled in part
    when a file taken is absent (without them too: the whole model is not there)."""
    from modeloci.ops.runtime import StoredFiles
    from modeloci.reference import normalise_tag
    from modeloci.store import Store

    return StoredFiles.of(Store(), normalise_tag(reference), _selection(include, exclude, roles))


def _selection(include: str | Sequence[str], exclude: str | Sequence[str], roles: str | Sequence[str]) -> Selection:
    """Part of a model, as ``--include``, ``--exclude`` and ``--role`` ask for it (a string is one glob or role,
    not its characters)."""
    def words(value: str | Sequence[str]) -> tuple[str, ...]:
        return (value,) if isinstance(value, str) else tuple(value)
    return Selection(words(include), words(exclude), words(roles))


def artifact(source: str | Path) -> Artifact:
    """The model ``source`` names, as a ``ModelArtifact``: its manifest, config and layers, read without a layer's
    bytes. A Path is an archive or a layout folder; a string is read as the CLI reads it (a path, ``PATH:NAME``,
    a stored model), and else, when it names a registry (``registry.example.com/team/model:1``), from there."""
    from modeloci.formats.artifact import read_artifact
    from modeloci.sources import open_source

    found = _source(source) if isinstance(source, Path) else _source_or_registry(source)
    with open_source(found) as layout:
        return read_artifact(layout, where=f"`{found}`")


def _source_or_registry(text: str) -> Source:
    """``text`` resolved as the CLI resolves it, else a model in the registry it names."""
    try:
        return sources.resolve(text)
    except UsageError:
        if not _names_registry(text):
            raise
    # Imported when used: the registry client (httpx) is needed only for a model in a registry.
    from modeloci.registry.client import RegistryClient
    from modeloci.registry.image_ref import parse_reference
    from modeloci.sources import RemoteRef

    reference = parse_reference(text)
    return RemoteRef(reference, RegistryClient(reference.registry))


def _names_registry(text: str) -> bool:
    try:
        return split_reference(text).host is not None
    except InvalidReference:
        return False
