"""What checking every copied blob costs: convert, save, load and unpack of a 2 GiB model, against the floors.

Since the trust-boundary work, every command that copies a blob out of an
archive or the store hashes it on the way (convert and save used to copy
without looking). This measures, as medians of ``--runs`` runs, each command
run as its own process:

- ``convert`` of a 2 GiB archive to ModelPack, ``save`` of it from the store,
  ``load`` of the archive into an empty store, ``unpack`` from the store;
- the floors: the kernel copying the same bytes (``copy_file_range``) and
  ``hashlib.sha256`` over them, one thread per core (run.py's floors).

``--src DIR`` runs another checkout's ``src`` instead (for a before/after).
Results go to bench/INTEGRITY.md (or ``--output``)::

    .venv/bin/python bench/integrity.py [--runs 3] [--src OTHER/src] [--output FILE]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

from run import MODELOCI, REPO, WORK, copy_floor, hashing_floor, make_model, median, timed


def bench(runs: int, env: dict[str, str]) -> dict[str, tuple[float, int]]:
    folder = make_model("1 x 2 GiB", 1, 2048)
    archive, store, loaded = WORK / "integrity-src.tar", WORK / "integrity-store", WORK / "integrity-loaded"
    shutil.rmtree(store, ignore_errors=True)
    timed([*MODELOCI, "build", "-f", str(folder / "Modelfile"), "-o", str(archive), "-t", "bench:1"],
          env={**env, "MODELOCI_HOME": str(store)})
    timed([*MODELOCI, "load", str(archive)], env={**env, "MODELOCI_HOME": str(store)})
    commands = {
        "convert (archive to ModelPack archive)": ["convert", str(archive), "--format", "modelpack",
                                                   "-o", str(WORK / "integrity-converted.tar")],
        "save (store to archive)": ["save", "bench:1", "-o", str(WORK / "integrity-saved.tar")],
        "load (archive to an empty store)": ["load", str(archive)],
        "unpack (store to files)": ["unpack", "bench:1", "-o", str(WORK / "integrity-unpacked"), "--layout", "files"],
    }
    results: dict[str, tuple[float, int]] = {}
    for name, args in commands.items():
        samples, peaks = [], []
        for _ in range(runs):
            shutil.rmtree(loaded, ignore_errors=True)
            shutil.rmtree(WORK / "integrity-unpacked", ignore_errors=True)
            for output in ("integrity-converted.tar", "integrity-saved.tar"):  # a new file, not one renamed over
                (WORK / output).unlink(missing_ok=True)  # an old one (ext4 flushes those: issue 20's business)
            home = loaded if name.startswith("load") else store
            elapsed, peak = timed([*MODELOCI, *args], env={**env, "MODELOCI_HOME": str(home)})
            samples.append(elapsed)
            peaks.append(peak)
        results[name] = (median(samples), max(peaks))
    results["floor: kernel copy"] = (median([copy_floor(folder) for _ in range(runs)]), 0)
    results["floor: sha256, a thread per core"] = (median([hashing_floor(folder) for _ in range(runs)]), 0)
    for leftover in ("integrity-converted.tar", "integrity-saved.tar", "integrity-src.tar"):
        (WORK / leftover).unlink(missing_ok=True)
    shutil.rmtree(WORK / "integrity-unpacked", ignore_errors=True)
    shutil.rmtree(loaded, ignore_errors=True)
    shutil.rmtree(store, ignore_errors=True)
    return results


def report(results: dict[str, tuple[float, int]], runs: int, src: str) -> str:
    lines = [
        "# Checked copies: what hashing every copied blob costs",
        "",
        f"Machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, {time.strftime('%Y-%m-%d')}; "
        f"code: `{src}`; one 2 GiB model of random bytes; medians of {runs} runs. "
        "Regenerate with `.venv/bin/python bench/integrity.py`.",
        "",
        "| command | time | peak RSS |",
        "|---|---:|---:|",
    ]
    for name, (elapsed, peak) in results.items():
        lines.append(f"| {name} | {elapsed:.2f} s | {f'{peak / 1024:.0f} MiB' if peak else ''} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--src", type=Path, default=REPO / "src", help="the modeloci sources to measure")
    parser.add_argument("--output", type=Path, default=REPO / "bench" / "INTEGRITY.md")
    args = parser.parse_args(argv)
    WORK.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "XDG_CACHE_HOME": str(WORK / "cache"), "PYTHONPATH": str(args.src.resolve())}
    results = bench(args.runs, env)
    for name, (elapsed, peak) in results.items():
        print(f"{name}: {elapsed:.2f} s, {peak // 1024} MiB", flush=True)
    args.output.write_text(report(results, args.runs, str(args.src)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
