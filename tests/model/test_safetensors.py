"""The safetensors header reader: hand-built files, the §2.5 golden vector, every error, and the reference writer."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from modeloci.model.safetensors import (
    MAX_HEADER_SIZE,
    PRECISION,
    SafetensorsError,
    SafetensorsHeader,
    Tensor,
    parse_safetensors_header,
    precision,
    read_safetensors_header,
)


def safetensors_bytes(header: dict | str | bytes, data: bytes = b"", *, pad_to: int = 8) -> bytes:
    """A safetensors file: 8-byte little-endian length, JSON padded with spaces, then ``data``."""
    if isinstance(header, dict):
        header = json.dumps(header, separators=(",", ":"))
    raw = header.encode() if isinstance(header, str) else header
    raw += b" " * (-len(raw) % pad_to)
    return struct.pack("<Q", len(raw)) + raw + data


def write(tmp_path: Path, content: bytes, name: str = "model.safetensors") -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


def entry(dtype: str, shape: list[int], begin: int, end: int) -> dict:
    return {"dtype": dtype, "shape": shape, "data_offsets": [begin, end]}


# -- reading ---------------------------------------------------------------------------------------------


def test_golden_vector_from_reference_2_5(tmp_path: Path) -> None:
    content = b"\x08" + b"\x00" * 7 + b"{}" + b" " * 6
    assert len(content) == 16
    header = read_safetensors_header(write(tmp_path, content))
    assert header == SafetensorsHeader(tensors=(), metadata={}, header_size=8, file_size=16)
    assert header.parameter_count == 0
    assert header.data_size == 0
    assert header.dtypes == ()
    assert precision(header.dtypes) is None


def test_reads_tensors_in_header_order_with_metadata(tmp_path: Path) -> None:
    header = {
        "z.weight": entry("BF16", [4, 3], 0, 24),
        "__metadata__": {"format": "pt", "architecture": "qwen2"},
        "a.bias": entry("F32", [4], 24, 40),
        "scale": entry("F32", [], 40, 44),
    }
    content = safetensors_bytes(header, b"\x00" * 44)
    result = read_safetensors_header(write(tmp_path, content))
    assert result.tensors == (
        Tensor("z.weight", "BF16", (4, 3), (0, 24)),
        Tensor("a.bias", "F32", (4,), (24, 40)),
        Tensor("scale", "F32", (), (40, 44)),
    )
    assert result.metadata == {"format": "pt", "architecture": "qwen2"}
    assert result.file_size == len(content)
    assert result.header_size == len(content) - 8 - 44
    assert result.data_size == 44
    assert result.parameter_count == 12 + 4 + 1
    assert result.dtypes == ("BF16", "F32")


def test_parse_matches_read_and_accepts_a_header_only_prefix(tmp_path: Path) -> None:
    content = safetensors_bytes({"w": entry("F16", [2, 2], 0, 8)}, b"\x01" * 8)
    from_file = read_safetensors_header(write(tmp_path, content))
    assert parse_safetensors_header(content) == from_file
    prefix = content[: 8 + from_file.header_size]
    assert parse_safetensors_header(prefix, file_size=len(content)) == from_file


def test_padding_may_be_any_whitespace_and_json_may_be_pretty() -> None:
    text = '{\n  "w": {"dtype": "I8", "shape": [3], "data_offsets": [0, 3]}\n}'
    header = parse_safetensors_header(safetensors_bytes(text, b"abc", pad_to=64))
    assert header.tensors == (Tensor("w", "I8", (3,), (0, 3)),)


def test_unknown_dtypes_are_read_but_have_no_precision() -> None:
    header = parse_safetensors_header(safetensors_bytes({"w": entry("F4", [8], 0, 4)}, b"\x00" * 4))
    assert header.dtypes == ("F4",)
    assert precision(header.dtypes) is None


def test_null_metadata_reads_as_empty_like_the_reference_reader() -> None:
    assert parse_safetensors_header(safetensors_bytes({"__metadata__": None})).metadata == {}


class _SpyFile:
    """A binary file that records the size of every read, and otherwise is the file."""

    def __init__(self, f, reads: list[int]) -> None:
        self._f, self._reads = f, reads

    def __enter__(self) -> _SpyFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self._f.close()

    def __getattr__(self, name: str) -> object:
        return getattr(self._f, name)

    def read(self, n: int = -1) -> bytes:
        self._reads.append(n)
        return self._f.read(n)


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The sizes of every read made through ``Path.open`` during the test."""
    sizes: list[int] = []
    real_open = Path.open
    monkeypatch.setattr(Path, "open", lambda self, *a, **k: _SpyFile(real_open(self, *a, **k), sizes))
    return sizes


