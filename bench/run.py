"""The benchmark suite: build speed against the hashing floor, memory, olot, startup.

One command runs everything and writes bench/RESULTS.md:

    .venv/bin/python bench/run.py [--runs 3] [--scale 1.0] [--no-olot]

It makes synthetic models of random bytes (nothing compresses): 1 x 2 GiB,
8 x 256 MiB and 500 x 1 MiB, and measures, in the same run and as medians:

- floor: Python's hashlib.sha256 over the same files, one thread per core;
- cold build to a tar (``--no-cache``), warm rebuild (digest cache filled),
  cold and warm builds into a layout folder;
- peak RSS of each build (from ``wait4``);
- olot packaging the same 1 GiB model (installed into bench/.work/olot-venv);
- ``modeloci --help`` and ``modeloci plan`` against ``python -c "import lark"``.

Each timed command runs as its own process, after ``sync`` so that writeback
of the previous run's output does not land in the next one's time.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WORK = REPO / "bench" / ".work"
PYTHON = sys.executable
GNU_TIME = shutil.which("time", path="/usr/bin:/bin")  # GNU time: a child's own peak RSS (timed)
MODELOCI = [str(Path(PYTHON).with_name("modeloci"))]  # the console script, as users run it (no runpy)
MiB = 1 << 20

SHAPES = {"1 x 2 GiB": (1, 2048), "8 x 256 MiB": (8, 256), "500 x 1 MiB": (500, 1)}


def make_model(name: str, count: int, mib: int) -> Path:
    """A folder of ``count`` random weight files of ``mib`` MiB each, and its Modelfile (reused if present)."""
    folder = WORK / "models" / name.replace(" ", "")
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        path = folder / f"model-{i + 1:05d}-of-{count:05d}.safetensors"
        write_random_safetensors(path, mib)
    (folder / "Modelfile").write_text("FROM scratch\nWEIGHTS *.safetensors\n")
    return folder


def write_random_safetensors(path: Path, mib: int) -> None:
    """A ``mib`` MiB safetensors file of random bytes (nothing compresses or dedupes), unless already there."""
    if path.exists() and path.stat().st_size == mib * MiB:
        return
    with path.open("wb") as out:
        header = b'{"__metadata__":{"format":"pt"}}      '
        out.write(len(header).to_bytes(8, "little") + header)
        remaining = mib * MiB - 8 - len(header)
        while remaining:
            chunk = min(remaining, 16 * MiB)
            out.write(os.urandom(chunk))
            remaining -= chunk


def hashing_floor(folder: Path) -> float:
    files = sorted(folder.glob("*.safetensors"))

    def digest(path: Path) -> str:
        h = hashlib.sha256()
        buffer = bytearray(MiB)
        view = memoryview(buffer)
        with path.open("rb", buffering=0) as f:
            while n := f.readinto(buffer):
                h.update(view[:n])
        return h.hexdigest()

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        list(pool.map(digest, files))
    return time.perf_counter() - start


def settle() -> None:
    """Let the disk catch up: flush dirty pages and give ext4 a moment to finish deleting the
    previous run's multi-GB output, whose background work otherwise lands in the next timing."""
    os.sync()
    time.sleep(1.0)


def copy_floor(folder: Path) -> float:
    """Copying the same bytes into a new file with the kernel (copy_file_range), as a build
    writes its output, one thread per core: the floor for the writing half of a build."""
    files = sorted(folder.glob("*.safetensors"))
    target = WORK / "copy-floor.bin"
    offsets, position = [], 0
    for path in files:
        offsets.append(position)
        position += path.stat().st_size
    settle()
    start = time.perf_counter()
    out = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)

    def copy(item: tuple[Path, int]) -> None:
        path, offset = item
        fd = os.open(path, os.O_RDONLY)
        size, done = path.stat().st_size, 0
        while done < size:
            done += os.copy_file_range(fd, out, size - done, done, offset + done)
        os.close(fd)

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        list(pool.map(copy, zip(files, offsets, strict=True)))
    os.close(out)
    elapsed = time.perf_counter() - start
    target.unlink()
    return elapsed


