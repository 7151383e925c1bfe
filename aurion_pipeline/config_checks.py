"""Checks of settings that need more than a regex: folders we must write, crons Dagster accepts, a
memory limit and a storage version DuckDB accepts, plan names from the seeds, files we must read.

Each check raises `ConfigError` with one line naming the variable and what to do. They are cheap
(well under a second together) and import nothing from Dagster, so a bad setting is reported before
Dagster is even imported.
"""

from __future__ import annotations

import csv
import ipaddress
import os
import re
import tempfile
from collections.abc import Mapping
from datetime import UTC, date, datetime
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from croniter import croniter


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable and the fix."""


_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")
# What Aurion keys look like (`ak_live_…`), or a long random-looking string: a key pasted where the
# NAME of its variable belongs. Such a value is refused without being repeated.
_KEYISH = re.compile(r"^(?i:ak|sk)_|^(?=.*[a-z])(?=.*\d)[A-Za-z0-9_]{24,}$")


def is_variable_name(value: object) -> bool:
    """`value` can name an environment variable and does not look like a secret pasted in its place.
    The files that name secrets' variables (tenants, alerts) share it: a refused value is never echoed."""
    return isinstance(value, str) and bool(_ENV_NAME.match(value)) and not _KEYISH.search(value)


def shown_keys(keys: object) -> str:
    """Unknown keys of a settings file, for a message: YAML makes a pasted key or webhook URL a key of its
    own (`- {name: acme, ak_live_…}`), so only those that look like names are repeated."""
    names = sorted(map(str, keys))
    shown = [k for k in names if is_variable_name(k)]
    hidden = len(names) - len(shown)
    return ", ".join([*shown, *([f"({hidden} not shown: not a name, perhaps a secret)"] if hidden else [])])


def writable_folder(raw: str, name: str) -> Path:
    """The folder `raw` names, resolved; refused unless it is, or can be created as, a folder we can
    write. Nothing is left behind: the probe file (or folder) is removed at once."""
    path = Path(raw).expanduser().resolve()
    try:
        existing = next(p for p in (path, *path.parents) if p.exists())
    except (OSError, StopIteration):
        raise ConfigError(f"{name}={raw} cannot be reached; point it at a folder you can write") from None
    if not existing.is_dir():
        what = "is a file" if existing == path else f"cannot be created: {existing} is a file"
        raise ConfigError(f"{name}={raw} {what}; point it at a folder (it is created if missing)")
    try:
        if existing == path:
            fd, probe = tempfile.mkstemp(prefix=".aurion-write-probe-", dir=path)
            os.close(fd)
            os.unlink(probe)
        else:
            os.rmdir(tempfile.mkdtemp(prefix=".aurion-write-probe-", dir=existing))
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigError(
            f"{name}={raw} is not writable ({reason} in {existing}); point it at a folder you can write"
        ) from None
    return path