def test_reads_only_the_length_and_the_header(tmp_path: Path, reads: list[int]) -> None:
    content = safetensors_bytes({"w": entry("U8", [1000], 0, 1000)}, b"\x00" * 1000)
    header = read_safetensors_header(write(tmp_path, content))
    assert header.parameter_count == 1000
    assert reads == [8, header.header_size]


# -- parameters and precision -------------------------------------------------------------------------


@pytest.mark.parametrize(("shape", "count"), [((), 1), ((0,), 0), ((5, 0, 3), 0), ((7,), 7), ((2, 3, 4), 24)])
def test_tensor_parameters(shape: tuple[int, ...], count: int) -> None:
    assert Tensor("t", "F32", shape, (0, 0)).parameters == count


def test_parameter_count_sums_every_tensor() -> None:
    tensors = (Tensor("a", "F32", (3, 4), (0, 48)), Tensor("b", "F32", (), (48, 52)),
               Tensor("c", "F32", (0, 9), (52, 52)))
    assert SafetensorsHeader(tensors, {}, 8, 68).parameter_count == 13


@pytest.mark.parametrize(("dtypes", "expected"), [
    (["BF16"], "bfloat16"),
    (["F8_E4M3", "F16"], "float16,float8_e4m3"),
    (["F16", "F16", "F8_E4M3"], "float16,float8_e4m3"),
    (["F8_E8M0", "F4", "F6_E2M3", "F6_E3M2"], None),
    (["BF16", "F4"], "bfloat16"),
    (["U8", "I8", "BOOL"], "bool,int8,uint8"),
    ([], None),
])
def test_precision(dtypes: list[str], expected: str | None) -> None:
    assert precision(dtypes) == expected


def test_precision_table_is_exactly_reference_section_5() -> None:
    assert PRECISION == {
        "F64": "float64", "F32": "float32", "F16": "float16", "BF16": "bfloat16",
        "F8_E4M3": "float8_e4m3", "F8_E5M2": "float8_e5m2",
        "I64": "int64", "I32": "int32", "I16": "int16", "I8": "int8",
        "U64": "uint64", "U32": "uint32", "U16": "uint16", "U8": "uint8",
        "BOOL": "bool", "C64": "complex64",
    }


# -- errors ---------------------------------------------------------------------------------------------


def error_of(content: bytes, tmp_path: Path) -> SafetensorsError:
    with pytest.raises(SafetensorsError) as info:
        read_safetensors_header(write(tmp_path, content))
    return info.value


def test_empty_file(tmp_path: Path) -> None:
    err = error_of(b"", tmp_path)
    assert (err.message, err.offset) == ("the file is empty", 0)


def test_seven_byte_file(tmp_path: Path) -> None:
    err = error_of(b"\x02" + b"\x00" * 6, tmp_path)
    assert err.message == ("truncated: 7 bytes is too short for a safetensors header, "
                           "which starts with an 8-byte length")
    assert err.offset == 0


def test_header_length_beyond_the_file(tmp_path: Path) -> None:
    err = error_of(struct.pack("<Q", 100) + b"{}      ", tmp_path)
    assert err.message == "the header length is 100 bytes, but only 8 bytes follow the length field"
    assert err.offset == 0


def test_header_length_beyond_the_cap_is_refused_before_reading(tmp_path: Path, reads: list[int]) -> None:
    path = write(tmp_path, struct.pack("<Q", 2**62) + b"{}      ")
    with pytest.raises(SafetensorsError) as info:
        read_safetensors_header(path)
    assert info.value.message == f"the header length is {2**62} bytes; at most {MAX_HEADER_SIZE} are allowed"
    assert info.value.offset == 0
    assert reads == [8]


