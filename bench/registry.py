"""Push and pull throughput against a real registry, beside ``skopeo copy`` in the same run.

    python bench/registry.py [--mib 1024] [--runs 3]

Starts ``docker-registry`` (distribution) on 127.0.0.1 with storage in
``bench/.work``, builds a model of one random ``--mib`` MiB weights file, and
times, each run into fresh repositories:

* ``modeloci push ARCHIVE`` and ``skopeo copy oci-archive:ARCHIVE docker://...``, each into a
  fresh registry on a new port (so skopeo's blob-info cache cannot mount an earlier copy);
* a second ``modeloci push`` of the same model (every blob already there);
* ``modeloci pull -o ARCHIVE`` and ``skopeo copy docker://... oci-archive:...``.

Numbers (median wall time, MB/s of model bytes, peak RSS) go to stdout and
``bench/REGISTRY.md``. Loopback traffic: this measures the tools (hashing,
copying, HTTP handling), not a network.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import MODELOCI, WORK, median, timed, write_random_safetensors

REPO = Path(__file__).resolve().parents[1]


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
        yield f"127.0.0.1:{port}"
    finally:
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
    args = parser.parse_args()
    if shutil.which("skopeo") is None:
        raise SystemExit("skopeo is not installed (apt-get install skopeo)")
    env = {**os.environ, "MODELOCI_HOME": str(WORK / "store"), "XDG_CACHE_HOME": str(WORK / "cache"),
           "XDG_CONFIG_HOME": str(WORK / "config")}
    archive = make_archive(args.mib, env)
    rows: dict[str, list[tuple[float, int]]] = {}
    pulled = WORK / "pulled.tar"
    for run in range(args.runs):
        # Each tool gets a fresh registry on a new port: nothing of an earlier push can be reused
        # (skopeo's blob-info cache would otherwise mount blobs it saw before, by registry address).
        with registry(WORK / "registry") as host:
            ours = f"{host}/bench/ours-{run}:1"
            rows.setdefault("push: modeloci", []).append(timed([*MODELOCI, "push", str(archive), ours, "-q"], env=env))
            rows.setdefault("push again (nothing to upload): modeloci", []).append(
                timed([*MODELOCI, "push", str(archive), ours, "-q"], env=env))
            rows.setdefault("pull: modeloci -o", []).append(
                timed([*MODELOCI, "pull", ours, "-o", str(pulled), "-q"], env=env))
            assert _digest(pulled, env) == _digest(archive, env), "the pulled model differs from the pushed one"
            pulled.unlink()
        with registry(WORK / "registry") as host:
            theirs = f"{host}/bench/skopeo-{run}:1"
            rows.setdefault("push: skopeo copy", []).append(timed(
                ["skopeo", "copy", "-q", "--dest-tls-verify=false", f"oci-archive:{archive}", f"docker://{theirs}"]))
            rows.setdefault("pull: skopeo copy", []).append(timed(
                ["skopeo", "copy", "-q", "--src-tls-verify=false", f"docker://{theirs}", f"oci-archive:{pulled}"]))
            pulled.unlink()
    size = archive.stat().st_size
    lines = [f"# Registry push and pull ({args.mib} MiB model, {args.runs} runs, loopback docker-registry)", "",
             f"Machine: {os.cpu_count()} cores. Model bytes per run: {size / 1e6:.0f} MB.", "",
             "| operation | median time | throughput | peak RSS |", "|---|---:|---:|---:|"]
    for name, samples in rows.items():
        seconds = median([t for t, _ in samples])
        lines.append(f"| {name} | {seconds:.2f} s | {size / seconds / 1e6:.0f} MB/s | "
                     f"{max(r for _, r in samples) / 1024:.0f} MiB |")
    text = "\n".join(lines) + "\n"
    (REPO / "bench" / "REGISTRY.md").write_text(text)
    print(text)
    return 0


def _digest(archive: Path, env: dict[str, str]) -> str:
    """The manifest digest (the pulled archive also names the reference in its index, so bytes differ there)."""
    out = subprocess.run([*MODELOCI, "inspect", str(archive), "--json"], check=True, env=env, capture_output=True)
    return json.loads(out.stdout)["manifest_digest"]


if __name__ == "__main__":
    sys.exit(main())
