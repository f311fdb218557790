"""The creation time a build records with no ``--created`` and no ``SOURCE_DATE_EPOCH``: the commit time of the
last commit that touched the build context, when the context is a clean git checkout; else none, which inspect
shows as "created: unknown" (Docker Model Runner would show a missing time as "56 years ago").

Each test makes a real git repository under tmp_path: the model in ``models/single-gguf`` committed at EPOCH,
then a commit elsewhere in the repository (README.md) at LATER, which must change nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.archive_tools import Archive, copy_example

EPOCH = 1_749_988_800  # 2025-06-15T12:00:00Z
LATER = EPOCH + 86_400
EPOCH_TEXT = "2025-06-15T12:00:00Z"


def git(repo: Path, *args: str, when: int = EPOCH) -> str:
    env = {**os.environ, "GIT_AUTHOR_DATE": f"@{when} +0000", "GIT_COMMITTER_DATE": f"@{when} +0000",
           "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    done = subprocess.run(["git", "-c", "user.name=Test", "-c", "user.email=test@example.com",
                           "-c", "commit.gpgsign=false", "-c", "init.defaultBranch=main", *args],
                          cwd=repo, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A clean checkout holding the single-gguf example; its Modelfile."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    modelfile = copy_example("single-gguf", repo / "models")
    (repo / "README.md").write_text("a repository of models\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "the model")
    (repo / "README.md").write_text("a repository of models, edited later\n")
    git(repo, "commit", "-q", "-am", "elsewhere", when=LATER)
    return modelfile


def descriptor(archive: Path) -> dict:
    """The Docker config's ``descriptor``."""
    return Archive.read(archive).config["descriptor"]


def build(cli, modelfile: Path, out: Path, *extra: str, env: dict[str, str] | None = None) -> Path:
    result = cli("build", "-f", str(modelfile), "-o", str(out), "-q", *extra, env=env)
    assert result.code == 0, result.stderr
    return out


def test_a_clean_checkout_records_the_last_commit_of_its_context_not_of_the_repository(checkout: Path, tmp_path,
                                                                                       cli) -> None:
    built = build(cli, checkout, tmp_path / "git.tar")
    assert descriptor(built) == {"created": EPOCH_TEXT}
    shown = cli("inspect", str(built)).stdout
    assert f"created:      {EPOCH_TEXT}\n" in shown
    # Byte for byte what --created gives a copy outside any checkout.
    plain = build(cli, copy_example("single-gguf", tmp_path / "plain"), tmp_path / "plain.tar",
                  "--created", EPOCH_TEXT)
    assert built.read_bytes() == plain.read_bytes()


def test_every_clone_gives_the_same_bytes_and_commits_elsewhere_change_nothing(checkout: Path, tmp_path, cli) -> None:
    repo = checkout.parents[2]
    first = build(cli, checkout, tmp_path / "first.tar").read_bytes()
    git(tmp_path, "clone", "-q", str(repo), "clone")
    clone = tmp_path / "clone"
    (clone / "other.txt").write_text("more\n")
    git(clone, "add", "other.txt")
    git(clone, "commit", "-q", "-m", "another commit elsewhere", when=LATER + 1)
    assert build(cli, clone / "models" / "single-gguf" / "Modelfile", tmp_path / "clone.tar").read_bytes() == first


def test_a_commit_to_the_context_moves_the_time(checkout: Path, tmp_path, cli) -> None:
    repo = checkout.parents[2]
    (checkout.parent / "LICENSE").write_text("another license\n")
    git(repo, "commit", "-q", "-am", "a new license", when=LATER + 5)
    assert descriptor(build(cli, checkout, tmp_path / "m.tar")) == {"created": "2025-06-16T12:00:05Z"}


@pytest.mark.parametrize("change", ["edited", "untracked", "staged"])
def test_uncommitted_changes_in_the_context_record_no_time(change: str, checkout: Path, tmp_path, cli) -> None:
    folder = checkout.parent
    if change == "edited":
        (folder / "LICENSE").write_text("changed, not committed\n")
    elif change == "untracked":
        (folder / "notes.txt").write_text("not in git\n")
    else:
        (folder / "LICENSE").write_text("staged, not committed\n")
        git(folder, "add", "LICENSE")
    built = build(cli, checkout, tmp_path / "dirty.tar")
    assert descriptor(built) == {}
    assert "created:      unknown\n" in cli("inspect", str(built)).stdout
    plan = json.loads(cli("plan", "-f", str(checkout), "--json").stdout)
    assert (plan["created"], plan["notes"]) == (None, [
        f"no creation time: `{folder}` has uncommitted changes (commit them, or set SOURCE_DATE_EPOCH or --created)"])


