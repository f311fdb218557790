"""docs/ci.md's workflow runs: its install, plan, build, reproducibility and verify steps are run as written (bash
-eo pipefail, as GitHub runs ``run:`` steps) in a model repository made here, with modeloci installed by the
workflow's own install line from a local clone of this repository instead of GitHub.

Nothing is fetched: pip is told (through its environment, so the documented line stays as it is) to build the
clone with the test environment's hatchling, install into a folder of the test's own and take no dependencies
(they are the test environment's). The login and push steps need a registry's secrets and run only on tags: the
test checks that they are guarded so, and that push comes after verify.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.archive_tools import Archive, copy_example
from tests.conftest import REPO
from tests.registry.conftest import registry, registry_binary  # noqa: F401  (fixtures: the real registry)

COMMITTED = 1_749_988_800  # 2025-06-15T12:00:00Z: the model folder's last commit
LATER = COMMITTED + 3600  # a commit elsewhere in the model repository
RUN = ("Install modeloci", "Plan", "Build", "Check that the build is reproducible", "Verify")
JQ_SHIM = """#!{python}
import json, sys
# `jq -r .KEY FILE`, the one form docs/ci.md uses (GitHub's runners have jq; this machine does not).
flag, path, name = sys.argv[1:4]
print(json.load(open(name))[path.lstrip(".")])
"""


def workflow() -> dict:
    text = (REPO / "docs" / "ci.md").read_text(encoding="utf-8")
    (block,) = re.findall(r"```yaml\n(.*?)```", text, re.DOTALL)
    return yaml.safe_load(block)


def git(repo: Path, *args: str, when: int = COMMITTED) -> str:
    env = {**os.environ, "GIT_AUTHOR_DATE": f"@{when} +0000", "GIT_COMMITTER_DATE": f"@{when} +0000",
           "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    done = subprocess.run(["git", "-c", "user.name=CI", "-c", "user.email=ci@example.com", "-c", "commit.gpgsign=false",
                           *args], cwd=repo, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def clone_requirement() -> str:
    """The install line's requirement, pointing at this repository: its commit as a git URL, as the workflow pins
    one (a working tree that is not a checkout, or not a clean one, is installed as a folder: `pip install PATH`)."""
    dirty = subprocess.run(["git", "status", "--porcelain"], cwd=REPO, capture_output=True, text=True, check=False)
    if dirty.returncode != 0 or dirty.stdout:
        return str(REPO)
    return f"modeloci @ git+file://localhost{REPO}@{git(REPO, 'rev-parse', 'HEAD')}"


@pytest.fixture
def model_repository(tmp_path: Path) -> Path:
    """A repository holding models/tiny-llama (the single-gguf example), as the workflow's MODELFILE names it."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    repo = tmp_path / "models-repo"
    repo.mkdir()
    git(repo, "init", "-q")
    shutil.copytree(copy_example("single-gguf", tmp_path / "example").parent, repo / "models" / "tiny-llama")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "tiny-llama")
    (repo / "README.md").write_text("models\n")
    git(repo, "add", "README.md")
    git(repo, "commit", "-q", "-m", "a commit elsewhere", when=LATER)
    return repo


def test_the_workflow_installs_from_a_pinned_commit_and_fetches_the_history() -> None:
    flow = workflow()
    assert re.fullmatch(r"modeloci @ git\+https://github\.com/[^/@\s]+/modeloci@\S+", flow["env"]["MODELOCI"])
    (job,) = flow["jobs"].values()
    checkout = next(step for step in job["steps"] if str(step.get("uses", "")).startswith("actions/checkout@"))
    assert checkout["with"]["fetch-depth"] == 0
    install = next(step for step in job["steps"] if step.get("name") == "Install modeloci")
    assert install["run"].strip() == 'python -m pip install "$MODELOCI"'
    assert "pip install modeloci" not in (REPO / "docs" / "ci.md").read_text(encoding="utf-8")


def test_login_and_push_run_only_on_tags_and_after_verify() -> None:
    (job,) = workflow()["jobs"].values()
    names = [step.get("name") for step in job["steps"]]
    for name in ("Log in to the registry", "Push"):
        assert job["steps"][names.index(name)]["if"] == "startsWith(github.ref, 'refs/tags/')"
    assert names.index("Verify") < names.index("Push")


@pytest.mark.slow
def test_the_documented_steps_run_against_a_local_clone(model_repository: Path, tmp_path: Path) -> None:
    pytest.importorskip("hatchling", reason="building modeloci from the clone needs hatchling (a test dependency)")
    flow = workflow()
    (job,) = flow["jobs"].values()
    steps = {step["name"]: step["run"] for step in job["steps"] if step.get("name") in RUN}
    assert list(steps) == list(RUN)
    site, tools = tmp_path / "site", tmp_path / "tools"
    tools.mkdir()
    if shutil.which("jq") is None:
        (tools / "jq").write_text(JQ_SHIM.format(python=sys.executable))
        (tools / "jq").chmod(0o755)
    summary = tmp_path / "summary.md"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "MODELOCI_", "SOURCE_DATE_EPOCH"))},
        **{k: re.sub(r"\$\{\{[^}]*\}\}", "owner", str(v)) for k, v in flow["env"].items()},
        "MODELOCI": clone_requirement(),
        # pip options through pip's environment: the documented install line runs unchanged, offline.
        "PIP_TARGET": str(site), "PIP_NO_DEPS": "1", "PIP_NO_INDEX": "1", "PIP_NO_BUILD_ISOLATION": "0",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        # `python` is the test environment's (it has the dependencies); the modeloci it runs is the one installed.
        "PATH": os.pathsep.join([str(site / "bin"), str(tools), str(Path(sys.executable).parent), os.environ["PATH"]]),
        "PYTHONPATH": str(site),
        "MODELOCI_HOME": str(tmp_path / "store"), "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "GITHUB_STEP_SUMMARY": str(summary),
    }
    for name, script in steps.items():
        done = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
                              cwd=model_repository, env=env, capture_output=True, text=True, timeout=300, check=False)
        assert done.returncode == 0, f"step {name!r} failed:\n{done.stdout}\n{done.stderr}"
    assert (site / "modeloci" / "cli.py").is_file(), "the install step did not install the clone"
    archive = model_repository / "tiny-llama.tar"
    built = Archive.read(archive)
    assert summary.read_text() == f"digest: sha256:{hashlib.sha256(built.manifest_bytes).hexdigest()}\n"
    # The creation time is the model folder's last commit, not the repository's.
    assert built.config["descriptor"] == {"created": "2025-06-15T12:00:00Z"}
    assert (model_repository / "again.tar").read_bytes() == archive.read_bytes()


