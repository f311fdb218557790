"""``unpack``: a model archive or layout to files, safely, all or nothing.

Two layouts:

- ``bundle`` (default) is what Docker Model Runner unpacks for its runtimes
  (REFERENCE.md §1.10): ``config.json`` (the ``config`` object) and ``model/``
  with ``model.gguf`` or renumbered ``model-%05d-of-%05d.gguf`` shards,
  ``model.mmproj``, ``template.jinja``; layer-per-file models (Docker v0.2,
  ModelPack) put every layer at ``model/<filepath>``.
- ``files`` restores every layer at its annotated path.

A model's signature in the OpenSSF Model Signing format (a referrer, see
:mod:`modeloci.attest.oms`) is written as ``model.sig`` beside its files, the
name OMS tools look for and leave out of what they hash, so ``model_signing
verify`` checks the unpacked folder as it lies: at the top of ``files``, in
``model/`` of a bundle that keeps every file's path (Docker v0.2, ModelPack).
A legacy bundle renames the weights (``model.gguf``), which no signature
names: it gets none.

A ModelPack layer may hold a tar of its file (``.tar``, ``.tar+gzip``, as
modctl writes them): its members are written at their own paths, in
``model/`` for a bundle, as modctl and Docker Model Runner extract them
(:mod:`.layertar`).

Nothing is written outside the destination: archives and tar layers with
unsafe members, and layers whose paths are absolute, climb out with ``..``, or collide are refused
before any byte is written. Files go to a temporary sibling folder, each blob
is verified as it is copied, and the folder is renamed into place only when
everything matched, so a failed unpack leaves nothing behind.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from itertools import pairwise
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from modeloci.atomic import TEMP_PREFIX, locked_temp_dir, remove_stale_temps
from modeloci.attest import oms
from modeloci.blobs.engine import BlobSource, FileState, copy_range, hash_range, run_ordered
from modeloci.errors import ArchiveError, BuildError, UsageError, describe_os_error
from modeloci.formats import modelcar_layers
from modeloci.formats.artifact import Artifact, DockerConfig, ModelLayer, read_artifact
from modeloci.formats.layertar import MAX_INFLATE_RATIO, Member, extract, list_members
from modeloci.formats.roles import Role
from modeloci.oci.digest import Digest
from modeloci.oci.jsonenc import go_json
from modeloci.oci.layout import Layout, platform_view
from modeloci.oci.mediatypes import MediaType
from modeloci.oci.safety import safe_relative, shown_path, too_long
from modeloci.ops.runtime import Bundle, find_bundle
from modeloci.sources import RemoteRef, Source, open_source
from modeloci.sources.fetched import staged
from modeloci.sources.referrers import referrers_of
from modeloci.store import Store
from modeloci.store.leftovers import forget, record
from modeloci.store.partial import WHOLE, Selection, chosen

Layouts = Literal["bundle", "files"]
# A unit of unpacking run on the pool: it writes or checks, and gives the files it wrote for the report.
_Task = Callable[[threading.Event], list["UnpackedFile"]]


class UnpackedFile(BaseModel):
    path: str
    digest: str
    size: int


class UnpackReport(BaseModel):
    source: str
    output: str
    layout: Layouts
    format: str
    files: list[UnpackedFile]


def unpack(source: Source, dest: Path, *, layout: Layouts = "bundle",
           max_inflate_ratio: int = MAX_INFLATE_RATIO, selection: Selection = WHOLE,
           platform: str | None = None) -> UnpackReport:
    """Unpack ``source`` (archive or layout folder, either format) into the new folder ``dest``: what was written,
    file by file. A gzip tar layer inflating more than ``max_inflate_ratio`` times its size is refused (0: no
    bound). ``selection`` (``--include``/``--exclude``/``--role``) writes only the layers it takes. A
    multi-platform modelcar's ``platform`` image is unpacked (:func:`modeloci.oci.layout.platform_view`)."""
    return _unpack(source, dest, layout, max_inflate_ratio, selection, platform)[0]


