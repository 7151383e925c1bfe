"""Delivering alerts exactly once per channel: find them, record them, send what is due, record the result.

One delivery cycle at a time per data directory (a file lock), so the Dagster sensor and a CLI load
finishing together never both send the same alert: the second finds it already sent in the log.
"""

from __future__ import annotations

import fcntl
import json
import logging
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from aurion_pipeline.alerts import log
from aurion_pipeline.alerts.candidates import Alert, current_alerts
from aurion_pipeline.alerts.channels import Channel, Secret, load_channels, resolve_secrets
from aurion_pipeline.alerts.senders import Outcome, send
from aurion_pipeline.config import ConfigError, Settings
from aurion_pipeline.storage import Warehouse, WarehouseLockedError

logger = logging.getLogger("aurion_pipeline.alerts")
# After a load (CLI or sensor) and on each retry tick, no new send starts after this many seconds: Dagster
# gives a sensor tick about 60 s, and a CLI load must not hang behind a stalled receiver. What is left
# stays due for the next cycle.
SEND_BUDGET_S = 35


@dataclass(frozen=True)
class DeliveryReport:
    """What one cycle did; `next_retry_at` is the earliest retry still due later (None: nothing open);
    `left` counts deliveries that were due but not started because the time budget ran out."""

    found: int
    sent: int
    failed: int
    gave_up: int
    next_retry_at: str | None
    left: int = 0
    requeued: int = 0  # given-up deliveries put back in the queue first (`alerts --retry-given-up`)

    def line(self) -> str:
        parts = [f"{self.requeued} given up retried"] if self.requeued else []
        parts.append(f"{self.sent} sent")
        if self.failed:
            parts.append(f"{self.failed} failed (retry due {self.next_retry_at} UTC)")
        if self.gave_up:
            parts.append(f"{self.gave_up} gave up")
        if self.left:
            parts.append(f"{self.left} not attempted in time, left for the next run or "
                         "aurion-pipeline alerts --deliver")
        return f"alerts: {self.found} new, " + ", ".join(parts) + "  (details: aurion-pipeline alerts)"


def configured_channels(
    settings: Settings, env: Mapping[str, str], only: str | None = None
) -> list[tuple[Channel, dict[str, Secret]]]:
    """The alerts file's channels (or the one named `only`) with their secrets; a ConfigError for a bad
    file, an unknown channel or an unset variable. Only the secrets of the channels returned are needed."""
    channels = channels_of(settings)
    if only is not None:
        names = sorted(c.name for c in channels)
        channels = tuple(c for c in channels if c.name == only)
        if not channels:
            raise ConfigError(f"no channel {only!r} in {settings.alerts_file}; channels: {', '.join(names)}")
    return [(c, resolve_secrets(c, env, settings.alerts_file)) for c in channels]


def channels_of(settings: Settings) -> tuple[Channel, ...]:
    """The alerts file's channels, their routes checked against the configured tenants; no secret read."""
    if settings.alerts_file is None:
        raise ConfigError("AURION_ALERTS_FILE is not set; point it at an alerts file (see docs/alerts.md)")
    return load_channels(settings.alerts_file, [t.name for t in settings.tenants])


def deliver(
    settings: Settings, env: Mapping[str, str], now: datetime | None = None, *, budget_s: float | None = None,
    retry_given_up: bool = False,
) -> DeliveryReport:
    """Record the warehouse's current alerts for each channel, then send everything due. With `budget_s`
    (a sensor tick has about a minute), no new send starts after that many seconds; the rest stays due.
    `retry_given_up` first puts deliveries that gave up back in the queue (after a channel was fixed)."""
    channels = configured_channels(settings, env)
    now = now or datetime.now(UTC)
    stop_at = time.monotonic() + budget_s if budget_s is not None else None
    with delivery_lock(settings):
        con = log.open_log(settings.data_dir)
        try:
            found = sync(con, settings, [c for c, _ in channels], now)
            results = []
            names = [c.name for c, _ in channels]
            max_age = timedelta(hours=settings.alerts_max_age_hours)
            requeued = log.requeue_given_up(con, names, now, max_age) if retry_given_up else 0
            due = log.due(con, names, now)
            for row in due:
                if stop_at is not None and time.monotonic() >= stop_at:
                    break
                results.append(_attempt(con, row, channels, now))
            next_retry = log.next_retry(con, names)
        finally:
            con.close()
    statuses = [r.status for r in results]
    return DeliveryReport(found, statuses.count("sent"), statuses.count("failed"), statuses.count("gave_up"),
                          next_retry, left=len(due) - len(results), requeued=requeued)


def sync(con, settings: Settings, channels: list[Channel], now: datetime) -> int:
    """Record new alerts as pending for each channel whose route takes them; give up on expired ones."""
    max_age = timedelta(hours=settings.alerts_max_age_hours)
    alerts = read_alerts(settings, (now - max_age).date())
    con.execute("begin immediate")
    try:
        found = sum(log.enqueue(con, c.name, [a for a in alerts if _routed(c, a)], now) for c in channels)
        expired = log.give_up_expired(con, now, max_age)
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    if expired:
        logger.warning("gave up on %d alert deliveries older than %d hours", expired, settings.alerts_max_age_hours)
    return found


def read_alerts(settings: Settings, since) -> list[Alert]:
    warehouse = Warehouse.of(settings)
    if not warehouse.analyst_path.exists():
        return []
    con = warehouse.analyst_connection()
    try:
        return current_alerts(con, since)
    finally:
        con.close()


def _routed(channel: Channel, alert: Alert) -> bool:
    return channel.route.accepts(alert.tenant, alert.level, alert.basis)


def _attempt(con, row, channels: list[tuple[Channel, dict[str, Secret]]], now: datetime) -> Outcome:
    channel, secrets = next((c, s) for c, s in channels if c.name == row["channel"])
    log.claim(con, row, now)
    outcome = send(channel, secrets, json.loads(row["payload"]))
    log.record(con, row, outcome.status, outcome.code, outcome.error, datetime.now(UTC))
    what = f"{row['kind']} alert {row['tenant']}/{row['subject']}/{row['level']}/{row['basis']} to {channel.name}"
    if outcome.status == "sent":
        logger.info("delivered %s", what)
    else:
        logger.warning("%s: %s (%s)", what, outcome.status, outcome.error)
    return outcome


@contextmanager
def delivery_lock(settings: Settings, *, wait: bool = True) -> Iterator[bool]:
    """One delivery cycle at a time; yields whether this one holds the lock. Without `wait`, a cycle
    already running makes it yield False at once (a reader that can do without the lock)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + settings.lock_timeout_s
    with open(settings.data_dir / ".alerts.lock", "a+") as handle:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not wait:
                    yield False
                    return
                if time.monotonic() >= deadline:
                    raise WarehouseLockedError(
                        f"another alert delivery has held {settings.data_dir}/.alerts.lock for "
                        f"{settings.lock_timeout_s:.0f}s; try again when it finishes"
                    ) from None
                time.sleep(0.1)
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def send_test(settings: Settings, env: Mapping[str, str], name: str) -> Outcome:
    """A test message to one channel; not recorded in the log."""
    ((channel, secrets),) = configured_channels(settings, env, only=name)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    payload = {"schema": "aurion.alert.v1", "kind": "test", "channel": name, "idempotency_key": f"aurion-test-{stamp}"}
    return send(channel, secrets, payload)
