"""Fuzzing the GGUF and safetensors header readers with mutated real headers.

The inputs are real files: the llama.cpp GGUF files of the shared corpus
(``../shared/corpus/gguf``), a GGUF written by the reference ``gguf`` package
with every value type and nested arrays, the tiny files of ``tests/factories.py``,
and safetensors files written by the reference ``safetensors`` package and by
the factories. They are mutated where it hurts: huge little-endian values,
0x00 and 0xFF written over the length and count fields (string lengths, array
counts, tensor and KV counts, ``n_dims``; the safetensors header length and the
JSON's numbers), bit flips, truncation at each field's edges, junk appended.

The only allowed outcomes are a header or the reader's own error (``GGUFError``,
``SafetensorsError``, both ``ValueError``\\ s): never ``MemoryError``,
``OverflowError``, ``RecursionError``, ``struct.error``, ``IndexError`` or
``UnicodeDecodeError``. Reading from bytes and from a file agree, and
``tracemalloc`` bounds each read's peak memory by a small multiple of the file's
size, however many terabytes a field claims. Longer runs: ``python bench/fuzz.py``.
"""

from __future__ import annotations

import functools
import re
import struct
import sys
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modeloci.model.gguf import GGUFError, parse_gguf_header, read_gguf_header
from modeloci.model.safetensors import (
    MAX_HEADER_SIZE,
    SafetensorsError,
    parse_safetensors_header,
    read_safetensors_header,
)
from tests import factories
from tests.fuzzing import budget

gguf = pytest.importorskip("gguf", reason="the gguf package is a test dependency: pip install -e '.[test]'")
np = pytest.importorskip("numpy")
save_numpy = pytest.importorskip("safetensors.numpy", reason="safetensors is a test dependency").save

HEAD_BYTES = 4 << 20  # of a corpus file, only the first few MB (its header) are used
_U64 = [0, 1, 0xFF, 2**31, 2**32 - 1, 2**32, 2**40, 2**62, 2**63 - 1, 2**63, 2**64 - 1]
_U32 = [0, 1, 7, 8, 9, 12, 13, 0xFF, 2**31, 2**32 - 1]


def peak_bound(size: int) -> int:
    """What reading a header of ``size`` bytes may allocate at most: decoded text is at most a few
    times the bytes it came from, and nothing may be sized by what a field merely claims."""
    return (1 << 20) + 8 * size


@dataclass(frozen=True)
class Field:
    offset: int
    width: int
    kind: str


@dataclass(frozen=True)
class Source:
    name: str
    data: bytes
    fields: tuple[Field, ...]

    @functools.cached_property
    def by_kind(self) -> dict[str, tuple[Field, ...]]:
        """Fields by kind, as tuples (which ``st.sampled_from`` takes without copying)."""
        kinds: dict[str, list[Field]] = {}
        for found in self.fields:
            kinds.setdefault(found.kind, []).append(found)
        return {kind: tuple(fields) for kind, fields in sorted(kinds.items())}


# Where a valid GGUF's fields are, found by walking it independently of the reader --------------

_SCALAR_SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}


class _GGUFWalker:
    """The count, length and type fields of a valid little-endian GGUF v2/v3 file."""

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 8
        self.fields: list[Field] = [Field(0, 4, "magic"), Field(4, 4, "version")]
        tensors, kvs = self.number("Q", "tensor count"), self.number("Q", "KV count")
        for _ in range(kvs):
            self.string("key length")
            self.value(self.number("I", "value type"), "string value length")
        for _ in range(tensors):
            self.string("tensor name length")
            for _ in range(self.number("I", "n_dims")):
                self.number("Q", "dimension")
            self.number("I", "ggml type")
            self.number("Q", "tensor offset")

    def number(self, fmt: str, kind: str) -> int:
        self.fields.append(Field(self.pos, struct.calcsize(fmt), kind))
        (value,) = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return value

    def string(self, kind: str) -> None:
        length = self.number("Q", kind)
        self.pos += length

    def value(self, kind: int, string_kind: str) -> None:
        if kind == 8:
            self.string(string_kind)
        elif kind == 9:
            element, count = self.number("I", "array type"), self.number("Q", "array count")
            if element in _SCALAR_SIZES:
                size = count * _SCALAR_SIZES[element]
                self.pos += size
            for _ in range(0 if element in _SCALAR_SIZES else count):
                self.value(element, "element string length")
        else:
            self.pos += _SCALAR_SIZES[kind]