def unpack_bundle(source: Source, dest: Path, *, layout: Layouts = "bundle",
                  max_inflate_ratio: int = MAX_INFLATE_RATIO, selection: Selection = WHOLE) -> Bundle:
    """:func:`unpack`, answered with the runtime's view of what it wrote: the seed's ``ModelBundle``."""
    _, artifact = _unpack(source, dest, layout, max_inflate_ratio, selection)
    if layout == "files":
        return find_bundle(dest, dest, artifact.config)
    return find_bundle(dest, dest / "model", DockerConfig({"config": _bundle_fields(artifact)}))


def _unpack(source: Source, dest: Path, layout: Layouts, max_ratio: int,
            selection: Selection, platform: str | None = None) -> tuple[UnpackReport, Artifact]:
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise UsageError(f"`{dest}` already exists", hint="unpack into a new or empty folder")
    with open_source(source) as whole:  # an archive with unsafe members is refused here
        opened = platform_view(whole, platform, str(source))
        artifact = read_artifact(opened, where=f"`{source}`")
        _refuse_unsafe_paths(artifact.layers)  # all of them: a model with one is refused, whatever is chosen
        artifact = chosen(opened, artifact, selection, str(source))
        # A registry model's (chosen) layers are fetched into a folder removed at the end: nothing is stored.
        with staged(source, opened, artifact, dest.parent) as blobs:
            targets = _targets(blobs, artifact, layout, max_ratio)
            # A signature names every file of the model: it would not verify over part of them.
            signature = _signature(source, artifact, targets, layout) if selection.whole else None
            files = _write(blobs, artifact, targets, dest, signature)
    report = UnpackReport(source=str(source), output=str(dest), layout=layout, format=artifact.format, files=files)
    return report, artifact


def _refuse_unsafe_paths(layers: tuple[ModelLayer, ...]) -> None:
    """A file layer's path that is absolute or climbs out with ``..`` makes the model hostile: refused before a
    selection leaves the layer out (:func:`_targets` holds the layers written to every rule)."""
    for layer in layers:
        if layer.packing == "raw" and layer.filepath and safe_relative(layer.filepath) is None:
            raise ArchiveError(f"refusing to unpack: layer {layer.descriptor.digest} has the unsafe path "
                               f"`{layer.filepath}`")


@dataclass(frozen=True, slots=True)
class _Target:
    path: str  # in the destination
    layer: ModelLayer
    member: Member | None = None  # for a tar layer: the member written there


def _targets(opened: Layout, artifact: Artifact, layout: Layouts, max_ratio: int) -> list[_Target]:
    """Where every unpacked file goes; unsafe paths refused.

    The path a layer's annotation gives is checked on its own, before it is put
    under ``model/``, so ``../x`` can never land beside the bundle. A tar layer
    (ModelPack ``.tar``, ``.tar+gzip``) gives its members, which go where its
    readers put them: at their own paths in the model's folder.
    """
    chosen = [("", layer.filepath, layer) for layer in artifact.layers] if layout == "files" \
        else _bundle_paths(artifact)
    entries: list[tuple[str, str, ModelLayer, Member | None]] = [
        (folder, path, layer, None) for folder, path, layer in chosen if layer.packing == "raw"]
    for layer in artifact.layers:
        if layer.packing != "raw":
            folder = "" if layout == "files" else "model"
            entries += [(folder, member.path, layer, member) for member in _members(opened, layer, max_ratio)]
    reserved = {"config.json"} if layout == "bundle" else set()
    out: list[_Target] = []
    for folder, path, layer, member in entries:
        safe = safe_relative(path)
        if safe is None:
            raise ArchiveError(f"refusing to unpack: layer {layer.descriptor.digest} has the unsafe path `{path}`")
        problem = too_long(safe)
        if problem is not None:
            raise ArchiveError(f"refusing to unpack: the path `{shown_path(safe)}` of layer {layer.descriptor.digest} "
                               f"{problem}")
        target = f"{folder}/{safe}" if folder else safe
        if target in reserved:
            raise ArchiveError(f"refusing to unpack: two layers would both be written to `{target}`")
        reserved.add(target)
        out.append(_Target(target, layer, member))
    paths = sorted(t.path for t in out)
    for path, following in pairwise(paths):
        if following.startswith(path + "/"):
            raise ArchiveError(f"refusing to unpack: `{path}` would be both a file and the folder of `{following}`")
    return out


