"""Unpacking a 1 GiB model whose layer is raw, a tar of the file (modctl's ``.tar``) or a gzip of that tar.

    .venv/bin/python bench/tar_layers.py [--runs 3] [--mib 1024]

Builds a ModelPack layout of one random-bytes safetensors file, re-packs it
into layouts with ``.v1.tar`` and ``.v1.tar+gzip`` layers (streamed, never in
memory), then times ``modeloci unpack --layout files`` and ``modeloci
verify`` on each, as separate processes after ``sync``, with their peak RSS.
The floor is one sha256 pass over the file (what checking the layer costs).
Results go to bench/TAR_LAYERS.md.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import shutil
import statistics
import subprocess
import sys
import tarfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import MODELOCI, WORK, settle, timed, write_random_safetensors

MiB = 1 << 20


def _sha256_file(path: Path) -> str:
    hasher = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(MiB):
            hasher.update(chunk)
    return "sha256:" + hasher.hexdigest()


def repack(raw: Path, dest: Path, packing: str) -> Path:
    """The one-layer ModelPack layout ``raw`` with its layer as a tar (``packing``), streamed through files."""
    index = json.loads((raw / "index.json").read_text())
    entry = index["manifests"][0]
    manifest = json.loads((raw / "blobs/sha256" / entry["digest"].split(":")[1]).read_bytes())
    config = json.loads((raw / "blobs/sha256" / manifest["config"]["digest"].split(":")[1]).read_bytes())
    shutil.rmtree(dest, ignore_errors=True)
    blobs = dest / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    layers, diff_ids = [], []
    for layer in manifest["layers"]:
        source = raw / "blobs/sha256" / layer["digest"].split(":")[1]
        tar_path, blob_path = dest / "layer.tar", dest / "layer.blob"
        with tarfile.open(tar_path, "w", format=tarfile.PAX_FORMAT) as tar:
            tar.add(source, arcname=layer["annotations"]["org.cncf.model.filepath"])
        if packing == "tar+gzip":
            with tar_path.open("rb") as src, blob_path.open("wb") as raw_out, \
                    gzip.GzipFile(fileobj=raw_out, mode="wb", compresslevel=1, mtime=0) as out:
                shutil.copyfileobj(src, out, MiB)
            tar_path_digest = _sha256_file(tar_path)
            tar_path.unlink()
        else:
            tar_path.rename(blob_path)
            tar_path_digest = None
        digest = _sha256_file(blob_path)
        blob_path.rename(blobs / digest.split(":")[1])
        diff_ids.append(tar_path_digest or digest)
        layers.append({**layer, "mediaType": layer["mediaType"].replace(".v1.raw", f".v1.{packing}"),
                       "digest": digest, "size": (blobs / digest.split(":")[1]).stat().st_size})
    config_bytes = json.dumps({**config, "modelfs": {"type": "layers", "diffIds": diff_ids}}).encode()
    (blobs / hashlib.sha256(config_bytes).hexdigest()).write_bytes(config_bytes)
    manifest_bytes = json.dumps({**manifest, "layers": layers, "config": {
        **manifest["config"], "digest": "sha256:" + hashlib.sha256(config_bytes).hexdigest(),
        "size": len(config_bytes)}}).encode()
    (blobs / hashlib.sha256(manifest_bytes).hexdigest()).write_bytes(manifest_bytes)
    (dest / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (dest / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [{
        **entry, "digest": "sha256:" + hashlib.sha256(manifest_bytes).hexdigest(), "size": len(manifest_bytes)}]}))
    return dest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--mib", type=int, default=1024)
    args = parser.parse_args(argv)
    folder = WORK / "tar-layers"
    folder.mkdir(parents=True, exist_ok=True)
    write_random_safetensors(folder / "model.safetensors", args.mib)
    (folder / "Modelfile").write_text("FROM scratch\nWEIGHTS model.safetensors\n")
    raw = folder / "raw"
    shutil.rmtree(raw, ignore_errors=True)
    subprocess.run([*MODELOCI, "build", "-f", str(folder / "Modelfile"), "--format", "modelpack", "--layout", str(raw),
                    "--no-cache", "-q"], check=True)
    layouts = {
        "raw": raw, "tar": repack(raw, folder / "tar", "tar"), "tar+gzip": repack(raw, folder / "gz", "tar+gzip")
    }
    settle()
    start = time.perf_counter()
    _sha256_file(folder / "model.safetensors")
    floor = time.perf_counter() - start
    rows = []
    for packing, layout in layouts.items():
        unpack_t, unpack_rss, verify_t, verify_rss = [], [], [], []
        for _ in range(args.runs):
            out = folder / "out"
            shutil.rmtree(out, ignore_errors=True)
            settle()
            t, rss = timed([*MODELOCI, "unpack", str(layout), "-o", str(out), "--layout", "files"])
            unpack_t.append(t)
            unpack_rss.append(rss)
            settle()
            t, rss = timed([*MODELOCI, "verify", str(layout)])
            verify_t.append(t)
            verify_rss.append(rss)
        shutil.rmtree(folder / "out", ignore_errors=True)
        size = sum(p.stat().st_size for p in (layout / "blobs" / "sha256").iterdir())
        rows.append(f"| `{packing}` | {size / MiB:.0f} MiB | {statistics.median(unpack_t):.2f} s | "
                    f"{max(unpack_rss) / 1024:.0f} MiB | {statistics.median(verify_t):.2f} s | "
                    f"{max(verify_rss) / 1024:.0f} MiB |")
    text = "\n".join([
        "# Tar layers: unpack and verify", "",
        f"One {args.mib} MiB random-bytes safetensors file in a ModelPack layout, its layer raw, a tar of the file "
        f"(modctl's `.tar`) or that tar gzipped (level 1). Medians of {args.runs} runs, each a separate process "
        "after `sync`; `unpack --layout files`. Written by `bench/tar_layers.py`.", "",
        f"sha256 of the file (the floor for checking the layer): {floor:.2f} s", "",
        "| layer | blobs | unpack | unpack peak RSS | verify | verify peak RSS |",
        "|---|---|---|---|---|---|", *rows, ""])
    (Path(__file__).resolve().parent / "TAR_LAYERS.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
