"""ModelPack layers that hold a tar of their file (``.v1.tar``, as modctl writes them, and ``.v1.tar+gzip``).

The artifacts here are our own ModelPack builds re-packed the way modctl
packs them: every file in a tar of its own, its member named by its path,
with the real-looking owner and mtime modctl keeps, and ``modelfs.diffIds``
set to the digest of each tar (of the tar inside, for gzip). ``unpack`` must
give exactly the files the raw build unpacks to, ``verify`` must pass them,
and hostile members (``..``, absolute paths, links, a second copy of another
layer's file) are refused before anything is written, with their own message.
Building on such a model, or converting it, is refused with a hint: layers
are carried over byte for byte, and a tar of a file is not the file.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from modeloci.errors import ArchiveError, ModelociError
from modeloci.ops.unpack import unpack
from modeloci.ops.verify import verify
from tests.archive_tools import Archive, build_example

Member = tuple[tarfile.TarInfo, bytes | None]
Packer = Callable[[str, bytes], list[Member]]


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def modctl_member(path: str, data: bytes) -> list[Member]:
    info = tarfile.TarInfo(path)
    info.size, info.mode, info.mtime = len(data), 0o644, 1_700_000_000
    info.uid, info.gid, info.uname = 1000, 1000, "dev"
    return [(info, data)]


def tar_of(members: list[Member]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return out.getvalue()


def repack(raw: Path, dest: Path, packing: str, pack: Callable[[int, str, bytes], list[Member]] | None = None,
           diff_id: Callable[[bytes, bytes], str] | None = None) -> Path:
    """The ModelPack archive ``raw`` as an OCI layout folder ``dest`` whose layers are tars (``packing``).

    ``pack(i, path, data)`` gives layer i's tar members (default: the file alone, as modctl packs it);
    ``diff_id(tar, blob)`` the diffID the config records (default: the tar's digest, as the spec says)."""
    archive = Archive.read(raw)
    blobs: dict[str, bytes] = {}
    layers, diff_ids = [], []
    for i, layer in enumerate(archive.manifest["layers"]):
        path = layer["annotations"]["org.cncf.model.filepath"]
        data = archive.files["blobs/sha256/" + layer["digest"].split(":")[1]]
        tar = tar_of(pack(i, path, data) if pack else modctl_member(path, data))
        blob = gzip.compress(tar, mtime=0) if packing == "tar+gzip" else tar if packing == "tar" else b"(zstd)" + tar
        layers.append({**layer, "mediaType": layer["mediaType"].replace(".v1.raw", f".v1.{packing}"),
                       "digest": sha256(blob), "size": len(blob)})
        diff_ids.append(diff_id(tar, blob) if diff_id else sha256(tar))
        blobs[sha256(blob)] = blob
    config = json.dumps({**archive.config, "modelfs": {"type": "layers", "diffIds": diff_ids}}).encode()
    config_descriptor = {**archive.manifest["config"], "digest": sha256(config), "size": len(config)}
    manifest = json.dumps({**archive.manifest, "layers": layers, "config": config_descriptor}).encode()
    blobs[sha256(config)] = config
    blobs[sha256(manifest)] = manifest
    (dest / "blobs" / "sha256").mkdir(parents=True)
    for digest, data in blobs.items():
        (dest / "blobs" / "sha256" / digest.split(":")[1]).write_bytes(data)
    (dest / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    entry = {**archive.index["manifests"][0], "digest": sha256(manifest), "size": len(manifest)}
    (dest / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [entry]}))
    return dest


@pytest.fixture(scope="module")
def raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """hf-safetensors built as ModelPack: seven files, each a raw layer under its path."""
    archive, _ = build_example("hf-safetensors", tmp_path_factory.mktemp("raw"), format="modelpack")
    return archive


def tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# --- what a good tar-layered model gives ----------------------------------------------------------------------


