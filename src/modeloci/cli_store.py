"""The local store's commands: ls, tag, rm, prune, save, load. Thin: the work is in modeloci.store.

Names and config values in the store came from archives and registries: they are shown through safe_text.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import rich_click as click
from click.exceptions import Exit

from modeloci.cli import cli
from modeloci.cli_options import json_option
from modeloci.progress import human as human_size
from modeloci.termsafe import safe_text

if TYPE_CHECKING:
    from modeloci.store import Store


def _store() -> Store:
    from modeloci.store import Store

    return Store()


def _ref(text: str) -> str:
    from modeloci.reference import normalise_tag

    return normalise_tag(text)


@cli.command(name="ls")
@json_option
def list_models(as_json: bool) -> None:
    """List the models in the local store.

    A model pulled in part (`pull --include`) shows how many of its layers are absent (`partial`; `absent` in
    --json names them); its size is the whole model's.
    """
    from modeloci.store.ops import list_models as rows_of

    rows = rows_of(_store())
    if as_json:
        click.echo(json.dumps([row.model_dump() for row in rows], indent=2))
        return
    from rich.table import Table

    from modeloci.render import _console

    table = Table(box=None, pad_edge=False, show_edge=False)
    partial = any(row.absent for row in rows)  # the column shows only when some model was pulled in part
    for column in ("name", "tag", "digest", "format", "size", "architecture", "parameters", "quantization",
                   *(("partial",) if partial else ())):
        table.add_column(column, justify="right" if column == "size" else "left")
    for row in rows:
        name, _, tag = row.reference.rpartition(":")
        cells = (name, tag, row.digest[7:19], row.format or "?", human_size(row.size), row.architecture or "",
                 row.parameters or "", row.quantization or "",
                 *((f"{len(row.absent)} absent" if row.absent else "",) if partial else ()))
        table.add_row(*map(safe_text, cells))
    _console().print(table)


@cli.command()
@click.argument("source")
@click.argument("target")
@json_option
def tag(source: str, target: str, as_json: bool) -> None:
    """Give the stored model SOURCE another name, TARGET."""
    store = _store()
    entry = store.get(_ref(source))
    store.tag(_ref(target), entry.descriptor)
    if as_json:
        click.echo(json.dumps({"source": _ref(source), "reference": _ref(target),
                               "digest": str(entry.descriptor.digest)}))
    else:
        click.echo(f"Tagged {safe_text(_ref(target))} ({entry.descriptor.digest})")


@cli.command(name="rm")
@click.argument("names", nargs=-1, required=True)
@json_option
def remove(names: tuple[str, ...], as_json: bool) -> None:
    """Remove tags from the store (blobs stay until `modeloci prune`)."""
    from modeloci.errors import UsageError

    references = [_ref(name) for name in names]
    missing = _store().untag(references)
    if as_json:
        # One document for scripts, missing names included, instead of the error document.
        click.echo(json.dumps({"removed": [r for r in references if r not in missing], "missing": missing}))
        if missing:
            raise Exit(2)
    for reference in references:
        if reference not in missing and not as_json:
            click.echo(f"Untagged {safe_text(reference)}")
    if missing:
        raise UsageError(f"no model {', '.join(f'`{m}`' for m in missing)} in the store", hint="see `modeloci ls`")


@cli.command()
@json_option
def prune(as_json: bool) -> None:
    """Delete blobs no tagged model uses, and leftovers of interrupted builds."""
    files, freed = _store().prune()
    if as_json:
        click.echo(json.dumps({"files": files, "bytes": freed}))
    else:
        click.echo(f"Removed {files} files, freed {human_size(freed)} ({freed} bytes)")


@cli.command()
@click.argument("name")
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False), required=True,
              help="Archive to write.")
@json_option
def save(name: str, output: Path, as_json: bool) -> None:
    """Write a stored model as an archive (the same bytes `build -o` writes)."""
    from modeloci.store.ops import save as run_save

    size = run_save(_store(), _ref(name), output)
    if as_json:
        click.echo(json.dumps({"reference": _ref(name), "output": str(output), "size": size}))
    else:
        click.echo(f"Saved {safe_text(_ref(name))} to {safe_text(output)} ({human_size(size)})")


@cli.command()
@click.argument("archive", type=click.Path(path_type=Path, exists=True))
@click.option("-t", "--tag", "tag_name", default=None, metavar="NAME[:TAG]",
              help="Name it (default: the archive's name).")
@json_option
def load(archive: Path, tag_name: str | None, as_json: bool) -> None:
    """Import an archive or layout into the store, checking every digest."""
    from modeloci.store.ops import load as run_load

    loaded = run_load(_store(), archive, reference=_ref(tag_name) if tag_name else None)
    digest = loaded.artifact.manifest.digest
    if as_json:
        click.echo(json.dumps({"reference": loaded.reference, "digest": str(digest),
                               "format": loaded.artifact.format, "moved_from": loaded.moved_from}))
    else:
        # As `docker load` says when it takes a name from another image: the old model lost its name.
        moved = f" (tag moved from {loaded.moved_from})" if loaded.moved_from else ""
        click.echo(f"Loaded {safe_text(loaded.reference)} ({digest}){moved}")
