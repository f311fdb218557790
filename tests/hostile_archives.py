"""The hostile archive maker: tar-level tools, and archives written the way an attacker would write them.

Everything starts from a good archive that modeloci built. The tools read and
write tars with Python's ``tarfile`` (never with modeloci's reader), so a bug
in our reader cannot hide a bug in our writer. The ``HOSTILE`` table names
each attack and makes it: a blob whose bytes were changed, a second member at
a blob's path, a descriptor that claims more bytes than its blob holds, members
at absolute paths or climbing out with ``..`` (in the name or in a pax
override), special files, links where blobs should be, JSON nested 100,000
deep, lone surrogates, and layer paths no file system can hold.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Item = tuple[tarfile.TarInfo, bytes | None]
Edit = Callable[[list[Item]], list[Item]]


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def blob_name(digest: str) -> str:
    return "blobs/sha256/" + digest.removeprefix("sha256:")


def tar_items(path: Path) -> list[Item]:
    """Every member of the tar with its data (None for non-regular members)."""
    with tarfile.open(path) as tar:
        return [(m, tar.extractfile(m).read() if m.isreg() else None)  # type: ignore[union-attr]
                for m in tar.getmembers()]


def write_tar(path: Path, items: list[Item]) -> Path:
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in items:
            if data is None:
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return path


def rewrite(src: Path, dst: Path, edit: Edit) -> Path:
    """A copy of the tar ``src`` at ``dst`` with its member list passed through ``edit``."""
    return write_tar(dst, edit(tar_items(src)))


def member(path: Path, name: str) -> tarfile.TarInfo:
    with tarfile.open(path) as tar:
        return tar.getmember(name)


def flip_bit(src: Path, dst: Path, name: str, at: int = 0) -> Path:
    """A copy of ``src`` with the lowest bit of byte ``at`` of member ``name``'s data flipped."""
    offset = member(src, name).offset_data + at
    data = bytearray(src.read_bytes())
    data[offset] ^= 0x01
    dst.write_bytes(bytes(data))
    return dst


def file_info(name: str, data: bytes) -> Item:
    return tarfile.TarInfo(name), data


def drop(*names: str) -> Edit:
    return lambda items: [(m, d) for m, d in items if m.name not in names]


def append(*extra: Item) -> Edit:
    return lambda items: items + list(extra)


def link(name: str, target: str, kind: bytes) -> Item:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info, None


def special(name: str, kind: bytes) -> Item:
    """A FIFO (``tarfile.FIFOTYPE``) or character device (``tarfile.CHRTYPE``, /dev/null's numbers)."""
    info = tarfile.TarInfo(name)
    info.type, info.devmajor, info.devminor = kind, 1, 3
    return info, None


def replace_data(name: str, new: Callable[[bytes], bytes]) -> Edit:
    """Member ``name``'s data passed through ``new`` (its header's size follows)."""
    return lambda items: [(i, new(d) if i.name == name and d is not None else d) for i, d in items]


def with_manifest(src: Path, dst: Path, edit: Callable[[dict[str, Any]], None]) -> tuple[Path, str]:
    """Re-serialise the manifest after ``edit``, store it as a new blob (the old one removed), and point
    ``index.json`` and ``manifest.json`` at it, so the archive is consistent apart from the edit."""
    return with_manifest_bytes(src, dst, lambda raw: _dumps(_edited(json.loads(raw), edit)))


def with_manifest_bytes(src: Path, dst: Path, make: Callable[[bytes], bytes]) -> tuple[Path, str]:
    """Like :func:`with_manifest`, with the new manifest's bytes made from the old ones by ``make``."""
    items = tar_items(src)
    files = {i.name: d for i, d in items}
    old_digest = json.loads(files["index.json"])["manifests"][0]["digest"]  # type: ignore[arg-type]
    new = make(files[blob_name(old_digest)])  # type: ignore[arg-type]
    digest = sha256(new)
    out: list[Item] = []
    for info, data in items:
        if info.name == blob_name(old_digest):
            out.append(file_info(blob_name(digest), new))
        elif info.name == "index.json":
            index = json.loads(data)  # type: ignore[arg-type]
            index["manifests"][0].update(digest=digest, size=len(new))
            out.append((info, json.dumps(index).encode()))
        elif info.name == "manifest.json":
            out.append((info, new))
        else:
            out.append((info, data))
    return write_tar(dst, out), digest


