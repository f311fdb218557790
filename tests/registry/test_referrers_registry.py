"""A model's referrers (a signature, a BOM) go up with a push and come down with a pull.

* Against the real registry (Distribution 2.8, which has no referrers API): the fallback tag ``sha256-<hex>``
  holds their index (skopeo lists it and reads it), a second push sends nothing new, a later push adds to the
  index, and a pull brings them into an archive (the bytes the build wrote), a layout and the store;
  ``--no-referrers`` leaves them.
* Against a registry with the referrers API (the test registry of ``hostile.py`` plus that endpoint): no
  fallback tag is written, and a pull finds them through the API.
* What a registry lists is a claim: a referrer of another manifest is left behind, a listing past the bounds is
  refused before anything is fetched, a referrer blob that does not match its digest fails the pull (nothing
  written), and a fallback tag that is not an index fails it with a way out.
"""

from __future__ import annotations

import json
import re
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from modeloci import api
from modeloci.builder import build_archive
from modeloci.oci.digest import Digest
from modeloci.oci.manifest import Descriptor
from modeloci.oci.mediatypes import MediaType
from modeloci.oci.referrers import Referrer, fallback_tag, make_referrer, referrers_index
from modeloci.ops.remote import push_plan
from modeloci.registry.client import RegistryClient, RegistryError
from modeloci.registry.image_ref import parse_reference
from modeloci.registry.limits import Limits
from modeloci.sources import LayoutRef, RemoteRef, StoredRef
from modeloci.sources.pull import pull_to_archive, store_name
from modeloci.sources.referrers import attach, referrers_of
from modeloci.store import Store
from tests.archive_tools import copy_example
from tests.registry.helpers import assert_clean_failure, blob_uploads, client_of, push_counts, skopeo

from .hostile import REPOSITORY, TAG, HostileRegistry, Seen, _reply, digest_of

INDEX = str(MediaType.OCI_INDEX)


def _bom(subject: Descriptor, text: str = "bom") -> Referrer:
    payload = json.dumps({"bomFormat": "CycloneDX", "specVersion": "1.6", "text": text}).encode()
    return make_referrer(subject, str(MediaType.CYCLONEDX), payload, str(MediaType.CYCLONEDX))


def _sig(subject: Descriptor) -> Referrer:
    bundle = str(MediaType.SIGSTORE_BUNDLE)
    return make_referrer(subject, bundle, b'{"signature":"MEUCIQ"}', bundle)


def _built(tmp_path: Path, name: str, *, reference: str = "tiny:1", referrers: bool = True) -> tuple[Path, Descriptor]:
    plan = api.plan(copy_example("single-gguf", tmp_path / name), reference=reference, created=86400)
    result = build_archive(plan, tmp_path / f"{name}.tar",
                           referrers=(lambda subject, _: [_bom(subject), _sig(subject)]) if referrers else None)
    return tmp_path / f"{name}.tar", result.manifest


def _entries(referrers: list[Referrer]) -> list[dict[str, object]]:
    return [{"mediaType": str(MediaType.OCI_MANIFEST), "digest": str(r.digest), "size": len(r.manifest),
             "artifactType": r.artifact_type} for r in referrers]


def _digests(found: list[Referrer]) -> list[Digest]:
    return [r.digest for r in found]


# ----------------------------------------------------------------------------------------------------------------
# The real registry: no referrers API, the fallback tag
# ----------------------------------------------------------------------------------------------------------------


