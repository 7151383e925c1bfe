"""What the command line shows of alerts: `aurion-pipeline alerts [--deliver | --test CHANNEL]`, the
delivery lines of `status`, and the step every CLI load that succeeded ends with (deliver, refresh report.html)."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from datetime import UTC, datetime

from aurion_pipeline.alerts import log
from aurion_pipeline.alerts.deliver import channels_of, configured_channels, deliver, delivery_lock, send_test, sync
from aurion_pipeline.config import ConfigError, Settings
from aurion_pipeline.text import first_line, text_table

SHOWN = 50


def run_alerts_command(settings: Settings, env: Mapping[str, str], *, deliver_now: bool, test: str | None,
                       retry_given_up: bool = False) -> int:
    """List pending and sent alerts; `deliver_now` sends what is due first (exit 1 when a send of this
    attempt failed or gave up, so a script or cron job sees it), after putting given-up deliveries back
    in the queue with `retry_given_up`; `test` sends a test message."""
    if test is not None:
        outcome = send_test(settings, env, test)
        if outcome.status == "sent":
            print(f"test message delivered to channel {test!r} (response {outcome.code})")
            return 0
        print(f"aurion-pipeline alerts: test message to {test!r} not delivered: {outcome.error}", file=sys.stderr)
        return 1
    code = 0
    if deliver_now or retry_given_up:
        report = deliver(settings, env, retry_given_up=retry_given_up)
        print(report.line())
        code = 1 if report.failed or report.gave_up else 0
    elif settings.alerts_file is not None:
        _record_new_alerts(settings)
    else:
        print("AURION_ALERTS_FILE is not set: no channels; showing the delivery log only")
    print("\n".join(listing_lines(settings)))
    return code


def _record_new_alerts(settings: Settings) -> None:
    """Record the warehouse's new alerts as pending, so the listing shows them. Readers never wait: while
    a delivery cycle holds the lock, it is recording them itself, and the listing shows the log as it is."""
    channels = list(channels_of(settings))  # recording sends nothing: no secret needed
    with delivery_lock(settings, wait=False) as held:
        if not held:
            print("a delivery is running: alerts it has not recorded yet are not listed")
            return
        con = log.open_log(settings.data_dir)
        try:
            sync(con, settings, channels, datetime.now(UTC))
        finally:
            con.close()


def listing_lines(settings: Settings) -> list[str]:
    path = log.log_path(settings.data_dir)
    if not path.exists():
        return ["Alert deliveries: none yet"]
    names = _channel_names(settings)
    con = log.open_log(settings.data_dir)
    try:
        counts = log.counts(con, names)
        rows = log.listing(con, limit=SHOWN)
    finally:
        con.close()
    lines = [_headline(counts)]
    if rows:
        lines += _table(rows, names, with_error=any(r["error"] for r in rows))
    if sum(counts.values()) > len(rows):
        lines.append(f"  ... {sum(counts.values()) - len(rows)} older deliveries not shown ({path})")
    return lines


def status_lines(settings: Settings, no_file: str = "AURION_ALERTS_FILE not set") -> list[str]:
    """For `status`: undelivered and failing deliveries, or one line saying all is delivered; first, what
    is wrong with the alerts file, if anything (status still shows the rest: it is where one looks).
    `no_file` says how channels are given where none are (the demo takes them from --alerts-file)."""
    try:
        names = _channel_names(settings)
        bad_file = []
    except ConfigError as exc:
        names, bad_file = None, [f"Alert channels: {first_line(exc)}; nothing is delivered until it is fixed"]
    if not log.log_path(settings.data_dir).exists():
        unset = "" if settings.alerts_file else f" ({no_file})"
        return [*bad_file, "Alert deliveries: none yet" + unset]
    con = log.open_log(settings.data_dir)
    try:
        counts = log.counts(con, names)
        open_rows = log.listing(con, statuses=("pending", "failed", "gave_up"), limit=SHOWN)
    finally:
        con.close()
    if not open_rows:
        return [*bad_file, _headline(counts) + "; nothing undelivered"]
    # gave_up rows and those of removed channels are never sent again (and without a file nothing is):
    # the hint only when something is retryable.
    usable = settings.alerts_file is not None and not bad_file  # the commands below refuse a bad file
    retryable = usable and counts.get("pending", 0) + counts.get("failed", 0)
    hint = "  (retry now: aurion-pipeline alerts --deliver)" if retryable else ""
    if usable and counts.get("gave_up"):
        hint += "  (once the channel is fixed: aurion-pipeline alerts --retry-given-up)"
    return [*bad_file, _headline(counts) + hint, *_table(open_rows, names, with_error=True)]


def _channel_names(settings: Settings) -> tuple[str, ...] | None:
    """The alerts file's channels; None without a file (the log's statuses are then shown as recorded).
    Raises ConfigError for a file that cannot be used."""
    if settings.alerts_file is None:
        return None
    return tuple(c.name for c in channels_of(settings))


def _headline(counts: dict[str, int]) -> str:
    order = ("sent", "pending", "failed", "gave_up", "removed")
    words = {"failed": "failing (retried)", "gave_up": "gave up (not retried)",
             "removed": "for channels no longer in the alerts file (not sent)"}
    parts = [f"{counts[s]} {words.get(s, s)}" for s in order if counts.get(s)]
    return "Alert deliveries: " + (", ".join(parts) if parts else "none yet")


def _table(rows, names: tuple[str, ...] | None, *, with_error: bool) -> list[str]:
    header = ["channel", "tenant", "alert", "basis", "status", "attempts", "code", "when UTC"]
    cells = []
    for r in rows:
        when = r["sent_at"] or r["last_attempt_at"] or r["created_at"]
        removed = names is not None and r["channel"] not in names and r["status"] in ("pending", "failed")
        # A threshold alert's day is its billing period's start, an anomaly's the day it scored.
        day = f"period from {r['day']}" if r["kind"] == "threshold" else r["day"]
        line = [r["channel"], r["tenant"], f"{r['subject']} {r['level']} ({day})", r["basis"],
                "channel removed" if removed else r["status"], str(r["attempts"]), str(r["response_code"] or "-"),
                when[:16]]
        cells.append([*line, (r["error"] or "")[:100]] if with_error else line)
    return text_table([*header, "last error"] if with_error else header, cells)


def preflight(settings: Settings, env: Mapping[str, str], *, secrets: bool = True, only: str | None = None) -> None:
    """Before a command: a bad alerts file, or an unset secret of a channel it will send to (all, or
    `only`; none without `secrets`), stops it with one line, not after an hour of loading."""
    if settings.alerts_file is None:
        return
    if secrets:
        configured_channels(settings, env, only)
    else:
        channels_of(settings)


def print_after_load(settings: Settings, env: Mapping[str, str]) -> None:
    """The end of every CLI load that succeeded (alerts/after_load.py), on the terminal; it never changes
    the exit code."""
    from aurion_pipeline.alerts.after_load import after_load

    done = after_load(settings, env)
    if done.delivered:
        print(done.delivered)
    if done.not_delivered:
        print(f"aurion-pipeline: {done.not_delivered}", file=sys.stderr)
    if done.report is not None:
        print(f"report (open in a browser, works offline): {done.report}")
