"""The GGUF header reader, checked against the reference `gguf` package and against hostile input."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from modeloci.model.gguf import GGUFError, ValueType, parse_gguf_header, read_gguf_header

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO.parent / "shared" / "corpus" / "gguf"
gguf = pytest.importorskip("gguf", reason="the gguf package is a test dependency: pip install -e '.[test]'")
np = pytest.importorskip("numpy")


def _corpus() -> list[Path]:
    if not CORPUS.is_dir():
        pytest.skip(f"{CORPUS} is absent: the shared corpus is not on this machine")
    return sorted(CORPUS.glob("*.gguf"))


def _writer_file(path: Path, *, big_endian: bool = False) -> Path:
    """A GGUF with every value type, arrays of each kind, and quantized and float tensors."""
    endian = gguf.GGUFEndian.BIG if big_endian else gguf.GGUFEndian.LITTLE
    w = gguf.GGUFWriter(str(path), "llama", endianess=endian)
    w.add_uint8("t.u8", 200)
    w.add_int8("t.i8", -100)
    w.add_uint16("t.u16", 60000)
    w.add_int16("t.i16", -30000)
    w.add_uint32("t.u32", 4_000_000_000)
    w.add_int32("t.i32", -2_000_000_000)
    w.add_float32("t.f32", 0.1)
    w.add_uint64("t.u64", 2**63 + 5)
    w.add_int64("t.i64", -(2**62))
    w.add_float64("t.f64", 1e-300)
    w.add_bool("t.bool", True)
    w.add_string("t.str", "  héllo\n")
    w.add_array("t.ints", [1, 2, 3])
    w.add_array("t.strs", ["a", "b c"])
    w.add_array("t.big", [str(i) for i in range(500)])
    w.add_array("t.nested", [[1, 2], [3]])
    w.add_context_length(4096)
    w.add_file_type(15)
    w.add_tensor("blk.0.attn_q.weight", np.ones((16, 32), dtype=np.float32))
    w.add_tensor("blk.0.ffn.weight", np.zeros((3, 4, 5), dtype=np.float16))
    w.add_tensor("output_norm.weight", np.ones((7,), dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def _reference_scalars(path: Path) -> dict[str, object]:
    reader = gguf.GGUFReader(str(path))
    out: dict[str, object] = {}
    for key, field in reader.fields.items():
        if key.startswith("GGUF."):
            continue
        if field.types[0] == gguf.GGUFValueType.ARRAY:
            out[key] = ("array", len(field.data))
        else:
            out[key] = field.contents()
    return out


def _ours(path: Path) -> dict[str, object]:
    header = read_gguf_header(path)
    out: dict[str, object] = {}
    for key, value in header.metadata.items():
        if value.type is ValueType.ARRAY:
            out[key] = ("array", value.count)
        elif value.type is ValueType.FLOAT32:
            out[key] = pytest.approx(value.value)
        else:
            out[key] = value.value
    return out


@pytest.mark.parametrize("big_endian", [False, True], ids=["little-endian", "big-endian"])
def test_matches_the_reference_reader_on_writer_files(tmp_path: Path, big_endian: bool) -> None:
    path = _writer_file(tmp_path / "m.gguf", big_endian=big_endian)
    ours, reference_fields = _ours(path), _reference_scalars(path)
    # gguf-py counts a nested array's leaves (3); GGUF's count is of its elements (2).
    assert ours.pop("t.nested") == ("array", 2) and reference_fields.pop("t.nested") == ("array", 3)
    assert ours == reference_fields
    header = read_gguf_header(path)
    reference = gguf.GGUFReader(str(path))
    assert header.big_endian is big_endian
    assert [(t.name, t.shape, t.ggml_type) for t in header.tensors] == [
        (t.name, tuple(int(d) for d in t.shape), int(t.tensor_type)) for t in reference.tensors
    ]
    assert header.parameter_count == sum(int(t.n_elements) for t in reference.tensors) == 16 * 32 + 60 + 7
    assert header.data_offset == reference.data_offset
    assert header.get("t.strs") == ["a", "b c"] and header.get("t.ints") == [1, 2, 3]
    assert header.metadata["t.big"].value is None and header.metadata["t.big"].count == 500  # skipped, not decoded
    assert header.get("t.str") == "  héllo\n"


@pytest.mark.parametrize("name", ["ggml-vocab-bert-bge.gguf", "ggml-vocab-llama-spm.gguf", "ggml-vocab-phi-3.gguf"])
def test_matches_the_reference_reader_on_the_corpus(name: str) -> None:
    path = next((p for p in _corpus() if p.name == name), None)
    assert path is not None, f"{name} missing from the corpus"
    assert _ours(path) == _reference_scalars(path)
    header = read_gguf_header(path)
    assert header.version == 3 and header.tensors == () and header.parameter_count == 0
    assert header.metadata["tokenizer.ggml.tokens"].count > 30000


def _v1_or_v2(version: int) -> bytes:
    """A hand-written GGUF v1/v2 file: v1 has 32-bit counts and lengths."""
    count = "<I" if version == 1 else "<Q"

    def string(text: str) -> bytes:
        data = text.encode()
        return struct.pack(count, len(data)) + data

    kv = string("general.architecture") + struct.pack("<I", 8) + string("llama")
    kv += string("llama.context_length") + struct.pack("<I", 4) + struct.pack("<I", 2048)
    kv += string("tokenizer.ggml.tokens") + struct.pack("<I", 9) + struct.pack("<I", 8) + struct.pack(count, 2)
    kv += string("a") + string("bc")
    tensor = string("tok.weight") + struct.pack("<I", 2) + struct.pack(count, 4) + struct.pack(count, 3)
    tensor += struct.pack("<IQ", 0, 0)
    head = b"GGUF" + struct.pack("<I", version) + struct.pack(count, 1) + struct.pack(count, 3)
    body = head + kv + tensor
    return body + b"\0" * (-len(body) % 32) + b"\0" * 48


@pytest.mark.parametrize("version", [1, 2])
def test_reads_versions_1_and_2(version: int) -> None:
    header = parse_gguf_header(_v1_or_v2(version))
    assert header.version == version
    assert header.get("general.architecture") == "llama" and header.get("llama.context_length") == 2048
    assert header.get("tokenizer.ggml.tokens") == ["a", "bc"]
    assert [(t.name, t.shape) for t in header.tensors] == [("tok.weight", (4, 3))]
    assert header.parameter_count == 12


def test_every_truncation_is_a_clear_error(tmp_path: Path) -> None:
    data = _writer_file(tmp_path / "m.gguf").read_bytes()
    header_end = read_gguf_header(tmp_path / "m.gguf").header_end
    for cut in range(0, header_end):
        with pytest.raises(GGUFError) as info:
            parse_gguf_header(data[:cut])
        assert info.value.message


@pytest.mark.parametrize(("data", "message"), [
    (b"", "the file is empty"),
    (b"GGU", "truncated: 3 bytes is too short for a GGUF header"),
    (b"PK\x03\x04" + b"\0" * 20, "not a GGUF file: it starts with b'PK\\x03\\x04', not b'GGUF'"),
    (b"lmgg" + b"\0" * 20, "this is a pre-GGUF `ggml` file, which is no longer supported"),
    (b"GGUF" + struct.pack("<I", 4) + b"\0" * 16, "unsupported GGUF version 4 (1, 2 and 3 are supported)"),
])
def test_bad_files_are_named(data: bytes, message: str) -> None:
    with pytest.raises(GGUFError) as info:
        parse_gguf_header(data)
    assert info.value.message == message


def _kv_file(kv: bytes, kv_count: int = 1, tensor_count: int = 0) -> bytes:
    return b"GGUF" + struct.pack("<IQQ", 3, tensor_count, kv_count) + kv + b"\0" * 64


def _key(name: str) -> bytes:
    return struct.pack("<Q", len(name)) + name.encode()


@pytest.mark.parametrize(("data", "fragment"), [
    (_kv_file(_key("k") + struct.pack("<I", 13)), "unknown value type 13 for `k`"),
    (_kv_file(_key("k") + struct.pack("<IB", 7, 2)), "`k` is a bool with the invalid value 2"),
    (_kv_file(_key("k") + struct.pack("<IIQ", 9, 8, 2**62)), "claims 4611686018427387904 elements of `k`"),
    (_kv_file(_key("k") + struct.pack("<IIQ", 9, 12, 2**62)), "needs 36893488147419103232 bytes"),
    (_kv_file(_key("k") + struct.pack("<IQ", 8, 2**60)), "truncated: the value of `k` needs 1152921504606846976 bytes"),
    (_kv_file(b"", kv_count=2**60), "the header claims 1152921504606846976 metadata entries"),
    (_kv_file(_key("t") + struct.pack("<I", 9))[:-64], "truncated: the type of `t[]` needs 4 bytes"),
    (_kv_file(b"", kv_count=0, tensor_count=1)[:-64] + _key("t") + struct.pack("<I", 9) + b"\0" * 100,
     "tensor `t` claims 9 dimensions"),
])
def test_absurd_lengths_fail_fast_without_allocating(data: bytes, fragment: str) -> None:
    with pytest.raises(GGUFError) as info:
        parse_gguf_header(data)
    assert fragment in info.value.message


def test_reads_only_the_header_of_a_huge_sparse_file(tmp_path: Path) -> None:
    """A 64 GiB (sparse) model: the header is read, the tensor data is never touched."""
    import resource

    path = _writer_file(tmp_path / "small.gguf")
    huge = tmp_path / "huge.gguf"
    header_end = read_gguf_header(path).header_end
    with huge.open("wb") as f:
        f.write(path.read_bytes()[:header_end])
        f.truncate(64 << 30)
    read_gguf_header(path)  # warm up
    before = resource.getrusage(resource.RUSAGE_SELF)
    header = read_gguf_header(huge)
    after = resource.getrusage(resource.RUSAGE_SELF)
    assert header.file_size == 64 << 30
    assert after.ru_minflt - before.ru_minflt < 2000  # pages touched: a few, not 16 million
