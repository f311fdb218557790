"""How cost grows with a model's size: build, verify, push and pull of 1 to 64 GiB, seconds per GiB and peak RSS.

    python bench/scale.py [--sizes 1,4,16,64] [--no-write]

For each size S (GiB), one model of one weights file of S GiB, and in order,
each step its own process, timed after ``sync`` (bench/run.py's ``timed``):

* the write floor: the kernel copying the input into a new file
  (``copy_file_range``, bench/run.py's copy floor), what the disk itself costs;
* ``modeloci build -o ARCHIVE --no-cache`` (the input is a **sparse** file: a
  safetensors header, then S GiB of holes, so it takes no disk and reads as zeros
  at memory speed; the archive is written in full);
* ``modeloci verify ARCHIVE`` (every blob hashed again);
* ``modeloci push ARCHIVE`` into a fresh ``docker-registry`` on 127.0.0.1;
* the archive deleted, then ``modeloci pull -o ARCHIVE`` from that registry.

Build and verify need S on disk (the archive); push and pull about 2 x S at
once (the registry's copy and an archive). Steps of a size that do not fit in
``bench/.work`` (free space less 4 GiB of room for others) are skipped and
reported as such, not run: a size may be built and verified, and not pushed.
``modeloci --version`` is timed too (the command line loaded, no work), so
that start-up can be told apart from the cost per GiB (``--help`` no longer
loads it).

Writes ``bench/SCALE.md`` (unless ``--no-write``): per size and step, seconds,
seconds per GiB and peak RSS; the spread of seconds per GiB across the sizes
(target: within 15 %), and the peak RSS against the 150 MiB target.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from registry import busy, machine, registry, write_keeping_notes
from run import MODELOCI, WORK, copy_floor, median, timed

REPO = Path(__file__).resolve().parents[1]
GiB = 1 << 30
ROOM = 4 * GiB  # left free for everything else on the disk
STEPS = ("write floor", "build", "verify", "push", "pull")
FLOOR = "write floor"  # the kernel copying the input into a new file (run.copy_floor): the disk's own cost per GiB
RSS_TARGET_MIB = 150
SPREAD_TARGET = 0.15


def sparse_model(folder: Path, gib: int) -> Path:
    """A Modelfile whose one weights file is a valid safetensors header followed by ``gib`` GiB of holes."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    header = b'{"__metadata__":{"format":"pt"}}      '
    with (folder / "model.safetensors").open("wb") as out:
        out.write(len(header).to_bytes(8, "little") + header)
        out.truncate(gib * GiB)
    (folder / "Modelfile").write_text("FROM scratch\nWEIGHTS model.safetensors\n")
    return folder / "Modelfile"


def one_size(gib: int, env: dict[str, str], *, remote: bool) -> dict[str, tuple[float, int]]:
    """The steps for a model of ``gib`` GiB (push and pull only if ``remote``): step -> (seconds, peak RSS KiB)."""
    folder = WORK / f"scale-{gib}"
    archive = folder / "model.tar"
    modelfile = sparse_model(folder / "src", gib)
    found: dict[str, tuple[float, int]] = {}
    try:
        # What writing S GiB costs this disk at all, the same way a build writes its archive: with the page cache
        # holding less than the largest sizes, a build's cost per GiB follows the disk's (the report compares them).
        found[FLOOR] = (copy_floor(folder / "src"), 0)
        found["build"] = timed([*MODELOCI, "build", "-f", str(modelfile), "-o", str(archive), "--no-cache", "-q"],
                               env=env)
        found["verify"] = timed([*MODELOCI, "verify", str(archive)], env=env)
        if remote:
            with registry(WORK / "scale-registry") as host:
                reference = f"{host}/bench/scale-{gib}:1"
                found["push"] = timed([*MODELOCI, "push", str(archive), reference, "-q"], env=env)
                archive.unlink()
                found["pull"] = timed([*MODELOCI, "pull", reference, "-o", str(archive), "-q"], env=env)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return found


def fits(gib: int, copies: int) -> bool:
    """Whether ``copies`` copies of a ``gib`` GiB model fit in bench/.work, with room left for others."""
    free = shutil.disk_usage(WORK).free
    return copies * gib * GiB + ROOM <= free


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1,4,16,64", help="GiB, comma-separated (default 1,4,16,64)")
    parser.add_argument("--no-write", action="store_true", help="print the report, do not write bench/SCALE.md")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    WORK.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "MODELOCI_HOME": str(WORK / "scale-store"), "XDG_CACHE_HOME": str(WORK / "scale-cache"),
           "XDG_CONFIG_HOME": str(WORK / "config")}
    load = os.getloadavg()[0]
    startup = median([timed([*MODELOCI, "--version"], env=env)[0] for _ in range(3)])
    results: dict[int, dict[str, tuple[float, int]]] = {}
    skipped: list[tuple[int, str, int, int]] = []  # size, steps, copies needed, bytes free
    for gib in sizes:
        if not fits(gib, 1):
            skipped.append((gib, "every step", 1, shutil.disk_usage(WORK).free))
            print(f"{gib} GiB: skipped, needs {gib + ROOM // GiB} GiB free", flush=True)
            continue
        remote = fits(gib, 2)
        if not remote:
            skipped.append((gib, "push and pull", 2, shutil.disk_usage(WORK).free))
        results[gib] = one_size(gib, env, remote=remote)
        print(f"{gib} GiB: " + ", ".join(f"{s} {t:.1f} s" for s, (t, _) in results[gib].items()), flush=True)
    text = report(args.sizes, results, skipped, startup) + busy(load)
    if not args.no_write:
        write_keeping_notes(REPO / "bench" / "SCALE.md", text)
    print(text)
    shutil.rmtree(WORK / "scale-store", ignore_errors=True)
    return 0


