"""What a runtime reads, as the seed's types: a stored model's files in place, and an unpacked bundle.

- :class:`StoredFiles` is a :class:`~modeloci.formats.artifact.Model`: a model
  in the local store whose blobs a runtime loads where they lie (llama.cpp's
  ``-m`` takes the first GGUF shard). It is the :class:`ModelFiles` answer,
  plus Docker Model Runner's ``types.Model`` accessors (id, tags, descriptor,
  GGUF, safetensors and DDUF paths, projector, chat template).
- :class:`Bundle` is a :class:`~modeloci.formats.artifact.ModelBundle`: the
  folder ``unpack`` writes, whose files are found by name as Docker Model
  Runner finds them when it reads a bundle again (REFERENCE.md §1.10): the
  first top-level ``*.gguf`` that is not a projector, the projector
  (``*.mmproj`` or ``*mmproj*.gguf``), the one top-level ``*.jinja``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import PrivateAttr

from modeloci.errors import ArchiveError, describe_os_error
from modeloci.formats.artifact import Artifact, ModelLayer
from modeloci.formats.configs import DockerConfig, ModelcarConfig, ModelPackConfig
from modeloci.formats.roles import Role
from modeloci.formats.select import WHOLE, Selection
from modeloci.jsondoc import InvalidJSON, load_json
from modeloci.oci.mediatypes import MediaType
from modeloci.store import Store
from modeloci.store.ops import ModelFiles, stored_model

# A weight layer's file format: by its Docker media type, else (ModelPack's generic weights) by its name.
_WEIGHT_KINDS: dict[str, str] = {MediaType.DOCKER_GGUF: "gguf", MediaType.DOCKER_SAFETENSORS: "safetensors",
                                 MediaType.DOCKER_DDUF: "dduf"}
# config.json of a bundle is a few hundred bytes; one far larger is not a bundle's.
MAX_BUNDLE_CONFIG = 1 << 20


def weight_kind(layer: ModelLayer) -> str | None:
    """``gguf``, ``safetensors`` or ``dduf`` for a weight layer (None for another file, or a projector)."""
    if layer.role is not Role.WEIGHTS:
        return None
    kind = _WEIGHT_KINDS.get(layer.descriptor.media_type)
    if kind is not None:
        return kind
    suffix = layer.filepath.rsplit(".", 1)[-1].lower() if "." in layer.filepath else ""
    return suffix if suffix in ("gguf", "safetensors", "dduf") else None


class StoredFiles(ModelFiles):
    """A stored model's files in place (blobs named by digest, shared, never to be written to): the seed's
    ``Model``. ``tags`` are every name the store gives this manifest."""

    tags: list[str]
    _artifact: Artifact = PrivateAttr()
    _blobs: Path = PrivateAttr()

    @classmethod
    def of(cls, store: Store, reference: str, selection: Selection = WHOLE) -> StoredFiles:
        """The stored model ``reference`` (``NAME:TAG``), the layers ``selection`` takes; UsageError when there is
        none (or a model pulled in part lacks them), ArchiveError when its layers are tars (their blobs are not the
        files)."""
        model = stored_model(store, reference, selection)
        digest = model.artifact.manifest.digest
        tags = sorted(e.reference for e in store.entries() if e.descriptor.digest == digest)
        found = cls(**dict(model.files()), tags=tags)
        found._artifact = model.artifact
        found._blobs = store.blobs
        return found

    @property
    def id(self) -> str:
        """The manifest's digest, as Docker Model Runner names a model."""
        return self.digest

    @property
    def artifact(self) -> Artifact:
        return self._artifact

    @property
    def descriptor(self) -> dict[str, Any]:
        """The config's provenance object: Docker's ``{"created": ...}``, ModelPack's ``{"name": ..., ...}``."""
        found = self._artifact.config.doc.get("descriptor")
        return dict(found) if isinstance(found, dict) else {}

    def paths(self, role: Role) -> list[Path]:
        """The blobs of the layers of ``role``, in layer order (GGUF shards in shard order)."""
        return [self._blobs / layer.descriptor.digest.hex for layer in self._artifact.layers if layer.role is role]

    def _weights(self, kind: str) -> list[Path]:
        return [self._blobs / layer.descriptor.digest.hex for layer in self._artifact.layers
                if weight_kind(layer) == kind]

    @property
    def gguf_paths(self) -> list[Path]:
        """GGUF weights in shard order: a runtime opens the first and finds the rest by the set's order."""
        return self._weights("gguf")

    @property
    def safetensors_paths(self) -> list[Path]:
        return self._weights("safetensors")

    @property
    def dduf_paths(self) -> list[Path]:
        return self._weights("dduf")

    @property
    def mmproj_path(self) -> Path | None:
        return self.mmproj

    @property
    def chat_template_path(self) -> Path | None:
        return self.chat_template


