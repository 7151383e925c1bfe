"""Backfill cost: 3 years x 1 tenant through Dagster, on SQLite and PostgreSQL instances, against
Dagster's own floor and plain Python.

Run: .venv/bin/python bench/bench_backfill.py [--quick] [--profile] [--instances sqlite,postgres] [--breakdown]
     [--event-costs]

A sandbox API on loopback answers every request after `--latency` seconds (default 50 ms) and
rejects ranges longer than 31 days. The contenders run in turn, `--trials` times each (default 3):

  ours       `cli.runs.backfill` (what `aurion-pipeline backfill` runs, quiet as without -v): usage_job
             with partition-range tags on a persistent instance in a fresh DAGSTER_HOME (the project's
             dagster.yaml, or dagster_postgres.yaml on a fresh database of a throwaway PostgreSQL
             server), with the event
             batching our runs turn on (defs/instance_tuning.py): fetch, normalize, lake, warehouse,
             raw checks, SQL models and their data tests, analyst copy.
  floor      Dagster's floor: a no-op asset with the same DailyPartitionsDefinition and
             BackfillPolicy.single_run(), materializing the same partitions on the same kind of
             instance, as Dagster ships (no batching variables) ...
  floor, batching vars   ... and with the variables our runs set.
  plain      no Dagster: the same client making the same requests, each window written to Parquet.
  --breakdown adds, on each instance: raw/usage_daily alone, and usage_job without the models' data tests
             (both with our batching variables).
  --event-costs adds, on each instance, one more run of ours (not among the trials) that times Dagster's
             instance work by kind: each event type's writes, and the data-version lookups of the assets'
             parents. It says what each model asset costs a run, whatever the model's size.

Every contender's instance is created (its tables made) before its timed run, untimed: a deployed
instance exists before a backfill; creating one costs ~2.6 s on PostgreSQL, once.

Goals: ours on SQLite <= 1.10 x the SQLite floor; ours on PostgreSQL <= 2 x plain Python.
Requests: the floor is ceil(days / 31) = 36.
"""


import math
import os
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c

GOALS = {"sqlite_ours_vs_sqlite_floor_max": 1.10, "postgres_ours_vs_plain_python_max": 2.0}
QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}  # as the CLI runs without -v


