"""EXECUTOR: BuildPlan to blobs in a sink, then the config and manifest.

``build`` streams every layer once into the sink (files from the build
context, blobs from the FROM base, verified against their digests), then
writes the config and manifest and commits. ``build_archive`` does that into
an atomically written archive file.
"""

from __future__ import annotations

import os
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from modeloci.atomic import atomic_output
from modeloci.errors import BuildError, describe_os_error
from modeloci.formats import docker
from modeloci.oci.archive import OciArchiveWriter
from modeloci.oci.digest import Digest
from modeloci.oci.layout import Layout, open_layout
from modeloci.oci.manifest import Descriptor, manifest_blob
from modeloci.compiler.model import BaseSource, BuildPlan, LayerPlan


class BlobSink(Protocol):
    """Where a build's blobs go: an archive today; a layout folder or registry later."""

    def put_stream(self, src: BinaryIO, size: int, *, label: str, expected: Digest | None = None) -> Digest: ...

    def put_bytes(self, data: bytes) -> Digest: ...

    def commit(self, manifest: Descriptor, manifest_bytes: bytes, *, ref_name: str | None) -> None: ...


@dataclass(frozen=True, slots=True)
class BuildResult:
    manifest: Descriptor
    config: Descriptor
    layers: tuple[Descriptor, ...]
    reference: str | None
    output: Path | None = None
    output_size: int | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "digest": str(self.manifest.digest),
            "size": self.output_size,
            "output": str(self.output) if self.output else None,
            "reference": self.reference,
            "manifest": {"mediaType": self.manifest.media_type, "digest": str(self.manifest.digest), "size": self.manifest.size},
            "config": {"mediaType": self.config.media_type, "digest": str(self.config.digest), "size": self.config.size},
            "layers": [
                {
                    "mediaType": d.media_type,
                    "digest": str(d.digest),
                    "size": d.size,
                    "path": d.annotations.get(docker.ANNOTATION_FILEPATH),
                }
                for d in self.layers
            ],
        }


def build(plan: BuildPlan, sink: BlobSink) -> BuildResult:
    """Write the plan's layers, config and manifest into ``sink`` and commit it."""
    with ExitStack() as stack:
        base = stack.enter_context(open_layout(plan.base_path)) if plan.base_path else None
        layers = tuple(_put_layer(layer, plan, sink, base) for layer in plan.layers)
    config = docker.config_blob(plan.config_media_type, plan.config, [d.digest for d in layers], created=plan.created_epoch)
    sink.put_bytes(config.data)
    manifest = manifest_blob(config.descriptor(), layers, annotations=plan.labels)
    sink.put_bytes(manifest.data)
    manifest_descriptor = manifest.descriptor(artifact_type=config.media_type)
    sink.commit(manifest_descriptor, manifest.data, ref_name=plan.reference)
    return BuildResult(manifest_descriptor, config.descriptor(), layers, plan.reference)


def _put_layer(layer: LayerPlan, plan: BuildPlan, sink: BlobSink, base: Layout | None) -> Descriptor:
    if isinstance(layer.source, BaseSource):
        assert base is not None
        expected = Digest.parse(layer.source.digest)
        with base.open(expected.blob_path) as src:
            digest = sink.put_stream(src, layer.size, label=layer.filepath or str(expected), expected=expected)
    else:
        path = plan.context / layer.source.path
        try:
            src = path.open("rb")
        except OSError as exc:
            raise BuildError(f"reading {layer.source.path}: {describe_os_error(exc)}", path=layer.source.path) from exc
        with src:
            if os.fstat(src.fileno()).st_size != layer.size:
                raise BuildError(f"reading {layer.source.path}: the file changed size since the plan was made",
                                 path=layer.source.path, hint="do not change input files during a build")
            digest = sink.put_stream(src, layer.size, label=layer.source.path)
    return Descriptor(layer.media_type, digest, layer.size, layer.annotations)


def build_archive(plan: BuildPlan, output: Path) -> BuildResult:
    """Build into the archive ``output``, written atomically (its folder is created if needed)."""
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        with atomic_output(output) as out:
            result = build(plan, OciArchiveWriter(out, mtime=plan.mtime_epoch))
            size = out.tell()
    except OSError as exc:
        raise BuildError(f"writing {output}: {describe_os_error(exc)}", path=str(output)) from exc
    return BuildResult(result.manifest, result.config, result.layers, result.reference, output, size)
