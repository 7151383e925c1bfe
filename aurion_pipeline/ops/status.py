"""What operators read: `status`, from the analyst copy so it never blocks a load. Ad-hoc SQL is
`ops/query.py`; `rebuild`, the way back from a broken warehouse, is `ops/rebuild.py`."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import duckdb

from aurion_pipeline.config import Settings
from aurion_pipeline.ops import periods, plans
from aurion_pipeline.storage import Warehouse
from aurion_pipeline.storage.errors import reload_command
from aurion_pipeline.storage.reading import model_built
from aurion_pipeline.text import first_line, text_table

# Every tenant the warehouse knows (loaded, failed or summarized), one line each.
TENANTS = """
with usage as (
    select tenant, min(usage_date) as loaded_from, max(usage_date) as loaded_to, count(*) as days
    from raw.usage_daily group by tenant
), missing as (
    select u.tenant, d::date as day
    from usage u, range(u.loaded_from, u.loaded_to + 1, interval 1 day) r(d)
    where not exists (select 1 from raw.usage_daily x where x.tenant = u.tenant and x.usage_date = d::date)
), gaps as (
    select tenant, min(day) as gap_from, max(day) as gap_to
    from (select *, day - (row_number() over (partition by tenant order by day))::integer as island from missing)
    group by tenant, island
), loads as (
    select tenant, max(_loaded_at) filter (where status = 'loaded') as last_load from raw._load_log group by tenant
), summaries as (
    select tenant, max(captured_at) as last_summary, arg_max(plan, captured_at) as plan,
           arg_max(billing_status, captured_at) as billing_status
    from raw.usage_summary group by tenant
), tenants as (
    select tenant from usage union select tenant from loads union select tenant from summaries
)
select t.tenant, u.loaded_from, u.loaded_to, u.days,
       (select list(g.gap_from || case when g.gap_to > g.gap_from then '..' || g.gap_to else '' end
                    order by g.gap_from) from gaps g where g.tenant = t.tenant) as gaps,
       date_diff('day', u.loaded_to, $yesterday::date) as behind,
       l.last_load, s.last_summary, s.plan, s.billing_status
from tenants t left join usage u using (tenant) left join loads l using (tenant) left join summaries s using (tenant)
order by t.tenant
"""

# A failed window still matters while one of its days has not been loaded by a later run.
OPEN_FAILURES = """
select f.tenant, f.window_start, f.window_end, count(*) as attempts, max(f._loaded_at) as last_failed,
       arg_max(f.error, f._loaded_at) as error
from raw._load_log f
where f.status = 'failed' and exists (
    select 1 from range(f.window_start, f.window_end + 1, interval 1 day) r(d)
    where not exists (select 1 from raw._load_log l where l.tenant = f.tenant and l.status = 'loaded'
                      and l._loaded_at > f._loaded_at and d::date between l.window_start and l.window_end))
group by all
order by f.tenant, f.window_start
"""

# The highest level each quota has reached (actual) or is forecast to reach, this billing period.
CURRENT_ALERTS = """
select tenant, quota_name, basis, arg_max(alert_level, severity) as alert_level,
       arg_max(first_reached_on, severity) as reached_on
from analytics.billing_alerts
where is_current
group by all
order by tenant, quota_name, basis
"""


def print_status(settings: Settings, today: date | None = None, **alerts: str) -> int:
    """Where every tenant stands: loaded range, gaps, freshness, last load and summary, open
    failures and current billing alerts. Reads the analyst copy, so it never waits for a load.
    `alerts` are passed on to the deliveries' lines (`alerts.cli.status_lines`)."""
    warehouse = Warehouse.of(settings)
    today = today or datetime.now(UTC).date()
    con = warehouse.analyst_connection()
    try:
        print(status_text(con, warehouse, today - timedelta(days=1)))
    finally:
        con.close()
    from aurion_pipeline.alerts.cli import status_lines

    print("\n" + "\n".join(status_lines(settings, **alerts)))
    return 0


def status_text(con: duckdb.DuckDBPyConnection, warehouse: Warehouse, yesterday: date) -> str:
    published = datetime.fromtimestamp(warehouse.analyst_path.stat().st_mtime, UTC)
    lines = [
        f"data {warehouse.data_dir}  (analyst copy published {published:%Y-%m-%d %H:%M} UTC; "
        f"latest complete day {yesterday})",
        "",
        *_tenant_lines(con, yesterday),
        "",
        *_failure_lines(con),
        "",
        *_plan_lines(con, yesterday),
        "",
        *_unloaded_period_lines(con, yesterday),
        *_days_not_loaded_lines(con, yesterday),
        *_alert_lines(con),
    ]
    return "\n".join(lines)


LIST_ALL_TENANTS_UP_TO = 30  # beyond this, only the tenants that need attention are listed


