"""The seed design's interfaces to a model, whatever its format.

They name the layers of a model: an :class:`Image` (manifest, raw bytes,
digest, layers), a :class:`ModelArtifact` (an image known to be a model, in
some format), a :class:`Model` (a stored model with file paths), a
:class:`ModelBundle` (the unpacked runtime layout) and a :class:`ModelConfig`
(format-agnostic access to what the config says). They are ``Protocol``s; one
implementation per format serves them (:mod:`.artifact` reads any archive,
layout or registry model as one), and the rest of the code depends on the
protocols only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from modeloci.formats.roles import Role
from modeloci.oci.manifest import Manifest

if TYPE_CHECKING:
    from modeloci.formats.artifact import ModelLayer

__all__ = ["Format", "Image", "Model", "ModelArtifact", "ModelBundle", "ModelConfig"]

Format = Literal["docker", "modelpack", "modelcar"]


@runtime_checkable
class ModelConfig(Protocol):
    """What a model's config says, whatever its format."""

    @property
    def format(self) -> str | None: ...

    @property
    def context_size(self) -> int | None: ...

    @property
    def size(self) -> str | None: ...

    @property
    def architecture(self) -> str | None: ...

    @property
    def parameters(self) -> str | None: ...

    @property
    def quantization(self) -> str | None: ...


@runtime_checkable
class Image(Protocol):
    """An OCI image: its manifest (raw bytes and digest) and its config bytes."""

    @property
    def manifest(self) -> Manifest: ...

    @property
    def config_bytes(self) -> bytes: ...


@runtime_checkable
class ModelArtifact(Image, Protocol):
    """An image that is a model: its format, its config, and layers with roles."""

    @property
    def format(self) -> Format: ...

    @property
    def config(self) -> ModelConfig: ...

    @property
    def layers(self) -> Sequence[ModelLayer]: ...


@runtime_checkable
class Model(Protocol):
    """A stored model whose files a runtime can use in place: its identity, and the paths of its files."""

    @property
    def id(self) -> str:
        """The manifest's digest, as Docker Model Runner names a model."""
        ...

    @property
    def tags(self) -> Sequence[str]: ...

    @property
    def descriptor(self) -> Mapping[str, Any]:
        """The config's provenance object (Docker's ``created``, ModelPack's ``name``, ``version``...)."""
        ...

    @property
    def artifact(self) -> ModelArtifact: ...

    def paths(self, role: Role) -> list[Path]: ...

    @property
    def gguf_paths(self) -> Sequence[Path]:
        """GGUF weights in shard order."""
        ...

    @property
    def safetensors_paths(self) -> Sequence[Path]: ...

    @property
    def dduf_paths(self) -> Sequence[Path]: ...

    @property
    def mmproj_path(self) -> Path | None: ...

    @property
    def chat_template_path(self) -> Path | None: ...


@runtime_checkable
class ModelBundle(Protocol):
    """A model unpacked into the layout a runtime reads (``model/``, ``config.json``)."""

    @property
    def root(self) -> Path: ...

    @property
    def config(self) -> ModelConfig: ...

    @property
    def runtime_config(self) -> ModelConfig:
        """What the runtime reads from ``config.json``."""
        ...

    @property
    def gguf_path(self) -> Path | None:
        """The first GGUF file (a runtime finds the other shards beside it)."""
        ...

    @property
    def safetensors_path(self) -> Path | None: ...

    @property
    def dduf_path(self) -> Path | None: ...

    @property
    def mmproj_path(self) -> Path | None: ...

    @property
    def chat_template_path(self) -> Path | None: ...