def test_a_push_lists_referrers_under_the_fallback_tag_and_a_pull_brings_them(registry, repo_name, cli,
                                                                              tmp_path: Path) -> None:
    ref = f"{registry.host}/{repo_name}:v1"
    archive, model = _built(tmp_path, "model", reference=ref)
    expected = [_bom(model), _sig(model)]
    pushed = cli("push", str(archive), ref)
    assert pushed.code == 0, pushed.stderr
    # 3 layers, the config, and the referrers' {} and two documents; the signature's {} was there by then
    assert push_counts(pushed) == (7, 1, 0)

    tags = json.loads(skopeo(tmp_path, "list-tags", "--tls-verify=false", f"docker://{registry.host}/{repo_name}"))
    assert sorted(tags["Tags"]) == sorted(["v1", fallback_tag(model.digest)])
    index = skopeo(tmp_path, "inspect", "--raw", "--tls-verify=false",
                   f"docker://{registry.host}/{repo_name}:{fallback_tag(model.digest)}")
    assert json.loads(index) == {"schemaVersion": 2, "mediaType": INDEX, "manifests": _entries(expected)}

    for where, read in ((("-o", str(tmp_path / "pulled.tar")), lambda: tmp_path / "pulled.tar"),
                        (("--layout", str(tmp_path / "layout")), lambda: LayoutRef(tmp_path / "layout", ref)),
                        ((), lambda: StoredRef(store_name(parse_reference(ref)), Store().root))):
        pulled = cli("pull", ref, *where)
        assert pulled.code == 0, pulled.stderr
        assert "referrers: 2\n" in pulled.stdout
        assert _digests(referrers_of(read())) == _digests(expected)
    assert (tmp_path / "pulled.tar").read_bytes() == archive.read_bytes()
    assert cli("verify", str(tmp_path / "pulled.tar")).code == 0


def test_a_second_push_sends_nothing_new(registry, repo_name, cli, tmp_path: Path) -> None:
    ref = f"{registry.host}/{repo_name}:v1"
    archive, _ = _built(tmp_path, "model")
    assert cli("push", str(archive), ref).code == 0
    mark = registry.mark()
    again = cli("push", str(archive), ref)
    assert again.code == 0 and push_counts(again) == (0, 8, 0)
    requests = registry.requests(mark)
    assert blob_uploads(requests) == []
    assert [r.path for r in requests if r.method == "PUT"] == [f"/v2/{repo_name}/manifests/v1"]  # the model's tag


def test_pull_with_no_referrers_leaves_them(registry, repo_name, cli, tmp_path: Path) -> None:
    ref = f"{registry.host}/{repo_name}:v1"
    archive, _ = _built(tmp_path, "model", reference=ref)
    plain, _ = _built(tmp_path, "plain", reference=ref, referrers=False)
    assert cli("push", str(archive), ref).code == 0
    mark = registry.mark()
    pulled = cli("pull", ref, "--no-referrers", "-o", str(tmp_path / "pulled.tar"), "--json")
    assert pulled.code == 0 and json.loads(pulled.stdout)["referrers"] == []
    assert (tmp_path / "pulled.tar").read_bytes() == plain.read_bytes()
    assert not [r for r in registry.requests(mark) if "sha256-" in r.path or "/referrers/" in r.path]


def test_a_later_push_adds_to_what_the_fallback_tag_lists(registry, repo_name, cli, tmp_path: Path) -> None:
    ref = f"{registry.host}/{repo_name}:v1"
    archive, model = _built(tmp_path, "model", referrers=False)
    attach(archive, [_bom(model)])
    assert cli("push", str(archive), ref).code == 0
    attach(archive, [_sig(model)])
    assert cli("push", str(archive), ref).code == 0
    later = _bom(model, "later")
    attach(RemoteRef(parse_reference(ref), client_for(registry)), [later])
    index = skopeo(tmp_path, "inspect", "--raw", "--tls-verify=false",
                   f"docker://{registry.host}/{repo_name}:{fallback_tag(model.digest)}")
    assert json.loads(index)["manifests"] == _entries([_bom(model), _sig(model), later])
    found = referrers_of(RemoteRef(parse_reference(ref), client_for(registry)))
    assert _digests(found) == _digests([_bom(model), _sig(model), later])


def client_for(registry) -> RegistryClient:
    """A client of the real registry, with no stored credentials."""
    return RegistryClient(registry.host, use_stored_credentials=False)


# ----------------------------------------------------------------------------------------------------------------
# A registry with the referrers API
# ----------------------------------------------------------------------------------------------------------------