def _tenant_lines(con: duckdb.DuckDBPyConnection, yesterday: date) -> list[str]:
    rows = con.execute(TENANTS, {"yesterday": yesterday}).fetchall()
    if not rows:
        return ["Tenants: none loaded yet (run aurion-pipeline backfill)"]
    healthy = [r for r in rows if r[3] and not r[4] and r[5] <= 0]
    counts = {
        "up to date, no gaps": len(healthy),
        "with gaps": sum(1 for r in rows if r[4]),
        "behind": sum(1 for r in rows if r[5] is not None and r[5] > 0),
        "nothing loaded": sum(1 for r in rows if not r[3]),
    }
    headline = f"Tenants: {len(rows)} (" + ", ".join(f"{n} {what}" for what, n in counts.items() if n) + ")"
    shown = rows if len(rows) <= LIST_ALL_TENANTS_UP_TO else [r for r in rows if r not in healthy]
    table = []
    for tenant, first, last, days, gaps, behind, last_load, last_summary, plan, billing in shown:
        table.append([
            tenant,
            f"{first}..{last}" if first else "-",
            days or 0,
            _shorten(gaps) if gaps else "none",
            "-" if behind is None else ("up to date" if behind <= 0 else f"{behind} day(s)"),
            _minute(last_load),
            _minute(last_summary),
            f"{plan}/{billing}" if plan else "-",
        ])
    header = ["tenant", "loaded", "days", "gaps (not loaded)", "behind", "last load UTC", "last summary UTC",
              "plan/billing"]
    lines = [headline, *(text_table(header, table) if table else [])]
    if len(shown) < len(rows):
        lines.append(f"  ({len(rows) - len(shown)} tenants up to date without gaps not listed)")
    return lines


def _failure_lines(con: duckdb.DuckDBPyConnection) -> list[str]:
    rows = con.execute(OPEN_FAILURES).fetchall()
    if not rows:
        return ["Failed windows: none open"]
    first, last = min(r[1] for r in rows), max(r[2] for r in rows)
    table = [[t, f"{a}..{b}", n, _minute(when), first_line(err)[:120]] for t, a, b, n, when, err in rows]
    return [
        f"Failed windows not loaded since: {len(rows)}  "
        f"(finish with: {reload_command((first, last))})",
        *_capped(text_table(["tenant", "window", "attempts", "last failed UTC", "error"], table),
                 "select * from raw._load_log where status = 'failed'"),
    ]


def _plan_lines(con: duckdb.DuckDBPyConnection, yesterday: date) -> list[str]:
    tenants = plans.tenants_without_plan(con)
    if tenants is None:
        lines = ["Plans: this analyst copy predates declared plans; the next load adds them"]
    elif not tenants:
        lines = ["Plans: every tenant has one (from a summary snapshot or the tenants file)"]
    else:
        lines = [f"Tenants without a plan: {len(tenants)} ({_shorten(tenants, keep=10)}): no summary snapshot and no "
                 "`plan:` in the tenants file, so their quotas and alert levels are unknown and no alert fires; "
                 "declare the plan in the tenants file or run aurion-pipeline summary"]
    stale = plans.stale_summaries(con, yesterday)
    if stale:
        table = [[tenant, _minute(last), f"{age} day(s)"] for tenant, last, age in stale]
        lines += [f"Stale summaries: {len(stale)} tenant(s) without a summary in the last {plans.STALE_SUMMARY_DAYS} "
                  "days (plan, quotas and billing status may be out of date; run aurion-pipeline summary)",
                  *_capped(text_table(["tenant", "last summary UTC", "before the latest complete day"], table),
                           "select tenant, max(captured_at) from raw.usage_summary group by tenant")]
    return lines


def _unloaded_period_lines(con: duckdb.DuckDBPyConnection, yesterday: date) -> list[str]:
    """Nothing when every current period has a loaded day (or the model is not built yet)."""
    rows = periods.with_no_day_loaded(con, yesterday)
    return _period_lines(
        f"Current periods with no day loaded: {len(rows)}: their use is unknown and no alert on it can fire; "
        "load them with:",
        [reload_command((first, yesterday), tenant) for tenant, first in rows],
        "select * from analytics.plan_utilization where is_current and used is null")


def _days_not_loaded_lines(con: duckdb.DuckDBPyConnection, yesterday: date) -> list[str]:
    """Nothing when every current period is loaded through its last loaded day (or no model yet)."""
    rows = periods.with_days_not_loaded(con, yesterday)
    return _period_lines(
        f"Current periods with days not loaded: {len(rows)}: their use so far is too low and the forecast "
        "estimates those days; load them with:",
        [f"{reload_command((first, last), tenant)}  # {n} day(s)" for tenant, first, last, n in rows],
        "select * from analytics.usage_forecast where days_estimated > 0")


def _period_lines(headline: str, commands: list[str], query: str) -> list[str]:
    if not commands:
        return []
    return [*_capped([headline, *(f"  {c}" for c in commands)], query, limit=10), ""]


def _alert_lines(con: duckdb.DuckDBPyConnection) -> list[str]:
    if not model_built(con, "analytics", "billing_alerts"):
        return ["Billing alerts: analytics.billing_alerts is not built yet (it is refreshed after each load)"]
    try:
        rows = con.execute(CURRENT_ALERTS).fetchall()
    except duckdb.Error as exc:
        return [f"Billing alerts: could not read analytics.billing_alerts: {first_line(exc)}"]
    if not rows:
        return ["Billing alerts this period: none"]
    table = [[t, q, level, basis, str(on)] for t, q, basis, level, on in rows]
    return [f"Billing alerts this period: {len(rows)}",
            *_capped(text_table(["tenant", "quota", "level", "basis", "reached on"], table),
                     "select * from analytics.billing_alerts where is_current")]


def _capped(lines: list[str], query: str, limit: int = 50) -> list[str]:
    """A header and at most `limit` rows; the rest are one query away."""
    if len(lines) <= limit + 1:
        return lines
    return [*lines[: limit + 1], f"  ... {len(lines) - limit - 1} more: aurion-pipeline sql \"{query}\""]


def _shorten(items: list[str], keep: int = 3) -> str:
    more = f" +{len(items) - keep} more" if len(items) > keep else ""
    return ", ".join(items[:keep]) + more


def _minute(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d %H:%M}" if value else "-"


