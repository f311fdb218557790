"""A model's referrers in the store follow it: tag, save, load, rm and prune, and ``verify --store``."""

from __future__ import annotations

import json
from pathlib import Path

from modeloci import api
from modeloci.builder import build_archive, build_store
from modeloci.oci.digest import Digest
from modeloci.oci.manifest import Descriptor
from modeloci.oci.mediatypes import MediaType
from modeloci.oci.referrers import Referrer, make_referrer
from modeloci.sources import StoredRef
from modeloci.sources.referrers import attach, referrers_of
from modeloci.store import Store
from tests.archive_tools import copy_example


def _sig(subject: Descriptor, text: str = "sig") -> Referrer:
    bundle = str(MediaType.SIGSTORE_BUNDLE)
    return make_referrer(subject, bundle, json.dumps({"signature": text}).encode(), bundle)


def _plan(tmp_path: Path, reference: str = "tiny:1", example: str = "single-gguf") -> api.BuildPlan:
    return api.plan(copy_example(example, tmp_path), reference=reference, created=86400)


def _digests(store: Store, reference: str) -> list[Digest]:
    return [r.digest for r in referrers_of(StoredRef(reference, store.root))]


def _blob_names(store: Store) -> set[str]:
    return {p.name for p in store.blobs.iterdir() if not p.name.startswith(".")}


def _index_digests(store: Store) -> list[str]:
    return [m["digest"] for m in json.loads((store.root / "index.json").read_bytes())["manifests"]]


def test_a_referrer_follows_its_model_through_another_tag(tmp_path: Path, cli) -> None:
    store = Store()
    built = build_store(_plan(tmp_path), store, referrers=lambda subject, _: [_sig(subject)])
    assert cli("tag", "tiny:1", "other:2").code == 0
    assert cli("rm", "tiny:1").code == 0
    assert _digests(store, "other:2") == [_sig(built.manifest).digest]
    assert cli("prune").code == 0
    assert _digests(store, "other:2") == [_sig(built.manifest).digest]


def test_a_referrer_goes_with_the_last_tag_of_its_model(tmp_path: Path, cli) -> None:
    store = Store()
    built = build_store(_plan(tmp_path), store, referrers=lambda subject, _: [_sig(subject)])
    sig = _sig(built.manifest)
    assert cli("rm", "tiny:1").code == 0
    assert _index_digests(store) == []
    result = cli("prune", "--json")
    assert json.loads(result.stdout)["files"] == 8  # the model's 5 blobs, the signature's manifest, payload, {}
    assert sig.digest.hex not in _blob_names(store) and _blob_names(store) == set()


def test_a_referrer_stays_while_another_model_keeps_a_tag(tmp_path: Path, cli) -> None:
    store = Store()
    one = build_store(_plan(tmp_path / "a", "one:1"), store, referrers=lambda subject, _: [_sig(subject, "one")])
    two = build_store(_plan(tmp_path / "b", "two:1", "hf-safetensors"), store,
                      referrers=lambda subject, _: [_sig(subject, "two")])
    assert cli("rm", "one:1").code == 0
    assert _index_digests(store) == [str(two.manifest.digest), str(_sig(two.manifest, "two").digest)]
    assert cli("prune").code == 0
    assert _digests(store, "two:1") == [_sig(two.manifest, "two").digest]
    assert _sig(one.manifest, "one").digest.hex not in _blob_names(store)


def test_a_saved_model_holds_its_referrers_as_a_build_writes_them(tmp_path: Path, cli) -> None:
    store = Store()
    build_store(_plan(tmp_path / "a"), store, referrers=lambda subject, _: [_sig(subject)])
    direct = build_archive(_plan(tmp_path / "b"), tmp_path / "direct.tar", referrers=lambda subject, _: [_sig(subject)])
    assert cli("save", "tiny:1", "-o", str(tmp_path / "saved.tar")).code == 0
    assert (tmp_path / "saved.tar").read_bytes() == (tmp_path / "direct.tar").read_bytes()
    assert [r.digest for r in referrers_of(tmp_path / "saved.tar")] == [r.digest for r in direct.referrers]


def test_a_loaded_model_brings_its_referrers(tmp_path: Path, cli) -> None:
    built = build_archive(_plan(tmp_path), tmp_path / "m.tar", referrers=lambda subject, _: [_sig(subject)])
    assert cli("load", str(tmp_path / "m.tar")).code == 0
    store = Store()
    assert _digests(store, "tiny:1") == [_sig(built.manifest).digest]
    assert cli("verify", "--store").code == 0
    report = json.loads(cli("verify", "--store", "--json").stdout)
    assert report["problems"] == []


def test_a_name_loaded_onto_another_model_takes_the_old_ones_referrers_away(tmp_path: Path, cli) -> None:
    store = Store()
    old = build_store(_plan(tmp_path / "a"), store, referrers=lambda subject, _: [_sig(subject, "old")])
    new = build_archive(_plan(tmp_path / "b", example="hf-safetensors"), tmp_path / "new.tar")
    assert cli("load", str(tmp_path / "new.tar"), "-t", "tiny:1").code == 0
    assert _index_digests(store) == [str(new.manifest.digest)]
    assert cli("prune").code == 0
    assert _sig(old.manifest, "old").digest.hex not in _blob_names(store)


def test_a_referrer_attached_in_the_store_is_kept_by_prune_and_saved(tmp_path: Path, cli) -> None:
    store = Store()
    built = build_store(_plan(tmp_path), store)
    attach(StoredRef("tiny:1", store.root), [_sig(built.manifest)])
    assert cli("prune").code == 0
    assert cli("save", "tiny:1", "-o", str(tmp_path / "saved.tar")).code == 0
    assert [r.digest for r in referrers_of(tmp_path / "saved.tar")] == [_sig(built.manifest).digest]


def test_prune_drops_a_referrer_whose_model_lost_its_tag_outside_modeloci(tmp_path: Path, cli) -> None:
    store = Store()
    built = build_store(_plan(tmp_path), store, referrers=lambda subject, _: [_sig(subject)])
    index = json.loads((store.root / "index.json").read_bytes())
    index["manifests"] = index["manifests"][1:]  # the tag removed by another tool; the referrer entry left
    (store.root / "index.json").write_text(json.dumps(index))
    assert cli("prune").code == 0
    assert _index_digests(store) == []
    assert _sig(built.manifest).digest.hex not in _blob_names(store)


def test_an_archive_whose_referrer_blob_was_changed_is_not_loaded(tmp_path: Path, cli) -> None:
    built = build_archive(_plan(tmp_path), tmp_path / "m.tar", referrers=lambda subject, _: [_sig(subject)])
    sig = _sig(built.manifest)
    payload = next(d for d, b in sig.blobs.items() if b != b"{}")
    data = (tmp_path / "m.tar").read_bytes()
    forged = sig.blobs[payload].replace(b"sig", b"SIG")
    assert data.count(sig.blobs[payload]) == 1
    (tmp_path / "m.tar").write_bytes(data.replace(sig.blobs[payload], forged))
    result = cli("load", str(tmp_path / "m.tar"))
    assert result.code == 1
    assert f"error: referrer {sig.digest} of `{tmp_path / 'm.tar'}`: blob {payload} does not match its digest" \
        in result.stderr
    assert Store().entries() == []
