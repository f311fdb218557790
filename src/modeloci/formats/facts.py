"""What the weights say about a model, before any format spells it out.

Docker's config and ModelPack's describe the same facts (architecture,
parameter count, precision or quantization, name, license) in different
words; each format builds its fields from these.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from modeloci.formats import docker_meta as meta
from modeloci.model.gguf import GGUFHeader
from modeloci.model.hfdir import HFConfig
from modeloci.model.safetensors import SafetensorsHeader


@dataclass(frozen=True, slots=True)
class ModelFacts:
    format: str  # gguf | safetensors | dduf
    parameter_count: int | None = None
    dtypes: tuple[str, ...] = ()
    file_type: int | None = None  # GGUF general.file_type
    architecture: str | None = None
    name: str | None = None
    license: str | None = None

    @property
    def file_type_name(self) -> str | None:
        """The llama.cpp name of the GGUF file type (``Q4_K_M``), if known."""
        return meta.FILE_TYPE_NAMES.get(self.file_type) if self.file_type is not None else None


def gguf_facts(headers: Sequence[GGUFHeader]) -> ModelFacts:
    merged = meta.merged_metadata(headers)
    file_type = merged.get("general.file_type")
    name, license_ = merged.get("general.name"), merged.get("general.license")
    return ModelFacts(
        format="gguf",
        parameter_count=sum(h.parameter_count for h in headers),
        file_type=file_type if isinstance(file_type, int) and not isinstance(file_type, bool) else None,
        architecture=meta.gguf_architecture(merged, headers),
        name=meta.go_trim(name) if isinstance(name, str) and name.strip() else None,
        license=meta.go_trim(license_) if isinstance(license_, str) and license_.strip() else None,
    )


def safetensors_facts(headers: Sequence[SafetensorsHeader], hf: HFConfig | None) -> ModelFacts:
    metadata = {k: v for h in headers for k, v in h.metadata.items()}
    return ModelFacts(
        format="safetensors",
        parameter_count=sum(h.parameter_count for h in headers),
        dtypes=tuple(sorted({t.dtype for h in headers for t in h.tensors})),
        architecture=metadata.get("architecture") or (hf.model_type if hf else None),
    )
