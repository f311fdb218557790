"""What ``verify --rebuild`` costs: one hash pass over the model's files, and no copy.

For a 1 x 2 GiB model and an 8 x 256 MiB one (random bytes, run.py's models),
each built once into an archive, this measures as medians of ``--runs`` runs,
each command its own process after ``sync``:

- ``verify --rebuild -f Modelfile ARCHIVE``: the rebuild (the files hashed
  where they lie, the manifest described, the digests compared);
- ``verify ARCHIVE``: every blob of the archive hashed once, for comparison;
- the floor: ``hashlib.sha256`` over the same files, one thread per core.

Besides time and peak RSS it records what each run wrote to disk (``wait4``'s
``ru_oublock``, 512-byte blocks): a rebuild that copied the weights would show
gigabytes there. Results go to bench/REBUILD.md (or ``--output``)::

    .venv/bin/python bench/rebuild.py [--runs 3] [--src OTHER/src] [--output FILE]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from run import MODELOCI, REPO, WORK, hashing_floor, make_model, median, settle

SHAPES = {"1 x 2 GiB": (1, 2048), "8 x 256 MiB": (8, 256)}


def measured(cmd: list[str], env: dict[str, str]) -> tuple[float, int, int]:
    """Wall time, peak RSS (KiB) and bytes written to disk of one command run as a child process."""
    settle()
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    out = proc.stdout.read().decode() if proc.stdout else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"benchmark command failed: {' '.join(cmd)}\n{out}{proc.stderr.read().decode()}")
    return elapsed, usage.ru_maxrss, usage.ru_oublock * 512


def bench(name: str, runs: int, env: dict[str, str]) -> dict[str, tuple[float, int, int]]:
    folder = make_model(name, *SHAPES[name])
    modelfile, archive = str(folder / "Modelfile"), WORK / "rebuild-target.tar"
    archive.unlink(missing_ok=True)
    measured([*MODELOCI, "build", "-f", modelfile, "-o", str(archive), "--no-cache", "-q"], env)
    commands = {"verify --rebuild": ["verify", "--rebuild", "-f", modelfile, str(archive)],
                "verify (every blob of the archive)": ["verify", str(archive)]}
    results: dict[str, tuple[float, int, int]] = {}
    for label, args in commands.items():
        samples = [measured([*MODELOCI, *args], env) for _ in range(runs)]
        results[label] = (median([s[0] for s in samples]), max(s[1] for s in samples), max(s[2] for s in samples))
    floors = []
    for _ in range(runs):
        settle()
        floors.append(hashing_floor(folder))
    results["floor: sha256, a thread per core"] = (median(floors), 0, 0)
    archive.unlink(missing_ok=True)
    return results


def report(shapes: dict[str, dict[str, tuple[float, int, int]]], runs: int, src: str) -> str:
    lines = [
        "# Proving a build by rebuilding it: what `verify --rebuild` costs",
        "",
        f"Machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, {time.strftime('%Y-%m-%d')}; "
        f"code: `{src}`; models of random bytes; medians of {runs} runs, each command its own process after "
        "`sync`. Written: what the process wrote to disk (`ru_oublock`); the rebuild opens no file for writing "
        "(checked with `strace`), so the few KiB it may show are the kernel's bookkeeping, not a copy. "
        "Regenerate with `.venv/bin/python bench/rebuild.py`.",
        "",
        "| model | command | time | / hash floor | peak RSS | written |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for name, results in shapes.items():
        floor = results["floor: sha256, a thread per core"][0]
        for label, (elapsed, peak, written) in results.items():
            rss = f"{peak / 1024:.0f} MiB" if peak else ""
            wrote = f"{written / 1024:.0f} KiB" if peak else ""
            lines.append(f"| {name} | {label} | {elapsed:.2f} s | {elapsed / floor:.2f} | {rss} | {wrote} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--src", type=Path, default=REPO / "src", help="the modeloci sources to measure")
    parser.add_argument("--output", type=Path, default=REPO / "bench" / "REBUILD.md")
    args = parser.parse_args(argv)
    WORK.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "XDG_CACHE_HOME": str(WORK / "cache"), "MODELOCI_HOME": str(WORK / "rebuild-store"),
           "PYTHONPATH": str(args.src.resolve())}
    env.pop("SOURCE_DATE_EPOCH", None)
    shapes = {name: bench(name, args.runs, env) for name in SHAPES}
    for name, results in shapes.items():
        for label, (elapsed, peak, written) in results.items():
            print(f"{name}, {label}: {elapsed:.2f} s, {peak // 1024} MiB, {written // 1024} KiB written", flush=True)
    args.output.write_text(report(shapes, args.runs, str(args.src)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
