"""Forecast accuracy: the backtest of our method against the naive run-rate, on the sandbox's tenants.

Run: .venv/bin/python bench/bench_forecast.py [--quick]

Loads 3 years of the sandbox's usage (the five hand-made DEFAULT_TENANTS, and `--tenants` generated
ones) through the pipeline, snapshots the summaries (they fix each tenant's billing anchor), builds
the views, and reads `analytics.forecast_accuracy` (from `analytics.forecast_backtest`): MAPE at days
7 / 14 / 21 of the billing period for our method and for the naive run-rate
(used_to_date / days_elapsed x days_in_period), and how often the 80 % interval held the actual total.
The naive run-rate is the baseline; the ratio is our MAPE / naive MAPE (below 1 = better).

Then the same held-out coverage and MAPE on series unlike the sandbox's (tests/forecast_families.py:
spiky, step change, weeks of zeros, flat, declining, fast-growing, monthly seasonality), `--family-tenants`
of each over 2 years, built straight into a warehouse (no pipeline run). Every interval is calibrated
only on periods that ended before its own began, so each coverage figure is held out.
"""

import shutil
import sys
import tempfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c
from synthetic import MemoryClient, SyntheticUsage

BUCKETS = ("7", "14", "21", "1-7", "8-14", "15-21", "22+", "all")


def main() -> None:
    p = c.parser(__doc__)
    p.add_argument("--tenants", type=int, default=None, help="generated tenants (default 1000, --quick 100)")
    p.add_argument("--days", type=int, default=1096)
    p.add_argument("--family-tenants", type=int, default=None,
                   help="tenants per generator family (default 20, --quick 5)")
    args = p.parse_args()
    from aurion_sandbox import DEFAULT_TENANTS, make_tenants

    n = args.tenants or (100 if args.quick else 1000)
    today = datetime.now(UTC).date()
    end = today - timedelta(days=1)
    start = end - timedelta(days=args.days - 1)
    result = {"scenario": {"days": args.days, "start": str(start), "end": str(end)}, "datasets": {}}
    for name, tenants in (("default_tenants", DEFAULT_TENANTS), (f"generated_{n}", make_tenants(n))):
        print(f"{name}: {len(tenants)} tenants x {args.days} days")
        result["datasets"][name] = backtest(tenants, start, end, today)
    result["families"] = families(args.family_tenants or (5 if args.quick else 20))
    print_summary(result)
    c.save("forecast", result, args.out)


def backtest(tenants, start, end, today) -> dict:
    from aurion_pipeline import ingest
    from aurion_pipeline.sqlmodels import build, load_project
    from aurion_pipeline.storage import Warehouse

    work = Path(tempfile.mkdtemp(prefix="aurion-bench-forecast-"))
    stages: dict = {}
    try:
        usage = SyntheticUsage(tuple(tenants), start, end, today)
        clients = {t: MemoryClient(usage, t) for t in usage.tenants}
        wh = Warehouse(work / "data")
        with c.Stage(stages, "load + summaries + models"):
            ingest.load_usage_range(clients, wh, start, end, max_range_days=31, max_workers=8, run_id="bench")
            ingest.load_summaries(clients, wh, max_workers=8, run_id="bench-summary")
            with wh.writer(publish=True) as con:
                build(con, load_project(c.ROOT / "dbt_like_sql"))
        con = wh.analyst_connection()
        try:
            models = {r[0] for r in con.execute(
                "select table_name from information_schema.tables where table_schema = 'analytics'").fetchall()}
            missing = sorted({"forecast_backtest", "forecast_accuracy"} - models)
            if missing:
                return {"tenants": len(tenants), "available": False,
                        "note": f"analytics.{', analytics.'.join(missing)} not in dbt_like_sql/ yet"}
            baseline, _ = c.best_of(
                2, lambda: con.execute("select count(*), sum(api_calls) from raw.usage_daily").fetchall())
            with c.Stage(stages, "query analytics.forecast_accuracy"):
                cursor = con.execute("select * from analytics.forecast_accuracy")
                names = [d[0] for d in cursor.description]
                rows = [dict(zip(names, r)) for r in cursor.fetchall()]
            by_calibration = [dict(zip(("source", "periods", "intervals", "coverage"), r))
                              for r in con.execute(
                "select f.calibration_source, least(f.calibration_periods, 13), count(*), avg(in_interval::integer) "
                "from analytics.forecast_backtest as b join analytics.forecast_by_day as f "
                "using (tenant, quota_name, period_start, as_of_date) "
                "where in_interval is not null group by all order by all").fetchall()]
            periods = con.execute(
                "select count(distinct (tenant, period_start)), min(period_start), max(period_end) "
                "from analytics.forecast_backtest").fetchone()
        finally:
            con.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    table = {}
    for row in rows:
        metric = row["quota_name"]
        table.setdefault(metric, {})[row["days_elapsed_bucket"]] = {
            "forecasts": row.get("forecasts"),
            "mape": _round(row.get("mape")),
            "naive_mape": _round(row.get("naive_mape")),
            "mape_ratio_to_naive": _round(row["mape"] / row["naive_mape"]) if row.get("mape") is not None
            and row.get("naive_mape") else None,
            "median_ape": _round(row.get("median_ape")),
            "interval_coverage": _round(row.get("interval_coverage")),
            "nominal_coverage": row.get("nominal_coverage"),
            "mean_interval_width_pct": _round(row.get("mean_interval_width_pct")),
        }
    query_s = stages["query analytics.forecast_accuracy"]["wall_s"]
    return {"tenants": len(tenants), "available": True, "backtested_periods": periods[0],
            "periods_from": str(periods[1]), "periods_to": str(periods[2]), "accuracy": table,
            "columns": names, "stages": stages, "coverage_by_calibration": by_calibration,
            "query_ratio_to_full_scan": round(query_s / max(baseline, 1e-6), 1)}