@pytest.mark.parametrize("packing", ["tar", "tar+gzip"])
@pytest.mark.parametrize("layout", ["bundle", "files"])
def test_unpack_gives_the_files_the_raw_model_gives(raw: Path, tmp_path: Path, packing: str, layout: str) -> None:
    packed = repack(raw, tmp_path / "packed", packing)
    expected = unpack(raw, tmp_path / "from-raw", layout=layout)  # type: ignore[arg-type]
    got = unpack(packed, tmp_path / "from-tar", layout=layout)  # type: ignore[arg-type]
    want, have = tree(tmp_path / "from-raw"), tree(tmp_path / "from-tar")
    if layout == "bundle":  # config.json's "size" counts the weight layers' bytes: here, tars of them
        fields = [{k: v for k, v in json.loads(t.pop("config.json")).items() if k != "size"} for t in (want, have)]
        assert fields[0] == fields[1]
    assert have == want and len(want) == 7
    # Each member is reported with its own digest and size: those of the raw layer holding the same file.
    derived = "config.json" if layout == "bundle" else None  # written by unpack, not a layer
    files = [sorted((f for f in r.files if f.path != derived), key=lambda f: f.path) for r in (expected, got)]
    assert files[0] == files[1] and len(files[0]) == 7


@pytest.mark.parametrize("packing", ["tar", "tar+gzip"])
def test_verify_passes_a_good_tar_layered_model(raw: Path, tmp_path: Path, packing: str) -> None:
    report = verify(repack(raw, tmp_path / "packed", packing))
    assert report.problems == [] and report.format == "modelpack" and report.blobs_checked == 7


def test_a_gzip_layer_whose_diff_id_is_its_own_digest_is_reported(raw: Path, tmp_path: Path) -> None:
    """diffIDs name the uncompressed tar; a packer that records the compressed blob's digest is caught."""
    packed = repack(raw, tmp_path / "packed", "tar+gzip", diff_id=lambda tar, blob: sha256(blob))
    manifest = json.loads((packed / "index.json").read_text())["manifests"][0]
    layers = json.loads((packed / "blobs/sha256" / manifest["digest"].split(":")[1]).read_bytes())["layers"]
    first = gzip.decompress((packed / "blobs/sha256" / layers[0]["digest"].split(":")[1]).read_bytes())
    messages = [p.message for p in verify(packed).problems]
    assert len(messages) == 7
    assert messages[0] == (f"modelfs.diffIds[0] is {layers[0]['digest']}, "
                           f"but layer 1 holds a tar of digest {sha256(first)}")


def test_a_zstd_layer_is_named_not_misread(raw: Path, tmp_path: Path) -> None:
    packed = repack(raw, tmp_path / "packed", "tar+zstd")
    report = verify(packed)
    assert report.ok and len(report.problems) == 7
    assert report.problems[0].severity == "warning"
    assert report.problems[0].message == ("layer 1 (application/vnd.cncf.model.weight.v1.tar+zstd): a tar+zstd "
                                          "layer, which modeloci cannot read (Python's standard library has no zstd)")
    with pytest.raises(ArchiveError, match=r"\(application/vnd\.cncf\.model\.weight\.v1\.tar\+zstd\): a "
                                           r"tar\+zstd layer, which modeloci cannot read"):
        unpack(packed, tmp_path / "out")
    assert not (tmp_path / "out").exists()


# --- hostile or broken members ----------------------------------------------------------------------------------


def _with(kind: str) -> Callable[[int, str, bytes], list[Member]]:
    """Layer 0 (the weights) packed with a bad extra member of ``kind``."""
    def pack(i: int, path: str, data: bytes) -> list[Member]:
        members = modctl_member(path, data)
        if i != 0:
            return members
        bad = tarfile.TarInfo({"dotdot": "../evil", "absolute": "/tmp/evil", "symlink": "etc",
                               "hardlink": "passwd", "other-layers-file": "tokenizer.json"}[kind])
        if kind == "symlink":
            bad.type, bad.linkname = tarfile.SYMTYPE, "/etc"
        elif kind == "hardlink":
            bad.type, bad.linkname = tarfile.LNKTYPE, "/etc/passwd"
        else:
            bad.size = 4
        return [*members, (bad, b"evil" if bad.isreg() else None)]
    return pack


HOSTILE = {
    "dotdot": "tar member `../evil` leaves the archive's folder through `..`",
    "absolute": "tar member `/tmp/evil` has an absolute path",
    "symlink": "tar member `etc` is a symlink (to `/etc`)",
    "hardlink": "tar member `passwd` is a hard link (to `/etc/passwd`)",
}