def _members(opened: Layout, layer: ModelLayer, max_ratio: int) -> list[Member]:
    if layer.kind != "file":  # a modelcar's: its one file, at its path; no file of the image under it
        return modelcar_layers.unpacked(_blob(opened, layer), layer, max_ratio=max_ratio)
    members, problems = list_members(_blob(opened, layer), layer.packing, max_ratio=max_ratio)
    if problems:
        raise ArchiveError(f"refusing to unpack: layer {layer.descriptor.digest} ({layer.descriptor.media_type}): "
                           + "; ".join(problems))
    return members


def _bundle_paths(artifact: Artifact) -> list[tuple[str, str, ModelLayer]]:
    """(folder, path, layer) in Docker Model Runner's bundle layout: every layer, none left out.

    In a legacy (v0.1) bundle the weights, projector and template get DMR's
    fixed names and every other layer goes to its path. DMR leaves licenses
    out of such a bundle, but its bundle rules allow extra files, and a GGUF
    model's license must not vanish when a safetensors model's stays
    (REFERENCE.md §1.10).
    """
    per_file = artifact.format in ("modelpack", "modelcar") \
        or artifact.manifest.config.media_type == MediaType.DOCKER_CONFIG_V02
    if per_file:
        return [("model", layer.filepath, layer) for layer in artifact.layers]
    weights = [layer for layer in artifact.layers if layer.role is Role.WEIGHTS]
    out = [("model", _weight_name(layer, n, len(weights)), layer) for n, layer in enumerate(weights, 1)]
    for role, name in ((Role.MMPROJ, "model.mmproj"), (Role.CHAT_TEMPLATE, "template.jinja")):
        layers = [layer for layer in artifact.layers if layer.role is role]
        if len(layers) > 1:
            raise ArchiveError(f"refusing to unpack: {len(layers)} layers are {role.value}; a bundle holds one")
        out += [("model", name, layer) for layer in layers]
    others = [layer for layer in artifact.layers if layer.role not in (Role.WEIGHTS, Role.MMPROJ, Role.CHAT_TEMPLATE)]
    for layer in others:
        if layer.role is not Role.MODEL_FILE:
            _refuse_mistakable(layer)
    return out + [("model", layer.filepath, layer) for layer in others]


# What a runtime re-reading a legacy bundle takes, by name, for the weights, the projector or the template.
_MISTAKABLE = (".gguf", ".mmproj", ".jinja")


def _refuse_mistakable(layer: ModelLayer) -> None:
    """A license (or other extra file) a runtime would take for the model, the projector or the template."""
    if "/" not in layer.filepath and layer.filepath.lower().endswith(_MISTAKABLE):
        raise ArchiveError(f"refusing to unpack: the {layer.role.value} layer {layer.descriptor.digest} is named "
                           f"`{shown_path(layer.filepath)}`, which a runtime reading the bundle would take for "
                           "part of the model", hint="unpack with `--layout files`, which keeps every path")


def _weight_name(layer: ModelLayer, number: int, total: int) -> str:
    media_type = layer.descriptor.media_type
    if media_type == MediaType.DOCKER_DDUF:
        return f"{layer.descriptor.digest.hex}.dduf"
    ext = "safetensors" if media_type == MediaType.DOCKER_SAFETENSORS else "gguf"
    if ext == "safetensors" and layer.filepath:
        return layer.filepath
    return f"model.{ext}" if total == 1 else f"model-{number:05d}-of-{total:05d}.{ext}"


