"""Where a rebuilt model differs from the model it was meant to reproduce (``verify --rebuild``).

In this order: layer by layer (a layer only one side has; its place among the
layers both have; its digest, size, media type and annotations), then the
config field by field (dotted keys: ``config.context_size``), then the
manifest's own fields a build sets and its annotations; a note when only the
bytes differ (another tool wrote the same fields). Values are JSON, shortened
to :data:`SHORT` characters; callers bound how many they take.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from itertools import chain
from typing import Any, Literal

from pydantic import BaseModel

from modeloci.formats.artifact import Artifact, filepath_of
from modeloci.jsondoc import InvalidJSON, load_json
from modeloci.oci.manifest import Descriptor, Manifest

__all__ = ["SHORT", "Difference", "config_doc", "differences"]

SHORT = 80  # characters of a value shown in a difference
CONTEXT = 24  # characters shown before the first that differs, when values are cut

Part = Literal["base", "layer", "config", "manifest"]


class Difference(BaseModel):
    """One way the rebuild differs from TARGET: its FROM ``base`` (``name`` as the Modelfile names it), a
    ``layer`` (``name`` its path; ``field`` what differs, None when the layer is on one side only), the ``config``
    (``name`` the dotted key) or the ``manifest`` itself (``name`` a field or ``annotations.KEY``). Values are
    JSON, shortened; None where a side has none."""

    part: Part
    name: str
    field: str | None
    target: str | None
    rebuilt: str | None
    message: str


def config_doc(data: bytes, what: str) -> dict[str, Any]:
    """A config as a JSON object; {} when it is not one (read_artifact refused those already)."""
    try:
        doc = load_json(data, what)
    except InvalidJSON:
        return {}
    return doc if isinstance(doc, dict) else {}


def differences(target: Artifact, manifest: Manifest, config: bytes) -> Iterator[Difference]:
    """How the rebuilt ``manifest`` and ``config`` bytes differ from ``target``: layers,
    then config fields, then the manifest's own fields and annotations; one note if only the bytes differ."""
    found = False
    for difference in chain(_layers(target.manifest.layers, manifest.layers),
                             _config(target.config_bytes, config),
                             _manifest(target.manifest, manifest)):
        found = True
        yield difference
    if not found:
        yield Difference(part="manifest", name="bytes", field=None, target=None, rebuilt=None,
                         message="the manifests hold the same fields in other bytes (another tool wrote TARGET's)")


def _layers(target: Sequence[Descriptor], rebuilt: Sequence[Descriptor]) -> Iterator[Difference]:
    """Layers matched by path (a layer without one by its number): those only one side has, those whose
    place among the shared ones moved, and each shared one's differing fields; in TARGET's order."""
    ours, theirs = _keyed(rebuilt), _keyed(target)
    shared_t = [k for k in theirs if k in ours]
    shared_r = [k for k in ours if k in theirs]
    for key, d in theirs.items():
        if key not in ours:
            yield _one_side(key, d, "TARGET")
            continue
        if shared_t.index(key) != shared_r.index(key):
            yield _layer(key, "position", shared_t.index(key) + 1, shared_r.index(key) + 1)
        yield from _layer_fields(key, d, ours[key])
    for key, d in ours.items():
        if key not in theirs:
            yield _one_side(key, d, "the rebuild")


def _keyed(layers: Sequence[Descriptor]) -> dict[str, Descriptor]:
    """Layers by path; a second layer at one path, or one with no path, by ``path#N`` (N its number)."""
    out: dict[str, Descriptor] = {}
    for n, d in enumerate(layers, 1):
        path = filepath_of(d)
        out[path if path is not None and path not in out else f"{path or 'layer'}#{n}"] = d
    return out


def _one_side(key: str, d: Descriptor, side: str) -> Difference:
    """A layer only one side has: its digest on that side."""
    in_target = side == "TARGET"
    return Difference(part="layer", name=key, field=None, target=str(d.digest) if in_target else None,
                      rebuilt=None if in_target else str(d.digest), message=f"layer `{key}` is only in {side}")


