"""Scale: 1,000 tenants x 3 years (~1.1 M rows) through normalize, lake, warehouse, models and analyst queries.

Run: .venv/bin/python bench/bench_scale.py [--quick] [--profile]

No HTTP: the rows are synthesized in memory (bench/synthetic.py, identical to the sandbox's), and the
pipeline's real load path runs on them (`ingest.load_usage_range` with in-memory clients: window
rounds, normalize, lake read-modify-write, warehouse delete + insert). The stages run as `aurion-pipeline
backfill` runs them in one Dagster run: the load and the summaries commit without publishing (the
models follow), the models' build publishes the analyst copy once, then the data tests. Every figure
sits beside a baseline from the same run:

  normalize      vs `pa.Table.from_pylist` of the same rows (any normalizer must convert them once)
  load           vs the plain floor: from_pylist + one Parquet file + one DuckDB insert, no rules
                 and vs our own path in one batch (one normalize, one lake write, one load)
  queries        vs a full scan of raw.usage_daily on the same analyst connection

Peak RSS is per stage (Linux: /proc/self/clear_refs restarts the peak) and, for a realistic
streaming load where rows arrive per request instead of all being held in memory first, in a
child process (`--child streaming`).
Goals on 2 cores: normalize >= 1 M rows/s; load + models <= 10 s; each query <= 1 s; peak RSS <= 1 GiB.
"""

from __future__ import annotations

import argparse
import inspect
import json
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c
from synthetic import MemoryClient, SyntheticUsage

GOALS = {"normalize_rows_per_s_min": 1_000_000, "load_plus_models_s_max": 10.0, "query_s_max": 1.0,
         "peak_rss_mib_max": 1024}
QUERIES = {
    "utilization_current_period": "select * from analytics.plan_utilization where is_current",
    "forecast_all_tenants": "select * from analytics.usage_forecast",
    "monthly_totals_last_year": """
        select tenant, date_trunc('month', usage_date) as month, sum(voice_minutes) as voice_minutes,
               sum(api_calls) as api_calls, sum(llm_total_tokens) as llm_tokens
        from analytics.usage_daily
        where usage_date >= date_trunc('month', current_date) - interval 12 month
        group by all order by all""",
    "current_billing_alerts": "select * from analytics.billing_alerts where is_current",
}
BASELINE_QUERY = ("select tenant, count(*), sum(voice_minutes), sum(api_calls), sum(llm_input_tokens) "
                  "from raw.usage_daily group by tenant")


def main() -> None:
    p = c.parser(__doc__)
    p.add_argument("--tenants", type=int, default=None, help="default 1000 (--quick: 100)")
    p.add_argument("--days", type=int, default=1096)
    p.add_argument("--trials", type=int, default=None, help="trials of each load variant (default 3, --quick 1)")
    p.add_argument("--child", choices=["streaming"], help=argparse.SUPPRESS)
    p.add_argument("--load-kwargs", default="{}", help=argparse.SUPPRESS)
    args = p.parse_args()
    n_tenants = args.tenants or (100 if args.quick else 1000)
    today = datetime.now(UTC).date()
    end = today - timedelta(days=1)
    start = end - timedelta(days=args.days - 1)
    if args.child == "streaming":
        print(json.dumps(streaming_load(n_tenants, start, end, today, json.loads(args.load_kwargs))))
        return
    trials = args.trials or (1 if args.quick else 3)
    result = run(n_tenants, start, end, today, trials, args)
    c.save("scale", result, args.out)