def bytecode_env(env: dict[str, str]) -> dict[str, str]:
    """The environment for timed commands, with modeloci's bytecode compiled beforehand, as an installed wheel
    has it: a shell with PYTHONDONTWRITEBYTECODE set would otherwise compile every module from source at every
    start (``plan`` measured 0.40 s that way against 0.25 s with bytecode). The bytecode goes to a folder under
    bench/.work (PYTHONPYCACHEPREFIX), not into the checkout."""
    env = {**env, "PYTHONPYCACHEPREFIX": str(WORK / "pycache")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    subprocess.run([PYTHON, "-m", "compileall", "-q", str(REPO / "src" / "modeloci")], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    return env


def timed(cmd: list[str], *, env: dict[str, str] | None = None, cwd: Path | None = None) -> tuple[float, int]:
    """Wall time and peak RSS (KiB) of one command run as a child process.

    The peak is GNU time's (``%M``), which measures a child it started itself: the ``ru_maxrss`` of a child this
    script starts directly counts what the child held before ``exec``, a copy of this script, and so overstated
    every figure by this script's own size (a child running ``true`` of a 200 MiB script reported 210 MiB)."""
    settle()
    with tempfile.NamedTemporaryFile("r", prefix="rss-", dir=WORK) as rss:
        wrapped = [GNU_TIME, "-f", "%M", "-o", rss.name, *cmd] if GNU_TIME else cmd
        start = time.perf_counter()
        proc = subprocess.Popen(wrapped, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=cwd)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"benchmark command failed: {' '.join(cmd)}\n{proc.stderr.read().decode()}")
        return elapsed, int(rss.read().split()[-1]) if GNU_TIME else usage.ru_maxrss


def median(samples: list[float]) -> float:
    return statistics.median(samples)


def bench_shape(name: str, folder: Path, runs: int, env: dict[str, str]) -> dict[str, float]:
    modelfile = str(folder / "Modelfile")
    out, layout = WORK / "out.tar", WORK / "layout"
    floor, wfloor, cold, warm, over, lay_cold, lay_warm, rss = [], [], [], [], [], [], [], []
    fresh, lay_fresh = [], []  # rebuilds to an output that is up to date: nothing written
    check, check_rss = [], []
    for _ in range(runs):
        settle()
        floor.append(hashing_floor(folder))
        wfloor.append(copy_floor(folder))
        out.unlink(missing_ok=True)
        t, r = timed([*MODELOCI, "build", "-f", modelfile, "-o", str(out), "--no-cache"], env=env)
        cold.append(t)
        rss.append(r)
        t, r = timed([*MODELOCI, "verify", str(out)], env=env)
        check.append(t)
        check_rss.append(r)
        timed([*MODELOCI, "build", "-f", modelfile, "-o", str(out)], env=env)  # fill the cache
        t, _ = timed([*MODELOCI, "build", "-f", modelfile, "-o", str(out)], env=env)
        fresh.append(t)  # the archive just written, untouched: up to date
        t, _ = timed([*MODELOCI, "build", "-f", modelfile, "-o", str(out), "--created", "1700000000"], env=env)
        over.append(t)  # a changed flag: a new archive replaces the previous one
        out.unlink()
        t, r = timed([*MODELOCI, "build", "-f", modelfile, "-o", str(out)], env=env)
        warm.append(t)
        rss.append(r)
        out.unlink()
        shutil.rmtree(layout, ignore_errors=True)
        t, r = timed([*MODELOCI, "build", "-f", modelfile, "--layout", str(layout), "--no-cache"], env=env)
        lay_cold.append(t)
        t, r = timed([*MODELOCI, "build", "-f", modelfile, "--layout", str(layout)], env=env)
        lay_warm.append(t)  # the blobs are there; index.json written by a --no-cache build is not recorded
        rss.append(r)
        t, _ = timed([*MODELOCI, "build", "-f", modelfile, "--layout", str(layout)], env=env)
        lay_fresh.append(t)  # up to date: nothing written
    out.unlink(missing_ok=True)
    shutil.rmtree(layout, ignore_errors=True)
    return {"floor": median(floor), "write_floor": median(wfloor), "cold": median(cold), "warm": median(warm),
            "warm_over": median(over), "verify": median(check), "verify_rss_mib": max(check_rss) / 1024,
            "layout_cold": median(lay_cold), "layout_warm": median(lay_warm), "rss_mib": max(rss) / 1024,
            "up_to_date": median(fresh), "layout_up_to_date": median(lay_fresh)}


def bench_olot(runs: int, env: dict[str, str]) -> dict[str, float] | None:
    venv = WORK / "olot-venv"
    olot = venv / "bin" / "olot"
    if not olot.exists():
        subprocess.run([PYTHON, "-m", "venv", str(venv)], check=True)
        result = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "olot"], capture_output=True, check=False)
        if result.returncode != 0:
            return None
    folder = make_model("1 x 1 GiB", 1, 1024)
    weights = sorted(folder.glob("*.safetensors"))[0]
    base = WORK / "olot-base"
    ours, theirs = [], []
    for _ in range(runs):
        shutil.rmtree(base, ignore_errors=True)
        _base_image(base)  # olot adds layers to an existing container image layout
        t, _ = timed([str(olot), str(base), str(weights)], env=env)
        theirs.append(t)
        ours_tar = WORK / "olot-ours.tar"
        t, _ = timed([*MODELOCI, "build", "-f", str(folder / "Modelfile"), "-o", str(ours_tar), "--no-cache"], env=env)
        ours.append(t)
    (WORK / "olot-ours.tar").unlink(missing_ok=True)
    shutil.rmtree(base, ignore_errors=True)
    return {"olot": median(theirs), "modeloci": median(ours)}


