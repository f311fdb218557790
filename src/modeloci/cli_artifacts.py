"""Commands that read a built model, wherever it lies (archive, layout, stored name): inspect, verify, unpack,
convert. Thin: the work is in modeloci.ops.

What a model says (names, paths, problems) is shown through safe_text; ``--json`` keeps exact values.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import rich_click as click
from click.exceptions import Exit

from modeloci.cli import cli
from modeloci.cli_options import (
    FORMATS,
    Command,
    insecure_option,
    json_option,
    max_inflate_ratio_option,
    parse_build_args,
    ratio,
    selection_options,
    target_format,
)
from modeloci.errors import UsageError
from modeloci.termsafe import json_text, safe_text

if TYPE_CHECKING:
    from modeloci.attest.trust import Trust
    from modeloci.ops.unpack import Layouts


@cli.command()
@click.argument("path", type=click.Path(path_type=Path))
@json_option
@click.option("--platform", default=None, metavar="OS/ARCH[/VARIANT]",
              help="The platform to show of a multi-platform modelcar (without it, its platforms are named).")
def inspect(path: Path, as_json: bool, platform: str | None) -> None:
    """Show what a model archive or layout, a GGUF or safetensors file, or a model folder holds.

    Reads manifests, configs and headers only, never whole weights.
    """
    from modeloci.ops.inspect import ArtifactReport, inspect_artifact, inspect_model, is_artifact

    if path.exists():
        report = inspect_artifact(path, platform=platform) if is_artifact(path) else inspect_model(path)
    else:
        from modeloci.sources import resolve

        report = inspect_artifact(resolve(str(path)), platform=platform)
    if as_json:
        click.echo(json_text(report.model_dump(mode="json")))
        return
    from modeloci.render import print_artifact_report, print_model_report

    if isinstance(report, ArtifactReport):
        print_artifact_report(report)
    else:
        print_model_report(report)


def _rebuild_options(func: Command) -> Command:
    """``--rebuild`` and what it builds from: ``-f``, ``--context``, ``--build-arg`` (as ``build`` takes them)."""
    options = [
        click.option("--rebuild", is_flag=True,
                     help="Rebuild the model from its Modelfile and context, writing nothing, and compare "
                          "manifest digests (TARGET's format, creation time and name are used)."),
        click.option("-f", "--file", "modelfile", type=click.Path(path_type=Path), default=None,
                     help="With --rebuild: the Modelfile (or a folder holding one) [default: ./Modelfile]."),
        click.option("--context", type=click.Path(path_type=Path, file_okay=False), default=None,
                     help="With --rebuild: the build context [default: the Modelfile's folder]."),
        click.option("--build-arg", "build_args", multiple=True, metavar="NAME=VALUE",
                     help="With --rebuild: set an ARG (repeatable). `NAME` alone takes the value from the "
                          "environment."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _signature_options(func: Command) -> Command:
    """``--key`` and ``--cert-chain``: what the model's OMS signature is checked with."""
    func = click.option("--cert-chain", "cert_chain", type=click.Path(path_type=Path), multiple=True,
                        metavar="CHAIN.pem", help="Check the model's OMS signature too: its signing certificate must "
                                                  "chain up to these certificates (PEM).")(func)
    return click.option("--key", "public_key", type=click.Path(path_type=Path), default=None, metavar="PUB.pem",
                        help="Check the model's OMS signature too: signed with this public key's private key (PEM), "
                             "naming exactly the model's files with their layers' digests.")(func)