def report(sizes: str, results: dict[int, dict[str, tuple[float, int]]], skipped: list[tuple[int, str, int, int]],
           startup: float) -> str:
    command = "python bench/scale.py" + ("" if sizes == "1,4,16,64" else f" --sizes {sizes}")
    lines = ["# Scale: build, verify, push and pull from 1 to 64 GiB", "",
             f"Made by `{command}`. Machine: {machine()}; "
             f"{_memory_gib():.0f} GiB of memory; `modeloci --version` start-up {startup:.2f} s.", "",
             "Inputs are sparse files (a safetensors header, then holes: no disk, read as zeros at memory speed); "
             "every output (archive, registry storage, pulled archive) is written in full. Push and pull go to a "
             "docker-registry on 127.0.0.1.", "",
             "| size | step | time | s/GiB | s/GiB less start-up | peak RSS |", "|---:|---|---:|---:|---:|---:|"]
    for gib, steps in results.items():
        for step, (seconds, rss) in steps.items():
            less = "" if step == FLOOR else f"{(seconds - startup) / gib:.3f}"
            shown = "" if step == FLOOR else f"{rss / 1024:.0f} MiB"
            lines.append(f"| {gib} GiB | {step} | {seconds:.2f} s | {seconds / gib:.3f} | {less} | {shown} |")
    lines += ["", "| step | s/GiB, smallest to largest size | spread (max/min - 1) | less start-up | "
              f"within {SPREAD_TARGET:.0%} | fit: fixed + per GiB | largest misfit | peak RSS, all sizes | "
              f"under {RSS_TARGET_MIB} MiB |", "|---|---|---:|---:|---|---:|---:|---:|---|"]
    for step in STEPS:
        points = [(float(g), results[g][step][0]) for g in results if step in results[g]]
        if not points:
            continue
        per = [t / g for g, t in points]
        less = [(t - startup) / g for g, t in points]
        rss = max(results[g][step][1] for g in results if step in results[g]) / 1024
        rss_shown, rss_met = ("", "") if step == FLOOR else (f"{rss:.0f} MiB", "yes" if rss < RSS_TARGET_MIB else "no")
        spread, spread_less = max(per) / min(per) - 1, max(less) / min(less) - 1
        fixed, slope, misfit = fit(points)
        lines.append(f"| {step} | {' / '.join(f'{p:.3f}' for p in per)} | {spread:.0%} | {spread_less:.0%} | "
                     f"{'yes' if spread <= SPREAD_TARGET else 'no'} | {fixed:.2f} s + {slope:.3f} s/GiB | "
                     f"{misfit:.0%} | {rss_shown} | {rss_met} |")
    lines += ["", "| size | write floor | build | build / write floor |", "|---:|---:|---:|---:|"]
    lines += [f"| {gib} GiB | {steps[FLOOR][0]:.2f} s | {steps['build'][0]:.2f} s | "
              f"{steps['build'][0] / steps[FLOOR][0]:.2f} |" for gib, steps in results.items()]
    lines += ["", "The fit is a least-squares line through the times: its fixed part is what does not grow with the "
              "size (start-up, opening a registry session, the last flush of the output to disk); the largest "
              "misfit is the farthest any measured time lies from the line, as a share of that time. Growth that is "
              "worse than linear would show as a large misfit at the largest size."]
    for gib, steps, copies, free in skipped:
        held = "an archive" if copies == 1 else "an archive and the registry's copy at once"
        lines += ["", f"**{gib} GiB: {steps} not run**: {'they need' if copies > 1 else 'it needs'} about "
                      f"{copies * gib + ROOM // GiB} GiB free in bench/.work ({held}, and room for others), and "
                      f"{free / GiB:.0f} GiB were free."]
    return "\n".join(lines) + "\n"


def fit(points: list[tuple[float, float]]) -> tuple[float, float, float]:
    """The least-squares line ``time = fixed + slope * size`` and the largest relative distance from it."""
    if len(points) < 2:
        return 0.0, points[0][1] / points[0][0], 0.0
    mean_x = sum(x for x, _ in points) / len(points)
    mean_y = sum(y for _, y in points) / len(points)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / sum((x - mean_x) ** 2 for x, _ in points)
    fixed = mean_y - slope * mean_x
    return fixed, slope, max(abs(y - (fixed + slope * x)) / y for x, y in points)


def _memory_gib() -> float:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / GiB


if __name__ == "__main__":
    sys.exit(main())
