"""The tar member listing (:mod:`modeloci.oci.tarlist`) against Python's ``tarfile``, which it replaces.

The same members with the same fields, the same reason when an archive cannot be read and the same point
where a damaged one ends: on the golden examples, on pax and GNU long names, ustar prefixes, global pax
headers and base-256 numbers, on every hostile archive of :mod:`tests.hostile_archives`, and on thousands of
archives with a header byte changed. Where ``tarfile`` crashes, hangs or allocates what a header claims, the
listing refuses the archive with its own reason instead; each such attack has its test.
"""

from __future__ import annotations

import io
import os
import random
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from modeloci.errors import ArchiveError
from modeloci.oci.layout import TarLayout
from modeloci.oci.tarlist import LIMITS, Listing, TarLimits, list_tar
from modeloci.ops.verify import verify
from tests.archive_tools import build_example
from tests.hostile_archives import HOSTILE, Good

FIELDS = ("name", "type", "size", "mode", "uid", "gid", "mtime", "chksum", "linkname", "uname", "gname",
          "devmajor", "devminor", "offset", "offset_data", "pax_headers", "sparse")
Outcome = tuple[str, Any]


def _fields(members: list[tarfile.TarInfo]) -> list[tuple[Any, ...]]:
    return [tuple(getattr(m, f) for f in FIELDS) for m in members]


def with_tarfile(path: Path, *, cap: int = 5_000) -> Outcome:
    """What the reader before this one made of ``path`` (TarLayout over tarfile): members and whether it was
    cut short, the reason it is unreadable, or how tarfile failed (a crash, or more than ``cap`` members:
    a loop)."""
    try:
        tar = tarfile.open(path, mode="r:")  # noqa: SIM115 - closed below, after the members are read one by one
    except tarfile.TarError as exc:
        return "unreadable", str(exc).splitlines()[0]
    except Exception as exc:  # the outcomes this listing replaces with a refusal
        return "crash", type(exc).__name__
    members: list[tarfile.TarInfo] = []
    try:
        while (member := tar.next()) is not None:
            members.append(member)
            if len(members) > cap:
                return "crash", "loop"
    except tarfile.TarError as exc:
        if not members:
            return "unreadable", str(exc).splitlines()[0]
        return "listed", (_fields(members), True)
    except Exception as exc:
        return "crash", type(exc).__name__
    finally:
        tar.close()
    return "listed", (_fields(members), False)


def with_tarlist(path: Path, limits: TarLimits = LIMITS) -> Outcome:
    fd = os.open(path, os.O_RDONLY)
    try:
        listing: Listing = list_tar(fd, path, limits)
    except ArchiveError as exc:
        return "unreadable", exc.message.removeprefix(f"`{path.name}` is not a readable tar archive: ")
    finally:
        os.close(fd)
    return "listed", (_fields(listing.members), listing.truncated)