def families(tenants_per_family: int, days: int = 731) -> dict:
    """Held-out coverage and MAPE (ours and naive) per generator family, from analytics.forecast_backtest."""
    sys.path.insert(0, str(c.ROOT / "tests"))
    from forecast_families import family_scores, family_usage, family_warehouse

    work = Path(tempfile.mkdtemp(prefix="aurion-bench-families-"))
    stages: dict = {}
    try:
        usage = family_usage(tenants_per_family, date(2024, 1, 1), days)
        with c.Stage(stages, "build models on the family warehouse"):
            con = family_warehouse(work / "warehouse.duckdb", usage)
        try:
            scores = family_scores(con)
        finally:
            con.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {"tenants_per_family": tenants_per_family, "days": days, "stages": stages,
            "by_family": {r.family: {"intervals": int(r.intervals), "coverage": _round(r.coverage),
                                     "below": _round(r.below), "above": _round(r.above),
                                     "mape": _round(r.mape), "naive_mape": _round(r.naive_mape)}
                          for r in scores.itertuples()}}


def _round(x):
    return None if x is None else round(float(x), 3)


def print_summary(result: dict) -> None:
    for name, data in result["datasets"].items():
        if not data["available"]:
            print(f"\n{name}: {data['note']}")
            continue
        print(f"\n{name}: {data['tenants']} tenants, {data['backtested_periods']} complete billing periods backtested")
        print(f"{'metric':<14s} {'day':>6s} {'forecasts':>9s} {'MAPE':>7s} {'naive':>7s} {'ratio':>6s} "
              f"{'80% cover':>9s}")
        for metric, buckets in data["accuracy"].items():
            for bucket in BUCKETS:
                b = buckets.get(bucket)
                if b:
                    print(f"{metric:<14s} {bucket:>6s} {b['forecasts'] or 0:9d} "
                          f"{_pct(b['mape'])} {_pct(b['naive_mape'])} "
                          f"{b['mape_ratio_to_naive'] or float('nan'):6.2f} {_share(b['interval_coverage'])}")
        print("80% coverage by calibration (source, periods [13 = 13+], intervals, coverage):")
        for b in data["coverage_by_calibration"]:
            print(f"  {b['source']:<7s} {b['periods']:3d} {b['intervals']:9d} {_share(b['coverage'])}")
    print_families(result["families"])


def print_families(data: dict) -> None:
    print(f"\ngenerator families: {data['tenants_per_family']} tenants each x {data['days']} days, held-out periods")
    print(f"{'family':<17s} {'intervals':>9s} {'80% cover':>9s} {'below':>6s} {'above':>6s} {'MAPE':>7s} {'naive':>7s}")
    for family, f in data["by_family"].items():
        print(f"{family:<17s} {f['intervals']:9d} {_share(f['coverage'])} {f['below']:6.3f} {f['above']:6.3f} "
              f"{_pct(f['mape'])} {_pct(f['naive_mape'])}")


def _pct(x) -> str:
    return f"{x:6.1f}%" if x is not None else "      -"


def _share(x) -> str:
    return f"{100 * x:8.1f}%" if x is not None else "        -"


if __name__ == "__main__":
    main()
