"""Push and pull throughput against a real registry, beside ``skopeo copy`` and the registry's own floor.

    python bench/registry.py [--mib 1024] [--runs 3] [--slow-rate 50] [--slow-latency 20] [--output PATH]

Starts ``docker-registry`` (distribution) on 127.0.0.1 with storage in
``bench/.work``, builds a model of one random ``--mib`` MiB weights file (one
layer blob and a config), and times, each run into fresh repositories:

* the registry's ingest floor: one upload of the same layer blob with curl, ``POST`` to open the
  session and one monolithic ``PUT ?digest=`` with the whole body (the config, a few hundred
  bytes, left out); then ``modeloci push ARCHIVE`` and ``skopeo copy oci-archive:ARCHIVE
  docker://...``: each into a fresh registry on a new port (so nothing of an earlier upload can be
  reused, and skopeo's blob-info cache cannot mount an earlier copy);
* a second ``modeloci push`` of the same model (every blob already there);
* ``modeloci pull -o ARCHIVE`` and ``skopeo copy docker://... oci-archive:...``;
* through a slow link (``bench/slowlink.py``: each connection capped at ``--slow-rate`` MB/s,
  ``--slow-latency`` ms added to each request), ``modeloci pull --layout DIR`` and ``skopeo copy
  docker://... oci:DIR`` of the same model from the same registry (both write each blob once).

Numbers (median wall time, MB/s of model bytes, peak RSS, and the ratios the targets are set on)
go to stdout and ``bench/REGISTRY.md`` (or ``--output``). Loopback traffic, apart from the slow
link: the first table measures the tools (hashing, copying, HTTP handling), not a network. For each
push the CPU time of the tool (user + system, from ``wait4``) and of the registry (from
``/proc/PID/stat``) is recorded too: on a machine of few cores the tool's CPU is taken from the
registry's, which is the bottleneck.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import GNU_TIME, MODELOCI, WORK, median, settle, timed, write_random_safetensors
from slowlink import SlowLink

REPO = Path(__file__).resolve().parents[1]
SERVED: dict[str, int] = {}  # host:port -> the pid of the registry serving it (for its CPU time)
FLOOR_ROW = "push floor: curl POST + one PUT of the layer blob"
AGAIN_ROW = "push again (nothing to upload): modeloci"
Cpu = dict[str, list[tuple[float, float]]]  # operation -> (the tool's CPU seconds, the registry's), run by run


@contextmanager
def registry(root: Path) -> Iterator[str]:
    """A fresh docker-registry on a new 127.0.0.1 port, with empty storage under ``root``; yields host:port."""
    binary = shutil.which("docker-registry") or shutil.which("registry")
    if binary is None:
        raise SystemExit("docker-registry is not installed (apt-get install docker-registry)")
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = root / "config.yml"
    config.write_text(json.dumps({
        "version": 0.1, "log": {"level": "error"},
        "storage": {"filesystem": {"rootdirectory": str(root / "data")}, "delete": {"enabled": True}},
        "http": {"addr": f"127.0.0.1:{port}", "secret": "bench"},
    }))
    proc = subprocess.Popen([binary, "serve", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        else:
            raise SystemExit("docker-registry did not start")
        SERVED[f"127.0.0.1:{port}"] = proc.pid
        yield f"127.0.0.1:{port}"
    finally:
        SERVED.pop(f"127.0.0.1:{port}", None)
        proc.terminate()
        proc.wait()
        shutil.rmtree(root, ignore_errors=True)


def make_archive(mib: int, env: dict[str, str]) -> Path:
    folder = WORK / f"registry-{mib}"
    folder.mkdir(parents=True, exist_ok=True)
    write_random_safetensors(folder / "model.safetensors", mib)
    (folder / "Modelfile").write_text("FROM scratch\nWEIGHTS model.safetensors\n")
    archive = folder / "model.tar"
    subprocess.run([*MODELOCI, "build", "-f", str(folder / "Modelfile"), "-o", str(archive), "-q"], check=True, env=env)
    return archive


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mib", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--slow-rate", type=float, default=50.0, help="MB/s per connection on the slow link")
    parser.add_argument("--slow-latency", type=float, default=20.0, help="ms added to each request on the slow link")
    parser.add_argument("--output", type=Path, default=REPO / "bench" / "REGISTRY.md",
                        help="the report to write (its notes are kept)")
    args = parser.parse_args()
    for tool in ("skopeo", "curl"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not installed (apt-get install {tool})")
    env = {**os.environ, "MODELOCI_HOME": str(WORK / "store"), "XDG_CACHE_HOME": str(WORK / "cache"),
           "XDG_CONFIG_HOME": str(WORK / "config")}
    archive = make_archive(args.mib, env)
    blob, digest = layer_blob(archive)
    load = os.getloadavg()[0]
    rows: dict[str, list[tuple[float, int]]] = {}
    slow: dict[str, list[tuple[float, int]]] = {}
    cpu: Cpu = {}
    requests: list[int] = []
    for run in range(args.runs):
        with registry(WORK / "registry") as host:
            rows.setdefault(FLOOR_ROW, []).append(
                timed_cpu(["sh", "-c", FLOOR, "floor", host, f"bench/floor-{run}", str(blob), digest], host, cpu,
                          FLOOR_ROW))
        loopback(run, archive, env, rows, cpu)
        requests.append(slow_pulls(run, archive, env, slow, args.slow_rate * 1e6, args.slow_latency / 1000))
    size = archive.stat().st_size
    text = report(args, size, rows, slow, requests) + cpu_report(cpu, rows) + busy(load)
    write_keeping_notes(args.output, text)
    print(text)
    return 0


def timed_cpu(cmd: list[str], host: str, cpu: Cpu, name: str, *,
              env: dict[str, str] | None = None) -> tuple[float, int]:
    """:func:`run.timed`, also recording the CPU time of the command (user + system, its children included) and of
    the registry serving ``host`` while it ran."""
    settle()
    before = registry_cpu(host)
    with tempfile.NamedTemporaryFile("r", prefix="rss-", dir=WORK) as rss:
        # Under GNU time, whose peak RSS is the command's own (run.timed says why); its CPU is a few milliseconds.
        wrapped = [GNU_TIME, "-f", "%M", "-o", rss.name, *cmd] if GNU_TIME else cmd
        start = time.perf_counter()
        proc = subprocess.Popen(wrapped, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"benchmark command failed: {' '.join(cmd)}\n{proc.stderr.read().decode()}")
        peak = int(rss.read().split()[-1]) if GNU_TIME else usage.ru_maxrss
    # wait4 counts the command and the children it waited for (curl under sh).
    own = usage.ru_utime + usage.ru_stime
    cpu.setdefault(name, []).append((own, registry_cpu(host) - before))
    return elapsed, peak


def registry_cpu(host: str) -> float:
    """CPU seconds (user + system) the registry serving ``host`` has used so far."""
    fields = Path(f"/proc/{SERVED[host]}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# One upload at the registry's own pace: open a session, then the whole blob in one PUT (curl streams the file).
FLOOR = """set -e
location=$(curl -sf -o /dev/null -w '%header{location}' -X POST "http://$1/v2/$2/blobs/uploads/")
case "$location" in *\\?*) separator='&' ;; *) separator='?' ;; esac
curl -sf -o /dev/null -X PUT -H 'Content-Type: application/octet-stream' -T "$3" "$location${separator}digest=$4"
"""


def layer_blob(archive: Path) -> tuple[Path, str]:
    """The model's (one) layer blob, copied out of the archive for curl; its path and digest."""
    with tarfile.open(archive) as tar:
        index = json.load(_member(tar, "index.json"))
        manifest = json.load(_member(tar, "blobs/sha256/" + index["manifests"][0]["digest"][7:]))
        layer = max(manifest["layers"], key=lambda d: d["size"])
        path = WORK / "layer.blob"
        if not path.exists() or path.stat().st_size != layer["size"]:
            with _member(tar, "blobs/sha256/" + layer["digest"][7:]) as source, path.open("wb") as out:
                shutil.copyfileobj(source, out, 1 << 20)
    return path, layer["digest"]