@pytest.fixture(scope="module")
def goldens(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("goldens")
    built = {}
    for name, fmt in [("single-gguf", "docker"), ("sharded-vision", "modelpack"), ("hf-safetensors", "docker"),
                      ("single-gguf", "modelcar")]:
        built[f"{name}-{fmt}"] = build_example(name, root / f"{name}-{fmt}", format=fmt)[0]
    return built


def test_golden_archives_are_listed_as_tarfile_lists_them(goldens: dict[str, Path]) -> None:
    for path in goldens.values():
        assert with_tarlist(path) == with_tarfile(path)
        assert with_tarlist(path)[0] == "listed"


def _write(path: Path, fmt: int, members: list[tuple[tarfile.TarInfo, bytes | None]],
           pax: dict[str, str] | None = None) -> Path:
    with tarfile.open(path, "w", format=fmt, pax_headers=pax) as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def _file(name: str, data: bytes = b"x", **fields: Any) -> tuple[tarfile.TarInfo, bytes | None]:
    info = tarfile.TarInfo(name)
    for key, value in fields.items():
        setattr(info, key, value)
    return info, data


def _kind(name: str, kind: bytes, **fields: Any) -> tuple[tarfile.TarInfo, bytes | None]:
    info, _ = _file(name, **fields)
    info.type = kind
    return info, None


LONG = "blobs/sha256/" + "d" * 64 + "/" + "é" * 80 + ".safetensors"


@pytest.mark.parametrize(("fmt", "pax"), [(tarfile.PAX_FORMAT, None), (tarfile.GNU_FORMAT, None),
                                          (tarfile.USTAR_FORMAT, None),
                                          (tarfile.PAX_FORMAT, {"comment": "global", "mtime": "7.5"})],
                         ids=["pax", "gnu", "ustar", "pax-global"])
def test_long_names_links_prefixes_and_big_numbers_are_listed_as_tarfile_lists_them(
        tmp_path: Path, fmt: int, pax: dict[str, str] | None) -> None:
    members = [_file("oci-layout", b"{}"), _kind("blobs/", tarfile.DIRTYPE), _file("a/" * 60 + "f", b"prefix"),
               _kind("link", tarfile.SYMTYPE, linkname="t/" * 40 + "x"), _file("index.json", b"[]" * 300),
               _kind("fifo", tarfile.FIFOTYPE), _kind("dev", tarfile.CHRTYPE, devmajor=1, devminor=3)]
    if fmt != tarfile.USTAR_FORMAT:  # names ustar cannot hold, and numbers past its octal fields
        members += [_file(LONG, b"long"), _kind(LONG + "-link", tarfile.LNKTYPE, linkname=LONG),
                    _kind("long-link", tarfile.SYMTYPE, linkname="t/" * 70 + "x"),
                    _file("big-ids", b"ids", uid=8**8, gid=8**9, mtime=8**12), _kind("d" * 120 + "/", tarfile.DIRTYPE)]
    path = _write(tmp_path / "a.tar", fmt, members, pax)
    expected = with_tarfile(path)
    assert expected[0] == "listed" and len(expected[1][0]) == len(members)
    assert with_tarlist(path) == expected


def test_every_hostile_archive_is_listed_as_tarfile_lists_it(goldens: dict[str, Path], tmp_path: Path) -> None:
    good = Good.of(goldens["single-gguf-docker"])
    for attack, make in HOSTILE.items():
        archive = make(good, tmp_path / f"{attack}.tar")
        assert with_tarlist(archive) == with_tarfile(archive), attack


def test_archives_cut_anywhere_end_where_tarfile_ends_them(goldens: dict[str, Path], tmp_path: Path) -> None:
    data = goldens["single-gguf-docker"].read_bytes()
    cuts = sorted({0, 1, 100, 511, 512, 513, *range(1024, len(data), 509), *range(0, len(data), 512)})
    for cut in cuts:
        path = tmp_path / "cut.tar"
        path.write_bytes(data[:cut])
        assert with_tarlist(path) == with_tarfile(path), cut


def _headers(path: Path) -> list[int]:
    with tarfile.open(path) as tar:
        starts = [m.offset for m in tar.getmembers()]
    out = []
    for start in starts:  # the header blocks of each member: its extended headers and its own
        at = start
        while True:
            out.append(at)
            block = path.read_bytes()[at: at + 512]
            if block[156:157] not in (b"x", b"g", b"L", b"K"):
                break
            size = int(block[124:136].rstrip(b"\0 ") or b"0", 8)
            at += 512 + -(-size // 512) * 512
    return out


def test_a_changed_header_byte_is_read_as_tarfile_reads_it(tmp_path: Path) -> None:
    """Fifteen hundred archives, each with one header byte changed (seeded): the same outcome as tarfile's,
    unless tarfile crashed or looped, or the change made a member this listing refuses (negative size,
    sparse, an extended header past its bound): then a refusal, never a crash."""
    members = [_file("oci-layout", b"{}"), _kind("blobs/", tarfile.DIRTYPE), _file("a/" * 60 + "f", b"p" * 700),
               _file(LONG, b"long"), _kind("s", tarfile.SYMTYPE, linkname="t"), _file("index.json", b"[]" * 10)]
    sources = [_write(tmp_path / "pax.tar", tarfile.PAX_FORMAT, members, {"g": "1"}),
               _write(tmp_path / "gnu.tar", tarfile.GNU_FORMAT, members)]
    rng = random.Random(20)
    seen: dict[str, int] = {}
    for n in range(1500):
        source = sources[n % 2]
        data = bytearray(source.read_bytes())
        at = rng.choice(_headers(source)) + rng.choice([*range(0, 100, 7), *range(100, 157), 157, 257, 263,
                                                         *range(329, 345), 345, 400, 482, 500])
        data[at] = rng.choice([0, 0x20, *b"01234567", 0x80, 0xFF, ord("x"), ord("g"), ord("L"), ord("S"),
                               ord("/"), rng.randrange(256)])
        path = tmp_path / "changed.tar"
        path.write_bytes(bytes(data))
        expected, found = with_tarfile(path), with_tarlist(path)
        if found == expected:
            seen["same"] = seen.get("same", 0) + 1
            continue
        assert found[0] == "unreadable", (n, at, expected, found)
        reason = found[1]
        assert expected[0] == "crash" or any(word in reason for word in ("negative size", "sparse",
                                                                          "extended header")), (n, at, expected, found)
        seen[expected[0]] = seen.get(expected[0], 0) + 1
    assert seen["same"] > 1450, seen


# --- what tarfile did not bound -----------------------------------------------------------------------------


def _raw_header(name: bytes, size: bytes, kind: bytes = b"0") -> bytes:
    """One ustar header with a size field given as its 12 raw bytes (octal text or base-256)."""
    block = bytearray(512)
    block[0:len(name)] = name
    block[100:108], block[108:116], block[116:124] = b"0000644\0", b"0000000\0", b"0000000\0"
    block[124:136], block[136:148] = size, b"00000000000\0"
    block[156:157], block[257:265], block[148:156] = kind, b"ustar\x0000", b" " * 8
    block[148:156] = b"%06o\0 " % sum(block)
    return bytes(block)


def _base256(n: int) -> bytes:
    return (b"\xff" + (256**11 + n).to_bytes(11, "big")) if n < 0 else b"\x80" + n.to_bytes(11, "big")


def _cli_error(cli: Any, path: Path) -> list[str]:
    lines = []
    for command in (["verify", str(path)], ["inspect", str(path)]):
        result = cli(*command)
        assert result.code == 1 and "internal error" not in result.stderr, result.stderr
        lines.append(result.stderr.splitlines()[0])
    return lines


def negative_size(dst: Path) -> tuple[Path, str]:
    """A member at 512 whose size is -512: tarfile goes back to it, and lists it again, without end."""
    dst.write_bytes(_raw_header(b"a", b"00000000000\0") + _raw_header(b"b", _base256(-512)) + b"\0" * 1024)
    return dst, "member `b` has a negative size (-512)"


def huge_pax_header(dst: Path) -> tuple[Path, str]:
    """A pax header claiming 2**62 bytes: tarfile allocates them before reading (MemoryError)."""
    dst.write_bytes(_raw_header(b"ext", _base256(1 << 62), b"x") + b"20 path=aaaaaaaaaaa\n" + b"\0" * 2000)
    return dst, f"the extended header at offset 0 holds {1 << 62} bytes; at most {1 << 20} are read"


def endless_long_names(dst: Path) -> tuple[Path, str]:
    """Two thousand GNU long names in a row: tarfile recurses once for each (RecursionError)."""
    name = b"n" * 20 + b"\0"
    dst.write_bytes((_raw_header(b"././@LongLink", b"%011o\0" % len(name), b"L") + name.ljust(512, b"\0")) * 2000
                    + _raw_header(b"f", b"00000000000\0") + b"\0" * 1024)
    return dst, "member at offset 0 has more than 64 extended headers"


#: Tars whose headers lie, each with the reason every reader gives for it (tests/test_hostile_archives.py).
HEADER_ATTACKS: dict[str, Callable[[Path], tuple[Path, str]]] = {
    "negative_size": negative_size,
    "huge_pax_header": huge_pax_header,
    "endless_long_names": endless_long_names,
}


def test_a_member_with_a_negative_size_is_refused_not_read_again_forever(tmp_path: Path, cli) -> None:
    """tarfile goes back by the size: to the header before, again and again (a member at 512 with size -512:
    listed without end), or before the start of the file (an internal error)."""
    looping, _ = negative_size(tmp_path / "loop.tar")
    assert with_tarfile(looping) == ("crash", "loop")
    before = tmp_path / "before.tar"
    before.write_bytes(_raw_header(b"a", _base256(-1024)) + b"\0" * 1024)
    assert with_tarfile(before) == ("crash", "OSError")
    pax = tmp_path / "pax.tar"
    record = b"13 size=-512\n"
    pax.write_bytes(_raw_header(b"x", b"%011o\0" % len(record), b"x") + record.ljust(512, b"\0")
                    + _raw_header(b"c", b"00000000000\0") + b"\0" * 1024)
    for path, name, size in [(looping, "b", -512), (before, "a", -1024), (pax, "c", -512)]:
        error = f"error: `{path.name}` is not a readable tar archive: member `{name}` has a negative size ({size})"
        assert _cli_error(cli, path) == [error, error]


def test_an_extended_header_claiming_gigabytes_is_refused_before_anything_is_allocated(tmp_path: Path,
                                                                                      cli) -> None:
    """tarfile allocates the size a pax header or GNU long name claims before reading it (2**62 bytes: a
    MemoryError, an internal error); this listing reads at most 1 MiB of one."""
    path, reason = huge_pax_header(tmp_path / "x.tar")
    long_name = tmp_path / "L.tar"
    long_name.write_bytes(_raw_header(b"ext", _base256(1 << 62), b"L") + path.read_bytes()[512:])
    for archive in (path, long_name):
        assert with_tarfile(archive) == ("crash", "MemoryError")
        error = f"error: `{archive.name}` is not a readable tar archive: {reason}"
        assert _cli_error(cli, archive) == [error, error]


def test_extended_headers_without_end_are_refused_not_recursed_into(tmp_path: Path, cli) -> None:
    """Two thousand GNU long names in a row: tarfile recurses once for each (RecursionError)."""
    path, reason = endless_long_names(tmp_path / "chain.tar")
    assert with_tarfile(path) == ("crash", "RecursionError")
    error = f"error: `{path.name}` is not a readable tar archive: {reason}"
    assert _cli_error(cli, path) == [error, error]


def test_members_past_the_bound_are_refused(tmp_path: Path) -> None:
    path = _write(tmp_path / "many.tar", tarfile.USTAR_FORMAT, [_file(f"f{i}") for i in range(11)])
    assert with_tarlist(path, TarLimits(members=11))[0] == "listed"
    assert with_tarlist(path, TarLimits(members=10)) == ("unreadable", "it has more than 10 members")


def test_extended_headers_past_their_bound_in_all_are_refused(tmp_path: Path) -> None:
    """Every member keeps its pax records: a long pax path on each of many members is bounded in all."""
    path = _write(tmp_path / "many.tar", tarfile.PAX_FORMAT, [_file("p" * 150 + str(i)) for i in range(10)])
    assert with_tarlist(path, TarLimits(extended_total=10 * 512))[0] == "listed"
    assert with_tarlist(path, TarLimits(extended_total=9 * 170)) == (
        "unreadable", f"its extended headers hold more than {9 * 170} bytes")


def test_a_gnu_sparse_member_is_refused(tmp_path: Path) -> None:
    """Its bytes are not where its header points (tarfile would show the stored runs as the file)."""
    path = tmp_path / "sparse.tar"
    path.write_bytes(_raw_header(b"blobs/sha256/s", b"00000000000\0", b"S") + b"\0" * 1024)
    assert with_tarlist(path) == ("unreadable", "member `blobs/sha256/s` is a GNU sparse file, which a layout "
                                                "does not hold")


def test_reading_a_member_cut_short_is_a_problem_not_an_internal_error(goldens: dict[str, Path], tmp_path: Path,
                                                                       cli) -> None:
    """tarfile raised ReadError reading a member the archive ends inside (index.json here): verify ended in an
    internal error. Now the member reads short, and verify names the cut and what it broke."""
    good = goldens["single-gguf-docker"]
    index = TarLayout(good)
    cut = index.locate("index.json")[1] + 100
    index.close()  # its listing stays
    path = tmp_path / "cut.tar"
    path.write_bytes(good.read_bytes()[:cut])
    size = index.size("index.json")
    messages = [p.message for p in verify(path).problems]
    assert messages[:2] == [f"archive member `index.json` is cut short: the archive ends before its {size} bytes",
                            "`oci-layout` is missing"]  # it came after index.json
    assert messages[2].startswith("index.json is not valid JSON: ") and len(messages) == 3
    result = cli("verify", str(path))
    assert result.code == 1 and "internal error" not in result.stderr
