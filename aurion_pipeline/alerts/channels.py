"""The alerts file (`AURION_ALERTS_FILE`): where alerts go, validated into frozen channel specs.

The file names environment variables, never secrets: a webhook's signing secret, a Slack incoming-webhook
URL (its path is the credential) and SMTP credentials are read from the environment only when a message
is sent (`resolve_secrets`, called at the edge). Every problem is one `ConfigError` line naming the file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from aurion_pipeline.config import check_tenants
from aurion_pipeline.config_checks import (
    ConfigError,
    http_url_problem,
    is_loopback,
    is_variable_name,
    shown_keys,
    shown_url,
)

KINDS = ("webhook", "slack", "email")
LEVELS = ("warning", "critical", "overage")  # seeds/alert_thresholds.csv
BASES = ("actual", "forecast", "anomaly")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\Z")
_ADDRESS = re.compile(r"^[^@\s]+@[^@\s]+\Z")
_ROUTE_KEYS = {"tenants", "levels", "bases"}
_KEYS = {
    "webhook": {"url", "secret_env"},
    "slack": {"url_env", "webhook_url_env"},
    "email": {"host", "port", "starttls", "ca_file", "username_env", "password_env", "from", "to"},
}


@dataclass(frozen=True)
class Route:
    """Which alerts a channel receives; an empty tuple means all."""

    tenants: tuple[str, ...] = ()
    levels: tuple[str, ...] = ()
    bases: tuple[str, ...] = ()

    def accepts(self, tenant: str, level: str, basis: str) -> bool:
        """Levels filter threshold alerts only: an anomaly has no level, so `bases` routes it."""
        return (
            (not self.tenants or tenant in self.tenants)
            and (not self.bases or basis in self.bases)
            and (basis == "anomaly" or not self.levels or level in self.levels)
        )


@dataclass(frozen=True)
class Channel:
    """One destination. `secret_envs` maps each secret's role to the env var that holds it."""

    name: str
    kind: str
    route: Route
    url: str | None = None  # webhook only; Slack's URL is a secret
    host: str | None = None
    port: int = 587
    starttls: bool = True
    sender: str | None = None
    recipients: tuple[str, ...] = ()
    ca_file: Path | None = None  # PEM of the CA that signed a private SMTP relay's certificate
    secret_envs: tuple[tuple[str, str], ...] = ()

    def env_for(self, role: str) -> str | None:
        return dict(self.secret_envs).get(role)


class Secret(str):
    """A secret's value; its repr never shows it (a stray log of a dict or dataclass stays clean)."""

    def __repr__(self) -> str:
        return "Secret('***')"


def load_channels(path: Path, tenants: Sequence[str] = ()) -> tuple[Channel, ...]:
    """The file's channels; with `tenants` (the configured ones), a route naming another tenant is refused:
    a typo there would silently route nothing."""
    where = file_label(path)
    try:
        doc = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{where} does not exist; create it or unset AURION_ALERTS_FILE") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{where} is not readable YAML: {_yaml_problem(exc)}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("channels"), list) or not doc["channels"]:
        raise ConfigError(f"{where} must hold `channels:`, a non-empty list of {{name, kind, ...}}")
    if set(doc) - {"channels"}:
        raise ConfigError(f"{where}: unknown top-level key(s) {shown_keys(set(doc) - {'channels'})}")
    channels = tuple(_channel(entry, i, where, tenants) for i, entry in enumerate(doc["channels"]))
    names = [c.name for c in channels]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"{where}: channel name(s) used more than once: {', '.join(dupes)}")
    return channels


def file_label(path: Path) -> str:
    return f"AURION_ALERTS_FILE ({path})"


def _yaml_problem(exc: Exception) -> str:
    mark = getattr(exc, "problem_mark", None)
    return f"{getattr(exc, 'problem', type(exc).__name__)} at line {mark.line + 1}" if mark else type(exc).__name__


def _channel(entry: object, index: int, where: str, tenants: Sequence[str]) -> Channel:
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: channel {index + 1} must be a mapping with name and kind")
    name, kind = entry.get("name"), entry.get("kind")
    if not isinstance(name, str) or not _NAME.match(name):
        got = repr(name) if is_variable_name(name) or name is None else "a value not shown"  # a pasted URL?
        raise ConfigError(f"{where}: channel {index + 1} needs a name (letters, digits, _ . -), got {got}")
    at = f"{where}: channel {name!r}"
    if kind not in KINDS:
        raise ConfigError(f"{at}: kind must be one of {', '.join(KINDS)}, got {kind!r}")
    unknown = set(entry) - {"name", "kind"} - _ROUTE_KEYS - _KEYS[kind]
    if unknown:
        raise ConfigError(f"{at}: unknown key(s) for a {kind} channel: {shown_keys(unknown)}")
    route = Route(
        tenants=_names(entry, "tenants", at, None),
        levels=_names(entry, "levels", at, LEVELS),
        bases=_names(entry, "bases", at, BASES),
    )
    if tenants:
        check_tenants(tenants, route.tenants, asked_by=f"{at}: tenants")
    build = {"webhook": _webhook, "slack": _slack, "email": _email}[kind]
    return build(entry, name, route, at)