_REFERRERS = re.compile(r"/v2/(?P<repo>.+)/referrers/(?P<digest>sha256:[0-9a-f]{64})$")


class ReferrersRegistry(HostileRegistry):
    """The test registry of ``hostile.py`` (honest), with the referrers API: it lists every manifest it holds
    whose subject is the digest asked for, and then ``extra`` entries (what a hostile one adds)."""

    def __init__(self) -> None:
        super().__init__("honest")
        self.extra: list[dict[str, object]] = []

    def handle(self, h: BaseHTTPRequestHandler) -> None:
        match = _REFERRERS.match(h.path.partition("?")[0])
        if match is None:
            return super().handle(h)
        path, _, query = h.path.partition("?")
        with self._lock:
            self.state.seen.append(Seen("own", h.command, path, query, dict(h.headers.items()), 0))
            held = list({digest_of(m): m for m in self.state.manifests.values()}.values())
        entries = []
        for data in held:
            doc = json.loads(data)
            if isinstance(doc, dict) and doc.get("subject", {}).get("digest") == match["digest"]:
                entries.append({"mediaType": doc["mediaType"], "digest": digest_of(data), "size": len(data),
                                "artifactType": doc["artifactType"]})
        body = json.dumps({"schemaVersion": 2, "mediaType": INDEX, "manifests": [*entries, *self.extra]}).encode()
        return _reply(h, 200, body, {"Content-Type": INDEX})


@pytest.fixture
def with_api():
    server = ReferrersRegistry().start()
    yield server
    server.stop()


def _model_of(server: HostileRegistry) -> Descriptor:
    data = server.state.manifests[TAG]
    return Descriptor(str(MediaType.OCI_MANIFEST), Digest.of(data), len(data))


def _hold(server: HostileRegistry, *referrers: Referrer, fallback: bool = False) -> None:
    """Put ``referrers`` into the test registry as a push would (and list them under the fallback tag)."""
    for r in referrers:
        server.state.blobs.update({str(d): b for d, b in r.blobs.items()})
        server.state.manifests[str(r.digest)] = r.manifest
    if fallback:
        index = referrers_index([r.descriptor() for r in referrers])
        server.state.manifests[fallback_tag(referrers[0].subject.digest)] = index


def test_a_registry_with_the_referrers_api_gets_no_fallback_tag(with_api, cli, tmp_path: Path) -> None:
    ref = f"{with_api.host}/team/pushed:v1"
    archive, model = _built(tmp_path, "model", reference=ref)
    assert cli("push", str(archive), ref).code == 0
    assert not [s for s in with_api.seen if "sha256-" in s.path]
    assert with_api.count("GET", "/referrers/") == 1
    assert cli("pull", ref, "-o", str(tmp_path / "pulled.tar")).code == 0
    assert (tmp_path / "pulled.tar").read_bytes() == archive.read_bytes()
    assert not [s for s in with_api.seen if "sha256-" in s.path]
    assert _digests(referrers_of(tmp_path / "pulled.tar")) == _digests([_bom(model), _sig(model)])


# ----------------------------------------------------------------------------------------------------------------
# What a registry lists is a claim
# ----------------------------------------------------------------------------------------------------------------


def test_a_listed_referrer_of_another_manifest_is_left_behind(with_api, cli, tmp_path: Path) -> None:
    model = _model_of(with_api)
    other = _bom(Descriptor(str(MediaType.OCI_MANIFEST), Digest("3" * 64), 123), "not yours")
    _hold(with_api, _sig(model), other)
    with_api.extra = _entries([other])
    pulled = cli("pull", with_api.reference, "-o", str(tmp_path / "pulled.tar"), "--json")
    assert pulled.code == 0, pulled.stderr
    assert json.loads(pulled.stdout)["referrers"] == [str(_sig(model).digest)]
    assert _digests(referrers_of(tmp_path / "pulled.tar")) == [_sig(model).digest]