def gguf_source(name: str, data: bytes) -> Source:
    walker = _GGUFWalker(data)
    assert walker.pos == parse_gguf_header(data).header_end, "the walker and the reader disagree"
    return Source(name, data, tuple(walker.fields))


def _writer_gguf(path: Path) -> bytes:
    """A file from the reference writer: every value type, arrays of each kind, tensors."""
    w = gguf.GGUFWriter(str(path), "llama")
    for add, key, value in [(w.add_uint8, "u8", 200), (w.add_int8, "i8", -1), (w.add_uint16, "u16", 6),
                            (w.add_int16, "i16", -3), (w.add_uint32, "u32", 4), (w.add_int32, "i32", -2),
                            (w.add_float32, "f32", 0.1), (w.add_uint64, "u64", 2**63), (w.add_int64, "i64", -5),
                            (w.add_float64, "f64", 1e-300), (w.add_bool, "bool", True), (w.add_string, "s", "héllo"),
                            (w.add_array, "ints", [1, 2, 3]), (w.add_array, "strs", ["a", "b c"]),
                            (w.add_array, "big", [str(i) for i in range(60)]), (w.add_array, "nested", [[1, 2], [3]])]:
        add(f"t.{key}", value)
    w.add_tensor("blk.0.attn_q.weight", np.ones((4, 8), dtype=np.float32))
    w.add_tensor("blk.0.ffn.weight", np.zeros((3, 4, 5), dtype=np.float16))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path.read_bytes()


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz-headers")


@pytest.fixture(scope="module")
def made_ggufs(scratch: Path) -> list[Source]:
    metadata = [("general.name", factories.STRING, "tiny"), ("t.array", factories.make_weights.ARRAY,
                                                             (factories.STRING, ["a", "bc", ""]))]
    return [gguf_source("gguf-writer", _writer_gguf(scratch / "writer.gguf")),
            gguf_source("factory", factories.gguf_bytes(metadata=metadata,
                                                        tensors=[("a", (2, 3), 0), ("b", (5,), 1)])),
            gguf_source("mmproj", factories.mmproj(scratch / "mmproj.gguf").read_bytes())]


@functools.cache
def _corpus(folder: Path) -> list[Source]:
    files = sorted(folder.glob("*.gguf"))
    assert files, f"no GGUF files in {folder}"
    return [gguf_source(path.name, path.read_bytes()[:HEAD_BYTES]) for path in files]


@pytest.fixture
def corpus(shared: Path) -> list[Source]:
    return _corpus(shared / "corpus" / "gguf")


# Mutations ------------------------------------------------------------------------------------


@st.composite
def mutated(draw, sources: list[Source]) -> bytes:
    """One of ``sources`` with 1-3 mutations, each aimed at one of its fields (of a random kind)."""
    source = draw(st.sampled_from(sources))
    data = bytearray(source.data)
    for _ in range(draw(st.integers(1, 3))):
        field = draw(st.sampled_from(source.by_kind[draw(st.sampled_from(tuple(source.by_kind)))]))
        at, width = field.offset, field.width
        how = draw(st.sampled_from(["value", "value", "fill", "flip", "truncate", "append"]))
        if how == "truncate":
            del data[at + draw(st.sampled_from([0, 1, width - 1, width])) :]
        elif how == "append":
            data += draw(st.binary(min_size=1, max_size=64))
        elif at + width > len(data):
            continue
        elif how == "value":
            left = len(data) - at - width
            choices = [*(_U64 if width == 8 else _U32), left, left + 1, max(0, left - 1)]
            value = draw(st.one_of(st.sampled_from(choices), st.integers(0, 2 ** (8 * width) - 1)))
            data[at : at + width] = (value % 2 ** (8 * width)).to_bytes(width, "little")
        elif how == "fill":
            data[at : at + width] = bytes([draw(st.sampled_from([0, 0xFF]))]) * width
        else:
            at = draw(st.integers(at, at + width - 1) if draw(st.booleans()) else st.integers(0, len(data) - 1))
            data[at] ^= 1 << draw(st.integers(0, 7))
    return bytes(data)


