"""The commands that compile a Modelfile: plan and build. Thin: the work is in modeloci.api, modeloci.builder and
(for ``build --push``) modeloci.ops.remote.

``build --json`` has one shape whatever the outputs (docs/json/build.schema.json): the model built, where it was
written (``output``, ``size``: null for the store or a push alone) and the push (``push``: null without ``--push``).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import rich_click as click

from modeloci.cli import cli
from modeloci.cli_options import (
    FORMATS,
    Command,
    display,
    insecure_option,
    json_option,
    parse_build_args,
    progress_options,
)
from modeloci.errors import UsageError
from modeloci.termsafe import json_text, safe_text

if TYPE_CHECKING:
    from modeloci.attest.bundle import Signer
    from modeloci.blobs.cache import DigestCache
    from modeloci.builder import BuildResult, ReferrersOf
    from modeloci.compiler import BuildPlan
    from modeloci.diagnostics import Diagnostic
    from modeloci.ops.reports import PushResult
    from modeloci.progress import Display
    from modeloci.registry.client import RegistryClient
    from modeloci.registry.image_ref import Reference
    from modeloci.sources import Source


def _modelfile_options(func: Command) -> Command:
    """The options of every command that compiles a Modelfile: where it is, its build arguments, name, time and
    format."""
    options = [
        click.argument("path", required=False, type=click.Path(path_type=Path)),
        click.option("-f", "--file", "modelfile", type=click.Path(path_type=Path), default=None,
                     help="The Modelfile (or a folder holding one) [default: PATH/Modelfile, else ./Modelfile]."),
        click.option("--context", type=click.Path(path_type=Path, file_okay=False), default=None,
                     help="Build context that paths are relative to [default: the Modelfile's folder]."),
        click.option("--build-arg", "build_args", multiple=True, metavar="NAME=VALUE",
                     help="Set an ARG (repeatable). `NAME` alone takes the value from the environment."),
        click.option("-t", "--tag", "tag", default=None, metavar="NAME[:TAG]", help="Name the model."),
        click.option("--created", default=None, metavar="TIME",
                     help="Creation time (RFC 3339 or Unix seconds) [default: $SOURCE_DATE_EPOCH, else the time of "
                          "the last commit of the build context in a clean git checkout, else none]."),
        click.option("--format", "fmt", type=click.Choice((*FORMATS, "modelcar")), default="docker",
                     show_default=True, help="Artifact format: Docker Model Runner's, CNCF ModelPack (alias cncf), or "
                                             "a modelcar (KServe's: a container image with the files under /models)."),
    ]
    func = json_option(func)  # the last option: applied first
    for option in reversed(options):
        func = option(func)
    return func


@cli.command()
@_modelfile_options
def plan(path: Path | None, modelfile: Path | None, context: Path | None, build_args: tuple[str, ...],
         tag: str | None, created: str | None, fmt: str, as_json: bool) -> None:
    """Print the compiled build plan of PATH (a folder holding a Modelfile, or a Modelfile), reading no weight bytes.

    With -f, PATH is the build context, as in `docker build -f FILE PATH`.
    """
    modelfile, context = _locate(path, modelfile, context)
    compiled = _compile(modelfile, context, build_args, tag, created, fmt)
    if as_json:
        click.echo(json_text(compiled.to_json()))
    else:
        from modeloci.render import print_plan

        print_plan(compiled)


@cli.command()
@_modelfile_options
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Write the model as this OCI archive (a tar that is also a Docker Model Runner load archive).")
@click.option("--layout", type=click.Path(path_type=Path, dir_okay=True, file_okay=False), default=None,
              help="Write the model into this OCI image layout folder instead (blobs already there are reused).")
@click.option("--link", is_flag=True,
              help="With --layout: hard-link weight files into the layout instead of copying them "
                   "(changing a source file in place then changes the blob).")
@click.option("--no-cache", is_flag=True, help="Hash every file, without the digest cache.")
@click.option("--store/--no-store", "to_store", default=None,
              help="Keep the model in the local store [default: when no other output is given].")
@click.option("--push", "push_to", default=None, metavar="REFERENCE",
              help="Push the model to a registry (base layers in the same registry are mounted, not downloaded).")
@click.option("--sign", "sign_key", type=click.Path(path_type=Path, dir_okay=False), default=None,
              metavar="KEY.pem", help="Sign the model with this ECDSA private key (OpenSSF Model Signing), and its "
                                      "provenance too; the signature is written beside the model.")
@click.option("--provenance", is_flag=True,
              help="Write an in-toto SLSA Provenance v1 statement of the build beside the model.")
@click.option("--sbom", is_flag=True, help="Write a CycloneDX 1.6 bill of materials (an ML-BOM) beside the model.")
@insecure_option
@progress_options
def build(path: Path | None, modelfile: Path | None, context: Path | None, build_args: tuple[str, ...],
          tag: str | None, created: str | None, fmt: str, as_json: bool, output: Path | None, layout: Path | None,
          link: bool, no_cache: bool, to_store: bool | None, push_to: str | None, sign_key: Path | None,
          provenance: bool, sbom: bool, insecure: tuple[str, ...], progress: str, quiet: bool) -> None:
    """Build PATH (a folder holding a Modelfile, or a Modelfile) into the local store (-t NAME), an OCI archive (-o)
    or an OCI layout folder (--layout).

    With -f, PATH is the build context, as in `docker build -f FILE PATH`.
    """
    modelfile, context = _locate(path, modelfile, context)  # first: a missing Modelfile says so, before the options
    if output is not None and layout is not None:
        raise UsageError("give one output: -o OUT.tar or --layout DIR",
                         hint="write an archive with `-o model.tar`, or a layout folder with `--layout model/`")
    if link and layout is None:
        raise UsageError("--link only applies to --layout", hint="hard links need a layout folder: add `--layout DIR`")
    to_store = (output is None and layout is None and push_to is None) if to_store is None else to_store
    if not to_store and output is None and layout is None and push_to is None:
        raise UsageError("--no-store leaves no output", hint="write an archive with `-o model.tar`")
    if to_store and tag is None:
        raise UsageError("a model in the store needs a name",
                         hint="name it with `-t NAME[:TAG]`, or write an archive with `-o model.tar`")
    if sign_key is not None and fmt == "modelcar":
        # A signature names each file's digest; a modelcar's layers are tars around the files, which the signing
        # code does not yet look inside: it would sign the tars' digests as the files'.
        raise UsageError("--sign does not sign a modelcar yet",
                         hint="sign a build of the same files in Docker's format or ModelPack's (`--format docker`)")
    signer = _signer(sign_key)  # before the build: a bad key costs no hashing
    compiled = _compile(modelfile, context, build_args, tag, created, fmt)
    from modeloci.blobs.cache import DigestCache

    referrers = None
    if signer is not None or provenance or sbom:  # imported when asked for (start-up time: 0.2 s of imports)
        from modeloci.ops.attestations import build_referrers

        referrers = build_referrers(compiled, modelfile=modelfile, build_args=parse_build_args(build_args),
                                    signer=signer, provenance=provenance, sbom=sbom)
    cache = None if no_cache else DigestCache()
    with display(progress, quiet) as meter:
        if push_to is not None and compiled.format == "modelcar" and not (to_store or output or layout):
            # A modelcar's tars are made while written: the push sends what the store holds (named as a pull
            # of it would be, when -t names it not).
            to_store, compiled = True, dataclasses.replace(compiled, reference=compiled.reference or push_to)
        result = _write(compiled, to_store, output, layout, link, cache, meter, referrers)
        pushed = _push(compiled, push_to, insecure, cache, meter, referrers, result) if push_to is not None else None
    if result is not None and result.up_to_date and not quiet:  # said apart: stdout stays what a build prints
        click.echo(f"{safe_text(str(result.output))} is up to date: nothing written", err=True)
    if pushed is not None and not quiet:
        done = pushed.result
        click.echo(f"Pushed {safe_text(done.reference)} ({len(done.uploaded)} uploaded, "
                   f"{len(done.skipped)} already there, {len(done.mounted)} mounted)", err=True)
    if result is None:  # a push alone: the model is the one the registry now holds
        assert pushed is not None  # no output and no push is refused above
        if not as_json:
            click.echo(f"digest: {pushed.result.digest}")
            return
        result = _pushed_model(pushed, compiled.reference)
    if as_json:
        from modeloci.ops.reports import BuildPushReport

        document = BuildPushReport(**dict(result.report()), push=pushed.result if pushed else None)
        click.echo(json.dumps(document.model_dump(mode="json"), indent=2))
    else:
        from modeloci.render import print_build

        print_build(result)


def _write(compiled: BuildPlan, to_store: bool, output: Path | None, layout: Path | None, link: bool,
           cache: DigestCache | None, meter: Display, referrers: ReferrersOf | None) -> BuildResult | None:
    """The build into the store, an archive or a layout folder: the result of the last, None for a push alone."""
    from modeloci.builder import build_archive, build_layout, build_store

    result = None
    if to_store:
        from modeloci.store import Store

        result = build_store(compiled, Store(), cache=cache, meter=meter, referrers=referrers)
    if output is not None:
        result = build_archive(compiled, output, cache=cache, meter=meter, referrers=referrers)
    elif layout is not None:
        result = build_layout(compiled, layout, cache=cache, link=link, meter=meter, referrers=referrers)
    return result


def _signer(key: Path | None) -> Signer | None:
    if key is None:
        return None
    from modeloci.attest.keys import load_signer  # imported when used (start-up time): it loads cryptography

    return load_signer(key)


@dataclasses.dataclass(frozen=True, slots=True)
class _Pushed:
    """What ``--push`` did, and where: the registry's answer is read again for a push alone."""

    result: PushResult
    client: RegistryClient
    ref: Reference


