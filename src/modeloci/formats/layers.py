"""A layer's media type and annotations in each format, and carrying a layer from one format to the other.

The model formats describe a layer by its role and its path; they differ in media
type names and in the annotations they carry (Docker adds
``org.cncf.model.file.mediatype.untested`` to every layer, ModelPack layers
carry path and file metadata only). The bytes, and so the digest, never change
between those two. A modelcar's layer is a tar around the file (:mod:`.modelcar`):
every file has the one tar layer media type, and its role is an annotation.
"""

# No `from __future__ import annotations`: its name would clash with :func:`annotations` (every annotation here
# is valid at run time).
from collections.abc import Mapping

from modeloci.formats import docker, modelcar, modelpack
from modeloci.formats.roles import Role

FORMATS = ("docker", "modelpack", "modelcar")


def media_type(role: Role, target: str, weight_format: str, filepath: str = "") -> str:
    """The media type of a layer of ``role`` (at ``filepath`` in the artifact) in ``target`` format.

    Docker gives every file that is not weights, a license, a chat template or
    a projector one type (``model.file``); ModelPack tells a model file's code,
    documents and configs apart by its name.
    """
    if target == "modelcar":
        return modelcar.LAYER
    if target == "modelpack":
        if role is Role.MODEL_FILE and filepath:
            return modelpack.file_media_type(filepath)
        return modelpack.ROLE_MEDIA_TYPES[role.value]
    if role is Role.WEIGHTS:
        return str(docker.WEIGHT_MEDIA_TYPES.get(weight_format, docker.WEIGHT_MEDIA_TYPES["gguf"]))
    if role is Role.OTHER:
        return str(docker.ROLE_MEDIA_TYPES["model_file"])
    return str(docker.ROLE_MEDIA_TYPES[role.value])


def annotations(filepath: str, size: int, mtime: int, target: str, role: Role = Role.OTHER) -> dict[str, str]:
    """The annotations of a new layer made from a file of ``size`` bytes (a modelcar's records ``role``)."""
    if target == "modelcar":
        return modelcar.layer_annotations(filepath, size, mtime, role)
    if target == "modelpack":
        return modelpack.layer_annotations(filepath, size, mtime)
    return docker.layer_annotations(filepath, size, mtime)


def carry_annotations(existing: Mapping[str, str], filepath: str, target: str) -> dict[str, str]:
    """A carried layer's annotations in ``target`` format: path, metadata and title kept, legacy keys renamed."""
    out = {docker.ANNOTATION_FILEPATH: filepath}
    for key in modelpack.METADATA_KEYS:
        if key in existing:
            out[docker.ANNOTATION_METADATA] = existing[key]
            break
    if target == "docker":
        out[docker.ANNOTATION_UNTESTED] = existing.get(docker.ANNOTATION_UNTESTED, "false")
    return docker.titled(out, existing, filepath)