# The outcome -----------------------------------------------------------------------------------


def read_both_ways(data: bytes, path: Path, parse: Callable[[bytes], object], read: Callable[[Path], object],
                   error: type[ValueError]) -> str:
    """Read ``data`` from bytes and from a file: the same header or the same reader's error, within
    :func:`peak_bound`; anything else (MemoryError, struct.error, IndexError, ...) fails the test."""
    path.write_bytes(data)
    outcomes = []
    for run in (lambda: parse(data), lambda: read(path)):
        tracemalloc.start()
        try:
            outcomes.append(repr(run()))
        except error as exc:
            message, offset = exc.message, exc.offset  # type: ignore[attr-defined]
            assert message and (offset is None or 0 <= offset <= len(data)), (message, offset)
            outcomes.append(f"{error.__name__}: {message}")
        finally:
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        assert peak <= peak_bound(len(data)), f"{peak} bytes allocated for a {len(data)}-byte file"
    assert outcomes[0] == outcomes[1]
    return outcomes[0]


def check_gguf(data: bytes, path: Path) -> str:
    return read_both_ways(data, path, parse_gguf_header, read_gguf_header, GGUFError)


def check_safetensors(data: bytes, path: Path) -> str:
    return read_both_ways(data, path, parse_safetensors_header, read_safetensors_header, SafetensorsError)


# GGUF -------------------------------------------------------------------------------------------


@budget(200)
@given(st.data())
def test_mutated_gguf_files_give_a_header_or_a_gguf_error(made_ggufs: list[Source], scratch: Path,
                                                          data: st.DataObject) -> None:
    check_gguf(data.draw(mutated(made_ggufs)), scratch / "m.gguf")


@budget(20, fixture=True)
@given(st.data())
def test_mutated_corpus_files_give_a_header_or_a_gguf_error(corpus: list[Source], scratch: Path,
                                                            data: st.DataObject) -> None:
    check_gguf(data.draw(mutated(corpus)), scratch / "corpus.gguf")


def test_every_truncation_at_a_field_edge(made_ggufs: list[Source], scratch: Path) -> None:
    for source in made_ggufs:
        cuts = {f.offset + d for f in source.fields for d in (0, 1, f.width - 1, f.width)}
        header_end = max(f.offset + f.width for f in source.fields)
        for cut in sorted(cuts | {0, 1, 3, 4, 7}):
            outcome = check_gguf(source.data[:cut], scratch / "cut.gguf")
            assert outcome.startswith("GGUFError: ") == (cut < header_end), (source.name, cut, outcome[:80])


_CLAIMS = ["tensor count", "KV count", "key length", "string value length", "array count"]


@pytest.mark.parametrize("which", ["made", "corpus"])
def test_terabyte_claims_in_count_fields(which: str, request: pytest.FixtureRequest, scratch: Path) -> None:
    # Each kind's first and last field (in the corpus, the last ones come after the big vocabulary
    # arrays; one corpus file is enough here, the property above mutates all three).
    if which == "made":
        sources = request.getfixturevalue("made_ggufs")
    else:
        sources = [max(request.getfixturevalue("corpus"), key=lambda s: len(s.data))]
    for source in sources:
        for field in {source.by_kind[kind][i] for kind in _CLAIMS if kind in source.by_kind for i in (0, -1)}:
            data = bytearray(source.data)
            data[field.offset : field.offset + field.width] = b"\xff" * field.width
            check_gguf(bytes(data), scratch / "claims.gguf")


def test_a_skipped_string_past_the_end_is_reported_inside_the_file(scratch: Path) -> None:
    # Regression: in a big string array (stepped over, not decoded) a length past the end of the
    # file was reported at an offset beyond the file, with a negative number of bytes left.
    strings = (factories.STRING, [str(i) for i in range(60)])
    source = gguf_source("array", factories.gguf_bytes(metadata=[("t.big", factories.make_weights.ARRAY, strings)]))
    field = source.by_kind["element string length"][1]
    data = bytearray(source.data)
    data[field.offset : field.offset + 8] = struct.pack("<Q", 2**35)
    outcome = check_gguf(bytes(data), scratch / "skip.gguf")
    assert outcome == "GGUFError: truncated: the elements of `t.big` run past the end of the file"