@cli.command()
@click.argument("path", required=False)
@click.option("--store", "whole_store", is_flag=True, help="Verify the whole local store instead.")
@max_inflate_ratio_option
@json_option
@_rebuild_options
@_signature_options
def verify(path: str | None, whole_store: bool, max_ratio: int | None, as_json: bool, rebuild: bool,
           modelfile: Path | None, context: Path | None, build_args: tuple[str, ...], public_key: Path | None,
           cert_chain: tuple[Path, ...]) -> None:
    """Check every blob of an archive, layout or stored model against its digest, and that its documents agree.

    Exits 1 if anything is wrong; warnings alone (such as unreferenced blobs) exit 0.

    With --rebuild, build the model again from its Modelfile (-f) and context, without writing it, and compare
    manifest digests: prints `reproduced: DIGEST`, or the first difference and exits 1. PATH may then also be a
    registry reference (host/repository:tag).

    With --key PUB.pem (or --cert-chain CHAIN.pem), the model's signature in the OpenSSF Model Signing format
    is checked too: by that key (or a certificate chaining up to CHAIN), over exactly the model's files, each
    with its layer's digest; every mismatch is named, and the command exits 1.
    """
    if (public_key is not None or cert_chain) and (whole_store or rebuild):
        raise UsageError("--key and --cert-chain check one model's signature: give the model, without --store or "
                         "--rebuild")
    if rebuild or modelfile is not None or context is not None or build_args:
        _verify_rebuild(path, whole_store, rebuild, modelfile, context, build_args, as_json)
        return
    if (path is None) == (not whole_store):
        raise UsageError("give an archive, a layout folder or a stored model, or --store")
    if path is None:
        from modeloci.ops.verify import verify_store
        from modeloci.store import Store

        report = verify_store(Store())
    else:
        from modeloci.ops.verify import verify as run_verify
        from modeloci.sources import resolve

        source = resolve(path)
        trust = _trust(public_key, cert_chain)  # before hashing anything: a bad key file fails at once
        report = run_verify(source, **ratio(max_ratio))
        if trust is not None:
            from modeloci.ops.sign import check_signatures

            report.problems += check_signatures(source, trust)
    if as_json:
        click.echo(json.dumps({**report.model_dump(mode="json"), "ok": report.ok}, indent=2))
    else:
        for problem in report.problems:
            click.echo(f"{problem.severity}: {safe_text(problem.message)}", err=True)
        errors = sum(p.severity == "error" for p in report.problems)
        verdict = "OK" if report.ok else f"FAILED ({errors} problem{'s' if errors != 1 else ''})"
        click.echo(f"{verdict}: {safe_text(report.source)} ({safe_text(report.format or 'unknown format')}, "
                   f"{report.blobs_checked} blobs, "
                   f"{report.bytes_checked} bytes checked)")
    if not report.ok:
        raise Exit(1)


def _trust(public_key: Path | None, cert_chain: tuple[Path, ...]) -> Trust | None:
    if public_key is None and not cert_chain:
        return None
    from modeloci.attest.trust import load_trust

    return load_trust(key=public_key, chain=cert_chain)


def _verify_rebuild(target: str | None, whole_store: bool, rebuild: bool, modelfile: Path | None,
                    context: Path | None, build_args: tuple[str, ...], as_json: bool) -> None:
    """``verify --rebuild``: `reproduced: DIGEST`, else the first difference (all of them with --json), exit 1."""
    if not rebuild:
        raise UsageError("-f, --context and --build-arg only apply to --rebuild",
                         hint="rebuild and compare with `modeloci verify --rebuild -f Modelfile TARGET`")
    if target is None or whole_store:
        raise UsageError("--rebuild compares one model: give TARGET (an archive, a layout folder, a stored model "
                         "or a registry reference), without --store")
    from modeloci.cli_options import client_for
    from modeloci.ops.rebuild import rebuild as run_rebuild
    from modeloci.ops.rebuild import resolve_target

    chosen = modelfile or Path("Modelfile")
    chosen = chosen / "Modelfile" if os.path.isdir(chosen) else chosen
    done = run_rebuild(chosen, resolve_target(target, lambda host: client_for(host, ())), context=context,
                       build_args=parse_build_args(build_args), shown_target=target)
    if done.warnings:
        from modeloci.diagnostics import render

        click.echo(render(done.warnings, done.sources), err=True, nl=False)
    report = done.report
    if as_json:
        click.echo(json.dumps(report.model_dump(mode="json"), indent=2))
    elif report.reproduced:
        click.echo(f"reproduced: {report.digest}")
    else:
        click.echo(f"differs: {safe_text(report.source)} is {report.digest}, the rebuild {report.rebuilt}")
        first, *more = report.differences
        click.echo(f"first difference: {safe_text(first.message)}")
        if more:
            click.echo(f"({len(more)} more difference{'s' if len(more) != 1 else ''}: --json lists them)")
    if not report.reproduced:
        raise Exit(1)