def test_uncommitted_changes_elsewhere_in_the_repository_do_not_count(checkout: Path, tmp_path, cli) -> None:
    repo = checkout.parents[2]
    (repo / "README.md").write_text("edited, not committed\n")
    (repo / "scratch.txt").write_text("untracked\n")
    assert descriptor(build(cli, checkout, tmp_path / "m.tar")) == {"created": EPOCH_TEXT}


def test_source_date_epoch_and_created_win_over_the_commit_time(checkout: Path, tmp_path, cli) -> None:
    from_env = build(cli, checkout, tmp_path / "env.tar", env={"SOURCE_DATE_EPOCH": str(LATER)})
    assert descriptor(from_env) == {"created": "2025-06-16T12:00:00Z"}
    given = build(cli, checkout, tmp_path / "given.tar", "--created", "2030-01-01T00:00:00Z",
                  env={"SOURCE_DATE_EPOCH": str(LATER)})
    assert descriptor(given) == {"created": "2030-01-01T00:00:00Z"}


def test_outside_a_checkout_no_time_is_recorded_and_inspect_says_unknown(tmp_path, cli) -> None:
    built = build(cli, copy_example("single-gguf", tmp_path), tmp_path / "m.tar")
    assert descriptor(built) == {}
    assert "created:      unknown\n" in cli("inspect", str(built)).stdout
    assert json.loads(cli("plan", "-f", str(tmp_path / "single-gguf" / "Modelfile"), "--json").stdout)["notes"] == []


