"""A streaming GGUF header reader: metadata and tensor infos, never tensor data.

The file is memory-mapped and walked with ``struct.unpack_from``, so only the
header's pages are touched, whatever the model's size. Arrays are skipped
without decoding their elements unless they are small (at most
``max_array_items`` scalars, which is what Docker Model Runner's config keeps);
``tokenizer.ggml.tokens`` and friends are stepped over. Every length is checked
against the bytes that remain before it is used, so a corrupt or hostile
header gives a :class:`GGUFError` instead of a huge allocation or an endless
loop. Versions 1 (32-bit counts), 2 and 3, both byte orders, all value types
and nested arrays are handled (ggml ``docs/gguf.md``; REFERENCE.md §4).
"""

from __future__ import annotations

import math
import mmap
import struct
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path

MAGIC = b"GGUF"
_PRE_GGUF = {b"lmgg": "ggml", b"fmgg": "ggmf", b"tjgg": "ggjt"}
MAX_KEY_LENGTH = 65535
MAX_DIMS = 8
DEFAULT_ALIGNMENT = 32


class ValueType(IntEnum):
    UINT8 = 0
    INT8 = 1
    UINT16 = 2
    INT16 = 3
    UINT32 = 4
    INT32 = 5
    FLOAT32 = 6
    BOOL = 7
    STRING = 8
    ARRAY = 9
    UINT64 = 10
    INT64 = 11
    FLOAT64 = 12


_SCALAR_FORMATS = {
    ValueType.UINT8: "B", ValueType.INT8: "b", ValueType.UINT16: "H", ValueType.INT16: "h",
    ValueType.UINT32: "I", ValueType.INT32: "i", ValueType.FLOAT32: "f", ValueType.BOOL: "B",
    ValueType.UINT64: "Q", ValueType.INT64: "q", ValueType.FLOAT64: "d",
}
_SCALAR_SIZES = {t: struct.calcsize("<" + f) for t, f in _SCALAR_FORMATS.items()}