def _base_image(folder: Path) -> None:
    """A minimal OCI container image (one empty tar layer) in a layout folder."""
    blobs = folder / "blobs" / "sha256"
    blobs.mkdir(parents=True)

    def put(data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        (blobs / digest).write_bytes(data)
        return digest

    layer = b"\0" * 1024
    layer_digest = put(layer)
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": [f"sha256:{layer_digest}"]},
                         "history": [{"created_by": "modeloci bench base layer"}]}).encode()
    config_digest = put(config)
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": f"sha256:{config_digest}",
                   "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": f"sha256:{layer_digest}",
                    "size": len(layer)}],
    }).encode()
    manifest_digest = put(manifest)
    (folder / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (folder / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": f"sha256:{manifest_digest}",
         "size": len(manifest)}]}))


def bench_convert(runs: int, env: dict[str, str]) -> dict[str, float]:
    """Converting a 200 MiB model to ModelPack against rebuilding it (no cache); and converting a 2 GiB model in
    the store (blobs shared: a config and a manifest written)."""
    folder = make_model("1 x 200 MiB", 1, 200)
    source, converted = WORK / "convert-src.tar", WORK / "convert-out.tar"
    rebuild, conversion, in_store = [], [], []
    store = {**env, "MODELOCI_HOME": str(WORK / "convert-store")}
    big = make_model("convert 1 x 2 GiB", *SHAPES["1 x 2 GiB"])
    shutil.rmtree(WORK / "convert-store", ignore_errors=True)
    timed([*MODELOCI, "build", "-f", str(big / "Modelfile"), "-t", "big:1"], env=store)
    for i in range(runs):
        in_store.append(timed([*MODELOCI, "convert", "big:1", "--format", "modelpack", "-t", f"big:mp{i}"],
                              env=store)[0])
    shutil.rmtree(WORK / "convert-store", ignore_errors=True)
    for _ in range(runs):
        source.unlink(missing_ok=True)
        rebuild.append(timed([*MODELOCI, "build", "-f", str(folder / "Modelfile"), "-o", str(source), "--no-cache"],
                             env=env)[0])
        converted.unlink(missing_ok=True)
        conversion.append(timed([*MODELOCI, "convert", str(source), "--format", "modelpack", "-o", str(converted)],
                                env=env)[0])
    source.unlink(missing_ok=True)
    converted.unlink(missing_ok=True)
    return {"rebuild": median(rebuild), "convert": median(conversion), "in_store": median(in_store)}


def bench_startup(runs: int, env: dict[str, str]) -> dict[str, float]:
    """Medians of commands that do almost no work, run in turn (so that load on the machine falls on all alike):
    their time is start-up, against ``python -c "import lark"``. ``verify`` checks a 16 KiB archive."""
    samples: dict[str, list[float]] = {"help": [], "lark": [], "plan": [], "verify": []}
    example = str(REPO / "examples" / "sharded-vision" / "Modelfile")
    entry = str(Path(PYTHON).with_name("modeloci"))
    tiny = WORK / "tiny.tar"
    tiny.unlink(missing_ok=True)
    _quick([entry, "build", str(REPO / "examples" / "single-gguf"), "-o", str(tiny)], env)
    for _ in range(max(runs * 5, 10)):
        samples["lark"].append(_quick([PYTHON, "-c", "import lark"], env))
        samples["help"].append(_quick([entry, "--help"], env))
        samples["plan"].append(_quick([entry, "plan", "-f", example], env))
        samples["verify"].append(_quick([entry, "verify", str(tiny)], env))
    tiny.unlink()
    return {key: median(values) for key, values in samples.items()}


