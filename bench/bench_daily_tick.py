"""Daily tick: one scheduled daily run (yesterday + 3 lookback days) at 1 and 100 tenants.

Run: .venv/bin/python bench/bench_daily_tick.py [--quick] [--profile]

Each tenant count runs in its own process (the Dagster definitions read the environment at import).
The warehouse first holds `--history-days` of loaded history (3 years by default, loaded directly, not
timed), like a deployment that has been running; each trial starts from a copy of it. Then the
`daily_usage_schedule` is evaluated for today's tick and its RunRequest (partition-range tags) runs as
`usage_job` on a persistent instance in a fresh DAGSTER_HOME, against a sandbox API with 50 ms
latency. Beside it, in the same process:

  floor   a no-op asset with the same daily partitions, materializing the same 4 partitions
  plain   the same clients fetching the same 4 days for every tenant (8 at a time), written to Parquet

Requests: the floor is one details request per tenant (4 days fit in one request).
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c


def main() -> None:
    p = c.parser(__doc__)
    p.add_argument("--tenant-counts", default="1,100")
    p.add_argument("--history-days", type=int, default=None, help="default 1096 (--quick: 90)")
    p.add_argument("--latency", type=float, default=0.05)
    p.add_argument("--trials", type=int, default=None)
    p.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    history = args.history_days or (90 if args.quick else 1096)
    trials = args.trials or (1 if args.quick else 5)
    if args.child:
        print(json.dumps(child(args.child, history, trials, args.latency, args.profile)))
        return
    result = {"scenario": {"history_days": history, "lookback_days": 3, "latency_s": args.latency, "trials": trials},
              "by_tenants": {}}
    for n in [int(x) for x in args.tenant_counts.split(",")]:
        print(f"daily tick with {n} tenant(s), {history} days of history")
        cmd = [sys.executable, __file__, "--child", str(n), "--history-days", str(history), "--trials", str(trials),
               "--latency", str(args.latency)] + (["--profile"] if args.profile else [])
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=None, text=True, timeout=1200)
        if proc.returncode != 0:
            raise SystemExit(f"daily tick child for {n} tenants failed")
        out = json.loads(proc.stdout.strip().splitlines()[-1])
        result["by_tenants"][str(n)] = out
        r = out["ratios"]
        print(f"  requests {out['details_requests']['ours']} (floor {out['details_requests']['floor']}); "
              f"ours {out['ours']['wall_s_median']:.2f} s, Dagster floor {out['dagster_floor']['wall_s_median']:.2f} s "
              f"({r['ours_vs_dagster_floor']['wall_median_of_trial_ratios']:.2f}x), plain "
              f"{out['plain_python']['wall_s_median']:.2f} s "
              f"({r['ours_vs_plain_python']['wall_median_of_trial_ratios']:.1f}x)")
    c.save("daily_tick", result, args.out)


def child(n_tenants: int, history_days: int, trials: int, latency: float, profile: bool) -> dict:
    sys.stdout = sys.stderr  # the parent reads one JSON line from the real stdout
    real_stdout = sys.__stdout__
    c.quiet_dagster()
    import dagster as dg
    import pyarrow as pa
    import pyarrow.parquet as pq

    from aurion_sandbox import SandboxServer, make_tenants, sandbox_env, write_tenants_file

    today = datetime.now(UTC).date()
    tick_time = datetime.combine(today, time(1, 15), tzinfo=UTC)
    history_end = today - timedelta(days=1)
    history_start = history_end - timedelta(days=history_days - 1)
    work = Path(tempfile.mkdtemp(prefix="aurion-bench-tick-"))
    data_dir, seed_dir = work / "data", work / "seed"
    tenants = make_tenants(n_tenants)
    api = SandboxServer(tenants, latency_s=latency, max_range_days=31, today=today).start()
    os.environ.update(sandbox_env(tenants))
    os.environ.update(
        AURION_BASE_URL=api.base_url, AURION_TENANTS_FILE=str(write_tenants_file(work / "tenants.yaml", tenants)),
        AURION_START_DATE=history_start.isoformat(), AURION_DATA_DIR=str(data_dir), AURION_MAX_RANGE_DAYS="31",
        AURION_LOOKBACK_DAYS="3", AURION_MAX_WORKERS="8",
    )
    c.fresh_dagster_home(work, "home-import")
    seed_history(seed_dir, tenants, history_start, history_end, today)
    from aurion_pipeline.cli import runs as orchestrate
    from aurion_pipeline.config import load_settings
    from aurion_pipeline.definitions import defs
    from aurion_pipeline.defs.aurion_usage.resources import resources_from_env

    daily_usage_schedule = defs.resolve_schedule_def("daily_usage_schedule")

    with dg.build_schedule_context(scheduled_execution_time=tick_time) as context:
        request = daily_usage_schedule(context)
    tags = dict(request.tags)
    start = datetime.fromisoformat(tags["dagster/asset_partition_range_start"]).date()
    end = datetime.fromisoformat(tags["dagster/asset_partition_range_end"]).date()

    partitions = dg.DailyPartitionsDefinition(start_date=history_start.isoformat(), timezone="UTC")

    @dg.asset(partitions_def=partitions, backfill_policy=dg.BackfillPolicy.single_run())
    def noop(context: dg.AssetExecutionContext) -> None:
        return None

    floor_job = dg.Definitions(assets=[noop], jobs=[dg.define_asset_job("floor_job", selection=[noop])]
                               ).resolve_job_def("floor_job")
    api_resource = resources_from_env()["aurion_api"]

    def details_since(n: int) -> int:
        return sum(1 for r in api.requests[n:] if r.path.endswith("/details"))

    def run_ours(trial):
        c.fresh_dagster_home(work, f"home-ours-{trial}")
        shutil.rmtree(data_dir, ignore_errors=True)
        shutil.copytree(seed_dir, data_dir)
        before = len(api.requests)
        _sample, outcome = c.measure(lambda: orchestrate.run_job(load_settings(), "usage_job", tags=tags))
        if outcome.exit_code:
            raise SystemExit(f"daily run failed: {outcome.error or outcome.failed_checks}")
        with dg.DagsterInstance.get() as instance:
            steps = {s.step_key: round(s.end_time - s.start_time, 3)
                     for s in instance.get_run_step_stats(outcome.run_id)}
            partitions = instance.get_materialized_partitions(dg.AssetKey(["raw", "usage_daily"]))
        return {"details_requests": details_since(before), "step_seconds": steps, "partitions": len(partitions)}

    def run_floor(trial):
        c.fresh_dagster_home(work, f"home-floor-{trial}")
        with dg.DagsterInstance.get() as instance:
            assert floor_job.execute_in_process(instance=instance, tags=tags).success
        return None

    def run_plain(trial):
        out = work / f"plain-{trial}"
        out.mkdir(parents=True, exist_ok=True)
        before = len(api.requests)
        from concurrent.futures import ThreadPoolExecutor

        with api_resource.clients() as clients, ThreadPoolExecutor(8) as pool:
            fetched = list(pool.map(lambda item: (item[0], item[1].get_details(start, end)), clients.items()))
        for tenant, rows in fetched:
            pq.write_table(pa.Table.from_pylist(rows), out / f"{tenant}.parquet", compression="zstd")
        shutil.rmtree(out)
        return {"details_requests": details_since(before)}

    print(f"tick {tick_time:%Y-%m-%d %H:%M} UTC loads {start}..{end}; warm-up (not counted)")
    c.interleave(1, {"floor": lambda t: run_floor("warm"), "ours": lambda t: run_ours("warm"),
                     "plain": lambda t: run_plain("warm")})
    samples = c.interleave(trials, {"floor": run_floor, "ours": run_ours, "plain": run_plain})
    out = {
        "tenants": n_tenants, "window": f"{start}..{end}", "days": (end - start).days + 1,
        "details_requests": {"ours": samples["ours"][-1].extra["details_requests"],
                             "plain": samples["plain"][-1].extra["details_requests"], "floor": n_tenants},
        "ours": {**c.summarize(samples["ours"]), "last_trial": samples["ours"][-1].extra,
                 "step_seconds_median": {k: round(statistics.median(s.extra["step_seconds"].get(k, 0.0)
                                                                    for s in samples["ours"]), 3)
                                         for k in sorted({k for s in samples["ours"]
                                                          for k in s.extra["step_seconds"]})}},
        "dagster_floor": c.summarize(samples["floor"]),
        "plain_python": c.summarize(samples["plain"]),
        "ratios": {"ours_vs_dagster_floor": c.ratio(samples["ours"], samples["floor"]),
                   "ours_vs_plain_python": c.ratio(samples["ours"], samples["plain"])},
    }
    if profile:
        path = c.RESULTS / "profiles" / f"daily_tick_{n_tenants}.txt"
        c.profile_to(path, lambda: run_ours("profile"))
        out["profile"] = str(path.relative_to(c.ROOT))
    api.stop()
    shutil.rmtree(work, ignore_errors=True)
    sys.stdout = real_stdout
    return out


def seed_history(seed_dir: Path, tenants, start, end, today) -> None:
    """A running deployment's warehouse: history loaded, summaries snapshotted, models built."""
    from synthetic import MemoryClient, SyntheticUsage

    from aurion_pipeline import ingest
    from aurion_pipeline.sqlmodels import build, load_project
    from aurion_pipeline.storage import Warehouse

    usage = SyntheticUsage(tenants, start, end, today)
    clients = {t: MemoryClient(usage, t) for t in usage.tenants}
    wh = Warehouse(seed_dir)
    with c.Stage({}, f"seed {len(tenants)} tenant(s) x {(end - start).days + 1} days of history (not timed)"):
        ingest.load_usage_range(clients, wh, start, end, max_range_days=31, max_workers=8, run_id="history")
        ingest.load_summaries(clients, wh, max_workers=8, run_id="history-summary")
        with wh.writer(publish=True) as con:
            build(con, load_project(c.ROOT / "dbt_like_sql"))


if __name__ == "__main__":
    main()
