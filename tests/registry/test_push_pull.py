"""`modeloci push` / `pull` / `build --push` against a real registry (distribution 2.8), through the CLI.

* Round trips, both formats: build -o, push, then pull into an archive (-o), a layout folder (--layout) and the
  store; the digest stays the build's, the pulled archive is byte for byte the one `build -o` wrote (and the one
  `save` writes from the store), the pulled layout the one `build --layout` writes.
* Independent readers: skopeo reads what we pushed (the exact manifest bytes, every blob), and we pull what skopeo
  pushed.
* What gets sent, from the registry's access log: a second push sends no blob; a model sharing layers sends only
  its new blobs; a model pulled into the store, or built FROM a model in the same registry, mounts the shared
  blobs from their repository instead of sending (or downloading) them.
* Refusals: a tag that is not there (nothing written), a pinned digest that is not the model's (nothing sent).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import httpx
import pytest

from tests.archive_tools import copy_example
from tests.registry.helpers import (
    assert_clean_failure,
    blob_uploads,
    blobs_of,
    build,
    digest_in,
    layers_of,
    manifest_of,
    pull_counts,
    push_counts,
    skopeo,
    uploaded_digests,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def push(cli, source: Path | str, ref: str | None = None):
    result = cli("push", str(source), *((ref,) if ref else ()))
    assert result.code == 0, result.stderr
    return result


def rebase_modelfile(tmp_path: Path, base_tar: Path | None = None) -> Path:
    """examples/rebase copied under tmp_path, with ``base.tar`` (its default BASE) if given."""
    folder = tmp_path / "rebase"
    shutil.copytree(EXAMPLES / "rebase", folder)
    if base_tar is not None:
        shutil.copy(base_tar, folder / "base.tar")
    return folder / "Modelfile"


# ----------------------------------------------------------------------------------------------------------------
# Round trips
# ----------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["docker", "modelpack"])
def test_round_trip_to_archive_layout_and_store(registry, repo_name, cli, tmp_path: Path, fmt: str) -> None:
    ref = f"{registry.host}/{repo_name}:v1"
    built, digest = build(cli, tmp_path, "sharded-vision", tag=ref, args=("--format", fmt))

    assert digest_in(push(cli, built, ref).stdout) == digest

    pulled = cli("pull", ref, "-o", str(tmp_path / "pulled.tar"))
    assert pulled.code == 0, pulled.stderr
    assert digest_in(pulled.stdout) == digest
    assert (tmp_path / "pulled.tar").read_bytes() == built.read_bytes()

    modelfile = copy_example("sharded-vision", tmp_path / "again")
    made = cli("build", "-f", str(modelfile), "--format", fmt, "-t", ref, "--layout", str(tmp_path / "built-layout"))
    assert made.code == 0, made.stderr
    assert cli("pull", ref, "--layout", str(tmp_path / "pulled-layout")).code == 0
    assert tree(tmp_path / "pulled-layout") == tree(tmp_path / "built-layout")

    stored = cli("pull", ref)
    assert stored.code == 0, stored.stderr
    assert digest_in(stored.stdout) == digest
    assert cli("save", ref, "-o", str(tmp_path / "saved.tar")).code == 0
    assert (tmp_path / "saved.tar").read_bytes() == built.read_bytes()
    assert cli("verify", str(tmp_path / "pulled.tar")).code == 0


def test_pull_names_the_model_as_told(registry, repo_name, cli, tmp_path: Path) -> None:
    ref = f"{registry.host}/{repo_name}:v1"
    built, _ = build(cli, tmp_path, tag="tiny:renamed")
    push(cli, built, ref)
    assert cli("pull", ref, "-t", "tiny:renamed", "-o", str(tmp_path / "pulled.tar")).code == 0
    assert (tmp_path / "pulled.tar").read_bytes() == built.read_bytes()


def test_push_a_stored_model_by_its_name(registry, repo_name, cli, tmp_path: Path) -> None:
    """A stored model named for a registry is pushed there with no second argument."""
    ref = f"{registry.host}/{repo_name}:v1"
    modelfile = copy_example("single-gguf", tmp_path)
    made = cli("build", "-f", str(modelfile), "-t", ref)
    assert made.code == 0, made.stderr
    assert digest_in(push(cli, ref).stdout) == digest_in(made.stdout)
    assert cli("save", ref, "-o", str(tmp_path / "saved.tar")).code == 0
    assert cli("pull", ref, "-o", str(tmp_path / "pulled.tar")).code == 0
    assert (tmp_path / "pulled.tar").read_bytes() == (tmp_path / "saved.tar").read_bytes()


# ----------------------------------------------------------------------------------------------------------------
# Independent readers
# ----------------------------------------------------------------------------------------------------------------


def test_skopeo_reads_what_we_push(registry, repo_name, cli, tmp_path: Path) -> None:
    ref = f"{registry.host}/{repo_name}:v1"
    built, digest = build(cli, tmp_path, "sharded-vision")
    push(cli, built, ref)

    raw = skopeo(tmp_path, "inspect", "--raw", "--tls-verify=false", f"docker://{ref}")
    assert raw.encode() == manifest_of(built)

    # skopeo copy fetches every blob and checks it against its digest.
    skopeo(tmp_path, "copy", "--quiet", "--src-tls-verify=false", f"docker://{ref}", f"oci:{tmp_path / 'copy'}:v1")
    index = json.loads((tmp_path / "copy" / "index.json").read_text())
    assert [m["digest"] for m in index["manifests"]] == [digest]
    copied = {f"sha256:{p.name}" for p in (tmp_path / "copy" / "blobs" / "sha256").iterdir()}
    assert copied == {*blobs_of(built), digest}


def test_we_pull_what_skopeo_pushes(registry, repo_name, cli, tmp_path: Path) -> None:
    ref = f"{registry.host}/{repo_name}:v1"
    built, digest = build(cli, tmp_path, "sharded-vision", tag=ref)
    skopeo(tmp_path, "copy", "--quiet", "--dest-tls-verify=false", f"oci-archive:{built}", f"docker://{ref}")

    pulled = cli("pull", ref, "-o", str(tmp_path / "pulled.tar"))
    assert pulled.code == 0, pulled.stderr
    assert digest_in(pulled.stdout) == digest
    assert (tmp_path / "pulled.tar").read_bytes() == built.read_bytes()


# ----------------------------------------------------------------------------------------------------------------
# What gets sent
# ----------------------------------------------------------------------------------------------------------------


def test_a_second_push_sends_no_blob(registry, repo_name, cli, tmp_path: Path) -> None:
    ref = f"{registry.host}/{repo_name}:v1"
    built, _ = build(cli, tmp_path)
    blobs = blobs_of(built)
    push(cli, built, ref)

    mark = registry.mark()
    out = push(cli, built, f"{registry.host}/{repo_name}:v2")
    since = registry.requests(mark)
    assert push_counts(out) == (0, len(blobs), 0)
    assert blob_uploads(since) == []
    blob_requests = [r for r in since if "/blobs/" in r.path]
    assert sorted((r.method, r.path.rsplit("/", 1)[1], r.status) for r in blob_requests) == sorted(
        ("HEAD", d, 200) for d in blobs)
    assert ("PUT", f"/v2/{repo_name}/manifests/v2", 201) in since


def test_a_model_sharing_layers_sends_only_its_new_blobs(registry, repo_name, cli, tmp_path: Path) -> None:
    base, _ = build(cli, tmp_path)
    push(cli, base, f"{registry.host}/{repo_name}:base")
    chat, _ = build(cli, tmp_path, modelfile=rebase_modelfile(tmp_path, base), out="chat.tar")
    new = set(blobs_of(chat)) - set(blobs_of(base))
    shared = set(blobs_of(chat)) & set(blobs_of(base))
    assert new and shared  # the rebase keeps the weights and license, and brings a template and a config

    mark = registry.mark()
    out = push(cli, chat, f"{registry.host}/{repo_name}:chat")
    since = registry.requests(mark)
    assert push_counts(out) == (len(new), len(shared), 0)
    assert sorted(uploaded_digests(since)) == sorted(new)
    assert sum(1 for r in since if r.method == "POST") == len(new)


def test_build_push_from_a_registry_base_mounts_its_layers(registry, repo_name, cli, tmp_path: Path) -> None:
    """`FROM registry/repo:tag` + `build --push` to another repository of that registry: the base's layers are
    mounted (POST ?mount= answered 201), never downloaded nor uploaded."""
    base_ref, chat_ref = f"{registry.host}/{repo_name}/base:v1", f"{registry.host}/{repo_name}/chat:v1"
    base, _ = build(cli, tmp_path)
    push(cli, base, base_ref)
    modelfile = rebase_modelfile(tmp_path)

    mark = registry.mark()
    pushed = cli("build", "-f", str(modelfile), "--build-arg", f"BASE={base_ref}", "--push", chat_ref)
    assert pushed.code == 0, pushed.stderr
    since = registry.requests(mark)

    chat, digest = build(cli, tmp_path, modelfile=modelfile, tag=chat_ref, out="chat.tar",
                         args=("--build-arg", f"BASE={base_ref}"))
    assert digest_in(pushed.stdout) == digest
    kept = set(layers_of(chat)) & set(layers_of(base))
    assert kept and push_counts(pushed) == (len(layers_of(chat)) - len(kept) + 1, 0, len(kept))  # + the config
    mounts = {r.query.split("mount=", 1)[1].split("&", 1)[0]: r for r in since if "mount=" in r.query}
    assert set(mounts) == kept
    assert all(r.method == "POST" and r.status == 201 and f"from={repo_name}/base" in r.query
               for r in mounts.values())
    assert not kept & set(uploaded_digests(since))
    assert not [r for r in since if r.method == "GET" and r.path.rsplit("/", 1)[1] in kept]  # never downloaded

    assert cli("pull", chat_ref, "-o", str(tmp_path / "pulled.tar")).code == 0
    assert (tmp_path / "pulled.tar").read_bytes() == chat.read_bytes()


def test_a_pulled_model_pushed_elsewhere_is_mounted_from_where_it_came(registry, repo_name, cli, tmp_path) -> None:
    first, second = f"{registry.host}/{repo_name}/a:v1", f"{registry.host}/{repo_name}/b:v1"
    built, digest = build(cli, tmp_path)
    push(cli, built, first)
    assert cli("pull", first).code == 0  # into the store, which remembers where it came from

    mark = registry.mark()
    out = push(cli, first, second)
    since = registry.requests(mark)
    blobs = blobs_of(built)
    assert digest_in(out.stdout) == digest
    assert push_counts(out) == (0, 0, len(blobs))
    assert blob_uploads(since) == [r for r in since if r.method == "POST"]
    assert sorted(r.query for r in blob_uploads(since)) == sorted(
        f"mount={d}&from={repo_name}/a" for d in blobs)
    assert all(r.status == 201 for r in blob_uploads(since))


def test_a_mount_the_registry_refuses_falls_back_to_an_upload(registry, repo_name, cli, tmp_path: Path) -> None:
    first, second = f"{registry.host}/{repo_name}/a:v1", f"{registry.host}/{repo_name}/b:v1"
    built, digest = build(cli, tmp_path)
    push(cli, built, first)
    assert cli("pull", first).code == 0
    gone = sorted(layers_of(built))[0]
    deleted = httpx.delete(f"{registry.url}/v2/{repo_name}/a/blobs/{gone}", timeout=10)
    assert deleted.status_code == 202  # the blob stays in the registry, but repository a no longer has it

    mark = registry.mark()
    out = push(cli, first, second)
    since = registry.requests(mark)
    assert digest_in(out.stdout) == digest and push_counts(out) == (1, 0, len(blobs_of(built)) - 1)
    refused = [r for r in since if f"mount={gone}" in r.query]
    assert [(r.method, r.status) for r in refused] == [("POST", 202)]
    assert [r.method for r in since if r.method == "DELETE"] == ["DELETE"]  # the session it opened is closed
    assert uploaded_digests(since) == [gone]


def test_build_push_from_another_registry_sends_the_base_layers(registry, registry_factory, repo_name, cli, tmp_path):
    other = registry_factory()
    base_ref, chat_ref = f"{registry.host}/{repo_name}/base:v1", f"{other.host}/{repo_name}/chat:v1"
    base, _ = build(cli, tmp_path)
    push(cli, base, base_ref)
    modelfile = rebase_modelfile(tmp_path)
    pushed = cli("build", "-f", str(modelfile), "--build-arg", f"BASE={base_ref}", "--push", chat_ref)
    assert pushed.code == 0, pushed.stderr
    chat, digest = build(cli, tmp_path, modelfile=modelfile, tag=chat_ref, out="chat.tar",
                         args=("--build-arg", f"BASE={base_ref}"))
    assert digest_in(pushed.stdout) == digest
    assert push_counts(pushed) == (len(blobs_of(chat)), 0, 0)
    assert sorted(uploaded_digests(other.requests())) == sorted(blobs_of(chat))
    assert cli("pull", chat_ref, "-o", str(tmp_path / "pulled.tar")).code == 0
    assert (tmp_path / "pulled.tar").read_bytes() == chat.read_bytes()


def test_pulling_again_downloads_nothing(registry, repo_name, cli, tmp_path: Path) -> None:
    ref = f"{registry.host}/{repo_name}:v1"
    built, _ = build(cli, tmp_path, "sharded-vision")
    push(cli, built, ref)
    layers = layers_of(built)
    for where in ((), ("--layout", str(tmp_path / "layout"))):
        assert pull_counts(cli("pull", ref, *where)) == (len(layers), 0)
        mark = registry.mark()
        assert pull_counts(cli("pull", ref, *where)) == (0, len(layers))
        fetched = {r.path.rsplit("/", 1)[1] for r in registry.requests(mark) if r.method == "GET"}
        assert not fetched & set(layers)


def test_progress_ends_when_nothing_needs_sending(registry, repo_name, cli, tmp_path: Path) -> None:
    """Blobs the other side holds (skipped, mounted, reused) count as done: a log must not end on a line that
    looks like a transfer still running."""
    ref, other = f"{registry.host}/{repo_name}:v1", f"{registry.host}/{repo_name}/other:v1"
    modelfile = copy_example("sharded-vision", tmp_path / "src")
    assert cli("build", "-f", str(modelfile), "--push", ref).code == 0
    assert cli("pull", ref).code == 0  # stored, with its origin: pushing it to `other` mounts every blob

    runs = {"push again": push(cli, ref, ref), "push mounted": push(cli, ref, other), "pull again": cli("pull", ref),
            "build --push again": cli("build", "-f", str(modelfile), "--push", ref)}
    assert push_counts(runs["push mounted"])[2] > 0
    unfinished = {}
    for what, run in runs.items():
        assert run.code == 0, run.stderr
        lines = [line for line in run.stderr.splitlines() if line.startswith(("pushing ", "pulling "))]
        description, _, size = lines[0].rpartition(": ")
        if len(lines) != 2 or not lines[1].startswith(f"{description}: done, {size} in "):
            unfinished[what] = lines
    assert unfinished == {}


def test_build_push_of_a_base_layer_that_cannot_be_mounted_says_so(registry, repo_name, cli, tmp_path: Path) -> None:
    """`FROM` a model in the same registry: its layers are mounted, never downloaded, so one the base's repository
    no longer holds is an error with a way out, and no manifest is put."""
    base_ref, chat_ref = f"{registry.host}/{repo_name}/base:v1", f"{registry.host}/{repo_name}/chat:v1"
    base, _ = build(cli, tmp_path)
    push(cli, base, base_ref)
    gone = min(layers_of(base))
    assert httpx.delete(f"{registry.url}/v2/{repo_name}/base/blobs/{gone}", timeout=10).status_code == 202

    mark = registry.mark()
    pushed = cli("build", "-f", str(rebase_modelfile(tmp_path)), "--build-arg", f"BASE={base_ref}", "--push", chat_ref)
    stderr = assert_clean_failure(pushed)
    assert f"error: blob {gone} of the base could not be mounted from {registry.host}/{repo_name}/base" in stderr
    assert "help: push with pull rights on the base's repository, or pull the base first" in stderr
    assert not [r for r in registry.requests(mark) if r.method == "PUT" and "/manifests/" in r.path]


@pytest.mark.parametrize("where", [("-o", "out.tar"), ("--layout", "layout"), ()])
def test_a_pull_asks_for_the_manifest_and_config_once(registry, repo_name, cli, tmp_path: Path, where) -> None:
    """One manifest GET: a tag moved between two GETs would pair the size shown with another model's bytes."""
    ref = f"{registry.host}/{repo_name}:v1"
    built, _ = build(cli, tmp_path, "sharded-vision")
    push(cli, built, ref)
    config = json.loads(manifest_of(built))["config"]["digest"]
    mark = registry.mark()
    assert cli("pull", ref, *where[:1], *(str(tmp_path / w) for w in where[1:])).code == 0
    gets = [r.path for r in registry.requests(mark) if r.method == "GET"]
    # The model's manifest once; the other manifest GET is the referrers' fallback tag (sha256-<hex>), once.
    assert sum(1 for path in gets if "/manifests/" in path and "/manifests/sha256-" not in path) == 1
    assert sum(1 for path in gets if "/manifests/sha256-" in path) == 1
    assert sum(1 for path in gets if path.endswith(config)) == 1