@cli.command()
@click.argument("path")
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True, help="The new folder to unpack into.")
@click.option("--layout", type=click.Choice(["bundle", "files"]), default="bundle", show_default=True,
              help="bundle: Docker Model Runner's runtime layout (model/, config.json); "
                   "files: every layer at its path.")
@max_inflate_ratio_option
@selection_options
@insecure_option
@json_option
@click.option("--platform", default=None, metavar="OS/ARCH[/VARIANT]",
              help="The platform to unpack of a multi-platform modelcar [default: linux/amd64].")
def unpack(path: str, output: Path, layout: Layouts, max_ratio: int | None, include: tuple[str, ...],
           exclude: tuple[str, ...], roles: tuple[str, ...], insecure: tuple[str, ...], as_json: bool,
           platform: str | None) -> None:
    """Unpack an archive, layout or stored model into a folder, verifying every blob; nothing is left on failure.

    PATH may also be a registry reference (host/repository:tag): the layers written are fetched (each checked
    while it streams) into a temporary folder beside the output, and nothing is stored. With --include, --exclude
    or --role, only those files are written (and fetched).
    """
    from modeloci.cli_options import local_or_remote, selection
    from modeloci.formats.layertar import MAX_INFLATE_RATIO
    from modeloci.ops.unpack import unpack as run_unpack

    report = run_unpack(local_or_remote(path, insecure), output, layout=layout,
                        selection=selection(include, exclude, roles), platform=platform,
                        max_inflate_ratio=MAX_INFLATE_RATIO if max_ratio is None else max_ratio)
    if as_json:
        click.echo(json.dumps(report.model_dump(mode="json"), indent=2))
    else:
        for entry in report.files:
            click.echo(f"{safe_text(entry.path)}  {entry.size}")
        click.echo(f"Unpacked {len(report.files)} files into {safe_text(report.output)}")


@cli.command()
@click.argument("source")
@click.option("--format", "fmt", type=click.Choice((*FORMATS, "modelcar")), required=True,
              help="The format to write (modelcar: KServe's, a container image with the files under /models).")
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="The archive to write [default: into the store, named by -t].")
@click.option("--layout", type=click.Path(path_type=Path, dir_okay=True, file_okay=False), default=None,
              help="Write into this OCI layout folder instead (blobs already there are shared, not copied).")
@click.option("-t", "--tag", "tag", default=None, metavar="NAME[:TAG]", help="Name the converted model.")
@json_option
def convert(source: str, fmt: str, output: Path | None, layout: Path | None, tag: str | None, as_json: bool) -> None:
    """Re-wrap a model archive, layout or stored model in another format; blobs are carried by digest (a modelcar's
    tar layers are made around them, or their files copied out, while streaming).

    Into the store (-t NAME, no -o) or a layout folder (--layout DIR), the blobs already there are shared: only a
    config and a manifest are written."""
    from modeloci.ops.convert_inplace import convert_to
    from modeloci.reference import normalise_tag
    from modeloci.sources import resolve

    target = target_format(fmt)
    converted = convert_to(resolve(source), target, output=output, layout=layout,
                           reference=normalise_tag(tag) if tag else None)
    for warning in converted.warnings:
        click.echo(f"warning: {safe_text(warning)}", err=True)
    if as_json:
        click.echo(json.dumps(converted.report().model_dump(mode="json", by_alias=True), indent=2))
    else:
        from modeloci.render import print_build

        print_build(converted.result)