def _member(tar: tarfile.TarFile, name: str) -> IO[bytes]:
    member = tar.extractfile(name)
    if member is None:
        raise SystemExit(f"{name} is not a file in the archive")
    return member


def loopback(run: int, archive: Path, env: dict[str, str], rows: dict[str, list[tuple[float, int]]],
             cpu: Cpu) -> None:
    """Push and pull on loopback, modeloci then skopeo, each into a fresh registry (the pushes' CPU into ``cpu``)."""
    pulled = WORK / "pulled.tar"
    # Each tool gets a fresh registry on a new port: nothing of an earlier push can be reused
    # (skopeo's blob-info cache would otherwise mount blobs it saw before, by registry address).
    with registry(WORK / "registry") as host:
        ours = f"{host}/bench/ours-{run}:1"
        for name in ("push: modeloci", AGAIN_ROW):
            rows.setdefault(name, []).append(
                timed_cpu([*MODELOCI, "push", str(archive), ours, "-q"], host, cpu, name, env=env))
        rows.setdefault("pull: modeloci -o", []).append(
            timed([*MODELOCI, "pull", ours, "-o", str(pulled), "-q"], env=env))
        assert _digest(pulled, env) == _digest(archive, env), "the pulled model differs from the pushed one"
        pulled.unlink()
    with registry(WORK / "registry") as host:
        theirs = f"{host}/bench/skopeo-{run}:1"
        rows.setdefault("push: skopeo copy", []).append(timed_cpu(
            ["skopeo", "copy", "-q", "--dest-tls-verify=false", f"oci-archive:{archive}", f"docker://{theirs}"],
            host, cpu, "push: skopeo copy"))
        rows.setdefault("pull: skopeo copy", []).append(timed(
            ["skopeo", "copy", "-q", "--src-tls-verify=false", f"docker://{theirs}", f"oci-archive:{pulled}"]))
        pulled.unlink()