def _webhook(entry: dict, name: str, route: Route, at: str) -> Channel:
    url = entry.get("url")
    if not isinstance(url, str):
        raise ConfigError(f"{at}: a webhook needs url: https://...")
    _check_url(url, at)
    secret_env = _env_name(entry, "secret_env", at, required=True)
    return Channel(name, "webhook", route, url=url, secret_envs=(("secret", secret_env),))


def _slack(entry: dict, name: str, route: Route, at: str) -> Channel:
    if "url_env" in entry and "webhook_url_env" in entry:
        raise ConfigError(f"{at}: give url_env or webhook_url_env, not both")
    key = "webhook_url_env" if "webhook_url_env" in entry else "url_env"
    url_env = _env_name(entry, key, at, required=True)
    return Channel(name, "slack", route, secret_envs=(("url", url_env),))


def _email(entry: dict, name: str, route: Route, at: str) -> Channel:
    host, port, starttls = entry.get("host"), entry.get("port", 587), entry.get("starttls", True)
    if not isinstance(host, str) or not host:
        raise ConfigError(f"{at}: an email channel needs host (the SMTP server)")
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ConfigError(f"{at}: port must be a number from 1 to 65535, got {port!r}")
    if not isinstance(starttls, bool):
        raise ConfigError(f"{at}: starttls must be true or false, got {starttls!r}")
    user_env = _env_name(entry, "username_env", at, required=False)
    password_env = _env_name(entry, "password_env", at, required=False)
    if bool(user_env) != bool(password_env):
        raise ConfigError(f"{at}: give both username_env and password_env, or neither")
    if user_env and not starttls and not is_loopback(host):
        raise ConfigError(f"{at}: starttls: false would send the SMTP password in clear to {host}; enable starttls")
    sender = entry.get("from")
    recipients = entry.get("to")
    recipients = [recipients] if isinstance(recipients, str) else recipients
    if not isinstance(sender, str) or not _ADDRESS.match(sender):
        raise ConfigError(f"{at}: from must be an email address, got {sender!r}")
    if not isinstance(recipients, list) or not recipients or not all(
        isinstance(r, str) and _ADDRESS.match(r) for r in recipients
    ):
        raise ConfigError(f"{at}: to must be an email address or a list of them, got {recipients!r}")
    envs = (("username", user_env), ("password", password_env)) if user_env else ()
    return Channel(
        name, "email", route, host=host, port=port, starttls=starttls, sender=sender,
        recipients=tuple(recipients), secret_envs=envs, ca_file=_ca_file(entry.get("ca_file"), at),
    )


def _ca_file(value: object, at: str) -> Path | None:
    if value is None:
        return None
    path = Path(str(value)).expanduser()
    if not isinstance(value, str) or not path.is_file():
        raise ConfigError(f"{at}: ca_file {value!r} is not a readable file (a PEM certificate of your relay's CA)")
    return path.resolve()


def _check_url(url: str, at: str) -> None:
    problem = http_url_problem(url)
    if problem:
        raise ConfigError(f"{at}: url {shown_url(url)} {problem}")


def _env_name(entry: dict, key: str, at: str, *, required: bool) -> str | None:
    value = entry.get(key)
    if value is None and not required:
        return None
    if not is_variable_name(value):
        raise ConfigError(
            f"{at}: {key} must be the NAME of an environment variable holding the secret "
            "(value not shown: it is not a variable name; never put the secret itself in this file)"
        )
    return value


def _names(entry: dict, key: str, at: str, allowed: tuple[str, ...] | None) -> tuple[str, ...]:
    value = entry.get(key)
    if value is None:
        return ()
    value = [value] if isinstance(value, str) else value
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{at}: {key} must be a list of names")
    if allowed is not None and set(value) - set(allowed):
        bad = ", ".join(sorted(set(value) - set(allowed)))
        raise ConfigError(f"{at}: {key} has {bad}; use any of {', '.join(allowed)}")
    return tuple(value)


def resolve_secrets(channel: Channel, env: Mapping[str, str], source: Path | None = None) -> dict[str, Secret]:
    """The channel's secrets from the environment, or a ConfigError naming the unset variable (and
    `source`, the alerts file, like every other line about it)."""
    at = f"{file_label(source)}: channel {channel.name!r}" if source else f"channel {channel.name!r}"
    secrets = {}
    for role, var in channel.secret_envs:
        value = env.get(var)
        if not value:
            raise ConfigError(f"{at}: environment variable {var} (its {role}) is not set")
        if channel.kind == "slack" and http_url_problem(value):  # checked here: the URL lives in the environment
            raise ConfigError(f"{at}: environment variable {var} (its {role}) is not a usable "
                              "https URL (value not shown: it is a secret)")
        secrets[role] = Secret(value)
    return secrets