def _signature(source: Source, artifact: Artifact, targets: list[_Target], layout: Layouts) -> tuple[str, bytes] | None:
    """Where the model's OMS signature goes and its bytes; None when it has none, or when its files are not where a
    signature names them (a legacy bundle's renamed weights, a tar layer's members) or one is at ``model.sig``."""
    if isinstance(source, RemoteRef):
        return None  # a registry model's referrers come down with `pull`
    folder = "" if layout == "files" else "model/"
    where = folder + oms.SIGNATURE_FILE
    kept = all(t.member is None and t.path == folder + (safe_relative(t.layer.filepath) or "") for t in targets)
    if not kept or any(t.path == where for t in targets) or not artifact.layers:
        return None
    bundle = oms.model_signature(referrers_of(source))
    return (where, bundle) if bundle is not None else None


def _write(layout: Layout, artifact: Artifact, targets: list[_Target], dest: Path,
           signature: tuple[str, bytes] | None = None) -> list[UnpackedFile]:
    try:
        created = _make_parents(dest.parent)
        remove_stale_temps(dest.parent, TEMP_PREFIX)  # what killed unpacks and builds left in this folder
        lock, temp = locked_temp_dir(dest.parent, f"{TEMP_PREFIX}{dest.name}.")
    except OSError as exc:
        raise BuildError(f"writing {dest}: {describe_os_error(exc)}", path=str(dest)) from exc
    journal = record(Store().root, temp)  # so that `prune` can remove it if this process is killed
    try:
        for target in targets:
            (temp / target.path).parent.mkdir(parents=True, exist_ok=True)
        # Always copies, from the store too: a hard link would let an edit of the unpacked file change the
        # stored blob, and file modes do not stop root. copy_file_range shares extents where the file system can.
        tasks = [task for t in targets if t.member is None for task in _tasks(layout, t.layer, temp / t.path, t.path)]
        tar_layers = {t.layer.descriptor.digest: t.layer for t in targets if t.member is not None}
        for digest, layer in tar_layers.items():
            tasks += _tar_tasks(layout, layer, [(t.member, temp / t.path, t.path) for t in targets
                                                if t.member is not None and t.layer.descriptor.digest == digest])
        files = [f for done in run_ordered(tasks) for f in done]
        if any(t.path.startswith("model/") for t in targets):
            config = _bundle_config(artifact)
            (temp / "config.json").write_bytes(config)
            files.append(UnpackedFile(path="config.json", digest=str(Digest.of(config)), size=len(config)))
        if signature is not None:
            path, bundle = signature
            (temp / path).write_bytes(bundle)
            files.append(UnpackedFile(path=path, digest=str(Digest.of(bundle)), size=len(bundle)))
        if dest.exists():
            dest.rmdir()
        os.replace(temp, dest)
    except OSError as exc:
        _remove(temp, created)
        raise BuildError(f"writing {dest}: {describe_os_error(exc)}", path=str(dest)) from exc
    except BaseException:
        _remove(temp, created)
        raise
    finally:
        os.close(lock)
        forget(journal)
    return files


def _remove(temp: Path, created: list[Path]) -> None:
    """Undo a failed unpack: its temporary folder, and the folders it made, deepest first, if still empty."""
    shutil.rmtree(temp, ignore_errors=True)
    for folder in created:
        try:
            folder.rmdir()
        except OSError:
            break


def _make_parents(folder: Path) -> list[Path]:
    """Create ``folder`` and its missing parents; returns those created, deepest first."""
    missing: list[Path] = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for path in reversed(missing):
        path.mkdir(exist_ok=True)
    return missing


