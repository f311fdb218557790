"""The creation time a build records when the command line gives none.

In order: ``SOURCE_DATE_EPOCH``; else, when the build context is a clean git
checkout, the commit time of the last commit that touched the context or the
Modelfile (the reproducible-builds convention: every clone agrees on it, and
commits elsewhere in the repository do not change it, so a model's digest
stays put); else none, and the artifact records no time.

"Clean" means ``git status`` lists nothing under the context or for the
Modelfile: no uncommitted change, no untracked file (ignored files do not
count). A dirty tree has no commit that describes it, so it gets no time. A
shallow clone that stops at the commit found cannot tell whether an older
commit was the last to touch the context, so it gets none either. Git is run
with a time limit and its output read with a size limit; a missing or failing
git means no time, never an error.

The checkout may come from someone else (a model folder unpacked with its
``.git``), and its configuration can name commands for git to run. Git runs
here with no fsmonitor, no hooks, no signature checks and no submodules, and
``git status`` (which runs clean filters on files it must hash again) runs
only when the filters the checkout configures itself are none or Git LFS's
own: any other means no time, and nothing of it is run. (The user's own
global and system settings are theirs to trust.)
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

from modeloci.errors import UsageError

GIT_SECONDS = 10.0  # one git command; a slower one (a huge or remote-mounted repository) means no time
_LOG_BYTES = 256  # `git log -1 --format=%ct %P` of a merge: seconds and a few parents
_CONFIG_BYTES = 64 << 10  # the filter settings read: more is not a configuration modeloci accepts anyway
# Configuration that would make git run a command the checkout names, turned off for every git run here.
_NO_COMMANDS = ("-c", "core.fsmonitor=false", "-c", "core.hooksPath=/dev/null", "-c", "log.showSignature=false")
# What `git lfs install` configures: the only filters `git status` may run.
_FILTERS = ["config", "--show-scope", "-z", "--get-regexp", r"^filter\."]
LFS_FILTERS = frozenset({("filter.lfs.clean", "git-lfs clean -- %f"), ("filter.lfs.smudge", "git-lfs smudge -- %f"),
                         ("filter.lfs.process", "git-lfs filter-process"), ("filter.lfs.required", "true")})


@dataclass(frozen=True, slots=True)
class Created:
    """A build's creation time (Unix seconds, or None) and, when it is left out in a checkout, why."""

    epoch: int | None
    note: str | None = None


def default_created(context: Path, modelfile: Path) -> Created:
    """``SOURCE_DATE_EPOCH``, else the commit time of a clean checkout's ``context`` and ``modelfile``, else none."""
    env = os.environ.get("SOURCE_DATE_EPOCH")
    if env:
        if not env.isdigit():
            raise UsageError(f"SOURCE_DATE_EPOCH `{env}` is not a whole number of seconds",
                             hint="set it to Unix seconds, for example `$(git log -1 --format=%ct)`")
        return Created(int(env))
    return commit_time(context, modelfile)


def commit_time(context: Path, modelfile: Path) -> Created:
    """The commit time of the last commit touching ``context`` or ``modelfile``, if the checkout is clean there."""
    try:
        paths = [str(context.resolve())] + ([str(modelfile.resolve())] if modelfile.is_file() else [])
    except (OSError, RuntimeError):
        return Created(None)
    cwd = paths[0]
    # Started at once, each costing a process's start-up (~5 ms): none of them runs a command the checkout
    # configures (git log and rev-parse run no filters), and `git status`, which may, waits for the filter check.
    where = Git(["rev-parse", "--git-dir", "--is-shallow-repository"], cwd)
    config = Git(_FILTERS, cwd)
    log = Git(["log", "-1", "--format=%ct %P", "--", *paths], cwd)
    try:
        found = where.output(4096)
        if found is None:
            return Created(None)  # not a checkout, no git, or git failed
        foreign = filters_in(config.output(_CONFIG_BYTES))
        if foreign:
            return Created(None, f"no creation time: the git configuration of `{context}` names filter commands "
                                 f"modeloci does not run (`{foreign}`); set SOURCE_DATE_EPOCH or --created")
        status = git_output(["status", "--porcelain", "-z", "--untracked-files=normal", "--ignore-submodules=all",
                             "--", *paths], cwd, limit=1)
        if status is None:
            return Created(None)  # not a checkout, no git, or git failed
        if status:
            return Created(None, f"no creation time: `{context}` has uncommitted changes (commit them, or set "
                                 "SOURCE_DATE_EPOCH or --created)")
        words = (log.output(_LOG_BYTES) or b"").split()
    finally:
        for git in (where, config, log):
            git.stop()
    if not words or not words[0].isdigit():
        return Created(None)  # nothing under the context is committed
    if len(words) == 1 and found.endswith(b"\ntrue\n"):
        # A commit without parents in a shallow clone may be the clone's cut, not the context's last change.
        return Created(None, f"no creation time: `{context}` is in a shallow clone, which may not hold its last "
                             "commit (fetch the history, e.g. `fetch-depth: 0`, or set SOURCE_DATE_EPOCH)")
    return Created(int(words[0]))


