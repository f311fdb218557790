"""A safetensors header reader: tensor names, dtypes, shapes and offsets, never tensor data.

A safetensors file is an 8-byte little-endian length ``N``, then ``N`` bytes of
UTF-8 JSON (an object, possibly right-padded with spaces), then the data
buffer (huggingface/safetensors; REFERENCE.md §5). Only the first ``8 + N``
bytes are read: the file is opened, 8 bytes are read, ``N`` is checked against
:data:`MAX_HEADER_SIZE` and the file's size *before* anything is allocated,
and then exactly ``N`` bytes are read. The file is never memory-mapped.

Every entry is checked the way the reference reader checks it (dtype a string,
shape a list of non-negative ints, ``data_offsets`` a ``[begin, end]`` pair
inside the data buffer, duplicate keys rejected), and each problem becomes a
:class:`SafetensorsError` naming the tensor and the byte offset where its entry
starts. Unknown dtype *names* are accepted, so new formats still read;
:func:`precision` maps the known ones to ModelPack's vocabulary.
"""

from __future__ import annotations

import json
import math
import re
import struct
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from modeloci.jsondoc import InvalidJSON, check_json

MAX_HEADER_SIZE = 100 * 1024 * 1024
METADATA_KEY = "__metadata__"

# REFERENCE.md §5. The MX formats (F8_E8M0, F4, F6_E2M3, F6_E3M2) have no
# ModelPack term, and the spec says to omit them rather than invent one.
PRECISION: dict[str, str] = {
    "F64": "float64", "F32": "float32", "F16": "float16", "BF16": "bfloat16",
    "F8_E4M3": "float8_e4m3", "F8_E5M2": "float8_e5m2",
    "I64": "int64", "I32": "int32", "I16": "int16", "I8": "int8",
    "U64": "uint64", "U32": "uint32", "U16": "uint16", "U8": "uint8",
    "BOOL": "bool", "C64": "complex64",
}

_PREFIX = struct.Struct("<Q")
_WHITESPACE = re.compile(r"[ \t\n\r]*")


