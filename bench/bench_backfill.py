"""Backfill cost: 3 years x 1 tenant through Dagster, against Dagster's own floor and plain Python.

Run: .venv/bin/python bench/bench_backfill.py [--quick] [--profile]

A sandbox API on loopback answers every request after `--latency` seconds (default 50 ms) and
rejects ranges longer than 31 days. Three contenders run in turn, `--trials` times each:

  ours    `orchestrate.backfill` (what `aurion-pipeline backfill` runs): usage_job with partition-range
          tags on a persistent SQLite instance in a fresh DAGSTER_HOME: fetch, normalize, lake,
          warehouse, raw checks, seeds and views, analyst copy.
  floor   Dagster's floor: a no-op asset with the same DailyPartitionsDefinition and
          BackfillPolicy.single_run(), materializing the same partitions on the same kind of instance.
  raw     raw/usage_daily alone (no asset checks, no SQL models), to separate our per-partition cost
          from the steps the job adds after the load.
  no model tests  usage_job without the SQL models' data tests (asset checks): what the 83 checks
          cost, Dagster's events for them included.
  plain   no Dagster: the same client making the same requests, each window written to Parquet.

Goal: ours <= 1.25 x floor. Requests: the floor is ceil(days / 31) = 36.
"""


import math
import os
import shutil
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c  # noqa: E402

GOAL = 1.25