@dataclass(frozen=True, slots=True)
class Bundle:
    """A model unpacked for a runtime: the seed's ``ModelBundle``.

    ``root`` is the folder unpacked into; ``model_dir`` the folder holding the
    model's files (``root/model`` in Docker Model Runner's layout, ``root``
    itself for ``--layout files``); ``config`` the runtime config
    (``config.json`` of a bundle, the artifact's config for ``files``).
    """

    root: Path
    model_dir: Path
    config: DockerConfig | ModelPackConfig | ModelcarConfig
    gguf_path: Path | None
    safetensors_path: Path | None
    dduf_path: Path | None
    mmproj_path: Path | None
    chat_template_path: Path | None

    @property
    def runtime_config(self) -> DockerConfig | ModelPackConfig | ModelcarConfig:
        return self.config


def find_bundle(root: Path, model_dir: Path, config: DockerConfig | ModelPackConfig | ModelcarConfig) -> Bundle:
    """The bundle at ``root`` whose model files are in ``model_dir``, found by their names as a runtime finds
    them. Several top-level templates give none: Docker Model Runner refuses to choose."""
    names = sorted(p.name for p in model_dir.iterdir() if p.is_file()) if model_dir.is_dir() else []

    def first(test: Callable[[str], bool]) -> Path | None:
        return next((model_dir / n for n in names if test(n)), None)

    templates = [n for n in names if n.endswith(".jinja")]
    return Bundle(
        root=root,
        model_dir=model_dir,
        config=config,
        gguf_path=first(lambda n: n.endswith(".gguf") and "mmproj" not in n.lower()),
        safetensors_path=first(lambda n: n.endswith(".safetensors")),
        dduf_path=first(lambda n: n.endswith(".dduf")),
        mmproj_path=first(lambda n: n.endswith(".mmproj") or (n.endswith(".gguf") and "mmproj" in n.lower())),
        chat_template_path=model_dir / templates[0] if len(templates) == 1 else None,
    )


def open_bundle(root: Path) -> Bundle:
    """The runtime bundle unpacked at ``root`` (``config.json`` and ``model/``), read again as a runtime reads it;
    ArchiveError when ``root`` holds none."""
    try:
        fields = load_json(_config_bytes(root), "config.json")
    except InvalidJSON as exc:
        raise _not_a_bundle(root, str(exc)) from None
    if not isinstance(fields, dict) or not (root / "model").is_dir():
        raise _not_a_bundle(root, "it needs config.json (a JSON object) and model/")
    return find_bundle(root, root / "model", DockerConfig({"config": fields}))


def _config_bytes(root: Path) -> bytes:
    """``root/config.json``, read to at most :data:`MAX_BUNDLE_CONFIG` bytes."""
    try:
        with (root / "config.json").open("rb") as f:
            data = f.read(MAX_BUNDLE_CONFIG + 1)
    except OSError as exc:
        raise _not_a_bundle(root, f"reading config.json: {describe_os_error(exc)}") from exc
    if len(data) > MAX_BUNDLE_CONFIG:
        raise _not_a_bundle(root, f"its config.json is over {MAX_BUNDLE_CONFIG} bytes")
    return data


def _not_a_bundle(root: Path, why: str) -> ArchiveError:
    return ArchiveError(f"`{root}` is not a model bundle: {why}", path=str(root),
                        hint="unpack a model into a new folder with `modeloci unpack MODEL -o DIR`")