def setup(n_tenants: int, start: date, end: date, today: date) -> tuple[SyntheticUsage, list[tuple[date, date]]]:
    from aurion_pipeline.source.windows import chunk_window
    from aurion_sandbox import make_tenants

    usage = SyntheticUsage(make_tenants(n_tenants), start, end, today)
    names = list(usage.tenants)
    windows = chunk_window(start, end, 31)
    usage.check_against_sandbox([(names[0], *windows[0]), (names[-1], *windows[-1]),
                                 (names[len(names) // 2], start, end)])
    return usage, windows


def run(n_tenants: int, start: date, end: date, today: date, trials: int, args) -> dict:
    import duckdb
    import pyarrow as pa

    from aurion_pipeline import ingest
    from aurion_pipeline.transform.usage import RawWindow, normalize_details

    work = Path(tempfile.mkdtemp(prefix="aurion-bench-scale-"))
    stages: dict = {}
    print(f"scale: {n_tenants} tenants x {(end - start).days + 1} days ({start}..{end})")
    with c.Stage(stages, "input: synthesize the API's rows (not ours)"):
        usage, windows = setup(n_tenants, start, end, today)
        ready = {t: {(a, b): usage.rows(t, a, b) for a, b in windows} for t in usage.tenants}
        raw_windows = [RawWindow(t, a, b, ready[t][(a, b)]) for t in usage.tenants for a, b in windows]
        summaries = {t: usage.summary(t) for t in usage.tenants}
        all_rows = [row for w in raw_windows for row in w.rows]
    n_rows = len(all_rows)
    print(f"  {n_rows:,} API rows in {len(raw_windows):,} windows ({len(windows)} per tenant)")

    # normalization: one call over every window, against converting the same rows once
    repeat = 2 if args.quick else 3
    norm_samples = c.interleave(repeat, {"from_pylist (floor)": lambda t: (pa.Table.from_pylist(all_rows), None)[1],
                                         "normalize_details": lambda t: (normalize_details(raw_windows), None)[1]})
    norm_s = min(s.wall_s for s in norm_samples["normalize_details"])
    floor_s = min(s.wall_s for s in norm_samples["from_pylist (floor)"])
    normalization = {"rows": n_rows, "best_s": round(norm_s, 4), "rows_per_s": round(n_rows / norm_s),
                     "floor_from_pylist_best_s": round(floor_s, 4), "floor_rows_per_s": round(n_rows / floor_s),
                     "ratio_to_floor": c.ratio(norm_samples["normalize_details"], norm_samples["from_pylist (floor)"])}
    print(f"  normalize: {n_rows / norm_s / 1e6:.2f} M rows/s ({norm_s / floor_s:.2f}x from_pylist)")

    # the full load through the pipeline, against the plain floor and our own path in one batch
    variants = load_variants()
    contenders = {name: (lambda t, kw=kw, name=name: load_once(usage, ready, start, end, work / f"{name}-{t}", kw))
                  for name, kw in variants.items()}
    contenders["one batch (our path, no rounds)"] = lambda t: one_batch(usage, raw_windows, start, end,
                                                                        work / f"batch-{t}")
    contenders["plain floor (no rules)"] = lambda t: plain_floor(all_rows, work / f"plain-{t}")
    print(f"load: {trials} trial(s) of {', '.join(contenders)}")
    load_samples = c.interleave(trials, contenders)
    default = next(iter(variants))
    load = {name: {**c.summarize(s), "last_trial": s[-1].extra} for name, s in load_samples.items()}
    load_ratios = {f"{name} / plain floor": c.ratio(s, load_samples["plain floor (no rules)"])
                   for name, s in load_samples.items() if name != "plain floor (no rules)"}
    load_ratios |= {f"{name} / one batch": c.ratio(load_samples[name], load_samples["one batch (our path, no rounds)"])
                    for name in variants}
    ready = raw_windows = all_rows = None  # free the rows (a del reads as F821 in the lambdas above)

    # the warehouse a user would have, as one backfill run builds it: the load and the summaries commit
    # without publishing, the models' build publishes once; then the data tests and analyst queries
    from aurion_pipeline.sqlmodels import build, load_project, run_tests
    from aurion_pipeline.storage import Warehouse

    wh = Warehouse(work / "final")
    clients = {t: MemoryClient(usage, t) for t in usage.tenants}
    with c.Stage(stages, "load (streaming rows, default settings)"):
        ingest.load_usage_range(clients, wh, start, end, max_range_days=31, max_workers=8, run_id="bench",
                                publish=False, **variants[default])
    with c.Stage(stages, "summary snapshots"):
        ingest.load_summaries({t: MemoryClient(usage, t, summary=summaries[t]) for t in usage.tenants}, wh,
                              max_workers=8, run_id="bench-summary", publish=False)
    project = load_project(c.ROOT / "dbt_like_sql")
    with c.Stage(stages, "models: build seeds, views and tables, publish"), wh.writer(publish=True) as con:
        built = build(con, project)
    tests = {}
    with c.Stage(stages, "models: data tests (asset checks)"), wh.writer() as con:
        for model in project.models:
            sample, results = c.measure(lambda m=model: run_tests(con, m))
            tests[model.qualified] = {"tests": len(results), "failed": [r.name for r in results if not r.passed],
                                      "wall_s": round(sample.wall_s, 3)}
    load_and_models = {name: round(load[name]["wall_s_median"] + stages["summary snapshots"]["wall_s"]
                                   + stages["models: build seeds, views and tables, publish"]["wall_s"], 3)
                       for name in variants}
    # the whole run: a backfill's models step runs the data tests (asset checks) before it ends
    with_tests = {name: round(seconds + stages["models: data tests (asset checks)"]["wall_s"], 3)
                  for name, seconds in load_and_models.items()}
    queries = analyst_queries(duckdb, wh, 2 if args.quick else 3)

    print("streaming load + models in a child process per variant (peak RSS of a realistic run)")
    streaming = {}
    for name, kwargs in variants.items():
        child = subprocess.run([sys.executable, __file__, "--child", "streaming", "--tenants", str(n_tenants),
                                "--days", str((end - start).days + 1), "--load-kwargs", json.dumps(kwargs)],
                               capture_output=True, text=True, timeout=900)
        if child.returncode != 0:
            raise SystemExit(f"streaming child failed: {child.stderr[-2000:]}")
        streaming[name] = json.loads(child.stdout.strip().splitlines()[-1])
        print(f"  {name}: load {streaming[name]['load_s']:.2f} s, load + summaries + models "
              f"{streaming[name]['wall_s']:.2f} s, peak RSS {streaming[name]['peak_rss_mib']:.0f} MiB "
              f"(models build alone {streaming[name]['models_peak_rss_mib']:.0f} MiB)")

    profile = None
    if args.profile:
        path = c.RESULTS / "profiles" / "scale_load.txt"
        c.profile_to(path, lambda: load_once(usage, None, start, end, work / "profile", variants[default]))
        profile = str(path.relative_to(c.ROOT))
    shutil.rmtree(work, ignore_errors=True)

    worst_query = max(q["warm_best_s"] for q in queries["queries"].values())
    result = {
        "scenario": {"tenants": n_tenants, "days": (end - start).days + 1, "start": str(start), "end": str(end),
                     "api_rows": n_rows, "windows_per_tenant": len(windows),
                     "duckdb_memory_limit": Warehouse(work).memory_limit,
                     "requests_per_tenant_default": inspect.signature(ingest.load_usage_range)
                     .parameters["requests_per_tenant"].default,
                     "input": "synthesized in memory, identical to the sandbox's /usage/details rows"},
        "stages": stages,
        "normalization": normalization,
        "load": load,
        "load_ratios": load_ratios,
        "models": {"built": len(built), "data_tests": tests,
                   "data_tests_total_s": stages["models: data tests (asset checks)"]["wall_s"]},
        "load_plus_models_s": load_and_models,
        "load_plus_models_plus_data_tests_s": with_tests,
        "analyst": queries,
        "streaming_child": streaming,
        "process_peak_rss_mib": round(c.peak_rss_mib(), 1),
        "profile": profile,
        "goals": {
            **GOALS,
            "normalize_met": normalization["rows_per_s"] >= GOALS["normalize_rows_per_s_min"],
            "load_plus_models_met": {k: v <= GOALS["load_plus_models_s_max"] for k, v in load_and_models.items()},
            "queries_met": worst_query <= GOALS["query_s_max"],
            "streaming_peak_rss_met": {k: v["peak_rss_mib"] <= GOALS["peak_rss_mib_max"] for k, v in streaming.items()},
        },
    }
    print_summary(result)
    return result


BATCH_ROWS = 250_000


def load_variants() -> dict[str, dict]:
    """The default load first, then the knobs the pipeline offers: one window per tenant per round
    (the finest commits, and the default before rounds grew), and batched commits."""
    from aurion_pipeline import ingest

    variants = {"default": {}}
    offered = inspect.signature(ingest.load_usage_range).parameters
    if "requests_per_tenant" in offered:
        variants["requests_per_tenant=1"] = {"requests_per_tenant": 1}
    if "commit_rows" in offered:
        variants[f"commit_rows={BATCH_ROWS:,}"] = {"commit_rows": BATCH_ROWS}
    return variants


def load_once(usage: SyntheticUsage, ready, start: date, end: date, data_dir: Path, kwargs: dict) -> dict:
    from aurion_pipeline import ingest
    from aurion_pipeline.storage import Warehouse, connection, lake

    spent: dict[str, float] = {}
    patched = []

    def timed(module, name: str, key: str) -> None:
        real = getattr(module, name, None)
        if real is None:
            return

        def wrapper(*a, **kw):
            began = time.perf_counter()
            try:
                return real(*a, **kw)
            finally:
                spent[key] = spent.get(key, 0.0) + time.perf_counter() - began

        setattr(module, name, wrapper)
        patched.append((module, name, real))

    timed(ingest, "normalize_details", "normalize_s")
    timed(lake, "write_usage", "lake_write_s")
    timed(ingest, "load_usage", "warehouse_load_s")
    timed(connection, "connect", "warehouse_connect_s")
    timed(connection, "publish_analyst_copy", "publish_s")
    clients = {t: MemoryClient(usage, t, ready[t] if ready else None) for t in usage.tenants}
    wh = Warehouse(data_dir)
    try:
        report = ingest.load_usage_range(clients, wh, start, end, max_range_days=31, max_workers=8,
                                           run_id="bench", publish=False, **kwargs)
    finally:
        for module, name, real in patched:
            setattr(module, name, real)
    if report.failures:
        raise SystemExit(f"load failed: {report.failure_lines()[:3]}")
    commits = _count(wh, "select count(distinct _loaded_at) from raw._load_log")
    shutil.rmtree(data_dir, ignore_errors=True)
    return {"rows": report.rows, "requests": report.requests, "commits": commits,
            **{k: round(v, 3) for k, v in spent.items()}}


def _count(wh, sql: str) -> int:
    import duckdb

    con = duckdb.connect(str(wh.path), read_only=True)
    try:
        return con.execute(sql).fetchone()[0]
    finally:
        con.close()


def one_batch(usage: SyntheticUsage, raw_windows, start: date, end: date, data_dir: Path) -> dict:
    """Our own rules in one piece: one normalize, one lake write, one delete + insert."""
    import pyarrow as pa

    from aurion_pipeline.storage import Warehouse, lake
    from aurion_pipeline.storage.load import Window, load_usage
    from aurion_pipeline.transform.usage import normalize_details

    wh = Warehouse(data_dir)
    t0 = time.perf_counter()
    normalized = normalize_details(raw_windows)
    table = normalized.table.append_column("_run_id", pa.array(["bench"] * normalized.table.num_rows, pa.string()))
    t1 = time.perf_counter()
    with wh.writer() as con:
        t2 = time.perf_counter()
        lake.write_usage(wh.lake_dir, table)
        t3 = time.perf_counter()
        loaded = load_usage(con, wh.lake_dir, [Window(w.tenant, w.start, w.end) for w in raw_windows], "bench")
        t4 = time.perf_counter()
    t5 = time.perf_counter()
    shutil.rmtree(data_dir, ignore_errors=True)
    return {"rows": loaded.rows, "normalize_s": round(t1 - t0, 3), "lake_write_s": round(t3 - t2, 3),
            "warehouse_load_s": round(t4 - t3, 3), "writer_open_close_s": round(t2 - t1 + t5 - t4, 3)}


def plain_floor(all_rows: list[dict], data_dir: Path) -> dict:
    """What landing the rows costs with no rules at all: convert once, one Parquet file, one insert."""
    import duckdb
    import pyarrow as pa
    import pyarrow.parquet as pq

    data_dir.mkdir(parents=True)
    table = pa.Table.from_pylist(all_rows)
    pq.write_table(table, data_dir / "all.parquet", compression="zstd")
    con = duckdb.connect(str(data_dir / "plain.duckdb"))
    con.execute("create table usage as select * from read_parquet(?)", [str(data_dir / "all.parquet")])
    con.close()
    shutil.rmtree(data_dir, ignore_errors=True)
    return {"rows": table.num_rows}


def analyst_queries(duckdb, wh, repeat: int) -> dict:
    con = wh.analyst_connection()
    out: dict = {"baseline_sql": BASELINE_QUERY, "queries": {}}
    try:
        base_best, _base_all = c.best_of(repeat, lambda: con.execute(BASELINE_QUERY).fetchall())
        out["baseline_full_scan_best_s"] = round(base_best, 4)
        print(f"  analyst baseline (full scan of raw.usage_daily) {base_best:.3f} s")
        for name, sql in QUERIES.items():
            info: dict = {"sql": " ".join(sql.split())}
            with c.Stage(info, "cold"):
                rows = len(con.execute(sql).fetchall())
            best, times = c.best_of(repeat, lambda sql=sql: con.execute(sql).fetchall())
            info |= {"rows": rows, "cold_s": info["cold"]["wall_s"], "warm_best_s": round(best, 4),
                     "warm_all_s": [round(x, 4) for x in times], "peak_rss_mib": info["cold"]["peak_rss_mib"],
                     "ratio_to_full_scan": round(best / base_best, 2)}
            del info["cold"]
            out["queries"][name] = info
            print(f"  {name:<30s} {rows:6d} rows  warm best {best:6.3f} s  ({best / base_best:.1f}x full scan)")
    finally:
        con.close()
    return out


def streaming_load(n_tenants: int, start: date, end: date, today: date, load_kwargs: dict) -> dict:
    """Child process: rows arrive per request (nothing held up front); load + summaries + models."""
    from aurion_pipeline import ingest
    from aurion_pipeline.sqlmodels import build, load_project
    from aurion_pipeline.storage import Warehouse

    usage, _ = setup(n_tenants, start, end, today)
    work = Path(tempfile.mkdtemp(prefix="aurion-bench-stream-"))
    wh = Warehouse(work / "data")
    clients = {t: MemoryClient(usage, t) for t in usage.tenants}
    rss_before = c.current_rss_mib()
    began, cpu = time.perf_counter(), time.process_time()
    ingest.load_usage_range(clients, wh, start, end, max_range_days=31, max_workers=8, run_id="bench",
                            publish=False, **load_kwargs)
    load_s = time.perf_counter() - began
    load_peak = c.peak_rss_mib()
    ingest.load_summaries(clients, wh, max_workers=8, run_id="bench-summary", publish=False)
    models = {}
    with c.Stage(models, "models"), wh.writer(publish=True) as con:
        build(con, load_project(c.ROOT / "dbt_like_sql"))
    wall, cpu = time.perf_counter() - began, time.process_time() - cpu
    shutil.rmtree(work, ignore_errors=True)
    return {"load_kwargs": load_kwargs, "wall_s": round(wall, 3), "load_s": round(load_s, 3), "cpu_s": round(cpu, 3),
            "models_s": models["models"]["wall_s"], "rss_before_load_mib": round(rss_before, 1),
            "load_peak_rss_mib": round(load_peak, 1), "models_peak_rss_mib": models["models"]["peak_rss_mib"],
            "peak_rss_mib": round(max(load_peak, models["models"]["peak_rss_mib"] or 0), 1),
            "note": "includes synthesizing each request's rows (~what JSON decoding costs a real client)"}


def print_summary(result: dict) -> None:
    g, n = result["goals"], result["normalization"]
    print(f"\nnormalize           {n['rows_per_s'] / 1e6:5.2f} M rows/s   goal >= 1.00   "
          f"{'met' if g['normalize_met'] else 'NOT met'}")
    for name, seconds in result["load_plus_models_s"].items():
        print(f"load + models       {seconds:6.2f} s        goal <= 10 s   "
              f"{'met' if g['load_plus_models_met'][name] else 'NOT met'}   ({name})")
        print(f"  + data tests      {result['load_plus_models_plus_data_tests_s'][name]:6.2f} s")
    for name, q in result["analyst"]["queries"].items():
        print(f"query {name:<30s} {q['warm_best_s']:6.3f} s  goal <= 1 s  "
              f"{'met' if q['warm_best_s'] <= 1 else 'NOT met'}")
    for name, s in result["streaming_child"].items():
        print(f"peak RSS (streaming load + models) {s['peak_rss_mib']:.0f} MiB  goal <= 1024  "
              f"{'met' if g['streaming_peak_rss_met'][name] else 'NOT met'}   ({name})")
    for name, r in result["load_ratios"].items():
        print(f"{name:<60s} {r['wall_median_of_trial_ratios']:5.2f}x wall")


if __name__ == "__main__":
    main()
