"""Provenance: an in-toto statement (SLSA Provenance v1) saying how a model was built, and its referrer.

The statement's subject is the model's manifest. Its predicate records what a
rebuild needs and what a reviewer checks: the Modelfile (its path from the
build context and its SHA-256), the build arguments, the output format, the
reference and the creation time (``externalParameters``); the Modelfile, the
FROM base (by its manifest digest, marked by the OCI manifest media type) and
every file of the build context the model holds (``resolvedDependencies``: a
raw layer's digest is its file's SHA-256, so no file is read again); and
modeloci's version (``runDetails.builder``).

When the context is a git checkout, ``externalParameters.source`` records the
repository (``remote.origin.url`` without any user name, password, token,
query or fragment), the commit checked out (HEAD), the context's folder in the
repository and whether the commit holds every input file and the Modelfile as
they are (``clean``: no change, no untracked file, and no input git ignores).
The commit is listed as a resolved dependency only when it does: a policy that
checks the source commit must not pass a build made of files it does not hold.
Git is asked through :mod:`modeloci.compiler.created`'s
runner: no hooks, fsmonitor or signature programs, a time and size limit, and
``git status`` only when the checkout configures no filter but Git LFS's
(otherwise ``clean`` is left out: unknown).

Nothing here reads a clock: the same build gives the same bytes.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Set
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from modeloci.attest.bundle import BUNDLE_CONTENT_ANNOTATION, BUNDLE_PREDICATE_ANNOTATION, Signer, sign_statement
from modeloci.compiler.created import foreign_filters, git_output
from modeloci.compiler.model import BuildPlan, FileSource
from modeloci.errors import BuildError, UsageError, describe_os_error
from modeloci.modelfile import read_head
from modeloci.modelfile.syntax import decode
from modeloci.oci.digest import Digest
from modeloci.oci.jsonenc import go_json, go_map
from modeloci.oci.manifest import Descriptor
from modeloci.oci.mediatypes import MediaType
from modeloci.oci.referrers import Referrer, make_referrer
from modeloci.version import __version__

if TYPE_CHECKING:
    from modeloci.builder import BuildResult

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://slsa.dev/provenance/v1"
# What a modeloci build is, and who ran it; the pages these name document the fields above.
BUILD_TYPE = "https://modeloci.dev/provenance/build/v1"
BUILDER_ID = "https://modeloci.dev/provenance/builder/v1"
# How registries and tools tell what a referrer holds without fetching it (Docker's, and Sigstore's for a bundle).
PREDICATE_ANNOTATION = "in-toto.io/predicate-type"

_URL_BYTES = 4096  # a remote URL longer than this is not recorded (it would be cut)
_LIST_BYTES = 16 << 20  # the tracked files under a context: over 250,000 paths of 60 bytes
_HEX = re.compile(r"(?:[0-9a-f]{40}|[0-9a-f]{64})\Z")
# `[user@]host:path`, git's scp-like form for ssh (no slash before the colon).
_SCP = re.compile(r"(?:[^@/]*@)?(?P<host>[^:/]+):(?P<path>.+)\Z", re.DOTALL)


@dataclass(frozen=True, slots=True)
class Checkout:
    """The git checkout a build context is in: its repository URL (credentials stripped), HEAD, the context's
    folder in it, and whether the context and the Modelfile match HEAD (None: git could not be asked safely)."""

    repository: str | None
    commit: str
    path: str
    clean: bool | None


def statement(plan: BuildPlan, result: BuildResult, *, modelfile: Path,
              build_args: Mapping[str, str] | None = None) -> bytes:
    """The SLSA Provenance v1 statement of ``result``, built from ``plan`` and the Modelfile at ``modelfile``
    (with ``build_args``, the ``--build-arg`` values given)."""
    digest = _modelfile_digest(plan, modelfile)
    path = _relative(modelfile, plan.context)
    inputs = {layer.source.path for layer in plan.layers if isinstance(layer.source, FileSource)}
    checkout = find_checkout(plan.context, modelfile, inputs | {path})
    subject = {"name": result.reference or str(result.manifest.digest), "digest": _digest_set(result.manifest.digest)}
    predicate = {
        "buildDefinition": {
            "buildType": BUILD_TYPE,
            "externalParameters": _parameters(plan, path, digest, build_args, checkout),
            "resolvedDependencies": _dependencies(plan, result, path, digest, checkout),
        },
        "runDetails": {"builder": {"id": BUILDER_ID, "version": {"modeloci": modeloci_version()}}},
    }
    return go_json({"_type": STATEMENT_TYPE, "subject": [subject], "predicateType": PREDICATE_TYPE,
                    "predicate": predicate})


def referrer(statement: bytes, subject: Descriptor, signer: Signer | None = None) -> Referrer:
    """The artifact holding ``statement`` that refers to ``subject``: the statement itself, or, with a ``signer``,
    a Sigstore bundle whose DSSE envelope holds it (annotated, as cosign does, with the predicate it holds)."""
    if signer is None:
        return make_referrer(subject, MediaType.IN_TOTO, statement, MediaType.IN_TOTO,
                             annotations={PREDICATE_ANNOTATION: PREDICATE_TYPE})
    bundle = sign_statement(statement, signer)
    return make_referrer(subject, MediaType.SIGSTORE_BUNDLE, bundle, MediaType.SIGSTORE_BUNDLE,
                         annotations={BUNDLE_CONTENT_ANNOTATION: "dsse-envelope",
                                      BUNDLE_PREDICATE_ANNOTATION: PREDICATE_TYPE})


def _parameters(plan: BuildPlan, path: str, digest: Digest, build_args: Mapping[str, str] | None,
                checkout: Checkout | None) -> dict[str, Any]:
    params: dict[str, Any] = {
        "modelfile": {"path": path, "digest": _digest_set(digest)},
        "buildArgs": go_map(dict(build_args or {})),
        "format": plan.format,
    }
    if plan.reference is not None:
        params["reference"] = plan.reference
    if plan.created is not None:
        params["created"] = plan.created
    if checkout is not None:
        source: dict[str, Any] = {"commit": checkout.commit, "path": checkout.path}
        if checkout.repository is not None:
            source = {"repository": checkout.repository, **source}
        if checkout.clean is not None:
            source["clean"] = checkout.clean
        params["source"] = source
    return params


def _dependencies(plan: BuildPlan, result: BuildResult, path: str, digest: Digest,
                  checkout: Checkout | None) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = [{"name": path, "digest": _digest_set(digest)}]
    if checkout is not None and checkout.clean:
        source: dict[str, Any] = {"digest": {"gitCommit": checkout.commit}}
        uri = _git_uri(checkout.repository) if checkout.repository else None
        found.append({"uri": uri, **source} if uri else {"name": "source", **source})
    if plan.base is not None:
        found.append({"name": plan.base.path, "digest": _digest_set(Digest.parse(plan.base.manifest_digest)),
                      "mediaType": str(MediaType.OCI_MANIFEST)})
    seen: set[str] = set()
    for layer, written in zip(plan.layers, result.layers, strict=True):
        if isinstance(layer.source, FileSource) and layer.source.path not in seen:
            seen.add(layer.source.path)
            found.append({"name": layer.source.path, "digest": _digest_set(written.digest),
                          "mediaType": written.media_type})
    return found


def _digest_set(digest: Digest) -> dict[str, str]:
    return {digest.algorithm: digest.hex}


def _modelfile_digest(plan: BuildPlan, modelfile: Path) -> Digest:
    """The SHA-256 of the Modelfile, read as the build read it (bounded, never a FIFO), and checked to be the
    text the plan was compiled from: a Modelfile edited since would be attested with a digest never built."""
    shown = plan.modelfile
    try:
        data, _ = read_head(modelfile, shown)
    except UsageError as exc:
        raise BuildError(f"recording the provenance: {exc.message}", path=shown) from None
    except OSError as exc:
        raise BuildError(f"recording the provenance: reading `{shown}`: {describe_os_error(exc)}",
                         path=shown) from None
    compiled = plan.sources.get(shown)
    if compiled is not None and decode(data, shown)[0] != compiled:
        raise BuildError(f"recording the provenance: `{shown}` changed after the build read it", path=shown,
                         hint="build again, and do not change the Modelfile during a build")
    return Digest.of(data)


def _relative(path: Path, context: Path) -> str:
    """``path`` from the build context, with forward slashes (the same on every machine)."""
    try:
        return Path(os.path.relpath(path.resolve(), context.resolve())).as_posix()
    except (OSError, ValueError, RuntimeError):  # another drive, or a symlink loop
        return path.name


def find_checkout(context: Path, modelfile: Path, inputs: Set[str] = frozenset()) -> Checkout | None:
    """The git checkout ``context`` is in, or None (no checkout, no commit yet, no git, or git failed).
    ``inputs`` are the files the build read, as paths from the context: the tree is clean only if HEAD holds
    every one of them as it is."""
    try:
        cwd = str(context.resolve())
        paths = [cwd] + ([str(modelfile.resolve())] if modelfile.is_file() else [])
    except (OSError, RuntimeError):
        return None
    top = _answer(["rev-parse", "--show-toplevel"], cwd)
    commit = _answer(["rev-parse", "--verify", "--quiet", "HEAD^{commit}"], cwd)
    if top is None or commit is None or not _HEX.match(commit):
        return None
    remote = _answer(["config", "--get", "remote.origin.url"], cwd)
    path = _relative(Path(cwd), Path(top))
    return Checkout(public_url(remote) if remote else None, commit, path, _clean(cwd, paths, inputs))


def _clean(cwd: str, paths: list[str], inputs: Set[str]) -> bool | None:
    """Whether HEAD holds every input as it is: nothing under ``paths`` changed or untracked, and no input one git
    ignores (``git status`` is silent about those). None when git may not be asked (the checkout names filter
    commands that `git status` would run), fails, or lists more tracked files than are read."""
    if foreign_filters(cwd) != "":
        return None
    status = git_output(["status", "--porcelain", "-z", "--untracked-files=normal", "--ignore-submodules=all", "--",
                   *paths], cwd, limit=1)
    if status is None or status:
        return None if status is None else False
    # ls-files hashes nothing, so it runs no filter; its paths are relative to the context, as the inputs are.
    tracked = git_output(["ls-files", "-z", "--", *paths], cwd, limit=_LIST_BYTES)
    if tracked is None or len(tracked) >= _LIST_BYTES:
        return None
    return inputs <= set(tracked.decode("utf-8", "surrogateescape").split("\0"))


def _answer(args: list[str], cwd: str) -> str | None:
    """One line git prints, or None when it fails or prints more than a URL's worth (it would be cut)."""
    out = git_output(args, cwd, limit=_URL_BYTES)
    if out is None or len(out) >= _URL_BYTES:
        return None
    text = out.decode("utf-8", "replace").strip()
    return text or None


def public_url(url: str) -> str:
    """A git remote URL without what may be a credential: the user name and password (a token is often the user
    name), and the query and fragment; the scheme and host in lowercase, as a URI's are compared."""
    if "://" in url:
        parts = urlsplit(url)
        host = parts.netloc.rpartition("@")[2]
        return f"{parts.scheme.lower()}://{host.lower()}{parts.path}"
    scp = _SCP.match(url)
    if scp and not url.startswith(("/", ".")):
        return f"{scp['host'].lower()}:{scp['path']}"
    return url  # a local path


def _git_uri(repository: str) -> str | None:
    """The SPDX-style ``git+`` URI of a repository URL (scp-like ``host:path`` as ``ssh://host/path``); None for a
    local path, which is no URI."""
    if "://" in repository:
        return "git+" + repository
    scp = _SCP.match(repository)
    if scp and not repository.startswith(("/", ".")):
        return f"git+ssh://{scp['host']}/{scp['path'].lstrip('/')}"
    return None


def modeloci_version() -> str:
    """modeloci's version, as ``modeloci --version`` says it."""
    return __version__