def foreign_filters(cwd: str) -> str | None:
    """The first filter setting the checkout itself configures, other than Git LFS's ("" if none); None if git
    cannot tell (no checkout, no git). The user's own settings (global, system, -c) are theirs to trust."""
    if git_output(["rev-parse", "--git-dir"], cwd, limit=4096) is None:
        return None
    return filters_in(git_output(_FILTERS, cwd, limit=_CONFIG_BYTES))


def filters_in(found: bytes | None) -> str:
    """The first filter setting of the checkout's own in what ``git config`` (:data:`_FILTERS`) printed, other
    than Git LFS's; "" if none."""
    if found is None:
        return ""  # git config exits 1 when nothing matches
    fields = found.split(b"\0")
    for scope, entry in zip(fields[::2], fields[1::2], strict=False):
        key, _, value = entry.decode("utf-8", "replace").partition("\n")
        if scope in (b"local", b"worktree") and (key.lower(), value) not in LFS_FILTERS:
            return key[:100]
    return "" if len(found) < _CONFIG_BYTES else "filter.*"


class Git:
    """One git command, started at once in ``cwd``: :meth:`output` reads what it prints, :meth:`stop` ends it.

    It runs in a session of its own, so that stopping it stops whatever it started (hooks, helpers) too: they
    would hold the pipe open; and it is stopped after :data:`GIT_SECONDS` (a killed git exits non-zero)."""

    def __init__(self, args: list[str], cwd: str) -> None:
        env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0", "LC_ALL": "C"}  # status must not take the index lock
        try:
            self.process: subprocess.Popen[bytes] | None = subprocess.Popen(
                ["git", "--no-pager", "--literal-pathspecs", *_NO_COMMANDS, *args], cwd=cwd, env=env,
                start_new_session=True, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        except OSError:
            self.process = None
            return
        self.timer = threading.Timer(GIT_SECONDS, self._kill)
        self.timer.start()

    def _kill(self) -> None:
        if self.process is not None:
            with contextlib.suppress(OSError):  # already gone
                os.killpg(self.process.pid, signal.SIGKILL)

    def output(self, limit: int) -> bytes | None:
        """At most ``limit`` bytes of what it prints; None if it could not run, failed or timed out. Output that
        reaches ``limit`` is returned at once and git is stopped: callers ask only for a few bytes."""
        process = self.process
        if process is None or process.stdout is None:
            return None
        try:
            data = process.stdout.read(limit)
            if len(data) >= limit:
                return data
            code = process.wait()
        finally:
            self.stop()
        return data if code == 0 else None

    def stop(self) -> None:
        """End it (if it still runs) and wait for it; called again, nothing."""
        process, self.process = self.process, None
        if process is None:
            return
        self.timer.cancel()
        if process.poll() is None:
            with contextlib.suppress(OSError):
                os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        if process.stdout is not None:
            process.stdout.close()


def git_output(args: list[str], cwd: str, *, limit: int) -> bytes | None:
    """At most ``limit`` bytes of what ``git ARGS`` prints in ``cwd``; None if it cannot run, fails or times out."""
    return Git(args, cwd).output(limit)