def slow_pulls(run: int, archive: Path, env: dict[str, str], rows: dict[str, list[tuple[float, int]]],
               rate: float, latency: float) -> int:
    """modeloci and skopeo pulling the same model from one registry through one slow link; the requests that
    modeloci's pull made through it."""
    ours, theirs = WORK / "slow-ours", WORK / "slow-skopeo"
    with registry(WORK / "registry") as host:
        subprocess.run([*MODELOCI, "push", str(archive), f"{host}/bench/slow-{run}:1", "-q"], check=True, env=env,
                       stdout=subprocess.DEVNULL)
        with SlowLink(host, rate=rate, latency=latency) as link:
            for folder in (ours, theirs):
                shutil.rmtree(folder, ignore_errors=True)
            rows.setdefault("pull through the slow link: modeloci --layout", []).append(timed(
                [*MODELOCI, "pull", f"{link.host}/bench/slow-{run}:1", "--layout", str(ours), "-q"], env=env))
            made = link.requests
            rows.setdefault("pull through the slow link: skopeo copy to oci:", []).append(timed(
                ["skopeo", "copy", "-q", "--src-tls-verify=false", f"docker://{link.host}/bench/slow-{run}:1",
                 f"oci:{theirs}"]))
        blobs = [sorted(p.name for p in (folder / "blobs" / "sha256").iterdir()) for folder in (ours, theirs)]
        assert blobs[0] == blobs[1], f"the pulls differ: {blobs}"
        for folder in (ours, theirs):
            shutil.rmtree(folder)
    return made


def report(args: argparse.Namespace, size: int, rows: dict[str, list[tuple[float, int]]],
           slow: dict[str, list[tuple[float, int]]], requests: list[int]) -> str:
    def seconds(table: dict[str, list[tuple[float, int]]], name: str) -> float:
        return median([t for t, _ in table[name]])

    lines = [f"# Registry push and pull ({args.mib} MiB model, {args.runs} runs, loopback docker-registry)", "",
             "Made by `python bench/registry.py" + (f" --mib {args.mib}" if args.mib != 1024 else "")
             + (f" --runs {args.runs}" if args.runs != 3 else "") + "`.", "",
             f"Machine: {machine()}. Model bytes per run: {size / 1e6:.0f} MB (one layer blob and a config).", "",
             "| operation | median time | throughput | peak RSS |", "|---|---:|---:|---:|"]
    lines += _rows(rows, size)
    floor = seconds(rows, "push floor: curl POST + one PUT of the layer blob")
    push = seconds(rows, "push: modeloci")
    floors = rows["push floor: curl POST + one PUT of the layer blob"]
    each = ", ".join(f"{p / f:.2f}" for (p, _), (f, _) in zip(rows["push: modeloci"], floors, strict=True))
    skopeo = seconds(rows, "push: skopeo copy") / floor
    lines += ["", f"**Push vs the registry's ingest floor: {push / floor:.2f} x** (target <= 1.2 x; run by run: "
              f"{each}); skopeo copy: {skopeo:.2f} x.", "",
              f"## Pull through a slow link ({args.slow_rate:g} MB/s per connection, {args.slow_latency:g} ms per "
              "request)", "",
              "`bench/slowlink.py` on 127.0.0.1 between the tools and the same registry: one TCP connection "
              "cannot go faster than the cap. Both tools write a layout folder (each blob written once).", "",
              "| operation | median time | throughput | peak RSS |", "|---|---:|---:|---:|"]
    lines += _rows(slow, size)
    ours = seconds(slow, "pull through the slow link: modeloci --layout")
    theirs = seconds(slow, "pull through the slow link: skopeo copy to oci:")
    lines += ["", f"**modeloci is {theirs / ours:.1f} x faster than skopeo copy through the same link** "
              f"(target >= 3 x); its pull made {median([float(r) for r in requests]):.0f} requests through the "
              "link (ranges of the layer blob, the manifest, the config)."]
    return "\n".join(lines) + "\n"