def test_cap_applies_even_when_the_file_is_big_enough() -> None:
    # A sparse-file stand-in: only the prefix is given, the size says the file is huge.
    data = struct.pack("<Q", MAX_HEADER_SIZE + 1)
    with pytest.raises(SafetensorsError, match="at most 104857600 are allowed"):
        parse_safetensors_header(data, file_size=10 * MAX_HEADER_SIZE)


def test_a_header_exactly_at_the_cap_is_allowed_in_principle() -> None:
    data = struct.pack("<Q", MAX_HEADER_SIZE)
    with pytest.raises(SafetensorsError) as info:  # fails only because the bytes are not given
        parse_safetensors_header(data, file_size=8 + MAX_HEADER_SIZE)
    assert info.value.message == f"truncated: the header needs {MAX_HEADER_SIZE} bytes, but only 0 are given"


@pytest.mark.parametrize(("json_text", "message", "offset"), [
    ("[1, 2]  ", "the header is not a JSON object: it does not start with `{`", 8),
    (' {"a":1}', "the header is not a JSON object: it does not start with `{`", 8),
    ('{"a" 1} ', "the header is not valid JSON: expected `:`, found '1'", 8 + 5),
    ("{} x    ", "the header has data after its closing `}`", 8 + 3),
    ('{"w":1, 2:3}', "the header is not valid JSON: expected a tensor name (a string)", 8 + 8),
    ('{"w":{"dtype":"F32",}}  ', "the header is not valid JSON: expecting property name enclosed in "
                                "double quotes in the entry `w`", 8 + 20),
])
def test_json_errors(tmp_path: Path, json_text: str, message: str, offset: int) -> None:
    err = error_of(safetensors_bytes(json_text), tmp_path)
    assert (err.message, err.offset) == (message, offset)


def test_invalid_utf8(tmp_path: Path) -> None:
    err = error_of(safetensors_bytes(b'{"\xff":1}'), tmp_path)
    assert err.message == "the header is not valid UTF-8: invalid start byte"
    assert err.offset == 8 + 2


def test_duplicate_tensor_names(tmp_path: Path) -> None:
    text = '{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}'
    err = error_of(safetensors_bytes(text, b"\x00" * 8), tmp_path)
    assert err.message == "tensor `w` appears twice in the header"
    assert err.offset == 8 + text.rindex('"w"')


def test_duplicate_keys_inside_an_entry(tmp_path: Path) -> None:
    text = '{"w":{"dtype":"F32","dtype":"F16","shape":[1],"data_offsets":[0,4]}}'
    err = error_of(safetensors_bytes(text, b"\x00" * 4), tmp_path)
    assert err.message == "the entry `w` has the key `dtype` twice"
    assert err.offset == 8 + text.index("{", 1)


def test_non_ascii_names_give_byte_offsets(tmp_path: Path) -> None:
    text = '{"é":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"x":{"dtype":1}}'
    err = error_of(safetensors_bytes(text, b"\x00" * 4), tmp_path)
    assert err.message == "tensor `x`: `shape` is missing"
    assert err.offset == 8 + len(text.encode()) - len('{"dtype":1}}')


@pytest.mark.parametrize(("value", "message"), [
    ("[" * 100_000 + "]" * 100_000, "the entry `w` nests too deeply"),
    ('{"a":' * 100_000 + "1" + "}" * 100_000, "the entry `w` nests too deeply"),
    ("9" * 5000, "the entry `w` holds a number with too many digits"),
])
def test_hostile_json_gives_a_safetensors_error(value: str, message: str) -> None:
    with pytest.raises(SafetensorsError) as info:
        parse_safetensors_header(safetensors_bytes('{"w":' + value + "}"))
    assert (info.value.message, info.value.offset) == (message, 8 + 5)


