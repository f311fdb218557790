"""Benchmark: reading GGUF metadata, modeloci's reader against gguf-py's GGUFReader.

Times each file of ../shared/corpus/gguf (and the examples) in the same run,
several times, and reports medians. Both readers go through the OS page cache
(the files are read once before timing).

    .venv/bin/python bench/metadata.py [--runs 5]
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus" / "gguf"


def _time(func, runs: int) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        func()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def run(runs: int) -> list[dict[str, object]]:
    from modeloci.model.gguf import read_gguf_header

    try:
        import gguf
    except ImportError:
        gguf = None
    files = sorted(CORPUS.glob("*.gguf")) + sorted((REPO / "examples").glob("*/*.gguf"))
    rows = []
    for path in files:
        path.read_bytes()  # warm the page cache for both readers
        ours = _time(functools.partial(read_gguf_header, path), runs)
        theirs = _time(functools.partial(gguf.GGUFReader, str(path)), max(1, runs // 2)) if gguf else None
        rows.append({"file": path.name, "size": path.stat().st_size, "ours_ms": ours * 1000,
                     "gguf_py_ms": theirs * 1000 if theirs else None})
    return rows


def markdown(rows: list[dict[str, object]], runs: int) -> str:
    lines = [
        "## GGUF metadata reading",
        "",
        f"Median of {runs} runs per file (GGUFReader: {max(1, runs // 2)} runs), page cache warm, same process.",
        "",
        "| file | size | modeloci | gguf-py GGUFReader | speed-up |",
        "|---|---:|---:|---:|---:|",
    ]
    for row in rows:
        theirs = row["gguf_py_ms"]
        ratio = f"{theirs / row['ours_ms']:.0f}x" if theirs else "n/a"
        theirs_text = f"{theirs:.1f} ms" if theirs else "not installed"
        lines.append(f"| {row['file']} | {row['size']:,} B | {row['ours_ms']:.2f} ms | {theirs_text} | {ratio} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    rows = run(args.runs)
    sys.stdout.write(markdown(rows, args.runs))
    slowest = max(row["ours_ms"] for row in rows)
    return 0 if slowest <= 100 else 1


if __name__ == "__main__":
    sys.exit(main())