def main() -> None:
    p = c.parser(__doc__)
    p.add_argument("--days", type=int, default=1096)
    p.add_argument("--latency", type=float, default=0.05)
    p.add_argument("--trials", type=int, default=None)
    p.add_argument("--instances", default="sqlite,postgres", help="comma-separated: sqlite, postgres")
    p.add_argument("--breakdown", action="store_true", help="also the raw asset alone and the job without model tests")
    p.add_argument("--event-costs", action="store_true",
                   help="also one more run of ours per instance, timing Dagster's event writes "
                        "and data-version lookups")
    p.add_argument("--floors", choices=["both", "as-shipped", "tuned"], default="both",
                   help="Dagster floors to run: as Dagster ships, with our batching variables, or both")
    args = p.parse_args()
    trials = args.trials or (1 if args.quick else 3)
    days = 365 if args.quick and args.days == 1096 else args.days
    kinds = [k for k in args.instances.split(",") if k]
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
    postgres = c.start_postgres() if "postgres" in kinds else None
    os.environ.update(sandbox_env(tenants))
    os.environ.update(
        AURION_BASE_URL=api.base_url, AURION_TENANTS_FILE=str(write_tenants_file(work / "tenants.yaml", tenants)),
        AURION_START_DATE=start.isoformat(), AURION_DATA_DIR=str(data_dir), AURION_MAX_RANGE_DAYS="31",
        AURION_MAX_WORKERS="8",
    )
    c.fresh_dagster_home(work, "home-import")
    from aurion_pipeline import ingest
    from aurion_pipeline.cli import runs as orchestrate  # after the environment: definitions read it at import
    from aurion_pipeline.config import load_settings
    from aurion_pipeline.defs.aurion_usage.resources import resources_from_env
    from aurion_pipeline.defs.instance_tuning import BATCHING_ENV

    partitions = dg.DailyPartitionsDefinition(start_date=start.isoformat(), timezone="UTC")

    @dg.asset(partitions_def=partitions, backfill_policy=dg.BackfillPolicy.single_run())
    def noop(context: dg.AssetExecutionContext) -> None:
        return None

    floor_job = dg.Definitions(assets=[noop], jobs=[dg.define_asset_job("floor_job", selection=[noop])]
                               ).resolve_job_def("floor_job")

    def tags(a, b):
        return {"dagster/asset_partition_range_start": a.isoformat(),
                "dagster/asset_partition_range_end": b.isoformat()}

    body_seconds: list[float] = []
    real_load = ingest.load_usage_range

    def timed_load(*a, **kw):
        sample, value = c.measure(lambda: real_load(*a, **kw))
        body_seconds.append(sample.wall_s)
        return value

    ingest.load_usage_range = timed_load

    def details_since(n: int) -> int:
        return sum(1 for r in api.requests[n:] if r.path.endswith("/details"))

    def home(kind: str, name: str):
        """A deployed instance with no runs yet: its tables are created here, untimed."""
        return c.fresh_dagster_home(work, f"{kind}-{name}", postgres if kind == "postgres" else None,
                                    create_storage=True)

    def floor(kind: str, batching: dict | None):
        def run(trial, a=start, b=end):
            with c.dagster_batching(batching), dg.DagsterInstance.get() as instance:
                result = floor_job.execute_in_process(instance=instance, tags=tags(a, b))
            assert result.success
            return {"materializations": len(result.asset_materializations_for_node("noop"))}
        return c.untimed_setup(run, lambda trial: home(kind, f"floor-{'tuned' if batching else 'plain'}-{trial}"))

    def ours(kind: str):
        def prepare(trial):
            home(kind, f"ours-{trial}")
            shutil.rmtree(data_dir, ignore_errors=True)

        def run(trial, a=start, b=end):
            before = len(api.requests)
            with c.dagster_batching(None):  # unset, as in a user's shell: the run sets them itself
                # quiet, as `aurion-pipeline backfill` runs without -v: Dagster's console log off
                outcome = orchestrate.backfill(load_settings(), a, b, quiet=True)
                batching = {name: os.environ.get(name) for name in c.BATCHING_VARS}
            if outcome.exit_code:
                raise SystemExit(f"our backfill on {kind} failed: {outcome.error or outcome.failed_checks}")
            with dg.DagsterInstance.get() as instance:
                steps = {s.step_key: round(s.end_time - s.start_time, 3)
                         for s in instance.get_run_step_stats(outcome.run_id)}
                materialized = len(instance.get_materialized_partitions(dg.AssetKey(["raw", "usage_daily"])))
            return {"details_requests": details_since(before), "asset_body_s": round(body_seconds[-1], 3),
                    "step_seconds": steps, "materialized_partitions": materialized, "batching_set_by_run": batching}
        return c.untimed_setup(run, prepare)

    api_resource = resources_from_env()["aurion_api"]

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

    contenders = {}
    for kind in kinds:
        if args.floors in ("both", "as-shipped"):
            contenders[f"{kind} floor"] = floor(kind, None)
        if args.floors in ("both", "tuned"):
            contenders[f"{kind} floor, batching vars"] = floor(kind, BATCHING_ENV)
        contenders[f"{kind} ours"] = ours(kind)
    if args.breakdown:
        for kind in kinds:
            contenders |= breakdown_contenders(dg, kind, home, tags, data_dir, body_seconds, start, end)
    contenders["plain"] = run_plain

    print(f"backfill {start}..{end}: {days} days x 1 tenant, API latency {args.latency * 1000:.0f} ms, max range 31, "
          f"instances {', '.join(kinds)}")
    print("warm-up (7 days each, not counted)")
    warm = end - timedelta(days=6)
    c.interleave(1, {name: warm_up(fn, warm, end) for name, fn in contenders.items()})
    print(f"{trials} trial(s), contenders interleaved")
    scenario = {"days": days, "start": str(start), "end": str(end), "tenants": 1, "latency_s": args.latency,
                "max_range_days": 31, "instances": kinds, "batching_vars_of_our_runs": BATCHING_ENV,
                "instance": "persistent instance in a fresh DAGSTER_HOME (and PostgreSQL database) per run"}

    def results(samples) -> dict:
        out = {"scenario": scenario,
               "details_requests": {"floor": math.ceil(days / 31),
                                    **{name: s[-1].extra["details_requests"] for name, s in samples.items()
                                       if "details_requests" in s[-1].extra}},
               "contenders": {name: {**c.summarize(s), "last_trial": s[-1].extra} for name, s in samples.items()},
               "ratios": ratios(samples, kinds),
               "where_ours_goes": {kind: decomposition(samples, kind, days) for kind in kinds}}
        out["goals"] = goals(out["ratios"])
        return out

    def save_partial(samples) -> None:
        done = len(next(iter(samples.values())))
        if done < trials:
            c.save("backfill", {**results(samples), "partial": f"{done} of {trials} trials"},
                   args.out.with_suffix(".partial.json") if args.out else None)

    samples = c.interleave(trials, contenders, after_trial=save_partial)
    result = results(samples)
    if args.profile:
        path = c.RESULTS / "profiles" / "backfill_ours.txt"
        profiled = ours(kinds[0])
        profiled.prepare("profile")
        c.profile_to(path, lambda: profiled("profile"))
        result["profile"] = str(path.relative_to(c.ROOT))
    if args.event_costs:
        result["dagster_costs_in_one_run_of_ours"] = {}
        for kind in kinds:
            timed = ours(kind)
            timed.prepare("event-costs")
            result["dagster_costs_in_one_run_of_ours"][kind] = dagster_costs(lambda run=timed: run("event-costs"))
    api.stop()
    if postgres:
        postgres.stop()
    shutil.rmtree(work, ignore_errors=True)
    print_summary(result)
    c.save("backfill", result, args.out)