def _push(compiled: BuildPlan, push_to: str, insecure: tuple[str, ...], cache: DigestCache | None,
          meter: Display, referrers: ReferrersOf | None = None, written: BuildResult | None = None) -> _Pushed:
    from modeloci.cli_options import client_for
    from modeloci.ops.remote import push, push_plan
    from modeloci.registry.image_ref import parse_reference

    ref = parse_reference(push_to)
    client = client_for(ref.registry, insecure)
    total = sum(layer.size for layer in compiled.layers)
    progress = meter.task(f"pushing {ref}", total)
    if compiled.format == "modelcar":  # its layers are tars made while written: push the model written
        assert written is not None and written.output is not None  # build writes a modelcar before pushing it
        return _Pushed(push(_written_source(written), ref, client, progress=progress), client, ref)
    return _Pushed(push_plan(compiled, ref, client, cache=cache, progress=progress, referrers=referrers), client, ref)


def _written_source(written: BuildResult) -> Source:
    """Where a build wrote its model, as a source: the store (by the model's name), or the archive or layout."""
    from modeloci.sources import StoredRef

    assert written.output is not None
    if written.output_size is None and written.reference is not None:  # the store
        return StoredRef(written.reference, written.output)
    return written.output


def _pushed_model(pushed: _Pushed, reference: str | None) -> BuildResult:
    """The BuildResult of a push alone (no file written): the manifest the registry holds, fetched by its digest
    (checked against it) and read for its descriptors."""
    from modeloci.builder import BuildResult
    from modeloci.oci.digest import Digest
    from modeloci.oci.manifest import Descriptor, parse_manifest
    from modeloci.oci.mediatypes import MediaType

    pinned = dataclasses.replace(pushed.ref, tag=None, digest=Digest.parse(pushed.result.digest))
    data, _ = pushed.client.get_manifest(pinned)
    manifest = parse_manifest(data)  # the bytes modeloci just put: get_manifest checked them against the digest
    return BuildResult(Descriptor(str(MediaType.OCI_MANIFEST), manifest.digest, len(data)), manifest.config,
                       manifest.layers, reference)