class SafetensorsError(ValueError):
    """A file that is not a readable safetensors header; ``offset`` is the byte where the problem is."""

    def __init__(self, message: str, offset: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset


@dataclass(frozen=True, slots=True)
class Tensor:
    name: str
    dtype: str
    shape: tuple[int, ...]
    data_offsets: tuple[int, int]

    @property
    def parameters(self) -> int:
        """Π shape: a scalar (``[]``) is one parameter, a zero dimension makes none."""
        return math.prod(self.shape)


@dataclass(frozen=True, slots=True)
class SafetensorsHeader:
    tensors: tuple[Tensor, ...]
    metadata: dict[str, str]
    header_size: int
    file_size: int

    @property
    def parameter_count(self) -> int:
        return sum(t.parameters for t in self.tensors)

    @property
    def dtypes(self) -> tuple[str, ...]:
        """The distinct dtypes of the tensors, sorted."""
        return tuple(sorted({t.dtype for t in self.tensors}))

    @property
    def data_size(self) -> int:
        return self.file_size - 8 - self.header_size


def precision(dtypes: Iterable[str]) -> str | None:
    """ModelPack's ``precision`` for these dtypes: the known words, sorted and comma-joined, or None."""
    words = sorted({PRECISION[d] for d in dtypes if d in PRECISION})
    return ",".join(words) or None


def read_safetensors_header(path: Path, *, offset: int = 0, size: int | None = None) -> SafetensorsHeader:
    """Read the header of the safetensors file at ``path``; OSErrors propagate to the caller.

    ``offset`` and ``size`` read a file stored inside another (a blob in a tar archive).
    """
    with path.open("rb") as f:
        size = f.seek(0, 2) - offset if size is None else size
        f.seek(offset)
        length = _header_length(f.read(8), size)
        raw = f.read(length)
    if len(raw) < length:  # the file shrank between seek and read
        raise SafetensorsError(f"truncated: the header needs {length} bytes, but only {len(raw)} could be read", 8)
    return _parse(raw, size)


def parse_safetensors_header(data: bytes, file_size: int | None = None) -> SafetensorsHeader:
    """Like :func:`read_safetensors_header`, over bytes from the start of a file (for tests and fuzzing).

    ``data`` may stop after the header if ``file_size`` gives the whole file's size.
    """
    size = len(data) if file_size is None else file_size
    length = _header_length(data[:8], size)
    if len(data) < 8 + length:
        raise SafetensorsError(f"truncated: the header needs {length} bytes, but only {len(data) - 8} are given", 8)
    return _parse(data[8 : 8 + length], size)


def _header_length(prefix: bytes, file_size: int) -> int:
    """``N`` from the first 8 bytes, checked against the cap and the file before anything is read."""
    if file_size == 0:
        raise SafetensorsError("the file is empty", 0)
    if len(prefix) < 8 or file_size < 8:
        raise SafetensorsError(f"truncated: {min(file_size, len(prefix))} bytes is too short for a safetensors "
                               "header, which starts with an 8-byte length", 0)
    length: int = _PREFIX.unpack(prefix)[0]  # struct types it as Any; the format ("<Q") makes it an integer
    if length > MAX_HEADER_SIZE:
        raise SafetensorsError(f"the header length is {length} bytes; at most {MAX_HEADER_SIZE} are allowed", 0)
    if length > file_size - 8:
        raise SafetensorsError(f"the header length is {length} bytes, but only {file_size - 8} bytes "
                               "follow the length field", 0)
    return length


def _parse(raw: bytes, file_size: int) -> SafetensorsHeader:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SafetensorsError(f"the header is not valid UTF-8: {exc.reason}", 8 + exc.start) from None
    if not text.startswith("{"):
        raise SafetensorsError("the header is not a JSON object: it does not start with `{`", 8)
    data_size = file_size - 8 - len(raw)
    metadata: dict[str, str] = {}
    tensors: list[Tensor] = []
    for name, value, pos in _entries(text):
        try:
            if name == METADATA_KEY:
                metadata = _metadata(value)
            else:
                tensors.append(_tensor(name, value, data_size))
        except _Invalid as exc:
            # The byte offset is worked out only here: doing it for every entry would be quadratic.
            raise _json_error(text, pos, exc.message) from None
    return SafetensorsHeader(tuple(tensors), metadata, len(raw), file_size)


class _DuplicateKey(Exception):
    def __init__(self, key: str) -> None:
        self.key = key


class _Invalid(Exception):
    """An entry that is valid JSON but not a valid tensor or metadata entry; placed by the caller."""

    def __init__(self, message: str) -> None:
        self.message = message


def _no_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    result: dict[str, object] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(key)
        result[key] = value
    return result


_DECODER = json.JSONDecoder(object_pairs_hook=_no_duplicates)


def _entries(text: str) -> list[tuple[str, object, int]]:
    """The top-level ``(key, value, character position of the value)`` triples, in file order.

    The outer object is walked by hand, rather than given to ``json.loads``
    whole, so that each error can point at the entry it is about.
    """
    entries: list[tuple[str, object, int]] = []
    seen: set[str] = set()
    pos = _skip(text, 1)
    if text.startswith("}", pos):
        return _end(text, pos + 1, entries)
    while True:
        key_start = pos
        key, pos = _decode(text, pos, "a tensor name")
        if not isinstance(key, str):
            raise _json_error(text, key_start, "the header is not valid JSON: expected a tensor name (a string)")
        if key in seen:
            raise _json_error(text, key_start, f"tensor `{key}` appears twice in the header")
        seen.add(key)
        pos = _expect(text, _skip(text, pos), ":")
        start = _skip(text, pos)
        value, pos = _decode(text, start, f"the entry `{key}`")
        entries.append((key, value, start))
        pos = _skip(text, pos)
        if text.startswith("}", pos):
            return _end(text, pos + 1, entries)
        pos = _skip(text, _expect(text, pos, ","))


def _decode(text: str, pos: int, what: str) -> tuple[object, int]:
    try:
        value, end = _DECODER.raw_decode(text, pos)
        # A "\\udfff" escape is valid JSON but not Unicode: such a name could not be written or shown again.
        check_json(value, what, max_depth=sys.getrecursionlimit())
        return value, end
    except InvalidJSON as exc:
        raise _json_error(text, pos, str(exc)) from None
    except _DuplicateKey as dup:
        raise _json_error(text, pos, f"{what} has the key `{dup.key}` twice") from None
    except json.JSONDecodeError as exc:
        raise _json_error(text, exc.pos, f"the header is not valid JSON: {exc.msg.lower()} in {what}") from None
    # Hostile headers: Python's JSON decoder recurses per nesting level and
    # refuses integers of more than 4300 digits; neither is a valid header.
    except RecursionError:
        raise _json_error(text, pos, f"{what} nests too deeply") from None
    except ValueError:
        raise _json_error(text, pos, f"{what} holds a number with too many digits") from None


def _skip(text: str, pos: int) -> int:
    match = _WHITESPACE.match(text, pos)
    assert match is not None  # the pattern matches the empty string
    return match.end()


def _expect(text: str, pos: int, char: str) -> int:
    if not text.startswith(char, pos):
        found = repr(text[pos]) if pos < len(text) else "the end of the header"
        raise _json_error(text, pos, f"the header is not valid JSON: expected `{char}`, found {found}")
    return pos + 1


def _end(text: str, pos: int, entries: list[tuple[str, object, int]]) -> list[tuple[str, object, int]]:
    # Writers pad the JSON with spaces to align the data; anything else after `}` is corrupt.
    rest = _skip(text, pos)
    if rest < len(text):
        raise _json_error(text, rest, "the header has data after its closing `}`")
    return entries


def _json_error(text: str, pos: int, message: str) -> SafetensorsError:
    return SafetensorsError(message, 8 + len(text[:pos].encode("utf-8")))


def _metadata(value: object) -> dict[str, str]:
    # The reference reader types this as Option<HashMap<String, String>>, so null means none.
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _Invalid(f"`{METADATA_KEY}` must be a map of strings, not {_kind(value)}")
    metadata: dict[str, str] = {}
    for key, item in value.items():
        if not isinstance(item, str):
            raise _Invalid(f"`{METADATA_KEY}` must be a map of strings, but `{key}` is {_kind(item)}")
        metadata[key] = item
    return metadata


def _tensor(name: str, entry: object, data_size: int) -> Tensor:
    def fail(problem: str) -> _Invalid:
        return _Invalid(f"tensor `{name}`: {problem}")

    if not isinstance(entry, dict):
        raise fail(f"expected an object with `dtype`, `shape` and `data_offsets`, found {_kind(entry)}")
    for key in ("dtype", "shape", "data_offsets"):
        if key not in entry:
            raise fail(f"`{key}` is missing")
    dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if not isinstance(dtype, str) or not dtype:
        raise fail(f"`dtype` must be a non-empty string, not {_kind(dtype)}")
    if not isinstance(shape, list) or not all(_is_int(d) and d >= 0 for d in shape):
        raise fail(f"`shape` must be a list of non-negative integers, not {_show(shape)}")
    if not isinstance(offsets, list) or len(offsets) != 2 or not all(_is_int(o) for o in offsets):
        raise fail(f"`data_offsets` must be a pair of integers [begin, end], not {_show(offsets)}")
    begin, end = offsets
    if not 0 <= begin <= end:
        raise fail(f"`data_offsets` [{begin}, {end}] must satisfy 0 <= begin <= end")
    if end > data_size:
        raise fail(f"`data_offsets` [{begin}, {end}] end beyond the data, which is {data_size} bytes")
    return Tensor(name, dtype, tuple(shape), (begin, end))


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _kind(value: object) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "a number",
             float: "a number", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def _show(value: object) -> str:
    try:
        text = json.dumps(value)
    except RecursionError:
        # A value nested almost as deep as the decoder allows can be too deep
        # to encode again from here (found by tests/model/test_fuzz_headers.py).
        return _kind(value)
    return f"`{text}`" if len(text) <= 40 else _kind(value)