def _quick(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=True)
    return time.perf_counter() - start


def bench_verify(folder: Path, runs: int, env: dict[str, str]) -> dict[str, float]:
    """``verify`` of the model's archive beside the parallel hash floor of its files, in turn in each run."""
    out = WORK / "verify.tar"
    out.unlink(missing_ok=True)
    timed([*MODELOCI, "build", "-f", str(folder / "Modelfile"), "-o", str(out), "--no-cache"], env=env)
    floor, check, rss = [], [], []
    for _ in range(runs):
        settle()
        floor.append(hashing_floor(folder))
        t, r = timed([*MODELOCI, "verify", str(out)], env=env)
        check.append(t)
        rss.append(r)
    out.unlink()
    return {"floor": median(floor), "verify": median(check), "verify_rss_mib": max(rss) / 1024}


SECTION = "## Start-up and verify, issue 20"
NOTES = "<!-- notes: kept when the benchmark rewrites this file -->"


def startup_verify_section(shapes: dict[str, dict[str, float]], startup: dict[str, float], runs: int,
                           command: str) -> str:
    """The section ``--startup-verify`` writes: verify against the hash floor, and start-up against lark."""
    lines = [
        SECTION, "",
        f"Command: `{command}`. Machine: {os.cpu_count()} cores (shared with other jobs while measured), Python "
        f"{sys.version.split()[0]}, {time.strftime('%Y-%m-%d %H:%M')}. Medians of {runs} runs for verify, "
        f"{max(runs * 5, 10)} for start-up; each command a separate process, modeloci's bytecode compiled "
        "beforehand (as an installed wheel has it).", "",
        "| model | hash floor (sha256, one thread per core) | verify | verify / floor "
        "| (verify - start-up) / floor | target: verify / floor <= 1.10 (500 x 1 MiB: plus start-up) "
        "| verify peak RSS |",
        "|---|---:|---:|---:|---:|---|---:|",
    ]
    for name, r in shapes.items():
        ratio, bare = r["verify"] / r["floor"], (r["verify"] - startup["verify"]) / r["floor"]
        verdict = _met((bare if name.startswith("500") else ratio) <= 1.10)
        lines.append(f"| {name} | {r['floor']:.2f} s | {r['verify']:.2f} s | {ratio:.2f} | {bare:.2f} | {verdict} | "
                     f"{r['verify_rss_mib']:.0f} MiB |")
    help_ratio, plan_ratio = startup["help"] / startup["lark"], startup["plan"] / startup["lark"]
    lines += ["", "Start-up: `verify` of a 16 KiB archive, in the table below.", "",
              "| command | median | / `python -c \"import lark\"` | target |", "|---|---:|---:|---|",
              f"| `python -c \"import lark\"` | {startup['lark'] * 1000:.0f} ms | 1.00 | |",
              f"| `modeloci --help` | {startup['help'] * 1000:.0f} ms | {help_ratio:.2f} "
              f"| <= 1.5: {_met(help_ratio <= 1.5)} |",
              f"| `modeloci plan -f examples/sharded-vision/Modelfile` | {startup['plan'] * 1000:.0f} ms | "
              f"{plan_ratio:.2f} | <= 2.5: {_met(plan_ratio <= 2.5)} |",
              f"| `modeloci verify` of a 16 KiB archive | {startup['verify'] * 1000:.0f} ms | "
              f"{startup['verify'] / startup['lark']:.2f} | |", ""]
    return "\n".join(lines)


def _met(ok: bool) -> str:
    return "met" if ok else "**not met**"


def replace_section(text: str, section: str) -> str:
    """``text`` with its section of the same heading replaced by ``section`` (appended if there is none)."""
    heading = section.splitlines()[0]
    if heading not in text:
        return text.rstrip("\n") + "\n\n" + section
    start = text.index(heading)
    after = text.find("\n## ", start + len(heading))
    rest = "" if after < 0 else text[after + 1:]
    return text[:start] + section + ("\n" + rest if rest else "")