@pytest.mark.parametrize("kind", sorted(HOSTILE))
@pytest.mark.parametrize("packing", ["tar", "tar+gzip"])
def test_hostile_members_are_refused_before_anything_is_written(raw: Path, tmp_path: Path, kind: str,
                                                                packing: str) -> None:
    packed = repack(raw, tmp_path / "packed", packing, pack=_with(kind))
    index = json.loads((packed / "index.json").read_text())["manifests"][0]
    first = json.loads((packed / "blobs/sha256" / index["digest"].split(":")[1]).read_bytes())["layers"][0]
    media = first["mediaType"]
    assert media == f"application/vnd.cncf.model.weight.v1.{packing}"
    for layout in ("bundle", "files"):
        dest = tmp_path / "box" / "out"
        with pytest.raises(ArchiveError) as caught:
            unpack(packed, dest, layout=layout)  # type: ignore[arg-type]
        assert caught.value.message == f"refusing to unpack: layer {first['digest']} ({media}): {HOSTILE[kind]}"
        assert not (tmp_path / "box").exists() and not (tmp_path / "evil").exists()
    report = verify(packed)
    assert [(p.severity, p.message) for p in report.problems] == [("error", f"layer 1 ({media}): {HOSTILE[kind]}")]


def test_a_member_that_would_overwrite_another_layers_file_is_refused(raw: Path, tmp_path: Path) -> None:
    packed = repack(raw, tmp_path / "packed", "tar", pack=_with("other-layers-file"))
    with pytest.raises(ArchiveError, match=r"^refusing to unpack: two layers would both be written to "
                                           r"`model/tokenizer\.json`$"):
        unpack(packed, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_tar_layer_cut_short_is_refused(raw: Path, tmp_path: Path) -> None:
    """The blob's digest is right (the packer cut the tar before hashing it): the tar itself is what is wrong."""
    packed = repack(raw, tmp_path / "packed", "tar")
    index = json.loads((packed / "index.json").read_text())["manifests"][0]
    manifest_path = packed / "blobs/sha256" / index["digest"].split(":")[1]
    manifest = json.loads(manifest_path.read_bytes())
    weights = next(layer for layer in manifest["layers"]
                   if layer["annotations"]["org.cncf.model.filepath"] == "model.safetensors")
    blob = packed / "blobs/sha256" / weights["digest"].split(":")[1]
    short = blob.read_bytes()[:512 + 100]  # the header and 100 bytes of the file
    blob.unlink()
    (packed / "blobs/sha256" / sha256(short).split(":")[1]).write_bytes(short)
    weights.update(digest=sha256(short), size=len(short))
    data = json.dumps(manifest).encode()
    manifest_path.unlink()
    (packed / "blobs/sha256" / sha256(data).split(":")[1]).write_bytes(data)
    (packed / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [
        {**index, "digest": sha256(data), "size": len(data)}]}))
    expected = f"layer {sha256(short)} ({weights['mediaType']}): not a readable tar: unexpected end of data"
    with pytest.raises(ArchiveError) as caught:
        unpack(packed, tmp_path / "out")
    assert caught.value.message == f"refusing to unpack: {expected}"
    assert not (tmp_path / "out").exists()
    position = manifest["layers"].index(weights) + 1
    assert [p.message for p in verify(packed).problems] == [
        f"layer {position} ({weights['mediaType']}): not a readable tar: unexpected end of data"]


# --- building on it, converting it ------------------------------------------------------------------------------


def test_from_and_convert_refuse_tar_layers_with_a_hint(raw: Path, tmp_path: Path, cli) -> None:
    packed = repack(raw, tmp_path / "packed", "tar")
    (tmp_path / "Modelfile").write_text("FROM packed\n")
    built = cli("build", "-f", str(tmp_path / "Modelfile"), "-o", str(tmp_path / "out.tar"))
    assert built.code == 2 and "MF057" in built.stderr and "is a tar of files" in built.stderr, built.stderr
    assert "help: unpack it (`modeloci unpack packed -o DIR --layout files`) and build from its files" in built.stderr
    converted = cli("convert", str(packed), "--format", "docker", "-o", str(tmp_path / "docker.tar"))
    assert converted.code == 1 and "Traceback" not in converted.stderr
    assert converted.stderr.startswith(f"error: cannot convert `{packed}`: its layer sha256:")
    assert "(and 6 more) is a tar of files (`application/vnd.cncf.model.weight.v1.tar`)" in converted.stderr
    assert f"help: unpack it (`modeloci unpack {packed} -o DIR --layout files`)" in converted.stderr
    assert not (tmp_path / "out.tar").exists() and not (tmp_path / "docker.tar").exists()