def with_config_bytes(src: Path, dst: Path, make: Callable[[bytes], bytes]) -> Path:
    """A copy whose config blob is ``make(old config)``, with the manifest re-pointed at it."""
    items = tar_items(src)
    files = {i.name: d for i, d in items}
    index = json.loads(files["index.json"])  # type: ignore[arg-type]
    manifest = json.loads(files[blob_name(index["manifests"][0]["digest"])])  # type: ignore[arg-type]
    old = manifest["config"]["digest"]
    new = make(files[blob_name(old)])  # type: ignore[arg-type]
    step = dst.with_suffix(".step.tar")
    write_tar(step, [((file_info(blob_name(sha256(new)), new)[0], new) if i.name == blob_name(old) else (i, d))
                     for i, d in items])

    def point(doc: dict[str, Any]) -> None:
        doc["config"].update(digest=sha256(new), size=len(new))

    path, _ = with_manifest(step, dst, point)
    step.unlink()
    return path


def _edited(doc: dict[str, Any], edit: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    edit(doc)
    return doc


def _dumps(doc: Any) -> bytes:
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()


def nested(depth: int) -> bytes:
    """A JSON document ``depth`` arrays deep."""
    return b"[" * depth + b"]" * depth


@dataclass(frozen=True)
class Good:
    """What a good archive holds, read with tarfile: layer digests and sizes in order, and the config's."""

    path: Path
    layers: list[str]
    sizes: list[int]
    config: str
    manifest: str

    @classmethod
    def of(cls, path: Path) -> Good:
        files = {i.name: d for i, d in tar_items(path)}
        digest = json.loads(files["index.json"])["manifests"][0]["digest"]  # type: ignore[arg-type]
        doc = json.loads(files[blob_name(digest)])  # type: ignore[arg-type]
        return cls(path, [x["digest"] for x in doc["layers"]], [x["size"] for x in doc["layers"]],
                   doc["config"]["digest"], digest)


# --- the attacks ----------------------------------------------------------------------------------------------
# Each takes a good archive and a path to write, and returns the hostile archive. The weights are layer 0.


def tampered_blob(g: Good, dst: Path) -> Path:
    """The weights' bytes changed, same size, same name: only a digest check tells."""
    return flip_bit(g.path, dst, blob_name(g.layers[0]), at=g.sizes[0] // 2)


def duplicate_blob_member(g: Good, dst: Path) -> Path:
    """A second member at the weights' path, same size, other bytes: a reader whose last copy wins reads it."""
    def second(items: list[Item]) -> list[Item]:
        data = dict((i.name, d) for i, d in items)[blob_name(g.layers[0])]
        assert data is not None
        return [*items, file_info(blob_name(g.layers[0]), bytes(255 - b for b in data))]
    return rewrite(g.path, dst, second)


def oversized_descriptor(g: Good, dst: Path) -> Path:
    """The manifest says the weights hold 100 bytes more than their member: a reader trusting it reads past it."""
    def grow(doc: dict[str, Any]) -> None:
        doc["layers"][0]["size"] += 100
    return with_manifest(g.path, dst, grow)[0]


def absolute_member(g: Good, dst: Path) -> Path:
    return rewrite(g.path, dst, append(file_info("/tmp/modeloci-hostile-absolute", b"planted\n")))


def dotdot_member(g: Good, dst: Path) -> Path:
    return rewrite(g.path, dst, append(file_info("blobs/../../modeloci-hostile-dotdot", b"planted\n")))


def pax_path_override(g: Good, dst: Path) -> Path:
    """A member whose ustar name is harmless and whose pax header says ``path=../../x`` (pax wins)."""
    info, data = file_info("blobs/sha256/harmless", b"planted\n")
    info.pax_headers = {"path": "../../modeloci-hostile-pax"}
    return rewrite(g.path, dst, append((info, data)))


def fifo_member(g: Good, dst: Path) -> Path:
    return rewrite(g.path, dst, append(special("blobs/sha256/fifo", tarfile.FIFOTYPE)))


def device_member(g: Good, dst: Path) -> Path:
    return rewrite(g.path, dst, append(special("blobs/sha256/null", tarfile.CHRTYPE)))


def symlink_blob(g: Good, dst: Path) -> Path:
    """The weights' blob is a symlink (to /etc/passwd), not a file."""
    name = blob_name(g.layers[0])
    return rewrite(g.path, dst, lambda items: [link(name, "/etc/passwd", tarfile.SYMTYPE) if i.name == name else (i, d)
                                               for i, d in items])


def hardlink_blob(g: Good, dst: Path) -> Path:
    """The weights' blob is a hard link to another member."""
    name = blob_name(g.layers[0])
    return rewrite(g.path, dst, lambda items: [link(name, "oci-layout", tarfile.LNKTYPE) if i.name == name else (i, d)
                                               for i, d in items])


def deep_index(g: Good, dst: Path) -> Path:
    return rewrite(g.path, dst, replace_data("index.json", lambda _: nested(100_000)))


def deep_manifest(g: Good, dst: Path) -> Path:
    """The manifest blob is 100,000 arrays deep (index.json and manifest.json point at it, digests right)."""
    return with_manifest_bytes(g.path, dst, lambda _: b'{"schemaVersion":2,"x":' + nested(100_000) + b"}")[0]


def deep_config(g: Good, dst: Path) -> Path:
    def deepen(raw: bytes) -> bytes:
        doc = json.loads(raw)
        return _dumps(doc)[:-1] + b',"x":' + nested(100_000) + b"}"
    return with_config_bytes(g.path, dst, deepen)


def surrogate_config(g: Good, dst: Path) -> Path:
    """A config string holding a lone surrogate (``\\udfff``: valid JSON, not valid Unicode)."""
    def plant(raw: bytes) -> bytes:
        doc = json.loads(raw)
        doc["config"]["architecture"] = "llama\udfff"
        return json.dumps(doc, separators=(",", ":")).encode()  # ascii: the surrogate as a \\u escape
    return with_config_bytes(g.path, dst, plant)


def long_name_layer(g: Good, dst: Path) -> Path:
    """A layer whose file path is one 300-character name (no file system takes more than 255 bytes)."""
    return _layer_path(g, dst, "a" * 296 + ".txt")


def deep_path_layer(g: Good, dst: Path) -> Path:
    """A layer whose file path is 2,000 folders deep."""
    return _layer_path(g, dst, "d/" * 2000 + "f.txt")


def _layer_path(g: Good, dst: Path, path: str) -> Path:
    def rename(doc: dict[str, Any]) -> None:
        doc["layers"][-1].setdefault("annotations", {})["org.cncf.model.filepath"] = path
    return with_manifest(g.path, dst, rename)[0]


Attack = Callable[[Good, Path], Path]

#: Attacks on the integrity of the blobs: a reader must check digest and size on every path that reads a blob.
INTEGRITY: dict[str, Attack] = {
    "tampered_blob": tampered_blob,
    "duplicate_blob_member": duplicate_blob_member,
    "oversized_descriptor": oversized_descriptor,
}

#: Members no reader may accept, whatever it does with them.
MEMBERS: dict[str, Attack] = {
    "absolute_member": absolute_member,
    "dotdot_member": dotdot_member,
    "pax_path_override": pax_path_override,
    "fifo_member": fifo_member,
    "device_member": device_member,
    "symlink_blob": symlink_blob,
    "hardlink_blob": hardlink_blob,
}

#: Documents made to crash a parser.
DOCUMENTS: dict[str, Attack] = {
    "deep_index": deep_index,
    "deep_manifest": deep_manifest,
    "deep_config": deep_config,
    "surrogate_config": surrogate_config,
}

HOSTILE: dict[str, Attack] = {**INTEGRITY, **MEMBERS, **DOCUMENTS}