def test_without_git_no_time_is_recorded_and_nothing_fails(checkout: Path, tmp_path, cli,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "no-tools"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    assert descriptor(build(cli, checkout, tmp_path / "m.tar")) == {}


def test_a_shallow_clone_that_may_miss_the_last_commit_records_no_time(checkout: Path, tmp_path, cli) -> None:
    """``fetch-depth: 1`` (GitHub's checkout default) holds only the latest commit, which git shows as adding every
    file: its time (LATER) would be wrong. No time, and the plan says why."""
    git(tmp_path, "clone", "-q", "--depth", "1", f"file://{checkout.parents[2]}", "shallow")
    modelfile = tmp_path / "shallow" / "models" / "single-gguf" / "Modelfile"
    assert descriptor(build(cli, modelfile, tmp_path / "m.tar")) == {}
    notes = json.loads(cli("plan", "-f", str(modelfile), "--json").stdout)["notes"]
    assert notes == [(f"no creation time: `{modelfile.parent}` is in a shallow clone, which may not hold its last "
                      "commit (fetch the history, e.g. `fetch-depth: 0`, or set SOURCE_DATE_EPOCH)")]
    git(tmp_path / "shallow", "fetch", "-q", "--unshallow")
    assert descriptor(build(cli, modelfile, tmp_path / "full.tar")) == {"created": EPOCH_TEXT}


def test_a_modelfile_outside_the_context_counts_too(checkout: Path, tmp_path, cli) -> None:
    repo = checkout.parents[2]
    outside = repo / "Modelfile.tiny"
    outside.write_text(checkout.read_text())
    git(repo, "add", "Modelfile.tiny")
    git(repo, "commit", "-q", "-m", "a Modelfile beside the context", when=LATER + 7)
    built = build(cli, outside, tmp_path / "m.tar", "--context", str(checkout.parent))
    assert descriptor(built) == {"created": "2025-06-16T12:00:07Z"}
    outside.write_text(checkout.read_text() + "# edited\n")
    assert descriptor(build(cli, outside, tmp_path / "dirty.tar", "--context", str(checkout.parent))) == {}


@pytest.mark.parametrize("script", ["sleep 30", "yes"], ids=["hangs", "endless-output"])
def test_a_git_that_hangs_or_never_stops_talking_is_cut_off(script: str, checkout: Path, tmp_path, cli,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Git runs with a time limit (lowered here) and only a few bytes of its output are read; a git that does not
    answer in time means no creation time, and the build goes on. ``sleep`` runs as the script's child: stopping
    git must stop it too, or it would hold the pipe open."""
    import time

    from modeloci.compiler import created

    fake = tmp_path / "fake-bin"
    fake.mkdir()
    (fake / "git").write_text(f"#!/bin/sh\n{script}\n")
    (fake / "git").chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(created, "GIT_SECONDS", 0.3)
    started = time.monotonic()
    assert descriptor(build(cli, checkout, tmp_path / "m.tar")) == {}
    assert time.monotonic() - started < 10


# -- a checkout from someone else: its git configuration names commands; none of them is run ----------------------


def _marker_script(folder: Path, name: str) -> tuple[Path, Path]:
    """A script that leaves ``folder/name`` behind when run (and prints its input, as a clean filter must)."""
    marker, script = folder / name, folder / f"{name}.sh"
    script.write_text(f"#!/bin/sh\ntouch {marker}\ncat\n")
    script.chmod(0o755)
    return script, marker


def test_a_hostile_fsmonitor_in_the_checkout_is_never_run(checkout: Path, tmp_path, cli) -> None:
    """``core.fsmonitor`` names a command ``git status`` runs: a model folder unpacked with its ``.git`` must not get
    to run one by being built."""
    repo = checkout.parents[2]
    script, marker = _marker_script(tmp_path, "fsmonitor-ran")
    git(repo, "config", "core.fsmonitor", str(script))
    assert descriptor(build(cli, checkout, tmp_path / "m.tar")) == {"created": EPOCH_TEXT}
    assert not marker.exists()


def test_a_hostile_clean_filter_in_the_checkout_is_never_run(checkout: Path, tmp_path, cli) -> None:
    """``git status`` runs a file's clean filter when it must hash the file again (its stat data changed): a filter
    the checkout configures, other than Git LFS's, means no time, and the filter is not run."""
    repo = checkout.parents[2]
    (repo / ".gitattributes").write_text("* filter=hostile\n")
    git(repo, "add", ".gitattributes")
    git(repo, "commit", "-q", "-m", "attributes", when=EPOCH)
    script, marker = _marker_script(tmp_path, "filter-ran")
    git(repo, "config", "filter.hostile.clean", str(script))
    for path in checkout.parent.iterdir():
        os.utime(path, (LATER, LATER))  # stat data no longer what the index holds: status would hash them again
    assert descriptor(build(cli, checkout, tmp_path / "m.tar")) == {}
    assert not marker.exists()
    notes = json.loads(cli("plan", "-f", str(checkout), "--json").stdout)["notes"]
    assert notes == [(f"no creation time: the git configuration of `{checkout.parent}` names filter commands "
                      "modeloci does not run (`filter.hostile.clean`); set SOURCE_DATE_EPOCH or --created")]
    assert not marker.exists()


def test_git_lfs_s_own_filters_are_accepted(checkout: Path, tmp_path, cli) -> None:
    """What `git lfs install` configures is the one filter set git may run: model weights live in LFS."""
    repo = checkout.parents[2]
    for key, value in (("filter.lfs.clean", "git-lfs clean -- %f"), ("filter.lfs.smudge", "git-lfs smudge -- %f"),
                       ("filter.lfs.process", "git-lfs filter-process"), ("filter.lfs.required", "true")):
        git(repo, "config", key, value)
    assert descriptor(build(cli, checkout, tmp_path / "m.tar")) == {"created": EPOCH_TEXT}


def test_a_hostile_signature_program_in_the_checkout_is_never_run(checkout: Path, tmp_path, cli) -> None:
    """``log.showSignature`` makes ``git log`` run ``gpg.program`` on each signed commit it shows."""
    repo = checkout.parents[2]
    (checkout.parent / "LICENSE").write_text("a signed license\n")
    git(repo, "commit", "-q", "-am", "signed", when=LATER + 9)
    header, _, message = git(repo, "cat-file", "commit", "HEAD").partition("\n\n")
    signed = f"{header}\ngpgsig -----BEGIN PGP SIGNATURE-----\n \n AAAA\n -----END PGP SIGNATURE-----\n\n{message}"
    (tmp_path / "commit.txt").write_text(signed)
    forged = git(repo, "hash-object", "-t", "commit", "-w", str(tmp_path / "commit.txt")).strip()
    git(repo, "update-ref", "HEAD", forged)
    script, marker = _marker_script(tmp_path, "gpg-ran")
    git(repo, "config", "log.showSignature", "true")
    git(repo, "config", "gpg.program", str(script))
    git(repo, "log", "-1", "--format=%H")  # the trap is set: plain git runs it
    assert marker.exists()
    marker.unlink()
    assert git(repo, "status", "--porcelain") == ""
    assert descriptor(build(cli, checkout, tmp_path / "m.tar")) == {"created": "2025-06-16T12:00:09Z"}
    assert not marker.exists()


def test_the_user_s_own_filters_are_trusted(checkout: Path, tmp_path, cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """A filter in the user's global configuration (nbstripout, git-crypt) is theirs, not the checkout's."""
    script, _ = _marker_script(tmp_path, "own-filter-ran")
    (tmp_path / "gitconfig").write_text(f"[filter \"mine\"]\n\tclean = {script}\n")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "gitconfig"))
    assert descriptor(build(cli, checkout, tmp_path / "m.tar")) == {"created": EPOCH_TEXT}