BAD_ENTRIES = [
    ([1, 2], "tensor `w`: expected an object with `dtype`, `shape` and `data_offsets`, found a list"),
    ({"shape": [1], "data_offsets": [0, 4]}, "tensor `w`: `dtype` is missing"),
    ({"dtype": "F32", "data_offsets": [0, 4]}, "tensor `w`: `shape` is missing"),
    ({"dtype": "F32", "shape": [1]}, "tensor `w`: `data_offsets` is missing"),
    (entry("F32", [1], 0, 4) | {"dtype": 32}, "tensor `w`: `dtype` must be a non-empty string, not a number"),
    (entry("F32", [1], 0, 4) | {"dtype": ""}, "tensor `w`: `dtype` must be a non-empty string, not a string"),
    (entry("F32", [1], 0, 4) | {"shape": "1"},
     'tensor `w`: `shape` must be a list of non-negative integers, not `"1"`'),
    (entry("F32", [1], 0, 4) | {"shape": [2, -1]},
     "tensor `w`: `shape` must be a list of non-negative integers, not `[2, -1]`"),
    (entry("F32", [1], 0, 4) | {"shape": [1.0]},
     "tensor `w`: `shape` must be a list of non-negative integers, not `[1.0]`"),
    (entry("F32", [1], 0, 4) | {"shape": [True]},
     "tensor `w`: `shape` must be a list of non-negative integers, not `[true]`"),
    (entry("F32", [1], 0, 4) | {"data_offsets": [0]},
     "tensor `w`: `data_offsets` must be a pair of integers [begin, end], not `[0]`"),
    (entry("F32", [1], 0, 4) | {"data_offsets": [0, 4, 8]},
     "tensor `w`: `data_offsets` must be a pair of integers [begin, end], not `[0, 4, 8]`"),
    (entry("F32", [1], 0, 4) | {"data_offsets": ["0", "4"]},
     'tensor `w`: `data_offsets` must be a pair of integers [begin, end], not `["0", "4"]`'),
    (entry("F32", [1], 0, 4) | {"data_offsets": {"begin": 0}},
     'tensor `w`: `data_offsets` must be a pair of integers [begin, end], not `{"begin": 0}`'),
    (entry("F32", [1], 4, 0), "tensor `w`: `data_offsets` [4, 0] must satisfy 0 <= begin <= end"),
    (entry("F32", [1], -4, 0), "tensor `w`: `data_offsets` [-4, 0] must satisfy 0 <= begin <= end"),
    (entry("F32", [1], 0, 5), "tensor `w`: `data_offsets` [0, 5] end beyond the data, which is 4 bytes"),
    (entry("F32", [1], 8, 8), "tensor `w`: `data_offsets` [8, 8] end beyond the data, which is 4 bytes"),
]


@pytest.mark.parametrize(("value", "message"), BAD_ENTRIES)
def test_bad_tensor_entries(tmp_path: Path, value: object, message: str) -> None:
    text = json.dumps({"ok": entry("U8", [4], 0, 4), "w": value})
    err = error_of(safetensors_bytes(text, b"\x00" * 4), tmp_path)
    assert err.message == message
    assert err.offset == 8 + text.index('"w": ') + 5


@pytest.mark.parametrize(("value", "message"), [
    ({"format": "pt", "step": 3}, "`__metadata__` must be a map of strings, but `step` is a number"),
    ({"nested": {"a": "b"}}, "`__metadata__` must be a map of strings, but `nested` is an object"),
    ({"flag": None}, "`__metadata__` must be a map of strings, but `flag` is null"),
    (["format", "pt"], "`__metadata__` must be a map of strings, not a list"),
    ("pt", "`__metadata__` must be a map of strings, not a string"),
])
def test_bad_metadata(tmp_path: Path, value: object, message: str) -> None:
    err = error_of(safetensors_bytes({"__metadata__": value}), tmp_path)
    assert err.message == message
    assert err.offset == 8 + len('{"__metadata__":')


def test_parse_with_fewer_bytes_than_the_header_claims() -> None:
    content = safetensors_bytes({"w": entry("U8", [2], 0, 2)}, b"\x00\x00")
    with pytest.raises(SafetensorsError) as info:
        parse_safetensors_header(content[:20], file_size=len(content))
    assert info.value.message == f"truncated: the header needs {len(content) - 10} bytes, but only 12 are given"
    assert info.value.offset == 8