def report(shapes: dict[str, dict[str, float]], olot: dict[str, float] | None, startup: dict[str, float], runs: int,
           conversion: dict[str, float] | None = None) -> str:
    lines = [
        "## Build speed",
        "",
        f"Medians of {runs} runs, each build a separate process (`python -m modeloci`), after `sync`. "
        "Floor: `hashlib.sha256` over the same files, one thread per core. Command: `.venv/bin/python bench/run.py`.",
        "",
        "Copy floor: the kernel copying the same bytes into a new file (`copy_file_range`, one thread per core), "
        "which is how the archive is written; a build cannot beat it, whatever hashing costs. Tar builds write a "
        "new file; \"warm, over\" replaces the previous archive (a changed `--created`, so there is work to do). "
        "\"Over / warm\" is what replacing an archive costs against writing a new one, both with the digest cache "
        "filled (target <= 1.05). \"Up to date\" rebuilds to the archive (or layout) the previous build wrote, "
        "untouched: nothing is written (target <= 0.15 x cold).",
        "",
        "| model | hash floor | copy floor | cold tar | cold / hash floor | cold / (hash + copy floors) | warm tar "
        "| warm / cold | warm, over | over / warm | up to date | up to date / cold | layout cold | layout warm "
        "| layout up to date | peak RSS |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in shapes.items():
        both = r["floor"] + r["write_floor"]
        lines.append(
            f"| {name} | {r['floor']:.2f} s | {r['write_floor']:.2f} s | {r['cold']:.2f} s | "
            f"{r['cold'] / r['floor']:.2f} | "
            f"{r['cold'] / both:.2f} | {r['warm']:.2f} s | {r['warm'] / r['cold']:.2f} | {r['warm_over']:.2f} s | "
            f"{r['warm_over'] / r['warm']:.2f} | "
            f"{r['up_to_date']:.2f} s | {r['up_to_date'] / r['cold']:.2f} | "
            f"{r['layout_cold']:.2f} s | {r['layout_warm']:.2f} s | {r['layout_up_to_date']:.2f} s | "
            f"{r['rss_mib']:.0f} MiB |"
        )
    lines += [
        "",
        "| model | verify (every blob hashed once) | verify / hash floor (target <= 1.10) "
        "| (verify - start-up) / hash floor | verify peak RSS |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, r in shapes.items():
        if "verify" in r:
            lines.append(
                f"| {name} | {r['verify']:.2f} s | {r['verify'] / r['floor']:.2f} | "
                f"{(r['verify'] - startup['verify']) / r['floor']:.2f} | {r['verify_rss_mib']:.0f} MiB |"
            )
    lines += [
        "",
        "Start-up: `verify` of a 16 KiB archive (Startup below), which the hash floor does not pay.",
    ]
    lines += [
        "",
        "Reading these numbers: on this machine SHA-256 runs at about 1.4 GB/s per core (the CPU has SHA "
        "instructions), so writing the archive, not hashing it, is the slower half of a build, and the copy floor "
        "bounds every tar build from below. The VM's disk makes writes vary two- to three-fold from one run to "
        "the next (the same 2 GiB `copy_file_range` measured 1.3 s to 6.6 s within minutes), so compare columns "
        "of one run, not runs with each other. A build also pays its process start-up and planning (the \"up to "
        f"date\" column is that alone: {min(r['up_to_date'] for r in shapes.values()):.2f} to "
        f"{max(r['up_to_date'] for r in shapes.values()):.2f} s), which dominates the 500 x 1 MiB model.",
    ]
    lines += ["", "## Against olot", ""]
    if olot:
        lines += [
            "| 1 x 1 GiB model | time |",
            "|---|---:|",
            f"| olot (adding the file to a one-layer OCI layout) | {olot['olot']:.2f} s |",
            f"| modeloci cold build to a tar | {olot['modeloci']:.2f} s |",
            f"| olot / modeloci | {olot['olot'] / olot['modeloci']:.1f}x |",
        ]
    else:
        lines.append("olot could not be installed on this machine; not measured.")
    if conversion:
        lines += [
            "",
            "## Convert against rebuild",
            "",
            "| 1 x 200 MiB model | time |",
            "|---|---:|",
            f"| `modeloci build --no-cache` | {conversion['rebuild']:.2f} s |",
            "| `modeloci convert --format modelpack` (blobs copied by digest and checked on the way) | "
            f"{conversion['convert']:.2f} s |",
            f"| rebuild / convert | {conversion['rebuild'] / conversion['convert']:.1f}x |",
            "",
            "| 1 x 2 GiB model in the store | time | target |",
            "|---|---:|---:|",
            "| `modeloci convert big:1 --format modelpack -t big:mp` (blobs shared: a config and a manifest written) "
            f"| {conversion['in_store']:.2f} s | <= 0.3 s |",
        ]
    lines += [
        "",
        "## Startup",
        "",
        "Each command in turn, so that load on the machine falls on all alike; modeloci's bytecode compiled "
        "beforehand, as an installed wheel has it.",
        "",
        "| command | median | / lark | target |",
        "|---|---:|---:|---:|",
        f"| `python -c \"import lark\"` | {startup['lark'] * 1000:.0f} ms | 1.00 | |",
        f"| `modeloci --help` | {startup['help'] * 1000:.0f} ms | {startup['help'] / startup['lark']:.2f} | <= 1.5 |",
        f"| `modeloci plan -f examples/sharded-vision/Modelfile` | {startup['plan'] * 1000:.0f} ms | "
        f"{startup['plan'] / startup['lark']:.2f} | <= 2.5 |",
        f"| `modeloci verify` of a 16 KiB archive | {startup['verify'] * 1000:.0f} ms | "
        f"{startup['verify'] / startup['lark']:.2f} | |",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="modeloci benchmark suite")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--scale", type=float, default=1.0, help="shrink the models (0.25 = a quarter of the size)")
    parser.add_argument("--no-olot", action="store_true")
    parser.add_argument("--output", type=Path, default=REPO / "bench" / "RESULTS.md")
    parser.add_argument("--startup-verify", action="store_true",
                        help=f"measure only verify and start-up, and rewrite only the section {SECTION!r}")
    args = parser.parse_args(argv)
    WORK.mkdir(parents=True, exist_ok=True)
    cache = WORK / ("cache-startup-verify" if args.startup_verify else "cache")  # not another run's cache
    env = bytecode_env({**os.environ, "XDG_CACHE_HOME": str(cache)})
    shutil.rmtree(cache, ignore_errors=True)
    if args.startup_verify:
        return _startup_verify(args.scale, args.runs, env, args.output, argv)
    shapes = {}
    for name, (count, mib) in SHAPES.items():
        size = max(1, int(mib * args.scale)) if mib > 1 else 1
        folder = make_model(name, count, size)
        shapes[name] = bench_shape(name, folder, args.runs, env)
        print(name, json.dumps({k: round(v, 3) for k, v in shapes[name].items()}), flush=True)
    olot = None if args.no_olot else bench_olot(args.runs, env)
    print("olot", olot, flush=True)
    conversion = bench_convert(args.runs, env)
    print("convert", conversion, flush=True)
    startup = bench_startup(args.runs, env)
    print("startup", startup, flush=True)
    sys.path.insert(0, str(REPO / "bench"))
    import metadata

    header = [
        "# Benchmark results",
        "",
        f"Machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, {time.strftime('%Y-%m-%d')}. "
        "Regenerate with `.venv/bin/python bench/run.py`.",
        "",
    ]
    text = (
        "\n".join(header)
        + report(shapes, olot, startup, args.runs, conversion)
        + "\n"
        + metadata.markdown(metadata.run(5), 5)
    )
    previous = args.output.read_text() if args.output.exists() else ""
    if NOTES in previous:  # what was written by hand about the numbers stays
        text = text.rstrip("\n") + "\n\n" + previous[previous.index(NOTES):]
    args.output.write_text(text)
    return 0



def _startup_verify(scale: float, runs: int, env: dict[str, str], output: Path, argv: list[str] | None) -> int:
    shapes = {}
    for name, (count, mib) in SHAPES.items():
        folder = make_model(name, count, max(1, int(mib * scale)) if mib > 1 else 1)
        shapes[name] = bench_verify(folder, runs, env)
        print(name, json.dumps({k: round(v, 3) for k, v in shapes[name].items()}), flush=True)
    startup = bench_startup(runs, env)
    print("startup", startup, flush=True)
    command = " ".join([".venv/bin/python bench/run.py", *(sys.argv[1:] if argv is None else argv)])
    text = output.read_text() if output.exists() else "# Benchmark results\n"
    output.write_text(replace_section(text, startup_verify_section(shapes, startup, runs, command)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