def test_a_listing_past_the_bound_is_refused_before_anything_is_fetched(with_api, cli, tmp_path: Path) -> None:
    model = _model_of(with_api)
    many = [_bom(model, str(i)) for i in range(257)]
    with_api.extra = _entries(many)
    result = cli("pull", with_api.reference, "-o", str(tmp_path / "pulled.tar"))
    stderr = assert_clean_failure(result)
    assert f"error: {with_api.host}/{REPOSITORY} lists 257 referrers of {model.digest}; modeloci reads at most 256" \
        in stderr
    assert "help: `pull --no-referrers` leaves them" in stderr
    assert not [s for s in with_api.seen if "/manifests/sha256:" in s.path]
    assert not (tmp_path / "pulled.tar").exists()


def test_a_referrer_blob_that_does_not_match_its_digest_fails_the_pull(hostile, cli, tmp_path: Path) -> None:
    server = hostile()
    model = _model_of(server)
    bom = _bom(model)
    _hold(server, bom, fallback=True)
    payload = next(d for d, b in bom.blobs.items() if b != b"{}")
    server.state.blobs[str(payload)] = bom.blobs[payload].replace(b"bom", b"BOM")
    result = cli("pull", server.reference, "-o", str(tmp_path / "pulled.tar"))
    stderr = assert_clean_failure(result)
    assert f"error: referrer blob {payload} from {server.host} does not match its digest" in stderr
    assert not (tmp_path / "pulled.tar").exists() and not list(tmp_path.iterdir())


def test_a_fallback_tag_that_is_not_an_index_fails_the_pull_with_a_way_out(hostile, cli, tmp_path: Path) -> None:
    server = hostile()
    model = _model_of(server)
    server.state.manifests[fallback_tag(model.digest)] = server.state.manifests[TAG]  # a manifest, not an index
    stderr = assert_clean_failure(cli("pull", server.reference, "-o", str(tmp_path / "pulled.tar")))
    assert f"error: the tag {fallback_tag(model.digest)} of {REPOSITORY} is not an image index: " in stderr
    assert "help: the registry's answer is wrong or hostile; `pull --no-referrers` leaves them" in stderr
    assert not (tmp_path / "pulled.tar").exists()
    assert cli("pull", server.reference, "--no-referrers", "-o", str(tmp_path / "pulled.tar")).code == 0


def test_an_endless_referrers_answer_is_cut_at_the_manifest_limit(with_api, tmp_path: Path) -> None:
    model = _model_of(with_api)
    filler = {"mediaType": str(MediaType.OCI_MANIFEST), "digest": "sha256:" + "4" * 64, "size": 10,
              "artifactType": "application/x-filler"}
    with_api.extra = [filler] * 2000  # about 300 KiB
    client = client_of(with_api, limits=Limits(manifest=64 << 10))
    with pytest.raises(RegistryError) as caught:
        pull_to_archive(client, parse_reference(with_api.reference), tmp_path / "pulled.tar")
    assert caught.value.message == f"the referrers of {model.digest} is larger than 64 KiB"
    assert not (tmp_path / "pulled.tar").exists()


def test_build_push_sends_the_referrers_its_build_makes(registry, repo_name, tmp_path: Path) -> None:
    ref = parse_reference(f"{registry.host}/{repo_name}:v1")
    plan = api.plan(copy_example("single-gguf", tmp_path / "m"), reference=str(ref), created=86400)
    pushed = push_plan(plan, ref, client_for(registry), referrers=lambda subject, _: [_sig(subject)])
    data, _ = client_for(registry).get_manifest(ref)
    subject = Descriptor(str(MediaType.OCI_MANIFEST), Digest.parse(pushed.digest), len(data))
    assert _digests(referrers_of(RemoteRef(ref, client_for(registry)))) == [_sig(subject).digest]
    tags = json.loads(skopeo(tmp_path, "list-tags", "--tls-verify=false", f"docker://{registry.host}/{repo_name}"))
    assert sorted(tags["Tags"]) == sorted(["v1", fallback_tag(subject.digest)])