class GGUFError(ValueError):
    """A file that is not a readable GGUF header; ``offset`` is where reading stopped."""

    def __init__(self, message: str, offset: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset


@dataclass(frozen=True, slots=True)
class Value:
    """A metadata value. Arrays carry ``element_type`` and ``count``; ``value`` is
    the decoded list only for small arrays of scalars, else None."""

    type: ValueType
    value: object
    element_type: ValueType | None = None
    count: int = 0


@dataclass(frozen=True, slots=True)
class TensorInfo:
    name: str
    shape: tuple[int, ...]
    ggml_type: int
    offset: int

    @property
    def parameters(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True, slots=True)
class GGUFHeader:
    version: int
    big_endian: bool
    metadata: dict[str, Value]
    tensors: tuple[TensorInfo, ...]
    header_end: int
    file_size: int
    alignment: int = DEFAULT_ALIGNMENT
    warnings: tuple[str, ...] = field(default=())

    def get(self, key: str) -> object:
        """The decoded value of a scalar key, or None."""
        entry = self.metadata.get(key)
        return entry.value if entry is not None else None

    @property
    def parameter_count(self) -> int:
        return sum(t.parameters for t in self.tensors)

    @property
    def data_offset(self) -> int:
        """Where tensor data starts, per the spec (padding to the alignment)."""
        return self.header_end + (-self.header_end % self.alignment)

    @property
    def tensor_data_size(self) -> int:
        return max(0, self.file_size - self.data_offset)


class _Cursor:
    """Reads little- or big-endian values from a buffer, checking every length first."""

    def __init__(self, buf: bytes | mmap.mmap | memoryview, big_endian: bool, wide: bool) -> None:
        self.buf = buf
        self.size = len(buf)
        self.pos = 0
        self.order = ">" if big_endian else "<"
        self.count_format = self.order + ("Q" if wide else "I")
        self.count_size = 8 if wide else 4

    def need(self, n: int, what: str) -> None:
        if n < 0 or self.pos + n > self.size:
            raise GGUFError(f"truncated: {what} needs {n} bytes at offset {self.pos}, "
                            f"but the file has {self.size - self.pos} left", self.pos)

    def scalar(self, kind: ValueType, what: str) -> int | float:
        size = _SCALAR_SIZES[kind]
        self.need(size, what)
        # struct types what it unpacks as Any; the format character decides it: an integer or a float.
        value: int | float = struct.unpack_from(self.order + _SCALAR_FORMATS[kind], self.buf, self.pos)[0]
        self.pos += size
        return value

    def u32(self, what: str) -> int:
        return int(self.scalar(ValueType.UINT32, what))

    def count(self, what: str) -> int:
        self.need(self.count_size, what)
        value: int = struct.unpack_from(self.count_format, self.buf, self.pos)[0]  # "I" or "Q": an integer
        self.pos += self.count_size
        return value

    def string(self, what: str, *, limit: int | None = None) -> str:
        length = self.count(f"{what} length")
        if limit is not None and length > limit:
            raise GGUFError(f"{what} is {length} bytes long; at most {limit} are allowed", self.pos)
        self.need(length, what)
        raw = bytes(self.buf[self.pos : self.pos + length])
        self.pos += length
        return raw.decode("utf-8", errors="replace")

    def skip_strings(self, count: int, key: str) -> None:
        """Step over ``count`` strings (a vocabulary, say) without decoding them: the hot loop."""
        unpack, step = struct.Struct(self.count_format).unpack_from, self.count_size
        buf, size, pos = self.buf, self.size, self.pos
        for _ in range(count):
            if pos + step > size:
                self.pos = pos
                self.need(step, f"an element of `{key}`")
            pos += step + unpack(buf, pos)[0]
            if pos > size:  # a length past the end: stop here, or the next check reports an offset
                break       # beyond the file and a negative number of bytes left
        if pos > size:
            raise GGUFError(f"truncated: the elements of `{key}` run past the end of the file", self.pos)
        self.pos = pos

    def remaining(self) -> int:
        return self.size - self.pos


def read_gguf_header(path: Path, *, offset: int = 0, size: int | None = None, max_array_items: int = 50) -> GGUFHeader:
    """Read the metadata and tensor infos of the GGUF file at ``path``.

    ``offset`` and ``size`` read a GGUF stored inside another file (a blob in a tar archive).
    """
    with path.open("rb") as f:
        total = f.seek(0, 2)
        size = total - offset if size is None else min(size, max(0, total - offset))
        if size <= 0:
            raise GGUFError("the file is empty", 0)
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            view = memoryview(buf)[offset : offset + size]
            try:
                return _read(view, size, max_array_items)
            finally:
                view.release()


def parse_gguf_header(data: bytes, *, max_array_items: int = 50) -> GGUFHeader:
    """Like :func:`read_gguf_header`, over bytes already in memory (for tests and fuzzing)."""
    if not data:
        raise GGUFError("the file is empty", 0)
    return _read(data, len(data), max_array_items)


def _read(buf: bytes | mmap.mmap | memoryview, size: int, max_array_items: int) -> GGUFHeader:
    magic = bytes(buf[:4])
    if len(magic) < 4:
        raise GGUFError(f"truncated: {size} bytes is too short for a GGUF header", 0)
    if magic in _PRE_GGUF:
        raise GGUFError(f"this is a pre-GGUF `{_PRE_GGUF[magic]}` file, which is no longer supported", 0)
    if magic not in (MAGIC, b"FUGG"):
        raise GGUFError(f"not a GGUF file: it starts with {magic!r}, not b'GGUF'", 0)
    if len(buf) < 8:
        raise GGUFError("truncated: the file ends inside the version field", 4)
    (version,) = struct.unpack_from("<I", buf, 4)
    # A big-endian file reads as a huge little-endian version (gguf-py's rule);
    # gguf-parser-go also treats the swapped magic `FUGG` as big-endian.
    big_endian = magic == b"FUGG" or (version & 0xFFFF == 0 and version != 0)
    if big_endian:
        (version,) = struct.unpack_from(">I", buf, 4)
    if version not in (1, 2, 3):
        raise GGUFError(f"unsupported GGUF version {version} (1, 2 and 3 are supported)", 4)
    cursor = _Cursor(buf, big_endian, wide=version >= 2)
    cursor.pos = 8
    tensor_count = cursor.count("the tensor count")
    kv_count = cursor.count("the metadata count")
    # Each KV takes at least a key length, a type and one byte; each tensor info at least 24 bytes.
    _plausible(cursor, kv_count, cursor.count_size + 5, "metadata entries")
    metadata = {}
    for _ in range(kv_count):
        key = cursor.string("a metadata key", limit=MAX_KEY_LENGTH)
        metadata[key] = _value(cursor, _type(cursor, key), key, max_array_items, depth=0)
    _plausible(cursor, tensor_count, cursor.count_size + 4 + 4 + 8, "tensor infos")
    tensors = tuple(_tensor_info(cursor) for _ in range(tensor_count))
    alignment = metadata.get("general.alignment")
    align = int(alignment.value) if alignment is not None and isinstance(alignment.value, int) else DEFAULT_ALIGNMENT
    if align <= 0 or align % 8:
        raise GGUFError(f"general.alignment {align} is not a positive multiple of 8")
    return GGUFHeader(version, big_endian, metadata, tensors, cursor.pos, size, align)


def _plausible(cursor: _Cursor, count: int, minimum: int, what: str) -> None:
    if count * minimum > cursor.remaining():
        raise GGUFError(f"the header claims {count} {what}, more than the {cursor.remaining()} bytes left can hold",
                        cursor.pos)


def _type(cursor: _Cursor, key: str) -> ValueType:
    raw = cursor.u32(f"the type of `{key}`")
    try:
        return ValueType(raw)
    except ValueError:
        raise GGUFError(f"unknown value type {raw} for `{key}`", cursor.pos - 4) from None


def _value(cursor: _Cursor, kind: ValueType, key: str, max_items: int, depth: int) -> Value:
    if kind is ValueType.STRING:
        return Value(kind, cursor.string(f"the value of `{key}`"))
    if kind is ValueType.ARRAY:
        return _array(cursor, key, max_items, depth)
    raw = cursor.scalar(kind, f"the value of `{key}`")
    if kind is ValueType.BOOL:
        if raw not in (0, 1):
            raise GGUFError(f"`{key}` is a bool with the invalid value {raw}", cursor.pos - 1)
        return Value(kind, bool(raw))
    return Value(kind, raw)


def _array(cursor: _Cursor, key: str, max_items: int, depth: int) -> Value:
    if depth > 8:
        raise GGUFError(f"`{key}` nests arrays more than 8 deep", cursor.pos)
    element = _type(cursor, f"{key}[]")
    count = cursor.count(f"the length of `{key}`")
    if element in _SCALAR_SIZES:
        size = _SCALAR_SIZES[element] * count
        cursor.need(size, f"the {count} elements of `{key}`")
        if count <= max_items:
            fmt = f"{cursor.order}{count}{_SCALAR_FORMATS[element]}"
            values = list(struct.unpack_from(fmt, cursor.buf, cursor.pos))
            cursor.pos += size
            kept = [bool(v) for v in values] if element is ValueType.BOOL else values
            return Value(ValueType.ARRAY, kept, element, count)
        cursor.pos += size
        return Value(ValueType.ARRAY, None, element, count)
    _plausible(cursor, count, cursor.count_size if element is ValueType.STRING else 12, f"elements of `{key}`")
    if element is ValueType.STRING:
        if count <= max_items:
            strings = [cursor.string(f"an element of `{key}`") for _ in range(count)]
            return Value(ValueType.ARRAY, strings, element, count)
        cursor.skip_strings(count, key)
        return Value(ValueType.ARRAY, None, element, count)
    for _ in range(count):  # nested arrays: walked, never kept (DMR drops them too)
        _array(cursor, key, 0, depth + 1)
    return Value(ValueType.ARRAY, None, element, count)


def _tensor_info(cursor: _Cursor) -> TensorInfo:
    name = cursor.string("a tensor name", limit=MAX_KEY_LENGTH)
    dims = cursor.u32(f"the dimension count of `{name}`")
    if dims > MAX_DIMS:
        raise GGUFError(f"tensor `{name}` claims {dims} dimensions; at most {MAX_DIMS} are plausible", cursor.pos - 4)
    shape = tuple(cursor.count(f"a dimension of `{name}`") for _ in range(dims))
    ggml_type = cursor.u32(f"the type of `{name}`")
    offset = int(cursor.scalar(ValueType.UINT64, f"the offset of `{name}`"))
    return TensorInfo(name, shape, ggml_type, offset)