def dagster_costs(run) -> dict:
    """Seconds and calls of Dagster's instance work during `run()`, by kind: each event type's writes
    (`:partition` for a partition's event, `:batched` for those sent to be written in batches) and the
    data-version lookups (`get_asset_records`) a step makes for its assets' parents."""
    from collections import defaultdict

    from dagster._core.instance.methods.event_methods import EventMethods
    from dagster._core.storage.event_log.sql_event_log import SqlEventLogStorage

    seconds: dict[str, float] = defaultdict(float)
    calls: dict[str, int] = defaultdict(int)

    def timed(cls, name, kind_of):
        original = getattr(cls, name)

        def wrapper(self, *a, **kw):
            t = time.perf_counter()
            try:
                return original(self, *a, **kw)
            finally:
                kind = kind_of(a, kw)
                seconds[kind] += time.perf_counter() - t
                calls[kind] += 1
        setattr(cls, name, wrapper)
        return original

    def event_kind(a, kw) -> str:
        event = a[0].dagster_event
        if event is None:
            return "log message"
        return (event.event_type_value + (":partition" if event.partition else "")
                + (":batched" if kw.get("batch_metadata") else ""))

    originals = {"handle_new_event": timed(EventMethods, "handle_new_event", event_kind),
                 "get_asset_records": timed(SqlEventLogStorage, "get_asset_records", lambda a, kw: "get_asset_records")}
    try:
        sample, _ = c.measure(run)
    finally:
        EventMethods.handle_new_event = originals["handle_new_event"]
        SqlEventLogStorage.get_asset_records = originals["get_asset_records"]
    by_kind = {k: {"seconds": round(seconds[k], 3), "calls": calls[k]}
               for k in sorted(seconds, key=lambda k: -seconds[k])}
    return {"run_wall_s": round(sample.wall_s, 3), "dagster_s": round(sum(seconds.values()), 3), "by_kind": by_kind}


def warm_up(fn, a, b):
    """The contender over a short range, with its untimed set-up."""
    run = lambda trial: fn("warm", a, b)  # noqa: E731
    return c.untimed_setup(run, lambda trial: fn.prepare("warm")) if hasattr(fn, "prepare") else run


def breakdown_contenders(dg, kind: str, home, tags, data_dir, body_seconds, start, end) -> dict:
    """On instance `kind`: the raw asset alone, and usage_job without the SQL models' data tests."""
    from aurion_pipeline.config import load_settings
    from aurion_pipeline.defs import build_defs
    from aurion_pipeline.defs.aurion_usage.assets import build_raw_assets
    from aurion_pipeline.defs.aurion_usage.partitions import daily_partitions
    from aurion_pipeline.defs.aurion_usage.resources import resources_from_settings
    from aurion_pipeline.defs.instance_tuning import BATCHING_ENV
    from aurion_pipeline.defs.names import Names

    settings = load_settings()
    # Unresolved assets: `defs.resolve_assets_def` returns one with its resources already bound, which
    # a second Definitions with the same resource keys refuses ("conflicting resource definitions").
    usage_daily = build_raw_assets(Names(), daily_partitions(settings.start_date)).usage_daily
    SQL_MODELS = dg.AssetSelection.groups("seeds", "analytics")  # a selection, named as the jobs name it

    raw_only_job = dg.Definitions(
        assets=[usage_daily], resources=resources_from_settings(settings),
        # with its own check, all_windows_loaded: an asset that cannot be subset
        jobs=[dg.define_asset_job("raw_only", selection=dg.AssetSelection.assets(usage_daily))],
    ).resolve_job_def("raw_only")
    no_model_tests_job = dg.Definitions.merge(build_defs(settings), dg.Definitions(jobs=[dg.define_asset_job(
        "usage_job_without_model_tests",
        selection=dg.AssetSelection.keys(["raw", "usage_daily"]) | SQL_MODELS.without_checks(),
    )])).resolve_job_def("usage_job_without_model_tests")

    def contender(job, name: str, extra):
        def run(trial, a=start, b=end):
            with c.dagster_batching(BATCHING_ENV), dg.DagsterInstance.get() as instance:  # as our runs set them
                result = job.execute_in_process(instance=instance, tags=tags(a, b), run_config=QUIET)
            assert result.success
            return extra(result)

        def prepare(trial):
            home(kind, f"{name}-{trial}")
            shutil.rmtree(data_dir, ignore_errors=True)
        return c.untimed_setup(run, prepare)

    return {
        f"{kind} raw asset alone": contender(
            raw_only_job, "raw", lambda r: {"asset_body_s": round(body_seconds[-1], 3)}),
        f"{kind} usage_job without model tests": contender(
            no_model_tests_job, "nochecks", lambda r: {"asset_checks": len(r.get_asset_check_evaluations())}),
    }


