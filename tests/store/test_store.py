"""The local model store: shared blobs, tags, save/load, names everywhere, concurrency and crashes."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from modeloci import api
from modeloci.builder import build_store
from modeloci.formats.roles import Role
from modeloci.ops.verify import verify_store
from modeloci.store import Store
from modeloci.store.ops import stored_model
from tests.archive_tools import Archive, copy_example
from tests.hostile_archives import with_config_bytes

STORE_ENV = "MODELOCI_HOME"


@pytest.fixture
def store() -> Store:
    return Store()


def _blobs(store: Store) -> dict[str, int]:
    return {p.name: p.stat().st_size for p in store.blobs.iterdir() if not p.name.startswith(".")}


def _build(modelfile: Path, reference: str, **kw) -> None:
    build_store(api.plan(modelfile, reference=reference, **kw), Store())


def test_models_sharing_a_base_store_each_blob_once(tmp_path: Path, store: Store) -> None:
    single = copy_example("single-gguf", tmp_path)
    rebase = copy_example("rebase", tmp_path)
    _build(single, "tiny:1")
    first = _blobs(store)
    assert len(first) == 5  # 3 layers, config, manifest
    _build(rebase, "tiny:chat", build_args={"BASE": "tiny:1"})
    both = _blobs(store)
    # The rebased model adds a template, a config and a manifest: weights and license are shared.
    assert len(both) == 8 and set(first) <= set(both)
    on_disk = sum(p.stat().st_size for p in store.blobs.iterdir())
    assert on_disk == sum(both.values())
    weights = store.blob_path(stored_model(store, "tiny:1").artifact.layers[0].descriptor.digest)
    assert weights.stat().st_nlink == 1


def test_save_is_byte_identical_to_a_direct_build(tmp_path: Path, store: Store, cli) -> None:
    for name in ("sharded-vision", "hf-safetensors"):
        modelfile = copy_example(name, tmp_path)
        assert cli("build", "-f", str(modelfile), "-t", f"m/{name}:v1", "--created", "86400").code == 0
        assert cli("save", f"m/{name}:v1", "-o", str(tmp_path / f"{name}-saved.tar")).code == 0
        direct = api.build(modelfile, tmp_path / f"{name}-direct.tar", reference=f"m/{name}:v1", created=86400)
        assert direct.output is not None
        assert (tmp_path / f"{name}-saved.tar").read_bytes() == direct.output.read_bytes()


def test_index_lists_each_tag_with_its_full_reference(tmp_path: Path, store: Store, cli) -> None:
    _build(copy_example("single-gguf", tmp_path), "ai/tiny:1")
    assert cli("tag", "ai/tiny:1", "tiny").code == 0
    index = json.loads((store.root / "index.json").read_text())
    assert [m["annotations"] for m in index["manifests"]] == [
        {"io.containerd.image.name": "ai/tiny:1", "org.opencontainers.image.ref.name": "ai/tiny:1"},
        {"io.containerd.image.name": "tiny:latest", "org.opencontainers.image.ref.name": "tiny:latest"},
    ]
    assert json.loads((store.root / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}
    if shutil.which("skopeo"):
        raw = subprocess.run(["skopeo", "inspect", "--raw", f"oci:{store.root}:tiny:latest"], check=True,
                             capture_output=True).stdout
        assert "sha256:" + hashlib.sha256(raw).hexdigest() == index["manifests"][1]["digest"]


def test_ls_tag_rm_and_prune(tmp_path: Path, store: Store, cli) -> None:
    _build(copy_example("single-gguf", tmp_path), "tiny:1")
    _build(copy_example("sharded-vision", tmp_path), "vision:1")
    rows = json.loads(cli("ls", "--json").stdout)
    assert [(r["reference"], r["format"], r["architecture"], r["parameters"], r["quantization"]) for r in rows] == [
        ("tiny:1", "docker", "llama", "88", "MOSTLY_F32"), ("vision:1", "docker", "llama", "152", "MOSTLY_F16")]
    assert all(r["size"] > 0 and r["digest"].startswith("sha256:") for r in rows)
    text = cli("ls").stdout
    assert "tiny" in text and "vision" in text and "MOSTLY_F16" in text
    before = _blobs(store)
    vision_only = {d for d in before} - {
        d.hex for d in [layer.descriptor.digest for layer in stored_model(store, "tiny:1").artifact.layers]}
    result = cli("rm", "vision:1")
    assert result.code == 0 and "Untagged vision:latest" not in result.stdout
    pruned = json.loads(cli("prune", "--json").stdout)
    after = _blobs(store)
    freed = {k: v for k, v in before.items() if k not in after}
    assert pruned == {"files": len(freed), "bytes": sum(freed.values())}
    assert set(freed) <= vision_only and len(after) == 5
    assert cli("verify", "--store").code == 0
    missing = cli("rm", "nope:1")
    assert missing.code == 2 and "no model `nope:1` in the store" in missing.stderr


def test_names_work_wherever_archives_do(tmp_path: Path, store: Store, cli) -> None:
    _build(copy_example("sharded-vision", tmp_path), "vision:1")
    assert json.loads(cli("inspect", "vision:1", "--json").stdout)["reference"] == "vision:1"
    assert cli("verify", "vision:1").code == 0
    unpacked = tmp_path / "bundle"
    assert cli("unpack", "vision:1", "-o", str(unpacked)).code == 0
    shard = unpacked / "model" / "model-00001-of-00002.gguf"
    assert shard.stat().st_nlink == 1  # a copy: an edit of the unpacked file can never reach the store
    assert cli("convert", "vision:1", "--format", "modelpack", "-o", str(tmp_path / "mp.tar")).code == 0
    assert Archive.read(tmp_path / "mp.tar").manifest["artifactType"] == "application/vnd.cncf.model.manifest.v1+json"
    missing = cli("inspect", "nothing:here")
    assert missing.code == 2 and "is neither a file nor a model in the store" in missing.stderr


def test_from_a_stored_model(tmp_path: Path, store: Store) -> None:
    _build(copy_example("single-gguf", tmp_path), "tiny:1")
    rebase = copy_example("rebase", tmp_path)
    plan = api.plan(rebase, build_args={"BASE": "tiny:1"})
    assert plan.base is not None and plan.base.path == "tiny:1"
    assert [layer.source.kind for layer in plan.layers] == ["base", "base", "file"]


def test_load_checks_every_digest(tmp_path: Path, store: Store, cli) -> None:
    archive = api.build(copy_example("single-gguf", tmp_path), tmp_path / "good.tar", reference="tiny:1").output
    assert archive is not None
    data = bytearray(archive.read_bytes())
    with tarfile.open(archive) as tar:
        weights = next(m for m in tar.getmembers() if m.size == 1216)
    data[weights.offset_data + 10] ^= 1
    (tmp_path / "bad.tar").write_bytes(bytes(data))
    bad = cli("load", str(tmp_path / "bad.tar"))
    assert bad.code == 1 and "does not match its digest" in bad.stderr
    assert store.entries() == [] and _blobs(store) == {}
    good = cli("load", str(archive))
    assert good.code == 0 and store.find("tiny:1") is not None
    assert verify_store(store).ok


def test_stored_model_gives_runtime_paths(tmp_path: Path, store: Store) -> None:
    _build(copy_example("sharded-vision", tmp_path), "vision:1")
    model = stored_model(store, "vision:1")
    shards = model.paths(Role.WEIGHTS)
    assert [p.read_bytes() for p in shards] == [
        (tmp_path / "sharded-vision" / f"tiny-vision-0000{i}-of-00002.gguf").read_bytes() for i in (1, 2)]
    mmproj = tmp_path / "sharded-vision" / "mmproj-tiny-vision-F16.gguf"
    assert model.paths(Role.MMPROJ)[0].read_bytes() == mmproj.read_bytes()
    assert json.loads(model.config_path.read_bytes())["config"]["architecture"] == "llama"


def test_the_public_model_api_gives_every_file_in_place(tmp_path: Path, store: Store) -> None:
    """``modeloci.model_files(NAME)``: the seed's ``Model``, typed; every path is the store's own blob, nothing
    copied."""
    import modeloci

    vision = copy_example("sharded-vision", tmp_path)
    _build(vision, "vision:1")
    files = modeloci.model_files("vision:1")
    src = vision.parent
    assert files.reference == "vision:1" and files.format == "docker" and files.weights_format == "gguf"
    assert [p.read_bytes() for p in files.weights] == [
        (src / f"tiny-vision-0000{i}-of-00002.gguf").read_bytes() for i in (1, 2)]  # shard order
    assert files.mmproj is not None and files.mmproj.read_bytes() == (src / "mmproj-tiny-vision-F16.gguf").read_bytes()
    assert files.chat_template is None
    assert [p.read_bytes() for p in files.licenses] == [(src / "LICENSE.txt").read_bytes()]
    assert json.loads(files.config.read_bytes())["config"]["format"] == "gguf"
    every = [*files.weights, files.mmproj, *files.licenses, files.config]
    assert all(p.parent == store.blobs and p.name == hashlib.sha256(p.read_bytes()).hexdigest() for p in every)
    assert files.digest == str(stored_model(store, "vision:1").artifact.digest)

    hf = copy_example("hf-safetensors", tmp_path)
    _build(hf, "qwen:latest")  # asked for below without a tag: :latest, as everywhere
    files = modeloci.model_files("qwen")
    folder = hf.parent / "tiny-qwen"
    assert files.reference == "qwen:latest" and files.weights_format == "safetensors"
    assert [p.read_bytes() for p in files.weights] == [(folder / "model.safetensors").read_bytes()]
    assert files.chat_template is not None
    assert files.chat_template.read_bytes() == (folder / "chat_template.jinja").read_bytes()
    assert {name: path.read_bytes() for name, path in files.files.items()} == {
        p.name: p.read_bytes() for p in folder.iterdir() if p.name != "README.md"}
    with pytest.raises(modeloci.ModelociError, match="no model `nothing:latest` in the store"):
        modeloci.model_files("nothing")


def test_build_needs_a_name_to_store(tmp_path: Path, cli) -> None:
    modelfile = copy_example("single-gguf", tmp_path)
    result = cli("build", "-f", str(modelfile))
    assert result.code == 2 and "a model in the store needs a name" in result.stderr
    both = cli("build", "-f", str(modelfile), "-t", "tiny:1", "-o", str(tmp_path / "x.tar"), "--store")
    assert both.code == 0 and (tmp_path / "x.tar").exists() and Store().find("tiny:1") is not None


def _env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}


def test_concurrent_builds_and_tags_leave_a_valid_store(tmp_path: Path, store: Store) -> None:
    modelfiles = [copy_example(name, tmp_path) for name in ("single-gguf", "sharded-vision", "hf-safetensors")]
    procs = []
    for i in range(6):
        modelfile = modelfiles[i % 3]
        command = [sys.executable, "-m", "modeloci", "build", "-f", str(modelfile), "-t", f"m{i}:v1"]
        procs.append(subprocess.Popen(command, env=_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()
    assert sorted(e.reference for e in store.entries()) == [f"m{i}:v1" for i in range(6)]
    report = verify_store(store)
    assert report.ok and [p.message for p in report.problems] == []


@pytest.mark.slow
def test_a_killed_build_leaves_no_half_blob_and_prune_cleans_up(tmp_path: Path, store: Store) -> None:
    folder = tmp_path / "big"
    folder.mkdir()
    header = b'{"__metadata__":{"format":"pt"}}      '
    with (folder / "model.safetensors").open("wb") as out:
        out.write(len(header).to_bytes(8, "little") + header)
        for _ in range(48):
            out.write(os.urandom(8 << 20))
    (folder / "Modelfile").write_text("FROM scratch\nWEIGHTS model.safetensors\n")
    proc = subprocess.Popen([sys.executable, "-m", "modeloci", "build", "-f", str(folder / "Modelfile"), "-t", "big:1",
                             "--no-cache"], env=_env(tmp_path), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def copying() -> bool:
        return store.blobs.is_dir() and any(store.blobs.glob(".modeloci-*"))

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None and not copying():
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert copying(), "the build was not caught while writing its blob"
    for blob in store.blobs.iterdir():
        if not blob.name.startswith("."):
            assert hashlib.sha256(blob.read_bytes()).hexdigest() == blob.name  # a real name holds a whole blob
    assert store.find("big:1") is None
    leftovers = [p for p in store.blobs.iterdir() if p.name.startswith(".")]
    report = verify_store(store)
    assert report.ok
    assert [p.severity for p in report.problems] == ["warning"] * len(report.problems)
    assert leftovers and [p.message for p in report.problems] == [
        f"leftover temporary file `{p.name}` (run `modeloci prune`)" for p in sorted(leftovers)]
    # Nothing is tagged, so everything in blobs/ goes: the partial file and any blob finished before the kill.
    count, expected = len(list(store.blobs.iterdir())), sum(p.stat().st_size for p in store.blobs.iterdir())
    assert store.prune() == (count, expected)
    assert not any(store.blobs.iterdir())


def test_editing_an_unpacked_file_never_reaches_the_store(tmp_path: Path, store: Store, cli) -> None:
    """Unpack used to hard-link the store's blobs: appending to the unpacked template changed the stored model,
    and `save` then wrote a corrupt archive with exit 0. File modes would not help: root (CI, containers) ignores
    them, and these tests run as whoever runs them."""
    _build(copy_example("single-gguf", tmp_path), "tiny:1")
    before = _blobs(store)
    assert cli("unpack", "tiny:1", "-o", str(tmp_path / "bundle")).code == 0
    template = tmp_path / "bundle" / "model" / "template.jinja"
    with template.open("a") as out:
        out.write("{{ 'appended by the user' }}")
    assert _blobs(store) == before
    assert cli("verify", "--store").code == 0
    assert cli("save", "tiny:1", "-o", str(tmp_path / "saved.tar")).code == 0
    assert api.verify(tmp_path / "saved.tar").ok


def test_save_refuses_a_blob_changed_in_the_store(tmp_path: Path, store: Store, cli) -> None:
    """A stored blob changed in place (a bad disk, an old hard link, a user's edit): save hashes what it copies
    and writes nothing rather than a corrupt archive."""
    _build(copy_example("single-gguf", tmp_path), "tiny:1")
    model = stored_model(store, "tiny:1")
    template = model.paths(Role.CHAT_TEMPLATE)[0]
    data = bytearray(template.read_bytes())
    data[0] ^= 0x20  # same size, other bytes
    template.write_bytes(bytes(data))
    output = tmp_path / "saved.tar"
    output.write_bytes(b"the previous archive")
    result = cli("save", "tiny:1", "-o", str(output))
    assert result.code == 1
    assert result.stderr.splitlines()[0] == ("error: reading chat_template.jinja of `tiny:1`: content does not match "
                                             f"its digest sha256:{template.name}")
    assert output.read_bytes() == b"the previous archive"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".modeloci-")] == []


def test_load_refuses_a_model_verify_would_refuse(tmp_path: Path, store: Store, cli) -> None:
    """Nothing enters the store unverified: an archive whose config lists its layers in another order than the
    manifest (digests all right) is refused by load, as `verify --store` would refuse it afterwards."""
    api.build(copy_example("single-gguf", tmp_path), tmp_path / "good.tar", reference="tiny:1")

    def swap(raw: bytes) -> bytes:
        doc = json.loads(raw)
        ids = doc["rootfs"]["diff_ids"]
        ids[0], ids[1] = ids[1], ids[0]
        return json.dumps(doc).encode()

    bad = with_config_bytes(tmp_path / "good.tar", tmp_path / "bad.tar", swap)
    result = cli("load", str(bad))
    assert result.code == 1
    first = result.stderr.splitlines()[0]
    assert first.startswith(f"error: refusing to load `{bad}`: rootfs.diff_ids[0] is "), first
    assert first.endswith(" (and 1 more)"), first
    assert store.entries() == [] and not any(store.blobs.glob("*"))
    assert cli("verify", "--store").code == 0


def test_load_over_a_name_another_model_holds_says_the_tag_moved(tmp_path: Path, cli) -> None:
    """As ``docker load`` does: a name taken from another model is said to move, in text and in --json; loading the
    same model again moves nothing."""
    modelfile = copy_example("single-gguf", tmp_path)
    digests = []
    for name, created in (("a.tar", "1"), ("b.tar", "2")):
        built = cli("build", "-f", str(modelfile), "-t", "tiny:1", "-o", str(tmp_path / name), "--created", created,
                    "--json", "-q")
        digests.append(json.loads(built.stdout)["digest"])
    first, second = digests
    assert first != second
    loaded = cli("load", str(tmp_path / "a.tar"))
    assert (loaded.code, loaded.stdout) == (0, f"Loaded tiny:1 ({first})\n")
    moved = cli("load", str(tmp_path / "b.tar"))
    assert (moved.code, moved.stdout) == (0, f"Loaded tiny:1 ({second}) (tag moved from {first})\n")
    back = json.loads(cli("load", str(tmp_path / "a.tar"), "--json").stdout)
    assert back == {"reference": "tiny:1", "digest": first, "format": "docker", "moved_from": second}
    again = json.loads(cli("load", str(tmp_path / "a.tar"), "--json").stdout)
    assert again["moved_from"] is None
    assert json.loads(cli("ls", "--json").stdout)[0]["digest"] == first
