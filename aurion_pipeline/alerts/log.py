"""The delivery log: one row per (channel, alert), the record that makes delivery exactly-once.

It lives in its own SQLite file, `$AURION_DATA_DIR/alert_deliveries.sqlite`, not in warehouse.duckdb:
`rebuild` recreates the warehouse (and moves an unreadable one aside), and a log lost with it would
re-send every alert; SQLite's short write locks also let the Dagster daemon's sensor, `status` and a
running load use it at once, while a DuckDB file allows one writer process and a delivery must never
hold the warehouse's writer lock through slow network calls. No secret is ever written here: rows hold
the alert's body, the channel's name, status codes and one-line reasons.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path

from aurion_pipeline.alerts.candidates import Alert

LOG_FILE = "alert_deliveries.sqlite"
FIRST_RETRY_S, MAX_RETRY_S = 30, 3600  # the first retry is due within a minute; then doubling, up to an hour

SCHEMA = """
create table if not exists alert_deliveries (
    channel         text    not null,
    alert_key       text    not null,  -- the alert's idempotency key (hash of its identity below)
    kind            text    not null,  -- threshold | anomaly
    tenant          text    not null,
    basis           text    not null,  -- actual | forecast | anomaly
    level           text    not null,  -- warning | critical | overage | anomaly
    subject         text    not null,  -- quota (threshold) or metric (anomaly)
    day             text    not null,  -- period_start (threshold) or usage_date (anomaly)
    payload         text    not null,  -- the JSON body, frozen when first found: a retry sends the same alert
    status          text    not null,  -- pending | sent | failed | gave_up
    attempts        integer not null default 0,
    response_code   integer,           -- HTTP or SMTP status of the last attempt
    error           text,              -- one-line reason of the last failed attempt
    created_at      text    not null,  -- UTC, when the alert was first found for this channel
    last_attempt_at text,
    next_attempt_at text,              -- a failed attempt's retry is due then; null: not retried
    sent_at         text,
    primary key (channel, alert_key)
);
create index if not exists alert_deliveries_open on alert_deliveries (status, next_attempt_at);
"""


def log_path(data_dir: Path) -> Path:
    return data_dir / LOG_FILE


def open_log(data_dir: Path) -> sqlite3.Connection:
    data_dir.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(log_path(data_dir), timeout=60, isolation_level=None)
    con.row_factory = sqlite3.Row
    con.execute("pragma journal_mode = wal")  # readers (status, alerts) never wait for a delivery
    con.executescript(SCHEMA)
    return con


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def enqueue(con: sqlite3.Connection, channel: str, alerts: Iterable[Alert], now: datetime) -> int:
    """Record alerts not yet known for this channel as pending; a known one is left as it is."""
    rows = [
        (channel, a.key, a.kind, a.tenant, a.basis, a.level, a.subject, a.day.isoformat(),
         json.dumps(a.payload, sort_keys=True), stamp(now))
        for a in alerts
    ]
    before = con.total_changes
    con.executemany(
        "insert or ignore into alert_deliveries (channel, alert_key, kind, tenant, basis, level, subject, day,"
        " payload, status, created_at) values (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?)",
        rows,
    )
    return con.total_changes - before


def give_up_expired(con: sqlite3.Connection, now: datetime, max_age: timedelta) -> int:
    """Open deliveries first found longer than `max_age` ago stop being retried."""
    cursor = con.execute(
        "update alert_deliveries set status = 'gave_up', next_attempt_at = null,"
        " error = coalesce(error, 'never attempted') || ' (not delivered within ' || ? || ' hours)'"
        " where status in ('pending', 'failed') and created_at < ?",
        [round(max_age.total_seconds() / 3600), stamp(now - max_age)],
    )
    return cursor.rowcount


def requeue_given_up(con: sqlite3.Connection, channels: Iterable[str], now: datetime, max_age: timedelta) -> int:
    """Deliveries of the given channels that gave up (a 4xx, a URL fixed since) are pending again, unless
    older than `max_age` (an alert that late is news no more). Attempts and the last error stay: history."""
    names = list(channels)
    cursor = con.execute(
        f"update alert_deliveries set status = 'pending', next_attempt_at = null"
        f" where status = 'gave_up' and channel in ({_marks(names)}) and created_at >= ?",
        [*names, stamp(now - max_age)],
    )
    return cursor.rowcount


def due(con: sqlite3.Connection, channels: Iterable[str], now: datetime) -> list[sqlite3.Row]:
    """Deliveries to attempt now: pending ones, and failed ones whose retry is due, of the given channels
    (those of the alerts file: a removed or renamed channel's rows have nowhere to go)."""
    names = list(channels)
    return con.execute(
        f"select * from alert_deliveries where channel in ({_marks(names)}) and status in ('pending', 'failed')"
        " and (next_attempt_at is null or next_attempt_at <= ?) order by created_at, tenant, day, subject",
        [*names, stamp(now)],
    ).fetchall()


def next_retry(con: sqlite3.Connection, channels: Iterable[str]) -> str | None:
    """When the earliest failed delivery of the given channels is due again (None: none is failing)."""
    names = list(channels)
    return con.execute(
        f"select min(next_attempt_at) from alert_deliveries where status = 'failed' and channel in ({_marks(names)})",
        names,
    ).fetchone()[0]


def _marks(names: list[str]) -> str:
    return ",".join("?" * len(names)) or "null"  # `in (null)` matches nothing


def claim(con: sqlite3.Connection, row: sqlite3.Row, now: datetime) -> None:
    """Count the attempt before sending: a process killed mid-send leaves a retry due later, and the
    receiver drops the repeat by its idempotency key."""
    attempts = row["attempts"] + 1
    con.execute(
        "update alert_deliveries set attempts = ?, last_attempt_at = ?, next_attempt_at = ?"
        " where channel = ? and alert_key = ?",
        [attempts, stamp(now), stamp(now + retry_delay(attempts)), row["channel"], row["alert_key"]],
    )


def retry_delay(attempts: int) -> timedelta:
    return timedelta(seconds=min(FIRST_RETRY_S * 2 ** (attempts - 1), MAX_RETRY_S))


def record(con: sqlite3.Connection, row: sqlite3.Row, status: str, code: int | None, error: str | None,
           now: datetime) -> None:
    """The attempt's result: sent, failed (retry stays due at next_attempt_at) or gave_up (not retried)."""
    con.execute(
        "update alert_deliveries set status = ?, response_code = ?, error = ?,"
        " sent_at = case when ? = 'sent' then ? end,"
        " next_attempt_at = case when ? = 'failed' then next_attempt_at end"
        " where channel = ? and alert_key = ?",
        [status, code, error, status, stamp(now), status, row["channel"], row["alert_key"]],
    )


def listing(con: sqlite3.Connection, statuses: Iterable[str] | None = None, limit: int = 200) -> list[sqlite3.Row]:
    where, args = "", []
    if statuses is not None:
        chosen = list(statuses)
        where, args = f"where status in ({','.join('?' * len(chosen))})", chosen
    return con.execute(
        f"select * from alert_deliveries {where} order by coalesce(sent_at, last_attempt_at, created_at) desc,"
        f" channel, tenant limit ?",
        [*args, limit],
    ).fetchall()


def counts(con: sqlite3.Connection, channels: Iterable[str] | None = None) -> dict[str, int]:
    """Deliveries by status. Given the alerts file's channels, pending and failed rows of any other channel
    count as `removed`: nothing will send them (they are given up once older than the max age)."""
    if channels is None:
        return dict(con.execute("select status, count(*) from alert_deliveries group by status").fetchall())
    names = list(channels)
    return dict(con.execute(
        f"select case when status in ('pending', 'failed') and channel not in ({_marks(names)}) then 'removed'"
        " else status end, count(*) from alert_deliveries group by 1",
        names,
    ).fetchall())
