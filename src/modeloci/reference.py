"""Image references given to ``-t``: checked and normalised (``name`` becomes ``name:latest``).

The grammar is Docker's: an optional registry host (with port), slash-separated
lowercase path components, an optional tag. Registry issues add digests and
``docker.io`` normalisation.
"""

from __future__ import annotations

import re

from modeloci.errors import UsageError

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_HOST = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?/)"
_TAG = r"[\w][\w.-]{0,127}"
_REFERENCE = re.compile(rf"(?P<name>{_HOST}?{_COMPONENT}(?:/{_COMPONENT})*)(?::(?P<tag>{_TAG}))?\Z")


def normalise_tag(text: str) -> str:
    """``NAME[:TAG]`` checked, with ``:latest`` added when no tag is given."""
    match = _REFERENCE.match(text)
    if not match or len(match["name"]) > 255:
        raise UsageError(
            f"invalid model name `{text}`",
            hint="use NAME[:TAG] with a lowercase name, for example `ai/smollm2:360M-Q4_K_M`",
        )
    return f"{match['name']}:{match['tag'] or 'latest'}"
