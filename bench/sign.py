"""Signing a 2 GiB model in the OpenSSF Model Signing format: the manifest is read, never a weight byte.

    .venv/bin/python bench/sign.py [--runs 5] [--mib 2048]

Builds a model of two random-bytes safetensors files (``--mib`` in all) as a
layout folder, into the store and as an archive, then times signing each with
an ECDSA P-256 key (what ``modeloci sign`` runs: read the manifest, make the
statement and the bundle, attach the referrer), in this process, from a cold
page cache where the system lets us drop it. It reports the median, and the
bytes the process read from storage and through ``read`` while signing (from
``/proc/self/io``), which stay in kilobytes: no weight byte is read.

Attaching to an archive rewrites it (a tar cannot grow an entry in its index
in place): its blobs are copied in the kernel with ``copy_file_range``, not
read by modeloci, but the copy costs what the file system makes it cost (a
reflink on btrfs or XFS, a real copy on ext4); that time is shown apart, with
what one ``copy_file_range`` of the archive costs on this disk.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from run import WORK, write_random_safetensors  # noqa: E402

from modeloci import api  # noqa: E402
from modeloci.attest.keys import load_signer  # noqa: E402
from modeloci.ops.sign import sign  # noqa: E402
from modeloci.sources import Source, StoredRef  # noqa: E402
from modeloci.store import Store  # noqa: E402
from modeloci.store.ops import load  # noqa: E402

MiB = 1 << 20


def io_counters() -> dict[str, int]:
    """This process's ``rchar`` (bytes through read calls) and ``read_bytes`` (bytes fetched from storage)."""
    fields = dict(line.split(": ") for line in Path("/proc/self/io").read_text().splitlines())
    return {"rchar": int(fields["rchar"]), "read_bytes": int(fields["read_bytes"])}


def drop_caches() -> bool:
    """Drop the page cache (root only), so a read of the weights would show as storage reads and time."""
    os.sync()
    try:
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
    except OSError:
        return False
    return True


def timed(run: Callable[[], object], runs: int, before: Callable[[], None]) -> tuple[float, dict[str, int]]:
    """Median seconds of ``runs`` runs of ``run`` (``before`` each), and the most it read in one run."""
    samples, most = [], {"rchar": 0, "read_bytes": 0}
    for _ in range(runs):
        before()
        start_io, start = io_counters(), time.perf_counter()
        run()
        samples.append(time.perf_counter() - start)
        end_io = io_counters()
        most = {k: max(most[k], end_io[k] - start_io[k]) for k in most}
    return statistics.median(samples), most


def make_model(folder: Path, mib: int) -> Path:
    """A Modelfile over two safetensors files of ``mib`` MiB in all; returns the Modelfile."""
    weights = folder / "weights"
    weights.mkdir(parents=True, exist_ok=True)
    for n in (1, 2):
        write_random_safetensors(weights / f"model-0000{n}-of-00002.safetensors", mib // 2)
    (folder / "Modelfile").write_text("FROM scratch\nWEIGHTS weights\n")
    return folder / "Modelfile"


def copy_cost(archive: Path) -> float:
    """Seconds for one kernel copy of the archive into a new file beside it (what attaching to it costs)."""
    target = archive.with_suffix(".copy")
    start = time.perf_counter()
    with archive.open("rb") as src, target.open("wb") as dst:
        remaining = archive.stat().st_size
        while remaining:
            remaining -= os.copy_file_range(src.fileno(), dst.fileno(), remaining)
    elapsed = time.perf_counter() - start
    target.unlink()
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--mib", type=int, default=2048, help="the model's size in MiB (default 2048: 2 GiB)")
    args = parser.parse_args(argv)
    WORK.mkdir(parents=True, exist_ok=True)
    home = Path(tempfile.mkdtemp(prefix="sign-", dir=WORK))
    os.environ["MODELOCI_HOME"] = str(home / "store")
    try:
        modelfile = make_model(WORK / "sign-model", args.mib)
        key = ec.generate_private_key(ec.SECP256R1())
        (home / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption()))
        signer = load_signer(home / "key.pem")
        layout, archive = home / "layout", home / "model.tar"
        api.build(modelfile, layout=layout, created=1750000000)
        api.build(modelfile, archive, created=1750000000)
        load(Store(), archive, reference="bench/signed:1")
        cold = drop_caches()
        print(f"model: {args.mib} MiB in 2 files; page cache {'dropped' if cold else 'kept (not root)'} before "
              f"each run; median of {args.runs}")
        sources: dict[str, Source] = {"layout folder": layout, "stored model": StoredRef("bench/signed:1",
                                                                                          Store().root)}
        for name, source in sources.items():
            seconds, read = timed(lambda s=source: sign(s, signer), args.runs, drop_caches)
            print(f"sign, {name}: {seconds:.3f} s (read {read['rchar'] / 1024:.0f} KiB through read(), "
                  f"{read['read_bytes'] / 1024:.0f} KiB from storage)")
        seconds, _ = timed(lambda: sign(archive, signer), 1, drop_caches)
        print(f"sign, archive (first signature: the archive rewritten): {seconds:.3f} s; one kernel copy of it: "
              f"{copy_cost(archive):.3f} s")
        seconds, read = timed(lambda: sign(archive, signer), args.runs, drop_caches)
        print(f"sign, archive (signed again: the same referrer, nothing rewritten): {seconds:.3f} s (read "
              f"{read['rchar'] / 1024:.0f} KiB through read())")
    finally:
        shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