def _locate(path: Path | None, modelfile: Path | None, context: Path | None) -> tuple[Path, Path | None]:
    """The Modelfile and the build context from PATH, -f and --context, read as `docker build` reads PATH and -f:
    PATH is a folder holding a Modelfile (or the Modelfile itself), or, with -f, the build context. A folder given
    to -f means the Modelfile in it."""
    if path is not None and modelfile is not None:
        if not _is_dir(path):
            raise UsageError(f"`{path}` is not a folder", hint="with -f FILE, PATH is the build context: a folder")
        if context is not None:
            raise UsageError("give the build context once: PATH or --context")
        context = path
    chosen = modelfile or path or Path("Modelfile")
    if _is_dir(chosen):
        if not (chosen / "Modelfile").exists():
            raise UsageError(f"`{chosen}` is a directory with no Modelfile",
                             hint="give the folder that holds the Modelfile, or name the file with `-f PATH`")
        chosen = chosen / "Modelfile"
    try:
        chosen.stat()
    except FileNotFoundError:
        raise UsageError(f"Modelfile `{chosen}` not found",
                         hint="name it with `-f PATH`, or give the folder that holds it") from None
    except OSError:
        pass  # a symlink loop, a name too long: reading it says so
    return chosen, context


def _is_dir(path: Path) -> bool:
    """Whether ``path`` is a folder; a path that cannot be looked at (a name too long, a loop) is not."""
    try:
        return path.is_dir()
    except OSError:
        return False


def _compile(modelfile: Path, context: Path | None, build_args: tuple[str, ...], tag: str | None, created: str | None,
             fmt: str = "docker") -> BuildPlan:
    from modeloci.api import plan as make_plan
    from modeloci.reference import normalise_tag

    compiled = make_plan(
        modelfile,
        context=context,
        build_args=parse_build_args(build_args),
        reference=normalise_tag(tag) if tag else None,
        created=_created(created),
        format=fmt,
    )
    _print_warnings(compiled.warnings, compiled.sources)
    return compiled


def _created(option: str | None) -> int | None:
    """--created as Unix seconds; without it the API decides (SOURCE_DATE_EPOCH, else the commit time)."""
    return None if option is None else _parse_time(option, "--created")


def _parse_time(text: str, what: str) -> int:
    if text.isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise UsageError(f"{what} `{text}` is not a time", hint="use RFC 3339 (`2025-06-15T12:00:00Z`) or Unix seconds")
    return int(moment.astimezone(UTC).timestamp())


def _print_warnings(warnings: Sequence[Diagnostic], sources: dict[str, str]) -> None:
    if warnings:
        from modeloci.diagnostics import render

        click.echo(render(warnings, sources), err=True, nl=False)