# -- the pull-request check: the release rebuilt from the checkout -------------------------------------------------

CHECK = "Check the release against this checkout"


def test_the_release_check_runs_on_pull_requests_and_rebuilds_the_release() -> None:
    (job,) = workflow()["jobs"].values()
    names = [step.get("name") for step in job["steps"]]
    step = job["steps"][names.index(CHECK)]
    assert step["if"] == "github.event_name == 'pull_request'"
    assert 'modeloci verify --rebuild -f "$MODELFILE" "$REPOSITORY:$release"' in step["run"]
    assert names.index("Verify") < names.index(CHECK)


def _step(name: str, **values: str) -> str:
    """The run script of the workflow step ``name``, with ``${{ github.X }}`` expressions given ``values``."""
    (job,) = workflow()["jobs"].values()
    script = next(step["run"] for step in job["steps"] if step.get("name") == name)
    return re.sub(r"\$\{\{\s*github\.(\w+)\s*\}\}", lambda m: values[m.group(1)], script)


def _run(script: str, repo: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script], cwd=repo, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def test_the_release_check_against_a_real_registry(model_repository: Path, tmp_path: Path, registry) -> None:  # noqa: F811
    """A release is built and pushed by the documented steps; pull requests are then checked against it: one that
    touches nothing of the model passes with `reproduced`, one that changes the chat template passes and names the
    layer in the summary, and a registry model the checkout does not explain fails the check."""
    tools = tmp_path / "tools"
    tools.mkdir()
    (tools / "jq").write_text(JQ_SHIM.format(python=sys.executable))
    (tools / "jq").chmod(0o755)
    summary = tmp_path / "summary.md"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("MODELOCI_", "SOURCE_DATE_EPOCH"))},
        **{k: re.sub(r"\$\{\{[^}]*\}\}", "owner", str(v)) for k, v in workflow()["env"].items()},
        "REPOSITORY": f"{registry.host}/owner/tiny-llama",
        "PATH": os.pathsep.join([str(tools), str(Path(sys.executable).parent), os.environ["PATH"]]),
        "MODELOCI_HOME": str(tmp_path / "store"), "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "GITHUB_STEP_SUMMARY": str(summary),
    }
    check = _step(CHECK)
    assert _run(check, model_repository, env).returncode == 0  # nothing released yet: nothing to check
    git(model_repository, "tag", "v1")
    for name in ("Build", "Push"):
        done = _run(_step(name, ref_name="v1"), model_repository, env)
        assert done.returncode == 0, done.stderr
    digest = summary.read_text().split("digest: ")[1].strip()
    summary.write_text("")

    (model_repository / "README.md").write_text("models, and how to use them\n")
    git(model_repository, "commit", "-q", "-am", "a pull request that leaves the model alone", when=LATER + 60)
    done = _run(check, model_repository, {**env, "MODELOCI_HOME": str(tmp_path / "fresh")})
    assert (done.returncode, summary.read_text()) == (0, f"reproduced: {digest}\n"), done.stderr

    summary.write_text("")
    template = model_repository / "models" / "tiny-llama" / "chat_template.jinja"
    old = template.read_bytes()
    template.write_bytes(old + b"{# reviewed #}\n")
    git(model_repository, "commit", "-q", "-am", "a pull request that changes the template", when=LATER + 120)
    done = _run(check, model_repository, env)
    assert done.returncode == 0, done.stderr
    assert summary.read_text().splitlines()[1] == (
        f"first difference: layer `chat_template.jinja`: digest is sha256:{hashlib.sha256(old).hexdigest()} in "
        f"TARGET, sha256:{hashlib.sha256(template.read_bytes()).hexdigest()} in the rebuild")

    summary.write_text("")
    git(model_repository, "revert", "--no-edit", "HEAD", when=LATER + 180)
    stranger = copy_example("single-gguf", tmp_path / "stranger")
    (stranger.parent / "LICENSE").write_text("not the repository's license\n")
    pushed = subprocess.run(["modeloci", "build", "-f", str(stranger), "--push", f"{env['REPOSITORY']}:v1", "-q"],
                            env=env, capture_output=True, text=True, timeout=120, check=False)
    assert pushed.returncode == 0, pushed.stderr
    done = _run(check, model_repository, env)
    assert done.returncode == 1
    assert summary.read_text().splitlines()[1].startswith("first difference: layer `LICENSE`: digest is ")

    summary.write_text("")
    (model_repository / "models" / "tiny-llama" / "Modelfile").write_text("FROM scratch\nWIEGHTS x.gguf\n")
    git(model_repository, "commit", "-q", "-am", "a pull request that breaks the Modelfile", when=LATER + 240)
    done = _run(check, model_repository, env)
    assert (done.returncode, summary.read_text()) == (2, "")  # a failure other than a difference always fails
