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
hide the password, and :func:`redact` scrubs them from any message, with
every other credential a registry's words may carry (``Authorization:``
values, ``Bearer`` tokens, JWTs, Basic encodings).
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from modeloci.errors import ModelociError

_DOCKER_HUB_KEYS = ("https://index.docker.io/v1/", "index.docker.io", "docker.io", "registry-1.docker.io")
_CHALLENGE = re.compile(r'(\w+)="([^"]*)"')
_SCHEMES = r"(?:basic|bearer|digest|negotiate|ntlm|token|oauth|aws4-hmac-sha256)"
_VALUE = r"[^\s\"',;\]\)]+"
#: ``Authorization: <scheme> <value>`` in any quoting a server's log or error may use (Go's header maps included).
_AUTHORIZATION = re.compile(rf"(?i)((?:proxy-)?authorization[\"']?\s*[:=]\s*\[?[\"']?(?:{_SCHEMES}\s+)?){_VALUE}")
#: ``Bearer <token>`` anywhere, but not a challenge's ``Bearer realm="..."``.
_BEARER = re.compile(r"(?i)(\bbearer\s+)(?![A-Za-z_]+=\")[A-Za-z0-9._~+/=-]+")
_BASIC = re.compile(r"(?i)(\bbasic\s+)([A-Za-z0-9+/]{4,}={0,2})")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")


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


def find_credentials(registry: str, *, environment: bool = True) -> Credentials | None:
    """The credentials for ``registry``. ``environment=False`` skips MODELOCI_USERNAME/PASSWORD, which name no
    host: they are for the registry a command names, not for another host that registry points at."""
    user, password = os.environ.get("MODELOCI_USERNAME"), os.environ.get("MODELOCI_PASSWORD")
    if environment and user and password is not None:
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


def _from_auths(auths: dict[str, object], registry: str) -> Credentials | None:
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


def redact(text: str, credentials: Credentials | None, secrets: Iterable[str] = ()) -> str:
    """``text`` with every credential replaced by ``***``: those of ``credentials`` (raw, URL-quoted and Basic
    encoded), the other ``secrets`` (tokens fetched), and any credential-shaped text a registry wrote:
    ``Authorization: <scheme> <value>``, ``Bearer <value>``, ``Basic <user:password in base64>``, JWTs."""
    known = list(secrets)
    if credentials is not None:
        known += [credentials.password, quote(credentials.password, safe=""), credentials.identity_token or "",
                  credentials.basic().removeprefix("Basic ")]
    for secret in sorted(known, key=len, reverse=True):
        if len(secret) >= 3:
            text = text.replace(secret, "***")
    text = _AUTHORIZATION.sub(lambda m: m.group(1) + "***", text)
    text = _BEARER.sub(lambda m: m.group(1) + "***", text)
    text = _BASIC.sub(lambda m: m.group(1) + "***" if _is_basic(m.group(2)) else m.group(0), text)
    return _JWT.sub("***", text)


def _is_basic(value: str) -> bool:
    """Whether ``value`` is a Basic credential (``user:password`` in base64), not a word such as "auth"."""
    try:
        return b":" in base64.b64decode(value, validate=True)
    except ValueError:
        return False


class AuthError(ModelociError):
    """The registry refused the credentials (or needs some)."""
