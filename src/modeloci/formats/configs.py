"""What a model's config says, in each format: Docker's fields, ModelPack's sections, a modelcar's labels.

Each class reads one format's config document as the :class:`~modeloci.formats.artifact.ModelConfig`
protocol (format, context size, size, architecture, parameters, quantization), whatever else the document holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modeloci.formats import modelcar
from modeloci.formats.docker_meta import gguf_bytes


@dataclass(frozen=True, slots=True)
class DockerConfig:
    """Docker Model Runner's config (v0.1 and v0.2 share it)."""

    doc: dict[str, Any]

    @property
    def fields(self) -> dict[str, Any]:
        config = self.doc.get("config")
        return config if isinstance(config, dict) else {}

    def _text(self, key: str) -> str | None:
        value = self.fields.get(key)
        return value if isinstance(value, str) and value else None

    @property
    def format(self) -> str | None:
        return self._text("format")

    @property
    def context_size(self) -> int | None:
        value = self.fields.get("context_size")
        return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None

    @property
    def size(self) -> str | None:
        return self._text("size")

    @property
    def architecture(self) -> str | None:
        return self._text("architecture")

    @property
    def parameters(self) -> str | None:
        return self._text("parameters")

    @property
    def quantization(self) -> str | None:
        return self._text("quantization")

    @property
    def created(self) -> str | None:
        descriptor = self.doc.get("descriptor")
        return descriptor.get("created") if isinstance(descriptor, dict) else None


@dataclass(frozen=True, slots=True)
class ModelPackConfig:
    """A CNCF ModelPack config (``descriptor``, ``modelfs``, ``config``)."""

    doc: dict[str, Any]
    weight_bytes: int = 0

    def _section(self, name: str) -> dict[str, Any]:
        value = self.doc.get(name)
        return value if isinstance(value, dict) else {}

    @property
    def descriptor(self) -> dict[str, Any]:
        return self._section("descriptor")

    @property
    def fields(self) -> dict[str, Any]:
        return self._section("config")

    def _text(self, key: str) -> str | None:
        value = self.fields.get(key)
        return value if isinstance(value, str) and value else None

    @property
    def format(self) -> str | None:
        return self._text("format")

    @property
    def context_size(self) -> int | None:
        return None  # ModelPack has no such field

    @property
    def size(self) -> str | None:
        return gguf_bytes(self.weight_bytes) if self.weight_bytes else None

    @property
    def architecture(self) -> str | None:
        return self._text("architecture")

    @property
    def parameters(self) -> str | None:
        return self._text("paramSize")

    @property
    def quantization(self) -> str | None:
        return self._text("quantization")


@dataclass(frozen=True, slots=True)
class ModelcarConfig:
    """A modelcar's image config: the model's facts are its labels (:func:`modelcar.fact_labels`)."""

    doc: dict[str, Any]
    weight_bytes: int = 0

    @property
    def labels(self) -> dict[str, str]:
        inner = self.doc.get("config")
        labels = inner.get("Labels") if isinstance(inner, dict) else None
        return {k: v for k, v in labels.items() if isinstance(v, str)} if isinstance(labels, dict) else {}

    @property
    def fields(self) -> dict[str, Any]:
        return self.labels

    def _text(self, key: str) -> str | None:
        return self.labels.get(key) or None

    @property
    def format(self) -> str | None:
        return self._text(modelcar.LABEL_FORMAT)

    @property
    def context_size(self) -> int | None:
        text = self._text(modelcar.LABEL_CONTEXT_SIZE)
        value = int(text) if text is not None and text.isascii() and text.isdigit() and len(text) <= 10 else 0
        return value if 0 < value <= 2**31 - 1 else None

    @property
    def size(self) -> str | None:
        return gguf_bytes(self.weight_bytes) if self.weight_bytes else None

    @property
    def architecture(self) -> str | None:
        return self._text(modelcar.LABEL_ARCHITECTURE)

    @property
    def parameters(self) -> str | None:
        return self._text(modelcar.LABEL_PARAM_SIZE)

    @property
    def quantization(self) -> str | None:
        return self._text(modelcar.LABEL_QUANTIZATION)

    @property
    def platform(self) -> str:
        """``os/architecture[/variant]`` as the config states it."""
        parts = [self.doc.get("os"), self.doc.get("architecture"), self.doc.get("variant")]
        return "/".join(part for part in parts if isinstance(part, str) and part)