def readable_file(raw: str, name: str) -> Path:
    path = Path(raw).expanduser().resolve()
    if not path.is_file():
        what = "is a folder" if path.is_dir() else "does not exist"
        raise ConfigError(f"{name}={raw} {what}; point it at a readable file or unset it")
    try:
        with path.open("rb"):
            pass
    except OSError as exc:
        raise ConfigError(f"{name}={raw} cannot be read ({exc.strerror}); fix its permissions or unset it") from None
    return path


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def http_url_problem(url: str) -> str | None:
    """Why `url` cannot be an endpoint we send to (the API's origin, a webhook), or None. Checked when the
    setting or file is read: a URL requests cannot use fails every attempt, which would otherwise be
    retried for hours. Plain http only to a loopback host: elsewhere a key or an alert would cross the
    network in clear."""
    if not url.isprintable() or any(c.isspace() for c in url):
        return "holds spaces or control characters"
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unclosed [ of an IPv6 address
        return "is not a valid URL"
    try:
        port = parts.port
    except ValueError:  # not a number, or above 65535
        port = 0
    if parts.username or parts.password:
        return "carries a user or password; keep secrets in environment variables, not in a URL"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an http(s) URL"
    if port == 0:
        return "has an invalid port; use a number from 1 to 65535 (or none)"
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        return "uses plain http to a non-loopback host; use https"
    return None


def shown_url(url: str) -> str:
    """`url` quoted as a message may show it; one carrying a user or password is not shown at all."""
    try:
        credentials = "@" in urlsplit(url).netloc
    except ValueError:
        credentials = "@" in url
    return "(not shown: it carries credentials)" if credentials else repr(url)


def postgres_url(raw: str, name: str) -> None:
    """The Dagster database URL of the PostgreSQL instance config, checked before Dagster reads it.
    Never echoed: it holds a password."""
    parts = urlsplit(raw.strip())
    # Not postgres://: SQLAlchemy 2.0, which Dagster opens it with, has no dialect of that name.
    if parts.scheme not in ("postgresql", "postgresql+psycopg2") or not parts.hostname or len(parts.path) < 2:
        raise ConfigError(f"{name} is not a PostgreSQL URL (not shown: it may hold a password); "
                          "use postgresql://USER:PASSWORD@HOST:5432/DATABASE")


def instance_url_set(dagster_home: Path, env: Mapping[str, str]) -> None:
    """An instance config that reads AURION_DAGSTER_PG_URL (a copy of dagster_postgres.yaml) needs it set:
    Dagster would otherwise stop the run with 50 lines about its config schema."""
    config = dagster_home / "dagster.yaml"
    if not env.get("AURION_DAGSTER_PG_URL") and config.is_file() and "AURION_DAGSTER_PG_URL" in config.read_text():
        raise ConfigError(f"{config} keeps Dagster's runs in PostgreSQL at AURION_DAGSTER_PG_URL, which is not set: "
                          "export it (postgresql://USER:PASSWORD@HOST:5432/DATABASE), or use the SQLite dagster.yaml")


def dagster_cron(raw: str, name: str) -> str:
    """A cron string Dagster's schedules accept: five fields (no seconds), no 30th/31st of February.
    The same croniter rules as `dagster._utils.schedules.is_valid_cron_string`, without importing Dagster."""
    value = raw.strip()
    fields = croniter.expand(value)[0] if croniter.is_valid(value) else []
    feb_30 = len(fields) == 5 and fields[3] == [2] and len(fields[2]) == 1 and fields[2][0] in (30, 31)
    if len(fields) != 5 or feb_30:
        raise ConfigError(
            f"{name}={raw!r} is not a cron schedule Dagster accepts; use five fields "
            "(minute hour day month weekday, UTC) such as '15 1 * * *'"
        )
    return value


def past_date(value: date, name: str) -> date:
    today = datetime.now(UTC).date()
    if value >= today:
        raise ConfigError(f"{name}={value} is not before today ({today} UTC); use the first day to load, in the past")
    return value


# A query of the kind a load runs (a hash aggregate over a few hundred thousand values): a limit DuckDB
# cannot run this with fails every load, so it is refused up front rather than inside a run.
_MEMORY_PROBE = "select count(distinct i::varchar), sum(i) from range(300000) t(i)"


@lru_cache(maxsize=8)  # the answer for a value never changes within a process
def duckdb_memory_limit(value: str, name: str, default: str) -> str:
    """`value`, once DuckDB has run a load-sized query under it. The default is not probed: every
    test's load runs with it, and importing DuckDB alone costs ~0.2-0.5 s before a bad setting is shown."""
    if value == default:
        return value
    import duckdb

    con = duckdb.connect()
    try:
        con.execute(f"set memory_limit = '{value}'")  # value matched a size pattern: no quote can be in it
        con.execute(_MEMORY_PROBE).fetchall()
    except duckdb.Error as exc:
        reason = str(exc).split(":", 1)[0]
        raise ConfigError(
            f"{name}={value} is too small for DuckDB to run a load ({reason}); use 64MB or more (default {default})"
        ) from None
    finally:
        con.close()
    return value


_VERSION = re.compile(r"^v(\d+)\.(\d+)\.(\d+)\Z")
OLDEST_ANALYST_STORAGE_VERSION = (1, 0, 0)  # older formats lack what the analytics views use


@lru_cache(maxsize=8)
def duckdb_storage_version(value: str, name: str) -> str:
    """A storage version this DuckDB can write (`ATTACH … (STORAGE_VERSION …)`), v1.0.0 or newer."""
    if value == "v1.0.0":
        return value  # the default, written by every test's publish: no DuckDB probe needed
    import duckdb

    newest = f"v{duckdb.__version__.split('-')[0]}"
    advice = f"use a version from v1.0.0 (opens in DuckDB 1.x and 2.x) to {newest}"
    match = _VERSION.match(value.strip())
    if not match or tuple(int(g) for g in match.groups()) < OLDEST_ANALYST_STORAGE_VERSION:
        raise ConfigError(f"{name}={value!r} is not a DuckDB version we can write; {advice}")
    con = duckdb.connect()
    try:
        con.execute(f"attach ':memory:' as probe (storage_version '{match.group(0)}')")
    except duckdb.Error:
        raise ConfigError(
            f"{name}={value!r} is not a storage version DuckDB {duckdb.__version__} knows; {advice}"
        ) from None
    finally:
        con.close()
    return match.group(0)


def plan_names(sql_dir: Path) -> frozenset[str]:
    """The plans the seed `plan_tiers.csv` defines (empty if the SQL folder has no such seed)."""
    path = sql_dir / "seeds" / "seeds" / "plan_tiers.csv"
    if not path.is_file():
        return frozenset()
    with path.open(newline="") as f:
        return frozenset(row["plan"] for row in csv.DictReader(f) if row.get("plan"))