def main() -> None:
    p = c.parser(__doc__)
    p.add_argument("--days", type=int, default=1096)
    p.add_argument("--latency", type=float, default=0.05)
    p.add_argument("--trials", type=int, default=None)
    args = p.parse_args()
    trials = args.trials or (1 if args.quick else 5)
    days = 365 if args.quick and args.days == 1096 else args.days
    c.quiet_dagster()

    import dagster as dg
    import pyarrow as pa
    import pyarrow.parquet as pq

    from aurion_pipeline.source.windows import chunk_window
    from aurion_sandbox import SandboxServer, make_tenants, sandbox_env, write_tenants_file

    today = datetime.now(UTC).date()
    end = today - timedelta(days=1)
    start = end - timedelta(days=days - 1)
    work = Path(tempfile.mkdtemp(prefix="aurion-bench-backfill-"))
    data_dir = work / "data"
    tenants = make_tenants(1)
    api = SandboxServer(tenants, latency_s=args.latency, max_range_days=31, today=today).start()
    os.environ.update(sandbox_env(tenants))
    os.environ.update(
        AURION_BASE_URL=api.base_url, AURION_TENANTS_FILE=str(write_tenants_file(work / "tenants.yaml", tenants)),
        AURION_START_DATE=start.isoformat(), AURION_DATA_DIR=str(data_dir), AURION_MAX_RANGE_DAYS="31",
        AURION_MAX_WORKERS="8",
    )
    c.fresh_dagster_home(work, "home-import")
    from aurion_pipeline import ingest
    from aurion_pipeline.cli import runs as orchestrate  # after the environment: definitions read it at import
    from aurion_pipeline.defs.aurion_usage.resources import resources_from_env

    partitions = dg.DailyPartitionsDefinition(start_date=start.isoformat(), timezone="UTC")

    @dg.asset(partitions_def=partitions, backfill_policy=dg.BackfillPolicy.single_run())
    def noop(context: dg.AssetExecutionContext) -> None:
        return None

    floor_job = dg.Definitions(assets=[noop], jobs=[dg.define_asset_job("floor_job", selection=[noop])]
                               ).resolve_job_def("floor_job")

    def tags(a, b):
        return {"dagster/asset_partition_range_start": a.isoformat(), "dagster/asset_partition_range_end": b.isoformat()}

    body_seconds: list[float] = []
    real_load = ingest.load_usage_range

    def timed_load(*a, **kw):
        sample, value = c.measure(lambda: real_load(*a, **kw))
        body_seconds.append(sample.wall_s)
        return value

    ingest.load_usage_range = timed_load

    def details_since(n: int) -> int:
        return sum(1 for r in api.requests[n:] if r.path.endswith("/details"))

    def run_floor(trial, a=start, b=end):
        c.fresh_dagster_home(work, f"home-floor-{trial}")
        with dg.DagsterInstance.get() as instance:
            result = floor_job.execute_in_process(instance=instance, tags=tags(a, b))
        assert result.success
        return {"materializations": len(result.asset_materializations_for_node("noop"))}

    def run_ours(trial, a=start, b=end):
        c.fresh_dagster_home(work, f"home-ours-{trial}")
        shutil.rmtree(data_dir, ignore_errors=True)
        before = len(api.requests)
        outcome = orchestrate.backfill(load_settings(), a, b)
        if outcome.exit_code:
            raise SystemExit(f"our backfill failed: {outcome.error or outcome.failed_checks}")
        with dg.DagsterInstance.get() as instance:
            steps = {s.step_key: round(s.end_time - s.start_time, 3) for s in instance.get_run_step_stats(outcome.run_id)}
            partitions = instance.get_materialized_partitions(dg.AssetKey(["raw", "usage_daily"]))
        return {"details_requests": details_since(before), "asset_body_s": round(body_seconds[-1], 3),
                "step_seconds": steps, "materializations": len(partitions)}

    api_resource = resources_from_env()["aurion_api"]
    from aurion_pipeline.config import load_settings
    from aurion_pipeline.definitions import defs

    usage_daily = defs.resolve_assets_def(dg.AssetKey(["raw", "usage_daily"]))

    raw_only_job = dg.Definitions(
        assets=[usage_daily], resources=resources_from_env(),
        jobs=[dg.define_asset_job("raw_only", selection=dg.AssetSelection.assets(usage_daily).without_checks())],
    ).resolve_job_def("raw_only")

    SQL_MODELS = dg.AssetSelection.groups("seeds", "analytics")

    no_model_tests_job = dg.Definitions.merge(defs, dg.Definitions(jobs=[dg.define_asset_job(
        "usage_job_without_model_tests", selection=dg.AssetSelection.assets(usage_daily) | SQL_MODELS.without_checks(),
    )])).resolve_job_def("usage_job_without_model_tests")

    def run_fresh(job, home: str, a, b):
        """A job over [a, b] on a fresh instance and an empty data directory."""
        c.fresh_dagster_home(work, home)
        shutil.rmtree(data_dir, ignore_errors=True)
        with dg.DagsterInstance.get() as instance:
            result = job.execute_in_process(instance=instance, tags=tags(a, b))
        assert result.success
        return result

    def run_no_model_tests(trial, a=start, b=end):
        result = run_fresh(no_model_tests_job, f"home-nochecks-{trial}", a, b)
        return {"asset_checks": len(result.get_asset_check_evaluations())}

    def run_raw_only(trial, a=start, b=end):
        run_fresh(raw_only_job, f"home-raw-{trial}", a, b)
        return {"asset_body_s": round(body_seconds[-1], 3)}

    def run_plain(trial, a=start, b=end):
        out = work / f"plain-{trial}"
        out.mkdir(parents=True, exist_ok=True)
        before = len(api.requests)
        with api_resource.clients() as clients:
            for tenant, client in clients.items():
                for lo, hi in chunk_window(a, b, 31):
                    rows = client.get_details(lo, hi)
                    pq.write_table(pa.Table.from_pylist(rows), out / f"{tenant}-{lo}.parquet", compression="zstd")
        shutil.rmtree(out)
        return {"details_requests": details_since(before)}

    print(f"backfill {start}..{end}: {days} days x 1 tenant, API latency {args.latency * 1000:.0f} ms, max range 31")
    print("warm-up (31 days each, not counted)")
    warm = end - timedelta(days=30)
    c.interleave(1, {"floor": lambda t: run_floor("warm", warm, end), "ours": lambda t: run_ours("warm", warm, end),
                     "ours_raw_asset_only": lambda t: run_raw_only("warm", warm, end),
                     "ours_without_model_tests": lambda t: run_no_model_tests("warm", warm, end),
                     "plain": lambda t: run_plain("warm", warm, end)})
    print(f"{trials} trial(s), contenders interleaved")
    samples = c.interleave(trials, {"floor": run_floor, "ours": run_ours, "ours_raw_asset_only": run_raw_only,
                                    "ours_without_model_tests": run_no_model_tests, "plain": run_plain})

    floor_requests = math.ceil(days / 31)
    ours_vs_floor = c.ratio(samples["ours"], samples["floor"])
    result = {
        "scenario": {"days": days, "start": str(start), "end": str(end), "tenants": 1, "latency_s": args.latency,
                     "max_range_days": 31, "instance": "persistent SQLite instance in a fresh DAGSTER_HOME per run"},
        "details_requests": {"ours": samples["ours"][-1].extra["details_requests"],
                             "plain": samples["plain"][-1].extra["details_requests"], "floor": floor_requests},
        "ours": {**c.summarize(samples["ours"]), "last_trial": samples["ours"][-1].extra},
        "ours_raw_asset_only": {**c.summarize(samples["ours_raw_asset_only"]),
                                "what": "raw/usage_daily alone (no checks, no SQL models), same instance kind"},
        "ours_without_model_tests": {**c.summarize(samples["ours_without_model_tests"]),
                                     "what": "usage_job without the SQL models' data tests (asset checks)"},
        "dagster_floor": {**c.summarize(samples["floor"]), "last_trial": samples["floor"][-1].extra},
        "plain_python": c.summarize(samples["plain"]),
        "ratios": {
            "ours_vs_dagster_floor": ours_vs_floor,
            "ours_raw_asset_only_vs_dagster_floor": c.ratio(samples["ours_raw_asset_only"], samples["floor"]),
            "ours_without_model_tests_vs_dagster_floor": c.ratio(samples["ours_without_model_tests"], samples["floor"]),
            "ours_vs_plain_python": c.ratio(samples["ours"], samples["plain"]),
            "dagster_floor_vs_plain_python": c.ratio(samples["floor"], samples["plain"]),
        },
        "where_ours_goes": decomposition(samples, days),
        "goal": {"ours_vs_dagster_floor_max": GOAL,
                 "met": ours_vs_floor["wall_median_of_trial_ratios"] <= GOAL},
    }
    if args.profile:
        path = c.RESULTS / "profiles" / "backfill_ours.txt"
        c.profile_to(path, lambda: run_ours("profile"))
        result["profile"] = str(path.relative_to(c.ROOT))
    api.stop()
    shutil.rmtree(work, ignore_errors=True)

    r = result["ratios"]
    print(f"\ndetails requests: ours {result['details_requests']['ours']}, floor {floor_requests}")
    for name in ("ours", "dagster_floor", "plain_python"):
        print(f"{name:<14s} median {result[name]['wall_s_median']:7.2f} s wall  {result[name]['cpu_s_median']:7.2f} s cpu")
    print(f"ours / Dagster floor  {r['ours_vs_dagster_floor']['wall_median_of_trial_ratios']:.2f}x wall "
          f"({r['ours_vs_dagster_floor']['cpu_ratio_of_medians']:.2f}x cpu)  goal <= {GOAL}x: "
          f"{'met' if result['goal']['met'] else 'NOT met'}")
    print(f"raw asset alone / Dagster floor  {r['ours_raw_asset_only_vs_dagster_floor']['wall_median_of_trial_ratios']:.2f}x "
          f"wall ({r['ours_raw_asset_only_vs_dagster_floor']['cpu_ratio_of_medians']:.2f}x cpu)")
    print(f"ours without model data tests / Dagster floor  "
          f"{r['ours_without_model_tests_vs_dagster_floor']['wall_median_of_trial_ratios']:.2f}x wall "
          f"({r['ours_without_model_tests_vs_dagster_floor']['cpu_ratio_of_medians']:.2f}x cpu)")
    print(f"ours / plain Python   {r['ours_vs_plain_python']['wall_median_of_trial_ratios']:.2f}x wall")
    print(f"floor / plain Python  {r['dagster_floor_vs_plain_python']['wall_median_of_trial_ratios']:.2f}x wall")
    c.save("backfill", result, args.out)


def decomposition(samples, days: int) -> dict:
    """Medians over trials: what our run adds to Dagster's floor, step by step."""
    import statistics

    ours = samples["ours"]

    def med(values):
        return round(statistics.median(values), 3)

    steps = sorted({k for s in ours for k in s.extra["step_seconds"]})
    return {
        "ours_minus_floor_s": med([o.wall_s - f.wall_s for o, f in zip(ours, samples["floor"])]),
        "asset_body_s (fetch + commits, our code)": med([s.extra["asset_body_s"] for s in ours]),
        "plain_python_s (same requests, no Dagster)": med([s.wall_s for s in samples["plain"]]),
        **{f"step {k} s": med([s.extra["step_seconds"].get(k, 0.0) for s in ours]) for k in steps},
        "note": f"step raw__usage_daily includes Dagster's {days:,} materialization events, as the floor run does",
    }


if __name__ == "__main__":
    main()