def _blob(layout: Layout, layer: ModelLayer, label: str | None = None) -> BlobSource:
    """The layer's blob, checked to be there with the size the manifest says."""
    if not layout.exists(layer.descriptor.digest.blob_path):
        raise ArchiveError(f"refusing to unpack: blob {layer.descriptor.digest} is missing")
    path, offset, size = layout.locate(layer.descriptor.digest.blob_path)
    if size != layer.descriptor.size:
        raise ArchiveError(f"refusing to unpack: blob {layer.descriptor.digest} is {size} bytes; "
                           f"the manifest says {layer.descriptor.size}")
    return BlobSource(path, offset, size, label or str(layer.descriptor.digest), FileState.from_stat(path.stat()),
                      layer.descriptor.digest)


def _tar_tasks(layout: Layout, layer: ModelLayer, members: list[tuple[Member, Path, str]]) -> list[_Task]:
    """Tasks writing a tar layer's members (member, file to write, path in the report), and checking the layer.

    An uncompressed tar's members are byte ranges of the blob: each is copied
    in the kernel like a raw layer and hashed for the report, while one more
    task checks the layer's digest, so both cores work and each page is read
    while cached. A gzip layer is one stream, inflated and checked in one task.
    """
    source = _blob(layout, layer, f"layer {layer.descriptor.digest}")
    if layer.packing == "tar+gzip":
        def stream(cancel: threading.Event) -> list[UnpackedFile]:
            shown = {member.name or member.path: report for member, _, report in members}
            written = extract(source, {member.name or member.path: file for member, file, _ in members}, cancel)
            return [UnpackedFile(path=shown[e.path], digest=str(e.digest), size=e.size) for e in written]
        return [stream]

    def check(cancel: threading.Event) -> list[UnpackedFile]:
        hash_range(source, cancel)  # raises if the layer does not match its digest
        return []

    def copy(member: Member, file: Path, shown: str) -> _Task:
        assert member.offset is not None  # listed from an uncompressed tar
        part = replace(source, offset=source.offset + member.offset, size=member.size, label=shown,
                       expected=modelcar_layers.claimed_digest(layer))  # a modelcar's file digest, checked

        def run(cancel: threading.Event) -> list[UnpackedFile]:
            fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            try:
                copy_range(part, fd, 0, cancel)
            finally:
                os.close(fd)
            return [UnpackedFile(path=shown, digest=str(hash_range(part, cancel)), size=member.size)]
        return run

    return [check, *(copy(member, file, shown) for member, file, shown in members)]


def _tasks(layout: Layout, layer: ModelLayer, target: Path, shown: str) -> list[_Task]:
    """Tasks that copy one blob to ``target`` and check its digest.

    The copy (in the kernel) and the check run as two tasks side by side, so
    both cores work and the check reads pages the copy just brought in.
    """
    source = _blob(layout, layer, target.name)
    report = [UnpackedFile(path=shown, digest=str(layer.descriptor.digest), size=layer.descriptor.size)]

    def copy(cancel: threading.Event) -> list[UnpackedFile]:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            copy_range(source, fd, 0, cancel)
        finally:
            os.close(fd)
        return report

    def check(cancel: threading.Event) -> list[UnpackedFile]:
        hash_range(source, cancel)  # raises if the bytes do not match the digest
        return []

    return [copy, check]


def _bundle_config(artifact: Artifact) -> bytes:
    """``config.json`` of a bundle: the config object, written as DMR's encoder writes it (with a newline)."""
    return go_json(_bundle_fields(artifact)) + b"\n"


def _bundle_fields(artifact: Artifact) -> dict[str, Any]:
    """The config object of a bundle: Docker's own, or a ModelPack config's fields in Docker's words."""
    if isinstance(artifact.config, DockerConfig):
        return artifact.config.fields
    c = artifact.config
    return {k: v for k, v in {"format": c.format, "quantization": c.quantization, "parameters": c.parameters,
                              "architecture": c.architecture, "size": c.size}.items() if v}
