"""Media types, each spelled once: OCI's, Docker's, Docker model format's and CNCF ModelPack's (REFERENCE.md
§1.2, §2.2, §3).

The format modules name them by role (``docker.WEIGHT_MEDIA_TYPES``, ``modelpack.WEIGHT``) and take the
values from here; everything else compares against these members.
"""

from __future__ import annotations

from enum import StrEnum

# The families a layer's media type belongs to, by prefix.
DOCKER_AI_PREFIX = "application/vnd.docker.ai."
CNCF_MODEL_PREFIX = "application/vnd.cncf.model."
CNAI_MODEL_PREFIX = "application/vnd.cnai.model."  # ModelPack's names before July 2025, still read


class MediaType(StrEnum):
    OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
    OCI_INDEX = "application/vnd.oci.image.index.v1+json"

    # Docker's image manifests, which a registry may answer with (they are not models).
    DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
    DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"

    DOCKER_CONFIG_V01 = "application/vnd.docker.ai.model.config.v0.1+json"
    DOCKER_CONFIG_V02 = "application/vnd.docker.ai.model.config.v0.2+json"
    DOCKER_GGUF = "application/vnd.docker.ai.gguf.v3"
    DOCKER_SAFETENSORS = "application/vnd.docker.ai.safetensors"
    DOCKER_DDUF = "application/vnd.docker.ai.dduf"
    DOCKER_LICENSE = "application/vnd.docker.ai.license"
    DOCKER_MMPROJ = "application/vnd.docker.ai.mmproj"
    DOCKER_CHAT_TEMPLATE = "application/vnd.docker.ai.chat.template.jinja"
    DOCKER_MODEL_FILE = "application/vnd.docker.ai.model.file"
    DOCKER_VLLM_CONFIG_TAR = "application/vnd.docker.ai.vllm.config.tar"
    DOCKER_DIR_TAR = "application/vnd.docker.ai.dir.tar"

    CNCF_MANIFEST = "application/vnd.cncf.model.manifest.v1+json"
    CNCF_CONFIG = "application/vnd.cncf.model.config.v1+json"
    CNCF_WEIGHT = "application/vnd.cncf.model.weight.v1.raw"
    CNCF_WEIGHT_CONFIG = "application/vnd.cncf.model.weight.config.v1.raw"
    CNCF_DOC = "application/vnd.cncf.model.doc.v1.raw"
    CNCF_CODE = "application/vnd.cncf.model.code.v1.raw"
    CNAI_MANIFEST = "application/vnd.cnai.model.manifest.v1+json"
    CNAI_CONFIG = "application/vnd.cnai.model.config.v1+json"

    # An OCI container image's config and layers (a modelcar is one), and Docker's (a base pulled from Docker Hub).
    OCI_IMAGE_CONFIG = "application/vnd.oci.image.config.v1+json"
    OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
    OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
    OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
    OCI_LAYER_NONDIST = "application/vnd.oci.image.layer.nondistributable.v1.tar"
    OCI_LAYER_NONDIST_GZIP = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
    OCI_LAYER_NONDIST_ZSTD = "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"
    DOCKER_IMAGE_CONFIG = "application/vnd.docker.container.image.v1+json"
    DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
    DOCKER_LAYER_FOREIGN = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"

    # Artifacts that refer to a model (OCI 1.1 ``subject``): a signature, a provenance statement, a bill of materials.
    OCI_EMPTY = "application/vnd.oci.empty.v1+json"
    SIGSTORE_BUNDLE = "application/vnd.dev.sigstore.bundle.v0.3+json"
    IN_TOTO = "application/vnd.in-toto+json"
    CYCLONEDX = "application/vnd.cyclonedx+json"


DOCKER_CONFIG_TYPES = frozenset({MediaType.DOCKER_CONFIG_V01, MediaType.DOCKER_CONFIG_V02})
MODELPACK_MANIFESTS = frozenset({MediaType.CNCF_MANIFEST, MediaType.CNAI_MANIFEST})
MODELPACK_CONFIGS = frozenset({MediaType.CNCF_CONFIG, MediaType.CNAI_CONFIG})
