"""What a layer of a model is for, whatever the format calls it."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """A layer's job; each format maps roles to its own media types."""

    WEIGHTS = "weights"
    MODEL_FILE = "model_file"
    LICENSE = "license"
    CHAT_TEMPLATE = "chat_template"
    MMPROJ = "mmproj"
    OTHER = "other"
