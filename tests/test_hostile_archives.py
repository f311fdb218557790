"""Hostile archives against every reader: inspect, verify, unpack, load, convert and FROM.

Each attack of :mod:`tests.hostile_archives` is given to each command through
the CLI. Every command must fail with its own one-line error (asserted in
full), never an internal error, and leave nothing behind: no output archive,
no unpacked folder, nothing in the store. ``verify`` lists the problem and
exits 1. What each reader may skip is said where it is expected: ``inspect``
reads no layer blob, so a layer whose bytes were changed is for the readers
that use its bytes to refuse.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from modeloci import api
from modeloci.store import Store
from tests.archive_tools import copy_example
from tests.hostile_archives import HOSTILE, Good, blob_name, sha256, tar_items
from tests.oci.test_tarlist import HEADER_ATTACKS

# Each command: its arguments, given the hostile archive and a scratch folder.
COMMANDS: dict[str, Callable[[Path, Path], list[str]]] = {
    "inspect": lambda archive, tmp: ["inspect", str(archive)],
    "verify": lambda archive, tmp: ["verify", str(archive)],
    "unpack": lambda archive, tmp: ["unpack", str(archive), "-o", str(tmp / "unpacked")],
    "load": lambda archive, tmp: ["load", str(archive), "-t", "hostile:1"],
    "convert": lambda archive, tmp: ["convert", str(archive), "--format", "modelpack",
                                     "-o", str(tmp / "converted.tar")],
    "from": lambda archive, tmp: ["build", "-f", str(tmp / "ctx" / "Modelfile"), "-o", str(tmp / "built.tar"),
                                  "--no-store"],
}


@dataclass(frozen=True)
class Expected:
    code: int
    line: str | None  # a line stderr must hold, exactly (None: the command succeeds)


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> Good:
    """single-gguf (weights, template, license), as modeloci builds it."""
    root = tmp_path_factory.mktemp("good")
    api.build(copy_example("single-gguf", root), root / "good.tar", reference="tiny:1")
    return Good.of(root / "good.tar")


def _expected(attack: str, command: str, g: Good, archive: Path) -> Expected:
    """What ``command`` must say of the ``attack`` archive. ``from`` reads it as ``base.tar``; load and
    convert name it as it was given."""
    name = "base.tar" if command == "from" else archive.name
    weights, size = g.layers[0], g.sizes[0]
    member = {
        "absolute_member": "`/tmp/modeloci-hostile-absolute` has an absolute path",
        "dotdot_member": "`blobs/../../modeloci-hostile-dotdot` leaves the archive's folder through `..`",
        "pax_path_override": "`../../modeloci-hostile-pax` leaves the archive's folder through `..`",
        "fifo_member": "`blobs/sha256/fifo` is a device, fifo or other special file",
        "device_member": "`blobs/sha256/null` is a device, fifo or other special file",
        "symlink_blob": f"`{blob_name(weights)}` is a symlink (to `/etc/passwd`)",
        "hardlink_blob": f"`{blob_name(weights)}` is a hard link (to `oci-layout`)",
        "duplicate_blob_member": f"`{blob_name(weights)}` appears twice",
    }.get(attack)
    if member is not None:
        return _say(command, f"archive member {member}", f"refusing to read `{name}`: archive member {member}")
    if attack == "tampered_blob":
        found = sha256(dict((i.name, d) for i, d in tar_items(archive))[blob_name(weights)])  # type: ignore[arg-type]
        shown = "base.tar" if command == "from" else str(archive)
        return {
            "inspect": Expected(0, None),  # reads no layer blob
            "verify": Expected(1, f"error: layer 1 blob {weights} does not match its digest: its content is {found}"),
            "unpack": Expected(1, f"error: reading model.gguf: content does not match its digest {weights}"),
        }.get(command, Expected(1, f"error: reading tiny-llama-F32.gguf of `{shown}`: content does not match its "
                                   f"digest {weights}"))
    if attack == "oversized_descriptor":
        claim = f"blob {weights} is {size} bytes; the manifest says {size + 100}"
        return {
            "inspect": Expected(0, None),  # reads no layer blob; shows what the manifest says
            "verify": Expected(1, f"error: layer 1 {claim}"),
            "unpack": Expected(1, f"error: refusing to unpack: {claim}"),
            "load": Expected(1, f"error: `{archive}`: {claim}"),
            "convert": Expected(1, f"error: {claim}"),
            "from": Expected(1, f"error: `base.tar`: {claim}"),
        }[command]
    config = "the config" if command == "verify" else f"the config of `{'base.tar' if command == 'from' else archive}`"
    problem = {
        "deep_index": "index.json is nested more than 64 levels deep",
        "deep_manifest": "manifest is nested more than 64 levels deep",
        "deep_config": f"{config} is nested more than 64 levels deep",
        "surrogate_config": f"{config} holds a lone surrogate (`\\udfff`), which is not valid Unicode",
    }[attack]
    if command == "verify" and attack == "deep_manifest":
        problem = f"manifest {_manifest_digest(archive)}: {problem}"
    return _say(command, problem, problem)


def _say(command: str, verify_line: str, error: str) -> Expected:
    if command == "verify":
        return Expected(1, f"error: {verify_line}")
    if command == "from":  # FROM's reading error is a diagnostic (MF057) whose detail is the error
        return Expected(2, f"  = {error}")
    return Expected(1, f"error: {error}")


def _manifest_digest(archive: Path) -> str:
    return json.loads(dict((i.name, d) for i, d in tar_items(archive))["index.json"])["manifests"][0]["digest"]  # type: ignore[arg-type]


def _leftovers(tmp: Path) -> list[str]:
    """What a failed command may not leave: outputs, and anything in the store."""
    store = Store()
    found = [p.name for p in (tmp / "unpacked", tmp / "converted.tar", tmp / "built.tar") if p.exists()]
    found += [p.name for p in tmp.iterdir() if p.name.startswith(".modeloci-")]
    found += [e.reference for e in store.entries()]
    found += [p.name for p in store.blobs.iterdir()] if store.blobs.is_dir() else []
    return found


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("attack", list(HOSTILE))
def test_hostile_archive_is_refused_by_every_reader(good: Good, tmp_path: Path, cli, attack: str,
                                                    command: str) -> None:
    archive = HOSTILE[attack](good, tmp_path / f"{attack}.tar")
    (tmp_path / "ctx").mkdir()
    (tmp_path / "ctx" / "base.tar").write_bytes(archive.read_bytes())
    (tmp_path / "ctx" / "Modelfile").write_text("FROM base.tar\nCONFIG context_size=8\n")
    expected = _expected(attack, command, good, archive)
    result = cli(*COMMANDS[command](archive, tmp_path))
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert result.code == expected.code, result.stderr
    if expected.line is not None:
        assert expected.line in result.stderr.splitlines(), result.stderr
    if expected.code != 0:
        assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("attack", list(HEADER_ATTACKS))
def test_a_tar_whose_headers_lie_is_refused_by_every_reader(tmp_path: Path, cli, attack: str, command: str) -> None:
    """A negative size, a pax header claiming 2**62 bytes, endless long names: tarfile looped, allocated or
    recursed (an internal error, or no end); every reader now refuses the archive with the listing's reason."""
    archive, reason = HEADER_ATTACKS[attack](tmp_path / f"{attack}.tar")
    (tmp_path / "ctx").mkdir()
    (tmp_path / "ctx" / "base.tar").write_bytes(archive.read_bytes())
    (tmp_path / "ctx" / "Modelfile").write_text("FROM base.tar\nCONFIG context_size=8\n")
    result = cli(*COMMANDS[command](archive, tmp_path))
    name = "base.tar" if command == "from" else archive.name
    error = f"`{name}` is not a readable tar archive: {reason}"
    expected = _say(command, error, error)
    assert result.code == expected.code, result.stderr
    assert expected.line in result.stderr.splitlines(), result.stderr
    assert _leftovers(tmp_path) == []