# ----------------------------------------------------------------------------------------------------------------
# Refusals
# ----------------------------------------------------------------------------------------------------------------


def test_pull_of_a_missing_tag_writes_nothing(registry, repo_name, cli, tmp_path: Path) -> None:
    built, _ = build(cli, tmp_path)
    push(cli, built, f"{registry.host}/{repo_name}:v1")
    missing = f"{registry.host}/{repo_name}:nope"
    before = sorted(tmp_path.rglob("*"))

    for where in (("-o", str(tmp_path / "out.tar")), ("--layout", str(tmp_path / "out")), ()):
        stderr = assert_clean_failure(cli("pull", missing, *where))
        assert stderr.startswith(f"error: {missing} not found: GET /v2/{repo_name}/manifests/nope: 404 Not Found (")
        assert "manifest unknown" in stderr.lower()
        assert stderr.endswith("help: the repository's tags: v1\n"), stderr
    assert sorted(tmp_path.rglob("*")) == before  # no output, no temporary file
    assert missing not in cli("ls").stdout


def test_pull_of_a_missing_repository_says_so(registry, repo_name, cli, tmp_path: Path) -> None:
    stderr = assert_clean_failure(cli("pull", f"{registry.host}/{repo_name}/nothing:v1", "-o", str(tmp_path / "x")))
    assert f"{repo_name}/nothing:v1 not found: GET /v2/{repo_name}/nothing/manifests/v1: 404" in stderr, stderr
    assert stderr.endswith(f"help: check the repository name; {registry.host}/{repo_name}/nothing has no tag to show\n")
    assert list(tmp_path.iterdir()) == []


