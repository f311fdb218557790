"""What a modelcar costs against Docker's format: the same 2 GiB model built both ways in the same run.

    python bench/modelcar.py [--runs 3] [--mib 2048] [--no-write]

One model of one random safetensors file (``--mib`` MiB, default 2 GiB: nothing
compresses or dedupes), built alternately with ``build -o ARCHIVE --no-cache``
(Docker's format: the file is the layer) and ``build --format modelcar -o
ARCHIVE --no-cache`` (the file wrapped in a tar layer: the head written, the
file copied in the kernel, the tail written, and one read hashing both the
layer and the file, on two threads). Each build is its own process, timed after
``sync`` (bench/run.py's ``timed``), with its peak RSS; the medians are compared.
The target: a modelcar build costs at most 1.15 times the Docker-format build.
The SHA-256 floor (one hash of the file, in this process) is measured too, and
a third build: a modelcar whose file's digest the digest cache already holds
(from a Docker-format build of it, untimed, into a fresh cache), so that only
its tar is hashed.

Writes ``bench/MODELCAR.md`` (unless ``--no-write``).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from registry import machine
from run import MODELOCI, WORK, median, settle, timed, write_random_safetensors

REPO = Path(__file__).resolve().parents[1]
TARGET = 1.15
FORMATS = ("docker", "modelcar")
CACHED = "modelcar, file digest cached"


def model(mib: int) -> Path:
    """A folder holding one random safetensors file of ``mib`` MiB and its Modelfile (the file reused if there)."""
    folder = WORK / "modelcar-model"
    folder.mkdir(parents=True, exist_ok=True)
    write_random_safetensors(folder / "model.safetensors", mib)
    (folder / "Modelfile").write_text("FROM scratch\nWEIGHTS model.safetensors\n")
    return folder / "Modelfile"


def sha_floor(path: Path) -> float:
    """Seconds to SHA-256 the file once, in this process (what any build must at least spend)."""
    settle()
    start = time.perf_counter()
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(4 << 20):
            digest.update(chunk)
    return time.perf_counter() - start


def run(modelfile: Path, runs: int, env: dict[str, str]) -> dict[str, list[tuple[float, int]]]:
    """Alternate the two builds ``runs`` times: format -> [(seconds, peak RSS KiB)]."""
    out = WORK / "modelcar-out.tar"
    found: dict[str, list[tuple[float, int]]] = {fmt: [] for fmt in (*FORMATS, CACHED)}
    build = [*MODELOCI, "build", "-f", str(modelfile), "-o", str(out), "--quiet"]
    for _ in range(runs):
        for fmt in FORMATS:
            out.unlink(missing_ok=True)
            found[fmt].append(timed([*build, "--format", fmt, "--no-cache"], env=env))
        shutil.rmtree(WORK / "cache", ignore_errors=True)
        timed([*build, "--format", "docker"], env=env)  # fills the cache with the file's digest (untimed)
        out.unlink(missing_ok=True)
        found[CACHED].append(timed([*build, "--format", "modelcar"], env=env))
    out.unlink(missing_ok=True)
    return found


def report(found: dict[str, list[tuple[float, int]]], floor: float, mib: int, runs: int, load: str) -> str:
    seconds = {fmt: median([t for t, _ in found[fmt]]) for fmt in found}
    ratio = seconds["modelcar"] / seconds["docker"]
    verdict = "meets" if ratio <= TARGET else "misses"
    rows = "\n".join(
        f"| {fmt} | {seconds[fmt]:.2f} | {', '.join(f'{t:.2f}' for t, _ in found[fmt])} | "
        f"{mib / 1024 / seconds[fmt]:.2f} | {max(r for _, r in found[fmt]) / 1024:.0f} |" for fmt in found)
    return f"""# A modelcar build against a Docker-format build

`python bench/modelcar.py --runs {runs} --mib {mib}` on {machine()}.

One random safetensors file of {mib} MiB, built `--no-cache` into an archive, each format {runs} times,
alternately, each build its own process after `sync`. SHA-256 of the file once, in one process: {floor:.2f} s.

| format | median s | runs (s) | GiB/s | peak RSS (MiB) |
|---|---|---|---|---|
{rows}

**modelcar / docker: {ratio:.3f}** (target at most {TARGET}: {verdict} it); with the file's digest cached:
{seconds[CACHED] / seconds["docker"]:.3f}.

Where the time goes: a Docker-format build copies the file in the kernel and hashes it once. A modelcar build
writes a few KiB of tar header, copies the file in the kernel behind it, and hashes it twice, for the layer's
digest and the file's (which convert and unpack use): one read, each chunk hashed on two threads at once. So it
needs about twice the CPU of a Docker-format build; the second hash is free only where a core is free for it
(load average during this run: {load}). With the file's digest already in the digest cache (a build of it in
another format), the tar alone is hashed: one hash, as for Docker's format.
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--mib", type=int, default=2048)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    env = {**os.environ, "XDG_CACHE_HOME": str(WORK / "cache"), "MODELOCI_HOME": str(WORK / "home")}
    env.pop("SOURCE_DATE_EPOCH", None)
    modelfile = model(args.mib)
    floor = sha_floor(modelfile.parent / "model.safetensors")
    found = run(modelfile, args.runs, env)
    text = report(found, floor, args.mib, args.runs, " / ".join(f"{n:.1f}" for n in os.getloadavg()))
    print(text)
    if not args.no_write:
        (REPO / "bench" / "MODELCAR.md").write_text(text)
    shutil.rmtree(WORK / "home", ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