def test_missing_file_raises_os_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_safetensors_header(tmp_path / "absent.safetensors")


# -- cross-check against the reference implementation ------------------------------------------------------


def test_matches_the_reference_writer(tmp_path: Path) -> None:
    np = pytest.importorskip("numpy", reason="numpy is not installed")
    st_numpy = pytest.importorskip("safetensors.numpy", reason="the safetensors package is not installed")
    tensors = {
        "embed.weight": np.zeros((11, 7), dtype=np.float16),
        "layer.0.bias": np.ones((5,), dtype=np.float32),
        "scalar": np.array(3, dtype=np.int64),
        "empty": np.zeros((0, 4), dtype=np.uint8),
        "mask": np.zeros((2, 2, 2), dtype=np.bool_),
        "freqs": np.zeros((3,), dtype=np.float64),
    }
    path = tmp_path / "ref.safetensors"
    st_numpy.save_file(tensors, str(path), metadata={"format": "np", "note": "cross-check"})
    header = read_safetensors_header(path)

    assert header.metadata == {"format": "np", "note": "cross-check"}
    assert header.file_size == path.stat().st_size
    assert {t.name: t.shape for t in header.tensors} == {k: v.shape for k, v in tensors.items()}
    assert {t.name: t.dtype for t in header.tensors} == {
        "embed.weight": "F16", "layer.0.bias": "F32", "scalar": "I64", "empty": "U8", "mask": "BOOL", "freqs": "F64",
    }
    assert header.parameter_count == sum(int(v.size) for v in tensors.values()) == 77 + 5 + 1 + 0 + 8 + 3
    assert header.data_size == sum(v.nbytes for v in tensors.values())
    for t in header.tensors:
        begin, end = t.data_offsets
        assert end - begin == tensors[t.name].nbytes
    loaded = st_numpy.load_file(str(path))
    assert {k: v.shape for k, v in loaded.items()} == {t.name: t.shape for t in header.tensors}
    assert precision(header.dtypes) == "bool,float16,float32,float64,int64,uint8"


@pytest.mark.parametrize(("header", "detail"), [
    (b'{"w":{"dtype":"F\\udfff","shape":[2],"data_offsets":[0,8]}}',
     "the entry `w` holds a lone surrogate (`\\udfff`), which is not valid Unicode"),
    (b'{"w\\udfff":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}',
     "a tensor name holds a lone surrogate (`\\udfff`), which is not valid Unicode"),
])
def test_a_lone_surrogate_in_a_safetensors_header_is_a_diagnostic_not_a_crash(tmp_path: Path, cli, header: bytes,
                                                                               detail: str) -> None:
    """`"\\udfff"` is valid JSON but not Unicode: the build once failed writing the config (UnicodeEncodeError)."""
    (tmp_path / "m.safetensors").write_bytes(struct.pack("<Q", len(header)) + header + bytes(8))
    (tmp_path / "Modelfile").write_text("FROM scratch\nWEIGHTS m.safetensors\n")
    result = cli("build", "-f", str(tmp_path / "Modelfile"), "-o", str(tmp_path / "out.tar"))
    assert result.code == 2
    assert "error[MF063]: Cannot read safetensors file `m.safetensors`" in result.stderr
    assert f"  = {detail}" in result.stderr.splitlines()
    assert not (tmp_path / "out.tar").exists()


def test_a_lone_surrogate_in_a_hugging_face_config_is_a_diagnostic_not_a_crash(tmp_path: Path, cli) -> None:
    header = b'{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}'
    (tmp_path / "model.safetensors").write_bytes(struct.pack("<Q", len(header)) + header + bytes(8))
    (tmp_path / "config.json").write_bytes(b'{"model_type": "llama\\udfff", "max_position_embeddings": 8}')
    (tmp_path / "Modelfile").write_text("FROM scratch\nWEIGHTS .\n")
    result = cli("build", "-f", str(tmp_path / "Modelfile"), "-o", str(tmp_path / "out.tar"))
    assert result.code == 2, result.stderr
    assert "holds a lone surrogate (`\\udfff`), which is not valid Unicode" in result.stderr
    assert not (tmp_path / "out.tar").exists()