# safetensors ------------------------------------------------------------------------------------


def safetensors_source(name: str, data: bytes) -> Source:
    (length,) = struct.unpack_from("<Q", data)
    header = data[8 : 8 + length]
    numbers = [Field(8 + m.start(), m.end() - m.start(), "json number") for m in re.finditer(rb"\d+", header)]
    names = [Field(8 + m.start(), m.end() - m.start(), "json string") for m in re.finditer(rb'"[^"]*"', header)]
    parse_safetensors_header(data)
    return Source(name, data, (Field(0, 8, "header length"), *numbers, *names))


@pytest.fixture(scope="module")
def made_safetensors(scratch: Path) -> list[Source]:
    reference = save_numpy({"w": np.ones((2, 3), dtype=np.float32), "b": np.zeros((), dtype=np.float16),
                            "e": np.zeros((0, 4), dtype=np.int8), "t": np.ones((1,), dtype=np.bool_)},
                           metadata={"format": "pt", "note": "é"})
    factory = factories.safetensors(scratch / "f.safetensors", {"a": ("F16", [2, 2]), "b.c": ("I64", [3])},
                                    metadata={"k": "v"}).read_bytes()
    return [safetensors_source("reference", bytes(reference)), safetensors_source("factory", factory)]


_JSON = ["0", "-1", "18446744073709551616", "1e400", "1.5", "9" * 5000, "[]", "null", '"x"', "true", "{}",
         "[" * 3000 + "]" * 3000, '"\\ud800"', '"__metadata__"', '"\xff\x00"', '"w"', "NaN", ""]


@st.composite
def mutated_safetensors(draw, sources: list[Source]) -> bytes:
    """Binary mutations as for GGUF, or a JSON number or string replaced with hostile JSON
    (and, half the time, the header length made to match)."""
    if draw(st.booleans()):
        return draw(mutated(sources))
    source = draw(st.sampled_from(sources))
    field = draw(st.sampled_from(source.fields[1:]))
    new = draw(st.sampled_from(_JSON)).encode("utf-8", "surrogateescape")
    data = source.data[: field.offset] + new + source.data[field.offset + field.width :]
    if draw(st.booleans()):
        (length,) = struct.unpack_from("<Q", source.data)
        data = struct.pack("<Q", length + len(new) - field.width) + data[8:]
    return data


@budget(200)
@given(st.data())
def test_mutated_safetensors_files_give_a_header_or_a_safetensors_error(
        made_safetensors: list[Source], scratch: Path, data: st.DataObject) -> None:
    check_safetensors(data.draw(mutated_safetensors(made_safetensors)), scratch / "m.safetensors")


def test_every_truncation_of_a_safetensors_file(made_safetensors: list[Source], scratch: Path) -> None:
    for source in made_safetensors:
        (length,) = struct.unpack_from("<Q", source.data)
        for cut in range(0, 8 + length):
            assert check_safetensors(source.data[:cut], scratch / "cut.safetensors").startswith("SafetensorsError")


@pytest.mark.parametrize("length", [MAX_HEADER_SIZE, MAX_HEADER_SIZE + 1, 2**40, 2**63, 2**64 - 1])
def test_a_header_length_claiming_terabytes_allocates_nothing(length: int, scratch: Path) -> None:
    outcome = check_safetensors(struct.pack("<Q", length) + b'{"a":' + b" " * 1000, scratch / "claims.safetensors")
    assert outcome.startswith("SafetensorsError: the header length is")


def test_deeply_nested_shape_is_a_safetensors_error() -> None:
    # Regression: a shape nested just shallow enough to decode raised RecursionError when the
    # error message encoded it again (json.dumps) a few frames deeper. Which depth does that
    # depends on the stack, so every depth up to past the recursion limit is tried.
    for depth in range(2, sys.getrecursionlimit() + 50):  # (depth 1, `[]`, is a scalar's shape)
        body = ('{"w":{"dtype":"F16","shape":' + "[" * depth + "]" * depth + ',"data_offsets":[0,0]}}').encode()
        with pytest.raises(SafetensorsError, match=r"`shape` must be a list|nests too deeply"):
            parse_safetensors_header(struct.pack("<Q", len(body)) + body)
