"""What a model's config says, in each format: Docker's fields, ModelPack's sections, a modelcar's labels.

Each class reads one format's config document as the :class:`~modeloci.formats.artifact.ModelConfig`
protocol (format, context size, size, architecture, parameters, quantization), whatever else the document holds.
The three differ only in where the facts lie (:attr:`_Config.fields`), the names they go by (``_KEYS``), and
how a size and a context size are known; reading a fact (a non-empty string, else None) is shared.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from modeloci.formats import modelcar
from modeloci.formats.docker_meta import gguf_bytes


def _section(doc: dict[str, Any], name: str) -> dict[str, Any]:
    value = doc.get(name)
    return value if isinstance(value, dict) else {}


@dataclass(frozen=True, slots=True)
class _Config:
    """A config document; subclasses say where its facts are and what they are called."""

    doc: dict[str, Any]
    # The key of each text fact in :attr:`fields`: format, architecture, parameters, quantization.
    _KEYS: ClassVar[dict[str, str]] = {"format": "format", "architecture": "architecture",
                                       "parameters": "parameters", "quantization": "quantization"}

    @property
    def fields(self) -> dict[str, Any]:
        """Where the facts lie: the document's ``config`` object (Docker's and ModelPack's); a modelcar's are its
        labels."""
        return _section(self.doc, "config")

    def _text(self, key: str) -> str | None:
        value = self.fields.get(key)
        return value if isinstance(value, str) and value else None

    @property
    def format(self) -> str | None:
        return self._text(self._KEYS["format"])

    @property
    def architecture(self) -> str | None:
        return self._text(self._KEYS["architecture"])

    @property
    def parameters(self) -> str | None:
        return self._text(self._KEYS["parameters"])

    @property
    def quantization(self) -> str | None:
        return self._text(self._KEYS["quantization"])


@dataclass(frozen=True, slots=True)
class DockerConfig(_Config):
    """Docker Model Runner's config (v0.1 and v0.2 share it)."""

    @property
    def context_size(self) -> int | None:
        value = self.fields.get("context_size")
        return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None

    @property
    def size(self) -> str | None:
        return self._text("size")

    @property
    def created(self) -> str | None:
        descriptor = self.doc.get("descriptor")
        return descriptor.get("created") if isinstance(descriptor, dict) else None


@dataclass(frozen=True, slots=True)
class _WeighedConfig(_Config):
    """A config that records no size of its own: the size shown is the weight layers' (``weight_bytes``)."""

    weight_bytes: int = 0

    @property
    def size(self) -> str | None:
        return gguf_bytes(self.weight_bytes) if self.weight_bytes else None


@dataclass(frozen=True, slots=True)
class ModelPackConfig(_WeighedConfig):
    """A CNCF ModelPack config (``descriptor``, ``modelfs``, ``config``)."""

    _KEYS: ClassVar[dict[str, str]] = {**_Config._KEYS, "parameters": "paramSize"}

    @property
    def descriptor(self) -> dict[str, Any]:
        return _section(self.doc, "descriptor")

    @property
    def context_size(self) -> int | None:
        return None  # ModelPack has no such field


@dataclass(frozen=True, slots=True)
class ModelcarConfig(_WeighedConfig):
    """A modelcar's image config: the model's facts are its labels (:func:`modelcar.fact_labels`)."""

    _KEYS: ClassVar[dict[str, str]] = {"format": modelcar.LABEL_FORMAT, "architecture": modelcar.LABEL_ARCHITECTURE,
                                       "parameters": modelcar.LABEL_PARAM_SIZE,
                                       "quantization": modelcar.LABEL_QUANTIZATION}

    @property
    def labels(self) -> dict[str, str]:
        labels = _section(self.doc, "config").get("Labels")
        return {k: v for k, v in labels.items() if isinstance(v, str)} if isinstance(labels, dict) else {}

    @property
    def fields(self) -> dict[str, Any]:
        return self.labels

    @property
    def context_size(self) -> int | None:
        text = self._text(modelcar.LABEL_CONTEXT_SIZE)
        value = int(text) if text is not None and text.isascii() and text.isdigit() and len(text) <= 10 else 0
        return value if 0 < value <= 2**31 - 1 else None

    @property
    def platform(self) -> str:
        """``os/architecture[/variant]`` as the config states it."""
        parts = [self.doc.get("os"), self.doc.get("architecture"), self.doc.get("variant")]
        return "/".join(part for part in parts if isinstance(part, str) and part)