def test_push_pinned_to_another_digest_is_refused_before_sending(registry, repo_name, cli, tmp_path: Path) -> None:
    built, digest = build(cli, tmp_path)
    mark = registry.mark()
    stderr = assert_clean_failure(cli("push", str(built), f"{registry.host}/{repo_name}@sha256:{'0' * 64}"), code=2)
    assert digest in stderr
    assert registry.requests(mark) == []


def test_push_and_pull_by_digest(registry, repo_name, cli, tmp_path: Path) -> None:
    """Pinned to the model's own digest, push puts the manifest by digest; pull by digest gets it, and names it in
    the store by its tag, or ``pinned-<12 hex>`` without one (a store name has no room for a digest)."""
    built, digest = build(cli, tmp_path)
    name = f"{registry.host}/{repo_name}"
    mark = registry.mark()
    assert digest_in(push(cli, built, f"{name}@{digest}").stdout) == digest
    assert ("PUT", f"/v2/{repo_name}/manifests/{digest}", 201) in registry.requests(mark)
    push(cli, built, f"{name}:v1")

    pulled = cli("pull", f"{name}@{digest}", "-o", str(tmp_path / "pulled.tar"))
    assert pulled.code == 0, pulled.stderr
    assert manifest_of(tmp_path / "pulled.tar") == manifest_of(built)
    for ref, stored in ((f"{name}@{digest}", f"{name}:pinned-{digest[7:19]}"), (f"{name}:v1@{digest}", f"{name}:v1")):
        assert cli("pull", ref).code == 0
        assert cli("save", stored, "-o", str(tmp_path / "saved.tar")).code == 0
        assert manifest_of(tmp_path / "saved.tar") == manifest_of(built)
    assert "@" not in cli("ls").stdout
    wrong = assert_clean_failure(cli("pull", f"{name}@sha256:{'1' * 64}", "-o", str(tmp_path / "wrong.tar")))
    assert "manifest unknown" in wrong.lower() and not (tmp_path / "wrong.tar").exists()