def test_a_stored_tar_layered_model_unpacks_but_has_no_file_paths(raw: Path, tmp_path: Path, cli) -> None:
    """Loaded into the store, it unpacks from there; ``model_files`` refuses, since its blobs are tars."""
    import modeloci

    packed = repack(raw, tmp_path / "packed", "tar+gzip")
    assert cli("load", str(packed), "-t", "packed:1").code == 0
    assert cli("unpack", "packed:1", "-o", str(tmp_path / "out"), "--layout", "files").code == 0
    assert tree(tmp_path / "out") == tree(unpack(raw, tmp_path / "raw-out", layout="files") and tmp_path / "raw-out")
    with pytest.raises(ArchiveError) as caught:
        modeloci.model_files("packed:1")
    assert caught.value.message == ("`packed:1` holds its files in tar layers (application/vnd.cncf.model.weight.v1"
                                    ".tar+gzip); their paths in the store are tars, not the files")
    assert caught.value.hint == "unpack it: `modeloci unpack packed:1 -o DIR --layout files`"


@pytest.mark.parametrize("packing", ["tar", "tar+gzip"])
def test_a_flipped_bit_in_a_tar_layer_fails_its_digest_and_leaves_nothing(raw: Path, tmp_path: Path,
                                                                          packing: str) -> None:
    """The tar still reads (the bit is in the middle of the file's data, or of the gzip stream's last block):
    only the layer's digest can tell, and it does, before the folder appears."""
    packed = repack(raw, tmp_path / "packed", packing)
    index = json.loads((packed / "index.json").read_text())["manifests"][0]
    layers = json.loads((packed / "blobs/sha256" / index["digest"].split(":")[1]).read_bytes())["layers"]
    weights = next(layer for layer in layers if layer["annotations"]["org.cncf.model.filepath"] == "model.safetensors")
    blob = packed / "blobs/sha256" / weights["digest"].split(":")[1]
    data = bytearray(blob.read_bytes())
    at = 512 * 3 + 300 if packing == "tar" else len(data) - 30  # file data after the PAX and ustar headers
    data[at] ^= 0x01
    blob.write_bytes(bytes(data))
    with pytest.raises(ModelociError) as caught:
        unpack(packed, tmp_path / "out", layout="files")
    assert not (tmp_path / "out").exists() and list(tmp_path.iterdir()) == [packed]
    if packing == "tar":
        assert caught.value.message == (f"reading layer {weights['digest']}: content does not match its digest "
                                        f"{weights['digest']}")
    else:  # tarfile stops before the gzip trailer's check: the digest, taken over every byte, catches it
        assert caught.value.message.startswith(f"refusing to unpack: layer {weights['digest']} does not match its "
                                               f"digest {weights['digest']}: its content is sha256:")
    messages = [p.message for p in verify(packed).problems]
    assert messages[-1].startswith(f"layer 1 blob {weights['digest']} does not match its digest: its content is ")
    if packing == "tar+gzip":  # and inflating it for its diffID meets the gzip check
        assert messages[:-1] == [f"layer 1 ({weights['mediaType']}): not a readable gzip stream: Error -3 while "
                                 "decompressing data: incorrect data check"]
    else:
        assert len(messages) == 1


# --- decompression bombs -----------------------------------------------------------------------------------------

BOMB = 24 << 20  # zeros: deflate makes about 24 KiB of them, past 100:1 (the bound is 100 x size + 16 MiB)


def _bomb_member(i: int, path: str, data: bytes) -> list[Member]:
    """Layer 0 also holds 24 MiB of zeros: its header claims them, and inflating them is the attack."""
    zeros = tarfile.TarInfo("zeros.bin")
    zeros.size = BOMB
    return modctl_member(path, data) + ([(zeros, bytes(BOMB))] if i == 0 else [])


def _padded_tar(i: int, path: str, data: bytes) -> list[Member]:
    """Layer 0's tar is followed, inside the gzip stream, by 24 MiB of zeros no header mentions."""
    return modctl_member(path, data)