def _layer_fields(key: str, target: Descriptor, rebuilt: Descriptor) -> Iterator[Difference]:
    for name, ours, theirs in (("digest", str(rebuilt.digest), str(target.digest)), ("size", rebuilt.size, target.size),
                               ("mediaType", rebuilt.media_type, target.media_type)):
        if ours != theirs:
            yield _layer(key, name, theirs, ours)
    for name, theirs_value, ours_value in _pairs(target.annotations, rebuilt.annotations):
        yield _layer(key, f"annotations.{name}", theirs_value, ours_value)


def _layer(key: str, field: str, target: Any, rebuilt: Any) -> Difference:
    return _difference("layer", key, field, target, rebuilt, f"layer `{key}`: {field}")


def _config(target: bytes, rebuilt: bytes) -> Iterator[Difference]:
    """The configs' fields, flattened to dotted keys (``config.context_size``), in TARGET's order."""
    theirs = _flat(config_doc(target, "TARGET's config"))
    ours = _flat(config_doc(rebuilt, "the rebuilt config"))
    for key, theirs_value, ours_value in _pairs(theirs, ours):
        yield _difference("config", key, None, theirs_value, ours_value, f"config `{key}`")


def _manifest(target: Manifest, rebuilt: Manifest) -> Iterator[Difference]:
    """The manifest's own fields a build sets (artifactType, the config's media type) and its annotations."""
    fields = (("artifactType", target.artifact_type, rebuilt.artifact_type),
              ("config.mediaType", target.config.media_type, rebuilt.config.media_type))
    for name, theirs, ours in fields:
        if theirs != ours:
            yield _difference("manifest", name, None, theirs, ours, f"manifest `{name}`")
    for key, theirs, ours in _pairs(target.annotations, rebuilt.annotations):
        yield _difference("manifest", f"annotations.{key}", None, theirs, ours, f"manifest annotation `{key}`")


_ABSENT = object()


def _pairs(theirs: Mapping[str, Any], ours: Mapping[str, Any]) -> Iterator[tuple[str, Any, Any]]:
    """``(key, TARGET's value, the rebuild's)`` for every key whose values differ (``_ABSENT`` where a side
    has none): TARGET's keys in order, then the rebuild's others."""
    for key in [*theirs, *(k for k in ours if k not in theirs)]:
        a, b = theirs.get(key, _ABSENT), ours.get(key, _ABSENT)
        if a != b or type(a) is not type(b):
            yield key, a, b


def _flat(doc: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """A JSON object as dotted keys to values (lists and empty objects are values). Its depth is bounded by the
    JSON reader's."""
    out: dict[str, Any] = {}
    for key, value in doc.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict) and value:
            out.update(_flat(value, name))
        else:
            out[name] = value
    return out


def _difference(part: Part, name: str, field: str | None, target: Any, rebuilt: Any, what: str) -> Difference:
    a, b = _shown(_text(target), _text(rebuilt))
    return Difference(part=part, name=name, field=field, target=a, rebuilt=b,
                      message=f"{what} is {a if a is not None else 'absent'} in TARGET, "
                              f"{b if b is not None else 'absent'} in the rebuild")


def _text(value: Any) -> str | None:
    """A value as JSON (a digest as it is); None when absent."""
    if value is _ABSENT:
        return None
    return value if isinstance(value, str) and value.startswith("sha256:") else json.dumps(value, ensure_ascii=False)


def _shown(a: str | None, b: str | None) -> tuple[str | None, str | None]:
    """Both values shortened to :data:`SHORT` characters. Two long values are shown from a little before where
    they part (the layers' file metadata differ deep inside), so the shortened texts never look alike."""
    start = 0
    if a is not None and b is not None and max(len(a), len(b)) > SHORT:
        same = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
        start = max(0, same - CONTEXT)
    return (None if a is None else _window(a, start)), (None if b is None else _window(b, start))


def _window(text: str, start: int) -> str:
    shown = ("…" if start else "") + text[start:]
    return shown if len(shown) <= SHORT else shown[:SHORT - 1] + "…"