def ratios(samples, kinds: list[str]) -> dict:
    pairs = [("plain", None)]
    for kind in kinds:
        pairs += [(f"{kind} ours", f"{kind} floor"), (f"{kind} ours", f"{kind} floor, batching vars"),
                  (f"{kind} ours", "plain"), (f"{kind} floor", "plain"), (f"{kind} floor, batching vars", "plain"),
                  (f"{kind} floor, batching vars", f"{kind} floor")]
    if "sqlite" in kinds and "postgres" in kinds:
        pairs += [("postgres ours", "sqlite ours"), ("postgres floor", "sqlite floor")]
    for kind in kinds:  # the --breakdown contenders
        parts = [name for name in samples if name.startswith(f"{kind} ") and ("alone" in name or "without" in name)]
        pairs += [(name, base) for name in parts for base in (f"{kind} floor, batching vars", "plain")]
    return {f"{a} / {b}": c.ratio(samples[a], samples[b]) for a, b in pairs if b and a in samples and b in samples}


def goals(r: dict) -> dict:
    out = {}
    for key, goal, name in (("sqlite ours / sqlite floor", GOALS["sqlite_ours_vs_sqlite_floor_max"], "sqlite"),
                            ("postgres ours / plain", GOALS["postgres_ours_vs_plain_python_max"], "postgres")):
        if key in r:
            out[name] = {"ratio": key, "goal_max": goal,
                         "median_of_trial_ratios": r[key]["wall_median_of_trial_ratios"],
                         "met": r[key]["wall_median_of_trial_ratios"] <= goal}
    return out


def print_summary(result: dict) -> None:
    print(f"\ndetails requests: {result['details_requests']}")
    for name, v in result["contenders"].items():
        print(f"{name:<40s} wall min {v['wall_s_min']:7.2f}  median {v['wall_s_median']:7.2f}  "
              f"max {v['wall_s_max']:7.2f} s"
              f"   cpu median {v['cpu_s_median']:7.2f} s")
    for name, r in result["ratios"].items():
        trials = ", ".join(f"{x:.2f}" for x in r["wall_trial_ratios"])
        print(f"{name:<60s} {r['wall_median_of_trial_ratios']:6.2f}x wall (trials {trials}), "
              f"{r['cpu_ratio_of_medians']:.2f}x cpu")
    for name, g in result["goals"].items():
        print(f"goal {name}: {g['ratio']} {g['median_of_trial_ratios']:.2f}x <= {g['goal_max']}: "
              f"{'met' if g['met'] else 'NOT met'}")
    for kind, costs in result.get("dagster_costs_in_one_run_of_ours", {}).items():
        print(f"\n{kind}: one run of ours {costs['run_wall_s']:.2f} s, "
              f"of which Dagster's instance work {costs['dagster_s']:.2f} s")
        for what, v in costs["by_kind"].items():
            print(f"  {v['seconds']:7.3f} s  {v['calls']:5d}  {what}")


def decomposition(samples, kind: str, days: int) -> dict:
    """Medians over trials: what our run adds to Dagster's floor on this instance, step by step."""
    import statistics

    ours = samples[f"{kind} ours"]
    floor = samples.get(f"{kind} floor, batching vars") or samples[f"{kind} floor"]

    def med(values):
        return round(statistics.median(values), 3)

    steps = sorted({k for s in ours for k in s.extra["step_seconds"]})
    return {
        "ours_minus_floor_s": med([o.wall_s - f.wall_s for o, f in zip(ours, floor)]),
        "asset_body_s (fetch + commits, our code)": med([s.extra["asset_body_s"] for s in ours]),
        "plain_python_s (same requests, no Dagster)": med([s.wall_s for s in samples["plain"]]),
        **{f"step {k} s": med([s.extra["step_seconds"].get(k, 0.0) for s in ours]) for k in steps},
        "note": f"step raw__usage_daily includes Dagster's {days:,} materialization events, as the floor run does",
    }


if __name__ == "__main__":
    main()