@pytest.fixture(scope="module")
def bombs(raw: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("bombs")
    claimed = repack(raw, root / "claimed", "tar+gzip", pack=_bomb_member)
    padded = repack(raw, root / "padded", "tar+gzip", pack=_padded_tar)
    # Re-pack layer 0 of `padded` with zeros after the tar's end: the listing sees one small member, the diffID
    # is the digest of everything inflated, so only counting while inflating stops it.
    manifest_path = _manifest_path(padded)
    manifest = json.loads(manifest_path.read_bytes())
    layer = manifest["layers"][0]
    old = padded / "blobs/sha256" / layer["digest"].split(":")[1]
    inner = gzip.decompress(old.read_bytes()) + bytes(BOMB)
    blob = gzip.compress(inner, mtime=0)
    (padded / "blobs/sha256" / sha256(blob).split(":")[1]).write_bytes(blob)
    old.unlink()
    config_path = padded / "blobs/sha256" / manifest["config"]["digest"].split(":")[1]
    config = json.loads(config_path.read_bytes())
    config["modelfs"]["diffIds"][0] = sha256(inner)
    config_bytes = json.dumps(config).encode()
    config_path.unlink()
    (padded / "blobs/sha256" / sha256(config_bytes).split(":")[1]).write_bytes(config_bytes)
    manifest["layers"][0].update(digest=sha256(blob), size=len(blob))
    manifest["config"].update(digest=sha256(config_bytes), size=len(config_bytes))
    manifest_bytes = json.dumps(manifest).encode()
    manifest_path.unlink()
    (padded / "blobs/sha256" / sha256(manifest_bytes).split(":")[1]).write_bytes(manifest_bytes)
    index = json.loads((padded / "index.json").read_bytes())
    index["manifests"][0].update(digest=sha256(manifest_bytes), size=len(manifest_bytes))
    (padded / "index.json").write_text(json.dumps(index))
    return {"claimed": claimed, "padded": padded}


def _manifest_path(layout: Path) -> Path:
    digest = json.loads((layout / "index.json").read_bytes())["manifests"][0]["digest"]
    return layout / "blobs/sha256" / digest.split(":")[1]


def _bomb_layer(layout: Path) -> dict:
    return json.loads(_manifest_path(layout).read_bytes())["layers"][0]


@pytest.mark.parametrize("kind", ["claimed", "padded"])
def test_a_gzip_bomb_layer_is_refused_by_verify_unless_allowed(bombs: dict[str, Path], kind: str) -> None:
    """A gzip layer inflating 1,000:1 (4 MiB to 4 GiB took 90 s to verify) is refused past 100:1, at its header
    when a member claims the bytes, by counting when the bytes follow the tar; allowed with a ratio of 0."""
    layer = _bomb_layer(bombs[kind])
    report = verify(bombs[kind])
    bomb = (f"it inflates to more than 100 times its {layer['size']} bytes: refused as a likely decompression bomb "
            "(`--max-inflate-ratio 0` reads it anyway)")
    where = f"layer 1 ({layer['mediaType']})"
    assert [p.message for p in report.problems if p.severity == "error"] == [f"{where}: {bomb}"]
    assert verify(bombs[kind], max_inflate_ratio=0).ok


def test_a_gzip_bomb_layer_is_refused_by_unpack_before_anything_is_written(bombs: dict[str, Path],
                                                                         tmp_path: Path) -> None:
    layer = _bomb_layer(bombs["claimed"])
    with pytest.raises(ArchiveError) as caught:
        unpack(bombs["claimed"], tmp_path / "out", layout="files")
    assert caught.value.message == (
        f"refusing to unpack: layer {layer['digest']} ({layer['mediaType']}): it inflates to more than 100 times its "
        f"{layer['size']} bytes: refused as a likely decompression bomb (`--max-inflate-ratio 0` reads it anyway)")
    assert list(tmp_path.iterdir()) == []
    unpack(bombs["claimed"], tmp_path / "allowed", layout="files", max_inflate_ratio=0)
    assert (tmp_path / "allowed" / "zeros.bin").stat().st_size == BOMB


def test_max_inflate_ratio_on_the_command_line(bombs: dict[str, Path], tmp_path: Path, cli) -> None:
    layer = _bomb_layer(bombs["padded"])
    refused = cli("verify", str(bombs["padded"]))
    assert refused.code == 1
    assert (f"error: layer 1 ({layer['mediaType']}): it inflates to more than 100 times its {layer['size']} bytes: "
            "refused as a likely decompression bomb (`--max-inflate-ratio 0` reads it anyway)") in refused.stderr
    assert cli("verify", str(bombs["padded"]), "--max-inflate-ratio", "0").code == 0
    assert cli("verify", str(bombs["padded"]), "--max-inflate-ratio", "2000").code == 0
    assert cli("unpack", str(bombs["claimed"]), "-o", str(tmp_path / "out")).code == 1
    assert not (tmp_path / "out").exists()
    assert cli("unpack", str(bombs["claimed"]), "-o", str(tmp_path / "out"), "--max-inflate-ratio", "0").code == 0
    assert cli("verify", str(bombs["padded"]), "--max-inflate-ratio", "-1").code == 2
