"""Credentials and authentication: where secrets come from, and the challenge dance.

Credentials for a registry come, in this order, from ``MODELOCI_USERNAME`` and
``MODELOCI_PASSWORD``, from ``modeloci login`` (``$XDG_CONFIG_HOME/modeloci/auth.json``,
mode 0600), or from Docker's ``config.json`` (``$DOCKER_CONFIG``, default
``~/.docker``): ``credHelpers``, then ``credsStore``, via
``docker-credential-<name> get``, then ``auths``. A registry asks for them with
a ``WWW-Authenticate`` challenge: ``Basic``, or ``Bearer`` with a token
endpoint, from which a token is fetched for exactly the repository and
actions (``pull``, ``push``) needed.

Secrets never leave :class:`Credentials` as text: its ``repr`` and ``str``
hide the password, and :func:`redact` scrubs them from any message.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from modeloci.errors import ModelociError

_DOCKER_HUB_KEYS = ("https://index.docker.io/v1/", "index.docker.io", "docker.io", "registry-1.docker.io")
_CHALLENGE = re.compile(r'(\w+)="([^"]*)"')


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str = field(repr=False)
    identity_token: str | None = field(default=None, repr=False)

    def basic(self) -> str:
        return "Basic " + base64.b64encode(f"{self.username}:{self.password}".encode()).decode()

    def __str__(self) -> str:
        return f"{self.username}:***"


def config_home() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "modeloci"


def _keys(registry: str) -> tuple[str, ...]:
    return _DOCKER_HUB_KEYS if registry in ("docker.io", "registry-1.docker.io") else (
        registry, f"https://{registry}", f"http://{registry}")


def find_credentials(registry: str) -> Credentials | None:
    user, password = os.environ.get("MODELOCI_USERNAME"), os.environ.get("MODELOCI_PASSWORD")
    if user and password is not None:
        return Credentials(user, password)
    for source in (_own_config, _docker_config):
        found = source(registry)
        if found is not None:
            return found
    return None


def _own_config(registry: str) -> Credentials | None:
    try:
        auths = json.loads((config_home() / "auth.json").read_text()).get("auths", {})
    except (OSError, ValueError, AttributeError):
        return None
    return _from_auths(auths, registry)


def _docker_config(registry: str) -> Credentials | None:
    folder = Path(os.environ.get("DOCKER_CONFIG") or os.path.join(os.path.expanduser("~"), ".docker"))
    try:
        config = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(config, dict):
        return None
    helpers = config.get("credHelpers") or {}
    for key in _keys(registry):
        if key in helpers:
            return _helper(helpers[key], key)
    if config.get("credsStore"):
        found = _helper(config["credsStore"], _keys(registry)[0])
        if found is not None:
            return found
    return _from_auths(config.get("auths") or {}, registry)


def _from_auths(auths: dict, registry: str) -> Credentials | None:
    for key in _keys(registry):
        entry = auths.get(key)
        if not isinstance(entry, dict):
            continue
        if entry.get("auth"):
            try:
                user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                continue
            return Credentials(user, password, entry.get("identitytoken"))
        if entry.get("username"):
            return Credentials(entry["username"], entry.get("password", ""), entry.get("identitytoken"))
    return None


def _helper(name: str, server: str) -> Credentials | None:
    """Ask ``docker-credential-<name>`` (the protocol Docker uses: server URL in, JSON out)."""
    try:
        run = subprocess.run([f"docker-credential-{name}", "get"], input=server.encode(), capture_output=True,
                             timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if run.returncode != 0:
        return None
    try:
        doc = json.loads(run.stdout)
        username, secret = doc["Username"], doc["Secret"]
    except (ValueError, KeyError, TypeError):
        return None
    if username == "<token>":
        return Credentials(username, "", secret)
    return Credentials(username, secret)


def save_login(registry: str, credentials: Credentials) -> Path:
    """Remember credentials for ``modeloci login``: a 0600 file only this user can read."""
    path = config_home() / "auth.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        doc = {}
    auths = doc.setdefault("auths", {})
    auths[registry] = {"auth": base64.b64encode(f"{credentials.username}:{credentials.password}".encode()).decode()}
    fd = os.open(f"{path}.tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(doc, out, indent=2)
    os.replace(f"{path}.tmp", path)
    return path


def forget_login(registry: str) -> bool:
    path = config_home() / "auth.json"
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    removed = doc.get("auths", {}).pop(registry, None) is not None
    fd = os.open(f"{path}.tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(doc, out, indent=2)
    os.replace(f"{path}.tmp", path)
    return removed


@dataclass(frozen=True, slots=True)
class Challenge:
    scheme: str  # "basic" | "bearer"
    params: dict[str, str]


def parse_challenge(header: str) -> Challenge | None:
    scheme, _, rest = header.strip().partition(" ")
    if not scheme:
        return None
    return Challenge(scheme.lower(), dict(_CHALLENGE.findall(rest)))


def redact(text: str, credentials: Credentials | None) -> str:
    """``text`` with every secret of ``credentials`` (raw and base64) replaced by ``***``."""
    if credentials is None:
        return text
    secrets = [credentials.password, credentials.identity_token or "",
               base64.b64encode(f"{credentials.username}:{credentials.password}".encode()).decode()]
    for secret in secrets:
        if len(secret) >= 3:
            text = text.replace(secret, "***")
    return text


class AuthError(ModelociError):
    """The registry refused the credentials (or needs some)."""
