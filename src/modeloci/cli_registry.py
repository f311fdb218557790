"""Registry commands: push, pull, login, logout. Thin: the work is in modeloci.ops.remote and modeloci.registry."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import rich_click as click

from modeloci.cli import cli
from modeloci.cli_options import (
    client_for,
    display,
    insecure_option,
    json_option,
    progress_options,
    selection,
    selection_options,
)
from modeloci.errors import UsageError
from modeloci.termsafe import json_text, safe_text

if TYPE_CHECKING:
    from modeloci.sources import Source


@cli.command()
@click.argument("source")
@click.argument("reference", required=False)
@insecure_option
@json_option
@progress_options
def push(source: str, reference: str | None, insecure: tuple[str, ...], as_json: bool, progress: str,
         quiet: bool) -> None:
    """Push a model (archive, layout folder or stored model) to a registry.

    REFERENCE defaults to SOURCE when SOURCE is a stored model named for a registry.
    """
    from modeloci.ops.remote import push as run_push
    from modeloci.registry.image_ref import parse_reference
    from modeloci.sources import StoredRef, resolve

    resolved = resolve(source)
    target = reference or (str(resolved) if isinstance(resolved, StoredRef) else None)
    if target is None:
        raise UsageError("no reference to push to", hint="write `modeloci push ARCHIVE registry/repository:tag`")
    ref = parse_reference(target)
    client = client_for(ref.registry, insecure)
    size = _size(resolved)
    with display(progress, quiet) as meter:
        result = run_push(resolved, ref, client, progress=meter.task(f"pushing {ref}", size))
    if as_json:
        click.echo(json_text(result.model_dump()))
    else:
        click.echo(f"Pushed {safe_text(result.reference)} ({len(result.uploaded)} uploaded, "
                   f"{len(result.skipped)} already there, {len(result.mounted)} mounted)")
        click.echo(f"digest: {result.digest}")


def _size(source: Source) -> int:
    """The bytes a push may send: every distinct layer and the config."""
    from modeloci.formats.artifact import read_artifact
    from modeloci.sources import open_source

    with open_source(source) as layout:
        manifest = read_artifact(layout).manifest
    return sum({d.digest: d.size for d in manifest.layers}.values()) + manifest.config.size


@cli.command()
@click.argument("reference")
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False), default=None, help="Write an archive.")
@click.option("--layout", type=click.Path(path_type=Path, file_okay=False), default=None, help="Write a layout folder.")
@click.option("-t", "--tag", "tag_name", default=None, metavar="NAME[:TAG]", help="Name it (default: the reference).")
@click.option("--no-referrers", is_flag=True,
              help="Leave the model's referrers (signatures, provenance, BOMs) in the registry.")
@selection_options
@insecure_option
@json_option
@progress_options
def pull(reference: str, output: Path | None, layout: Path | None, tag_name: str | None, no_referrers: bool,
         include: tuple[str, ...], exclude: tuple[str, ...], roles: tuple[str, ...], insecure: tuple[str, ...],
         as_json: bool, progress: str, quiet: bool) -> None:
    """Pull a model from a registry into the local store (default), an archive (-o) or a layout (--layout),
    with its referrers (signatures, provenance, BOMs).

    With --include, --exclude or --role, only those layers are fetched (with the manifest and config), into the
    store, which keeps the model as partial; pulling it again without them fetches the rest.
    """
    from modeloci.ops.remote import chosen_layers, fetch_manifest, pull_to_archive, pull_to_layout, store_only
    from modeloci.reference import normalise_tag
    from modeloci.registry.image_ref import parse_reference
    from modeloci.store import Store

    if output is not None and layout is not None:
        raise UsageError("give one output: -o OUT.tar or --layout DIR")
    ref = parse_reference(reference)
    client = client_for(ref.registry, insecure)
    name = normalise_tag(tag_name) if tag_name else None
    chosen = selection(include, exclude, roles)
    if output is not None or layout is not None:
        store_only(chosen)  # before anything is fetched
    fetched = fetch_manifest(client, ref)
    layers = chosen_layers(fetched, ref, chosen)
    with display(progress, quiet) as meter:
        advance = meter.task(f"pulling {ref}", sum({d.digest: d.size for d in layers}.values()))
        wanted = not no_referrers
        if output is not None:
            result = pull_to_archive(client, ref, output, name=name, progress=advance, fetched=fetched,
                                     referrers=wanted, selection=chosen)
        elif layout is not None:
            result = pull_to_layout(client, ref, layout, name=name, progress=advance, fetched=fetched,
                                    referrers=wanted, selection=chosen)
        else:
            result = pull_to_layout(client, ref, Path(), store=Store(), name=name, progress=advance, fetched=fetched,
                                    referrers=wanted, selection=chosen)
    if as_json:
        click.echo(json_text(result.model_dump()))
    else:
        click.echo(f"Pulled {safe_text(result.reference)} into {safe_text(result.output)} "
                   f"({len(result.downloaded)} downloaded, {len(result.reused)} already there)")
        if result.referrers:
            click.echo(f"referrers: {len(result.referrers)}")
        if result.absent:
            click.echo(f"partial: {len(result.absent)} layer{'s' if len(result.absent) != 1 else ''} left in the "
                       f"registry ({', '.join(safe_text(path) for path in result.absent)})")
        click.echo(f"digest: {result.digest}")


@cli.command()
@click.argument("registry")
@click.option("-u", "--username", required=True)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@insecure_option
@json_option
def login(registry: str, username: str, password_stdin: bool, insecure: tuple[str, ...], as_json: bool) -> None:
    """Check credentials against REGISTRY and remember them (in a file only you can read)."""
    from modeloci.registry.auth import Credentials, save_login

    password = sys.stdin.readline().rstrip("\n") if password_stdin else click.prompt("Password", hide_input=True)
    credentials = Credentials(username, password)
    client = client_for(registry, insecure)
    client.credentials = credentials
    client.send("GET", "/v2/", scope="", ok=(200,)).close()
    path = save_login(registry, credentials)
    if as_json:
        click.echo(json_text({"registry": registry, "username": username, "saved_in": str(path)}, indent=None))
    else:
        click.echo(f"Login succeeded; credentials saved in {safe_text(path)}")


@cli.command()
@click.argument("registry")
@json_option
def logout(registry: str, as_json: bool) -> None:
    """Forget the credentials `modeloci login` saved for REGISTRY."""
    from modeloci.registry.auth import forget_login

    removed = forget_login(registry)
    if as_json:
        click.echo(json_text({"registry": registry, "removed": removed}, indent=None))
    else:
        click.echo("Removed login" if removed else f"Not logged in to {safe_text(registry)}")
