"""The option sets several commands share, and reading their values: ``--json``, progress, the gzip bound,
``--insecure-registry`` (and a registry client, or a registry model, for it), ``--format``, ``--build-arg``,
``--include``/``--exclude``/``--role``.

Each set is a decorator that keeps the command's type. It imports no command and not the group, so every
``cli_*`` module can use it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import rich_click as click

from modeloci.errors import UsageError
from modeloci.progress import MODES, Display

if TYPE_CHECKING:
    from modeloci.formats.select import Selection
    from modeloci.registry.client import RegistryClient
    from modeloci.sources import Source

Command = TypeVar("Command", bound=Callable[..., Any])
FORMATS = ("docker", "modelpack", "cncf")


def json_option(func: Command) -> Command:
    """``--json``, passed as ``as_json``."""
    return click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")(func)


def progress_options(func: Command) -> Command:
    """``--progress`` and ``-q/--quiet``, passed to the command as ``progress`` (a mode)."""
    func = click.option("-q", "--quiet", is_flag=True, help="Show no progress (--progress=quiet).")(func)
    return click.option("--progress", type=click.Choice(MODES), default="auto", show_default=True,
                        help="Progress on stderr: bars on a terminal (tty), lines for logs (plain), or none (quiet); "
                             "auto picks tty or plain.")(func)


def display(progress: str, quiet: bool) -> Display:
    """The progress display ``--progress`` and ``-q`` ask for."""
    return Display("quiet" if quiet else progress)


def max_inflate_ratio_option(func: Command) -> Command:
    """``--max-inflate-ratio RATIO``, passed as ``max_ratio`` (None when not given)."""
    return click.option("--max-inflate-ratio", "max_ratio", type=click.IntRange(min=0), default=None, metavar="RATIO",
                        help="Refuse a gzip layer that inflates to more than RATIO times its size, as a likely "
                             "decompression bomb (default 100; 0: no bound).")(func)


def ratio(max_ratio: int | None) -> dict[str, int]:
    """``--max-inflate-ratio`` as keyword arguments: none unless given, so the library's default stays the one."""
    return {} if max_ratio is None else {"max_inflate_ratio": max_ratio}


def insecure_option(func: Command) -> Command:
    """``--insecure-registry HOST[:PORT]`` (repeatable), passed as ``insecure``."""
    return click.option("--insecure-registry", "insecure", multiple=True, metavar="HOST[:PORT]",
                        help="Allow plain HTTP to this registry (loopback hosts always may).")(func)


def target_format(fmt: str) -> str:
    """``--format``'s value as the format's name: ``cncf`` is ModelPack."""
    return "modelpack" if fmt in ("modelpack", "cncf") else fmt


def parse_build_args(values: tuple[str, ...]) -> dict[str, str]:
    """``--build-arg NAME=VALUE`` values; ``NAME`` alone takes the value from the environment."""
    args: dict[str, str] = {}
    for value in values:
        name, sep, text = value.partition("=")
        if not sep:
            if name not in os.environ:
                raise UsageError(f"--build-arg `{name}` has no value", hint=f"write `--build-arg {name}=VALUE`")
            text = os.environ[name]
        args[name] = text
    return args


def client_for(registry: str, insecure: tuple[str, ...]) -> RegistryClient:
    """A client for ``registry``; plain HTTP allowed to the hosts of ``--insecure-registry`` and
    ``$MODELOCI_INSECURE_REGISTRIES``."""
    from modeloci.registry.client import RegistryClient

    allowed = (*insecure, *filter(None, os.environ.get("MODELOCI_INSECURE_REGISTRIES", "").split(",")))
    return RegistryClient(registry, insecure=allowed)


def selection_options(func: Command) -> Command:
    """``--include GLOB``, ``--exclude GLOB`` and ``--role ROLE`` (each repeatable), passed as ``include``,
    ``exclude`` and ``roles``: part of a model, for pull and unpack (:func:`selection` reads them)."""
    func = click.option("--role", "roles", multiple=True, metavar="ROLE",
                        help="Take the layers of this role: weights, template, projector, license, config or "
                             "docs.")(func)
    func = click.option("--exclude", multiple=True, metavar="GLOB",
                        help="Leave out the layers whose paths match GLOB.")(func)
    return click.option("--include", multiple=True, metavar="GLOB",
                        help="Take only the layers whose paths match GLOB (`*` stays within a folder, `**` crosses "
                             "folders), and those of any --role.")(func)


def selection(include: tuple[str, ...], exclude: tuple[str, ...], roles: tuple[str, ...]) -> Selection:
    """What ``--include``, ``--exclude`` and ``--role`` ask for (UsageError for a glob or role that cannot be)."""
    from modeloci.formats.select import Selection

    return Selection(include, exclude, roles)


def local_or_remote(text: str, insecure: tuple[str, ...]) -> Source:
    """A path, ``PATH:NAME`` or a stored model, else a registry reference (its first part naming a host)."""
    from modeloci.reference import names_host
    from modeloci.registry.image_ref import parse_reference
    from modeloci.sources import RemoteRef, resolve

    try:
        return resolve(text)
    except UsageError:
        if "/" not in text or not names_host(text.split("/", 1)[0]):
            raise
    reference = parse_reference(text)
    return RemoteRef(reference, client_for(reference.registry, insecure))
