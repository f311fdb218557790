"""Referrers (a signature, provenance, a BOM) beside a model in an archive, a layout folder and the store.

Each is attached, read back, attached again (nothing changes), and the model
is still read as the one model it was: ``read_artifact``, ``verify`` (no
warning about the referrers' blobs) and skopeo by the model's name.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import IO

import pytest

from modeloci import api
from modeloci.builder import BuildResult, build_archive, build_layout, build_store
from modeloci.errors import ArchiveError, UsageError
from modeloci.formats.artifact import read_artifact
from modeloci.oci.digest import Digest
from modeloci.oci.layout import models, open_layout
from modeloci.oci.manifest import Descriptor
from modeloci.oci.mediatypes import MediaType
from modeloci.oci.referrers import Referrer, make_referrer
from modeloci.ops.verify import verify, verify_store
from modeloci.sources import LayoutRef, StoredRef, open_source
from modeloci.sources.referrers import MAX_REFERRERS, attach, referrers_of
from modeloci.store import Store
from tests.archive_tools import Archive, copy_example
from tests.conftest import skopeo_path
from tests.workflow.schemas import InspectOutput

NAME = "tiny:1"


def _bom(subject: Descriptor, text: str = "bom") -> Referrer:
    payload = json.dumps({"bomFormat": "CycloneDX", "specVersion": "1.6", "text": text}).encode()
    return make_referrer(subject, str(MediaType.CYCLONEDX), payload, str(MediaType.CYCLONEDX))


def _sig(subject: Descriptor) -> Referrer:
    bundle = str(MediaType.SIGSTORE_BUNDLE)
    return make_referrer(subject, bundle, b'{"signature":"..."}', bundle)


def _plan(tmp_path: Path, reference: str | None = NAME) -> api.BuildPlan:
    return api.plan(copy_example("single-gguf", tmp_path), reference=reference, created=86400)


def _archive(tmp_path: Path, name: str = "model.tar", **kw: object) -> BuildResult:
    return build_archive(_plan(tmp_path / name.replace(".", "-")), tmp_path / name, **kw)  # type: ignore[arg-type]


def _same(found: list[Referrer], expected: list[Referrer]) -> None:
    assert [(r.manifest, r.artifact_type, r.subject.digest, dict(r.blobs)) for r in found] == \
           [(r.manifest, r.artifact_type, r.subject.digest, dict(r.blobs)) for r in expected]


def _verified_clean(source: Path | LayoutRef | StoredRef) -> None:
    report = verify(source)
    assert report.problems == [] and report.ok


def test_an_archive_gains_referrers_and_stays_one_model(tmp_path: Path) -> None:
    built = _archive(tmp_path)
    archive = tmp_path / "model.tar"
    before = Archive.read(archive)
    bom, sig = _bom(built.manifest), _sig(built.manifest)
    assert attach(archive, [bom, sig]) == archive
    _same(referrers_of(archive), [bom, sig])
    after = Archive.read(archive)
    # Every member the model had is there with the same bytes, but the index, which gains two entries.
    assert {n: b for n, b in after.files.items() if n != "index.json"} == \
           {**{n: b for n, b in before.files.items() if n != "index.json"},
            **{f"blobs/sha256/{r.digest.hex}": r.manifest for r in (bom, sig)},
            **{f"blobs/sha256/{d.hex}": b for r in (bom, sig) for d, b in r.blobs.items()}}
    assert after.index["manifests"] == [before.index["manifests"][0], *(
        {"mediaType": str(MediaType.OCI_MANIFEST), "digest": str(r.digest), "size": len(r.manifest),
         "artifactType": r.artifact_type} for r in (bom, sig))]
    with open_layout(archive) as layout:
        assert [d.digest for d in models(layout)] == [built.manifest.digest]
        assert read_artifact(layout).digest == built.manifest.digest
    _verified_clean(archive)


def test_attaching_the_same_referrer_twice_changes_nothing(tmp_path: Path) -> None:
    built = _archive(tmp_path)
    archive = tmp_path / "model.tar"
    attach(archive, [_bom(built.manifest)])
    once, inode = archive.read_bytes(), archive.stat().st_ino
    attach(archive, [_bom(built.manifest), _bom(built.manifest)])
    assert archive.read_bytes() == once and archive.stat().st_ino == inode  # not even rewritten
    assert len(referrers_of(archive)) == 1


def test_a_build_with_referrers_writes_what_a_build_and_an_attach_write(tmp_path: Path) -> None:
    seen: list[tuple[Descriptor, BuildResult]] = []

    def make(subject: Descriptor, result: BuildResult) -> list[Referrer]:
        seen.append((subject, result))
        return [_bom(subject), _sig(subject)]

    direct = build_archive(_plan(tmp_path / "a"), tmp_path / "direct.tar", referrers=make)
    plain = build_archive(_plan(tmp_path / "b"), tmp_path / "attached.tar")
    attach(tmp_path / "attached.tar", [_bom(plain.manifest), _sig(plain.manifest)])
    assert (tmp_path / "direct.tar").read_bytes() == (tmp_path / "attached.tar").read_bytes()
    assert direct.output_size == (tmp_path / "direct.tar").stat().st_size
    assert [r.artifact_type for r in direct.referrers] == [str(MediaType.CYCLONEDX), str(MediaType.SIGSTORE_BUNDLE)]
    assert seen[0][0] == direct.manifest and seen[0][1].layers == direct.layers  # made once, knowing the model
    assert len(seen) == 1


def test_an_archive_with_referrers_is_read_by_skopeo_by_the_models_name(tmp_path: Path) -> None:
    skopeo = skopeo_path()
    built = _archive(tmp_path)
    attach(tmp_path / "model.tar", [_bom(built.manifest)])
    raw = subprocess.run([skopeo, "inspect", "--raw", f"oci-archive:{tmp_path / 'model.tar'}:{NAME}"],
                         capture_output=True, check=True, timeout=60).stdout
    assert Digest.of(raw) == built.manifest.digest


def test_a_layout_folder_gains_referrers(tmp_path: Path) -> None:
    folder = tmp_path / "layout"
    built = build_layout(_plan(tmp_path / "m"), folder)
    bom = _bom(built.manifest)
    attach(folder, [bom])
    index = (folder / "index.json").read_bytes()
    attach(folder, [bom])
    assert (folder / "index.json").read_bytes() == index
    _same(referrers_of(folder), [bom])
    with open_layout(folder) as layout:
        assert [d.digest for d in models(layout)] == [built.manifest.digest]
    _verified_clean(folder)


def test_each_model_of_a_layout_folder_has_its_own_referrers(tmp_path: Path) -> None:
    folder = tmp_path / "layout"
    one = build_layout(_plan(tmp_path / "one", "one:1"), folder)
    two = build_layout(api.plan(copy_example("hf-safetensors", tmp_path / "two"), reference="two:1"), folder)
    attach(LayoutRef(folder, "one:1"), [_bom(one.manifest)])
    attach(LayoutRef(folder, "two:1"), [_sig(two.manifest)])
    _same(referrers_of(LayoutRef(folder, "one:1")), [_bom(one.manifest)])
    _same(referrers_of(LayoutRef(folder, "two:1")), [_sig(two.manifest)])
    with open_layout(folder) as layout:
        assert [d.digest for d in models(layout)] == [one.manifest.digest, two.manifest.digest]


def test_a_build_into_a_layout_with_referrers(tmp_path: Path) -> None:
    folder = tmp_path / "layout"
    built = build_layout(_plan(tmp_path / "m"), folder, referrers=lambda subject, _: [_bom(subject)])
    _same(referrers_of(folder), [_bom(built.manifest)])
    files = [p for p in (folder / "blobs" / "sha256").iterdir()]
    assert built.output_size == sum(p.stat().st_size for p in files)
    _verified_clean(folder)


def test_the_store_keeps_a_referrer_that_ls_does_not_show(tmp_path: Path) -> None:
    store = Store()
    built = build_store(_plan(tmp_path), store)
    source = StoredRef(NAME, store.root)
    bom = _bom(built.manifest)
    attach(source, [bom])
    attach(source, [bom])
    _same(referrers_of(source), [bom])
    assert [e.reference for e in store.entries()] == [NAME]
    assert len(json.loads((store.root / "index.json").read_bytes())["manifests"]) == 2
    assert store.prune() == (0, 0)
    _same(referrers_of(source), [bom])
    report = verify_store(store)
    assert report.problems == []


def test_a_build_into_the_store_with_referrers(tmp_path: Path) -> None:
    store = Store()
    built = build_store(_plan(tmp_path), store, referrers=lambda subject, _: [_sig(subject)])
    _same(referrers_of(StoredRef(NAME, store.root)), [_sig(built.manifest)])
    assert [e.reference for e in store.entries()] == [NAME]


def test_a_referrer_of_another_model_is_refused(tmp_path: Path) -> None:
    built = _archive(tmp_path)
    other = Descriptor(str(MediaType.OCI_MANIFEST), Digest("1" * 64), built.manifest.size)
    wrong = _bom(other)
    before = (tmp_path / "model.tar").read_bytes()
    with pytest.raises(UsageError) as caught:
        attach(tmp_path / "model.tar", [_bom(built.manifest), wrong])
    assert caught.value.message == (f"referrer {wrong.digest} ({MediaType.CYCLONEDX}) refers to sha256:{'1' * 64}, "
                                    f"not to the model {built.manifest.digest} of {tmp_path / 'model.tar'}")
    assert (tmp_path / "model.tar").read_bytes() == before


def test_a_build_whose_callback_makes_a_referrer_of_another_model_fails(tmp_path: Path) -> None:
    other = Descriptor(str(MediaType.OCI_MANIFEST), Digest("1" * 64), 10)
    with pytest.raises(UsageError, match=r"not to the model sha256:[0-9a-f]{64} of this build"):
        _archive(tmp_path, referrers=lambda *_: [_bom(other)])
    assert not (tmp_path / "model.tar").exists()


def _with_entry(tmp_path: Path, referrer: Referrer, *, blobs: dict[Digest, bytes] | None = None) -> Path:
    """A layout folder whose index lists ``referrer`` (blobs written as given), written by hand."""
    folder = tmp_path / "layout"
    build_layout(_plan(tmp_path / "m"), folder)
    written = {**(blobs if blobs is not None else referrer.blobs), referrer.digest: referrer.manifest}
    for digest, data in written.items():
        (folder / "blobs" / "sha256" / digest.hex).write_bytes(data)
    index = json.loads((folder / "index.json").read_bytes())
    index["manifests"].append({"mediaType": str(MediaType.OCI_MANIFEST), "digest": str(referrer.digest),
                               "size": len(referrer.manifest), "artifactType": referrer.artifact_type})
    (folder / "index.json").write_text(json.dumps(index))
    return folder


def test_a_listed_referrer_of_another_manifest_is_not_this_models(tmp_path: Path) -> None:
    folder = _with_entry(tmp_path, _bom(Descriptor(str(MediaType.OCI_MANIFEST), Digest("2" * 64), 99)))
    assert referrers_of(folder) == []
    with open_layout(folder) as layout:
        assert len(models(layout)) == 1


def test_a_referrer_blob_that_does_not_match_its_digest_is_refused_when_read(tmp_path: Path) -> None:
    model = _archive(tmp_path, "m.tar").manifest
    bom = _bom(model)
    payload = next(d for d in bom.blobs if bom.blobs[d] != b"{}")
    forged = {**bom.blobs, payload: bom.blobs[payload].replace(b"bom", b"BOM")}
    folder = _with_entry(tmp_path, bom, blobs=forged)
    with pytest.raises(ArchiveError) as caught:
        referrers_of(folder)
    assert caught.value.message == f"referrer {bom.digest} of `{folder}`: blob {payload} does not match its digest"


def test_too_many_referrers_of_one_model_are_refused(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    built = _archive(tmp_path)
    archive = tmp_path / "model.tar"
    attach(archive, [_bom(built.manifest, str(i)) for i in range(3)])
    monkeypatch.setattr("modeloci.store.referrers.MAX_REFERRERS", 2)
    with pytest.raises(ArchiveError) as caught:
        referrers_of(archive)
    assert caught.value.message == f"`{archive}` lists 3 referrers of its model; modeloci reads at most 2"
    assert MAX_REFERRERS == 256


def test_referrers_whose_blobs_are_too_large_together_are_refused(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    built = _archive(tmp_path)
    archive = tmp_path / "model.tar"
    attach(archive, [_bom(built.manifest, "x" * 100)])
    monkeypatch.setattr("modeloci.store.referrers.MAX_REFERRER_BYTES", 50)
    with pytest.raises(ArchiveError, match=r"^the referrers of `.*` hold \d+ bytes; modeloci reads at most 50$"):
        referrers_of(archive)


def test_an_untagged_model_beside_its_referrers_is_still_the_one_model(tmp_path: Path) -> None:
    built = build_archive(_plan(tmp_path / "m", None), tmp_path / "model.tar")
    attach(tmp_path / "model.tar", [_bom(built.manifest), _sig(built.manifest)])
    with open_layout(tmp_path / "model.tar") as layout:
        assert read_artifact(layout).digest == built.manifest.digest
    _verified_clean(tmp_path / "model.tar")



def test_inspect_lists_a_models_referrers_in_text_and_json(tmp_path: Path, cli) -> None:
    built = _archive(tmp_path)
    archive = tmp_path / "model.tar"
    bom, sig = _bom(built.manifest), _sig(built.manifest)
    attach(archive, [bom, sig])
    result = cli("inspect", str(archive), "--json")
    assert result.code == 0
    InspectOutput.model_validate_json(result.stdout)  # the published schema (docs/json/inspect.schema.json)
    assert json.loads(result.stdout)["referrers"] == [
        {"artifact_type": r.artifact_type, "digest": str(r.digest), "size": len(r.manifest)} for r in (bom, sig)]
    text = cli("inspect", str(archive)).stdout
    assert [line for line in text.splitlines() if line.startswith("referrer:")] == [
        f"referrer:     {r.artifact_type} {str(r.digest)[:19]} ({len(r.manifest)} B)" for r in (bom, sig)]


def test_inspect_lists_the_referrers_of_a_stored_model_and_of_one_model_of_a_layout(tmp_path: Path, cli) -> None:
    store = Store()
    built = build_store(_plan(tmp_path / "s"), store, referrers=lambda subject, _: [_sig(subject)])
    assert [r["digest"] for r in json.loads(cli("inspect", NAME, "--json").stdout)["referrers"]] == \
           [str(_sig(built.manifest).digest)]
    folder = tmp_path / "layout"
    one = build_layout(_plan(tmp_path / "one", "one:1"), folder, referrers=lambda subject, _: [_bom(subject)])
    build_layout(api.plan(copy_example("hf-safetensors", tmp_path / "two"), reference="two:1"), folder)
    assert [r["digest"] for r in json.loads(cli("inspect", f"{folder}:one:1", "--json").stdout)["referrers"]] == \
           [str(_bom(one.manifest).digest)]
    assert json.loads(cli("inspect", f"{folder}:two:1", "--json").stdout)["referrers"] == []


def test_an_index_of_more_untagged_entries_than_the_bound_is_not_read_for_referrers(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "layout"
    built = build_layout(_plan(tmp_path / "m"), folder)
    attach(folder, [_bom(built.manifest, str(i)) for i in range(3)])
    monkeypatch.setattr("modeloci.oci.layout.MAX_REFERRER_ENTRIES", 2)
    read: list[str] = []
    with open_layout(folder) as layout:
        original = layout.open

        def counting(name: str) -> IO[bytes]:
            read.append(name)
            return original(name)

        monkeypatch.setattr(layout, "open", counting)
        assert len(models(layout)) == 4  # each untagged entry counts as a model: none of their manifests is read
    assert read == ["index.json"]
    with pytest.raises(ArchiveError, match=r"holds 4 models"), open_source(folder) as layout:
        read_artifact(layout)


def test_api_build_takes_the_referrers_callback(tmp_path: Path) -> None:
    made = api.build(copy_example("single-gguf", tmp_path), tmp_path / "m.tar", reference=NAME, created=86400,
                     referrers=lambda subject, _: [_sig(subject)])
    _same(referrers_of(tmp_path / "m.tar"), [_sig(made.manifest)])
    assert made.referrers == (_sig(made.manifest),)


def test_a_referrer_whose_manifest_no_reader_would_take_is_refused(tmp_path: Path) -> None:
    built = _archive(tmp_path)
    huge = make_referrer(built.manifest, str(MediaType.CYCLONEDX), b"{}", str(MediaType.CYCLONEDX),
                         annotations={"note": "x" * (64 << 10)})
    with pytest.raises(UsageError) as caught:
        attach(tmp_path / "model.tar", [huge])
    assert caught.value.message == (f"referrer {huge.digest} has a manifest of {len(huge.manifest)} bytes; "
                                    f"a referrer's is at most {64 << 10}")