def cpu_report(cpu: Cpu, rows: dict[str, list[tuple[float, int]]]) -> str:
    """Where a push's time goes: each push's CPU and the registry's beside its wall time, and modeloci's push
    less what a push with nothing to upload costs (start-up, HEADs, the manifest) against the floor."""
    lines = ["", "### CPU of the pushes (medians)", "",
             "| operation | wall | the tool's CPU | the registry's CPU |", "|---|---:|---:|---:|"]
    for name, samples in cpu.items():
        wall = median([t for t, _ in rows[name]])
        lines.append(f"| {name} | {wall:.2f} s | {median([c for c, _ in samples]):.2f} s | "
                     f"{median([r for _, r in samples]):.2f} s |")
    floors = [t for t, _ in rows[FLOOR_ROW]]
    sending = [p - a for (p, _), (a, _) in zip(rows["push: modeloci"], rows[AGAIN_ROW], strict=True)]
    each = ", ".join(f"{s / f:.2f}" for s, f in zip(sending, floors, strict=True))
    lines += ["", f"modeloci's push less its push with nothing to upload (start-up, the HEADs, the manifest): "
              f"{median(sending):.2f} s, **{median(sending) / median(floors):.2f} x the floor** (run by run: {each})."]
    return "\n".join(lines) + "\n"


NOTES = "<!-- notes: kept when the benchmark rewrites this file -->"


def write_keeping_notes(path: Path, text: str) -> None:
    """Write a report, keeping what follows the NOTES line of the file it replaces (the numbers' reading)."""
    old = path.read_text() if path.exists() else ""
    notes = old[old.index(NOTES):] if NOTES in old else ""
    path.write_text(text + ("\n" + notes if notes else ""))


def busy(before: float) -> str:
    """What else the machine was doing: the 1-minute load average before and after the run."""
    return (f"\nLoad average (1 min) {before:.1f} when the run started and {os.getloadavg()[0]:.1f} when it ended, "
            f"on {os.cpu_count()} cores: above 0 it means other work ran beside the benchmark, and times are "
            "noisier for it.\n")


def _rows(rows: dict[str, list[tuple[float, int]]], size: int) -> list[str]:
    lines = []
    for name, samples in rows.items():
        seconds = median([t for t, _ in samples])
        lines.append(f"| {name} | {seconds:.2f} s | {size / seconds / 1e6:.0f} MB/s | "
                     f"{max(r for _, r in samples) / 1024:.0f} MiB |")
    return lines


def machine() -> str:
    """Cores, CPU model and whether it has SHA instructions (from /proc/cpuinfo)."""
    model, sha = "unknown CPU", False
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and model == "unknown CPU":
                model = line.split(":", 1)[1].strip()
            if line.startswith("flags"):
                sha = sha or " sha_ni" in line
    return f"{os.cpu_count()} cores, {model}, {'with' if sha else 'without'} SHA instructions"


def _digest(archive: Path, env: dict[str, str]) -> str:
    """The manifest digest (the pulled archive also names the reference in its index, so bytes differ there)."""
    out = subprocess.run([*MODELOCI, "inspect", str(archive), "--json"], check=True, env=env, capture_output=True)
    return json.loads(out.stdout)["manifest_digest"]


if __name__ == "__main__":
    sys.exit(main())
