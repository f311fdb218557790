"""Verify's hashing of many blobs (:mod:`modeloci.blobs.check`): every blob's digest, in order, with every check
one blob at a time made (the file in the state recorded, unchanged after it is read, a short read named), while
workers keep one buffer and one open file each, and a lone blob is read ahead on a spare core."""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from modeloci import api
from modeloci.blobs.check import digests
from modeloci.blobs.engine import BlobSource, Cancelled, FileState
from modeloci.oci.digest import Digest
from modeloci.ops.verify import verify
from tests.archive_tools import Archive, copy_example
from tests.hostile_archives import blob_name, flip_bit, member


def _blobs(path: Path, sizes: list[int]) -> tuple[list[BlobSource], list[Digest]]:
    """One file holding a blob of each size back to back (as an archive does), its sources and digests."""
    datas = [os.urandom(size) for size in sizes]
    path.write_bytes(b"".join(datas))
    state = FileState.from_stat(path.stat())
    sources, offset = [], 0
    for i, data in enumerate(datas):
        sources.append(BlobSource(path, offset, len(data), f"layer {i + 1}", state))
        offset += len(data)
    return sources, [Digest(hashlib.sha256(d).hexdigest()) for d in datas]


@pytest.mark.parametrize("threads", [1, 2, 3, 8])
def test_many_blobs_in_one_file_get_their_own_digests_in_order(tmp_path: Path, threads: int) -> None:
    sizes = [0, 1, 4095, 1 << 20, (1 << 20) + 1, 3 * (1 << 20) + 7, *range(1, 200, 13)]
    sources, expected = _blobs(tmp_path / "a.tar", sizes)
    assert digests(sources, threads=threads) == expected


def test_blobs_of_many_files_are_each_opened_in_their_own_state(tmp_path: Path) -> None:
    """A worker keeps the file it read last open only for blobs of that file in that state."""
    sources: list[BlobSource] = []
    expected: list[Digest] = []
    for i in range(6):
        one, digest = _blobs(tmp_path / f"{i}.bin", [1000 + i, 2000])
        sources += one
        expected += digest
    assert digests(sources, threads=2) == expected


def test_a_blob_recorded_in_another_state_of_an_open_file_is_not_read_through_it(tmp_path: Path) -> None:
    """Two blobs of one file, the second recorded when the file was otherwise (as a file replaced between the
    looks): the first is hashed; the worker must not read the second through the file it holds open."""
    sources, expected = _blobs(tmp_path / "a.tar", [100, 100])
    sources[1] = replace(sources[1], state=replace(sources[1].state, mtime_ns=sources[1].state.mtime_ns + 1))
    assert digests(sources, threads=1) == [expected[0],
                                           "the file changed since the build looked at it"]


def test_a_file_cut_short_is_named_for_its_blobs_and_the_others_are_hashed(tmp_path: Path) -> None:
    sources, expected = _blobs(tmp_path / "a.tar", [300, 300, 300])
    with (tmp_path / "a.tar").open("r+b") as f:
        f.truncate(450)
    # Recorded as it is now, so that only the read tells: the second blob ends past the end, the third starts past it.
    now = FileState.from_stat((tmp_path / "a.tar").stat())
    cut = [BlobSource(s.path, s.offset, s.size, s.label, now) for s in sources]
    found = digests(cut, threads=1)
    assert found == [expected[0], "the file shrank while it was being read",
                     "the file shrank while it was being read"]


def test_a_lone_blob_read_ahead_gets_its_digest_and_its_checks(tmp_path: Path) -> None:
    """One blob on two cores: read ahead in chunks of 4 MiB by a helper; a cut and a change are still named."""
    sources, expected = _blobs(tmp_path / "big.bin", [9 * (1 << 20) + 5])
    assert digests(sources, threads=2) == expected
    with (tmp_path / "big.bin").open("r+b") as f:
        f.truncate(5 << 20)
    assert digests(sources, threads=2) == ["the file changed since the build looked at it"]
    now = FileState.from_stat((tmp_path / "big.bin").stat())
    assert digests([BlobSource(sources[0].path, 0, sources[0].size, "layer 1", now)], threads=2) == [
        "the file shrank while it was being read"]


def test_a_cancelled_check_stops(tmp_path: Path) -> None:
    """Ctrl-C while hashing: the workers stop at their next chunk and the interrupt reaches the caller."""
    sources, _ = _blobs(tmp_path / "a.tar", [1 << 20] * 4)
    calls = 0
    real = threading.Event.is_set

    def interrupted(self: threading.Event) -> bool:
        nonlocal calls
        calls += 1
        return True if calls > 1 else real(self)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(threading.Event, "is_set", interrupted)
        with pytest.raises(Cancelled):
            digests(sources, threads=2)


def test_one_changed_blob_among_many_is_named_by_verify(tmp_path: Path) -> None:
    """hf-safetensors' layers hashed by workers that share the archive's file: a bit flipped in one of them is
    that layer's error, and only that one."""
    good = tmp_path / "good.tar"
    api.build(copy_example("hf-safetensors", tmp_path), good, reference="hf:1")
    layers = Archive.read(good).manifest["layers"]
    assert len(layers) >= 3
    target = layers[len(layers) // 2]
    bad = flip_bit(good, tmp_path / "bad.tar", blob_name(target["digest"]), at=target["size"] // 2)
    data = bad.read_bytes()
    start = member(bad, blob_name(target["digest"])).offset_data
    found = Digest(hashlib.sha256(data[start: start + target["size"]]).hexdigest())
    report = verify(bad)
    i = layers.index(target) + 1
    assert [p.message for p in report.problems] == [
        f"layer {i} blob {target['digest']} does not match its digest: its content is {found}"]
    assert report.blobs_checked == len(layers)
