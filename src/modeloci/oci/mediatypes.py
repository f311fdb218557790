"""Media types: OCI's, Docker model format's and CNCF ModelPack's (REFERENCE.md §1.2, §2.2, §3)."""

from __future__ import annotations

from enum import StrEnum


class MediaType(StrEnum):
    OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
    OCI_INDEX = "application/vnd.oci.image.index.v1+json"
    OCI_LAYOUT_HEADER = "application/vnd.oci.layout.header.v1+json"

    DOCKER_CONFIG_V01 = "application/vnd.docker.ai.model.config.v0.1+json"
    DOCKER_CONFIG_V02 = "application/vnd.docker.ai.model.config.v0.2+json"
    DOCKER_GGUF = "application/vnd.docker.ai.gguf.v3"
    DOCKER_SAFETENSORS = "application/vnd.docker.ai.safetensors"
    DOCKER_DDUF = "application/vnd.docker.ai.dduf"
    DOCKER_LICENSE = "application/vnd.docker.ai.license"
    DOCKER_MMPROJ = "application/vnd.docker.ai.mmproj"
    DOCKER_CHAT_TEMPLATE = "application/vnd.docker.ai.chat.template.jinja"
    DOCKER_MODEL_FILE = "application/vnd.docker.ai.model.file"

    CNCF_MANIFEST = "application/vnd.cncf.model.manifest.v1+json"
    CNCF_CONFIG = "application/vnd.cncf.model.config.v1+json"


DOCKER_CONFIG_TYPES = frozenset({MediaType.DOCKER_CONFIG_V01, MediaType.DOCKER_CONFIG_V02})
