"""End to end, as users run it: `aurion-pipeline backfill` of N tenants x 3 years against the sandbox API
over real HTTP, with Dagster, the SQL models and their data tests, on SQLite and PostgreSQL instances.

Run: .venv/bin/python bench/bench_e2e.py [--quick] [--tenants 1000] [--instances sqlite,postgres]

Each contender is its own process, so wall time, CPU and peak RSS are the command's own (the sandbox
API runs in this process, outside them):

  <instance> cli   `aurion-pipeline backfill --start --end` in a fresh DAGSTER_HOME (dagster.yaml, or
                   dagster_postgres.yaml on a new database of a throwaway PostgreSQL server) whose
                   tables are created before the timed run, as a deployed instance's are, and an
                   empty data directory, default settings (8 requests in flight).
  plain            no Dagster, no rules: the same requests with the same client, 8 in flight, each
                   tenant's rows written to one Parquet file, then all of them loaded into one DuckDB
                   table: a script's fetch + write.

Then the models' data tests (every `data_tests` asset check's queries) are timed alone on the
warehouse the last SQLite run built. Peak RSS: VmHWM of the child, polled every 0.1 s.
Goals: the PostgreSQL run <= 1.5 x plain; peak RSS <= 1 GiB; data tests at 1,000 tenants <= 1 s.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c

GOALS = {"postgres_cli_vs_plain_max": 1.5, "peak_rss_mib_max": 1024, "data_tests_s_max": 1.0}
CLI = str(Path(sys.executable).with_name("aurion-pipeline"))


def main() -> None:
    p = c.parser(__doc__)
    p.add_argument("--tenants", type=int, default=None, help="default 1000 (--quick: 20)")
    p.add_argument("--days", type=int, default=None, help="default 1096 (--quick: 365)")
    p.add_argument("--trials", type=int, default=None, help="default 3 (--quick: 1)")
    p.add_argument("--latency", type=float, default=0.0, help="seconds the sandbox waits before each answer")
    p.add_argument("--instances", default="sqlite,postgres")
    p.add_argument("--data-tests-only", action="store_true",
                   help="only time the models' data tests, on a warehouse of --tenants loaded from synthetic rows "
                        "(no HTTP)")
    p.add_argument("--memory-limit", default=None,
                   help="--data-tests-only: DuckDB memory_limit for the models' build only (default: the writer's)")
    p.add_argument("--data-dir", type=Path, default=None,
                   help="--data-tests-only: keep the loaded data here; a directory holding a load is reused")
    p.add_argument("--child", choices=["plain"], help=argparse.SUPPRESS)
    p.add_argument("--window", nargs=2, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child == "plain":
        print(json.dumps(plain_fetch_and_write(date.fromisoformat(args.window[0]), date.fromisoformat(args.window[1]))))
        return
    n_tenants = args.tenants or (20 if args.quick else 1000)
    days = args.days or (365 if args.quick else 1096)
    trials = args.trials or (1 if args.quick else 3)
    kinds = [k for k in args.instances.split(",") if k]
    if args.data_tests_only:
        result = data_tests_on_synthetic_warehouse(n_tenants, days, trials, args.memory_limit, args.data_dir)
        c.save("data_tests", result, args.out)
        return
    c.save("e2e", run(n_tenants, days, trials, kinds, args.latency, args.out), args.out)


def run(n_tenants: int, days: int, trials: int, kinds: list[str], latency: float, out: Path | None = None) -> dict:
    from aurion_sandbox import SandboxServer, make_tenants, sandbox_env, write_tenants_file

    today = datetime.now(UTC).date()
    end = today - timedelta(days=1)
    start = end - timedelta(days=days - 1)
    work = Path(tempfile.mkdtemp(prefix="aurion-bench-e2e-"))
    tenants = make_tenants(n_tenants)
    api = SandboxServer(tenants, latency_s=latency, max_range_days=31, today=today).start()
    postgres = c.start_postgres() if "postgres" in kinds else None
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("AURION_", "DAGSTER_"))}
    base_env |= sandbox_env(tenants) | {
        "AURION_BASE_URL": api.base_url, "AURION_TENANTS_FILE": str(write_tenants_file(work / "tenants.yaml", tenants)),
        "AURION_START_DATE": start.isoformat(), "AURION_MAX_RANGE_DAYS": "31", "DAGSTER_DISABLE_TELEMETRY": "1",
    }

    def cli(kind: str):
        env = dict(base_env, AURION_DATA_DIR=str(work / f"data-{kind}"))

        def prepare(trial) -> None:
            """A deployed instance with no runs yet (its tables made here, untimed) and no data."""
            shutil.rmtree(env["AURION_DATA_DIR"], ignore_errors=True)
            home = c.fresh_dagster_home(work, f"{kind}-{trial}", postgres if kind == "postgres" else None,
                                        create_storage=True)
            env["DAGSTER_HOME"] = str(home)
            if kind == "postgres":
                env["AURION_DAGSTER_PG_URL"] = os.environ["AURION_DAGSTER_PG_URL"]

        def contender(trial) -> dict:
            before = len(api.requests)
            figures = run_child([CLI, "backfill", "--start", str(start), "--end", str(end)], env, work / f"{kind}.log")
            return figures | requests_since(before)
        return c.untimed_setup(contender, prepare)

    def plain(trial) -> dict:
        before = len(api.requests)
        figures = run_child([sys.executable, __file__, "--child", "plain", "--window", str(start), str(end)],
                            dict(base_env, AURION_DATA_DIR=str(work / "plain")), work / "plain.log")
        return figures | requests_since(before)

    def requests_since(before: int) -> dict:
        made = api.requests[before:]
        return {"details_requests": sum(1 for r in made if r.path.endswith("/details")),
                "summary_requests": sum(1 for r in made if r.path.endswith("/summary"))}

    contenders = {f"{kind} cli": cli(kind) for kind in kinds} | {"plain": plain}
    print(f"end to end: {n_tenants} tenants x {days} days ({start}..{end}) over HTTP, latency {latency * 1000:.0f} ms; "
          f"{trials} trial(s) of {', '.join(contenders)}", flush=True)
    def save_partial(samples) -> None:
        done = len(next(iter(samples.values())))
        if done < trials:
            c.save("e2e", {**report(samples, kinds, None, n_tenants, days, start, end, latency),
                           "partial": f"{done} of {trials} trials"}, out)

    samples = c.interleave(trials, contenders, after_trial=save_partial)
    data_tests = time_data_tests(work / "data-sqlite") if "sqlite" in kinds else None
    api.stop()
    if postgres:
        postgres.stop()
    shutil.rmtree(work, ignore_errors=True)
    return report(samples, kinds, data_tests, n_tenants, days, start, end, latency)


def run_child(argv: list[str], env: dict, log: Path) -> dict:
    """Run a command to the end; its wall time, CPU (user + system) and peak RSS. Fails loudly on a non-zero exit."""
    began = time.perf_counter()
    with open(log, "w") as out:
        child = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=log.parent)
    peak = [0.0]
    watcher = threading.Thread(target=_watch_peak_rss, args=(child.pid, peak), daemon=True)
    watcher.start()
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - began
    child.returncode = os.waitstatus_to_exitcode(status)
    watcher.join()
    if child.returncode != 0:
        raise SystemExit(f"{' '.join(argv[:3])} exited {child.returncode}: {log.read_text()[-2000:]}")
    last = log.read_text().strip().splitlines()[-1:] or [""]
    extra = json.loads(last[0]) if last[0].startswith("{") else {}
    return {"child_wall_s": round(wall, 3), "child_cpu_s": round(usage.ru_utime + usage.ru_stime, 3),
            "peak_rss_mib": round(peak[0], 1), **extra}


def _watch_peak_rss(pid: int, peak: list[float]) -> None:
    status = Path(f"/proc/{pid}/status")
    while True:
        try:
            for line in status.read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak[0] = max(peak[0], int(line.split()[1]) / 1024)
        except (OSError, ValueError):
            return  # the process is gone (or a zombie without memory figures)
        time.sleep(0.1)


def plain_fetch_and_write(start: date, end: date) -> dict:
    """Child: the same requests with the same client, 8 in flight (every details window and each
    tenant's /summary, as a backfill makes them); Parquet per tenant, DuckDB tables of both."""
    from concurrent.futures import ThreadPoolExecutor

    import duckdb
    import pyarrow as pa
    import pyarrow.parquet as pq

    from aurion_pipeline.config import load_settings
    from aurion_pipeline.source.client import AurionClient
    from aurion_pipeline.source.windows import chunk_window

    settings = load_settings()
    out = settings.data_dir
    out.mkdir(parents=True, exist_ok=True)
    windows = chunk_window(start, end, settings.max_range_days)

    def one_tenant(spec) -> tuple[int, dict]:
        client = AurionClient(settings.base_url, os.environ[spec.api_key_env], tenant=spec.name)
        rows = [row for lo, hi in windows for row in client.get_details(lo, hi)]
        pq.write_table(pa.Table.from_pylist(rows), out / f"{spec.name}.parquet", compression="zstd")
        # The billing-period snapshot a backfill also takes (one /summary request per tenant).
        return len(rows), {"tenant": spec.name, "summary": json.dumps(client.get_summary())}

    with ThreadPoolExecutor(8) as pool:
        done = list(pool.map(one_tenant, settings.tenants))
    (out / "summaries").mkdir()
    pq.write_table(pa.Table.from_pylist([s for _, s in done]), out / "summaries" / "summaries.parquet")
    con = duckdb.connect(str(out / "plain.duckdb"))
    con.execute(f"create table usage as select * from read_parquet('{out}/*.parquet', union_by_name = true)")
    con.execute(f"create table summaries as select * from read_parquet('{out}/summaries/*.parquet')")
    con.close()
    rows = sum(n for n, _ in done)
    shutil.rmtree(out)
    return {"rows": rows}


def time_data_tests(data_dir: Path) -> dict:
    """Every model's data tests (what its `data_tests` asset check runs), on the warehouse a run built."""
    from aurion_pipeline.config import sql_folder
    from aurion_pipeline.sqlmodels import load_project, run_tests
    from aurion_pipeline.storage import Warehouse

    per_model = {}
    began = time.perf_counter()
    # What the sql_models step has in hand when its checks run: the parsed folder and an open writer.
    # Parsing the folder (~0.1 s) and opening the warehouse (~0.05 s) are timed apart, not as tests.
    project = load_project(sql_folder())
    with Warehouse(data_dir).writer() as con:
        setup_s = time.perf_counter() - began
        for model in project.models:
            sample, results = c.measure(lambda m=model: run_tests(con, m))
            per_model[model.qualified] = {"tests": len(results), "failed": [r.name for r in results if not r.passed],
                                          "wall_s": round(sample.wall_s, 3)}
        tests_s = time.perf_counter() - began - setup_s
    return {"total_s": round(tests_s, 3), "setup_s": round(setup_s, 3), "per_model": per_model}


def data_tests_on_synthetic_warehouse(
    n_tenants: int, days: int, trials: int = 3, memory_limit: str | None = None, data_dir: Path | None = None
) -> dict:
    """The warehouse a backfill of `n_tenants` x `days` builds (rows synthesized as the sandbox serves
    them, bench/synthetic.py), then every model's data tests timed alone, `trials` times.

    `memory_limit` applies to the models' build only (the tests run with the writer's default);
    `data_dir` keeps the load for the next run, which then only rebuilds the models."""
    from aurion_pipeline.config import sql_folder
    from aurion_pipeline.sqlmodels import build, load_project
    from aurion_pipeline.storage import Warehouse

    work = data_dir or Path(tempfile.mkdtemp(prefix="aurion-bench-tests-")) / "data"
    scenario = {"tenants": n_tenants, "days": days, "input": "synthetic rows, as the sandbox serves them"}
    if _stored_scenario(work) != scenario:
        _load_synthetic(work, n_tenants, days)
        (work / "bench_scenario.json").write_text(json.dumps(scenario))
    wh = Warehouse(work) if memory_limit is None else Warehouse(work, memory_limit=memory_limit)
    with wh.writer(publish=True) as con:
        build_sample, built = c.measure(lambda: build(con, load_project(sql_folder())))
    runs = [time_data_tests(work) for _ in range(trials)]
    if data_dir is None:
        shutil.rmtree(work.parent, ignore_errors=True)
    totals = sorted(r["total_s"] for r in runs)
    timed = runs[[r["total_s"] for r in runs].index(totals[len(totals) // 2])]  # the median trial
    print(f"models build at {n_tenants} tenants x {days} days: {build_sample.wall_s:.2f} s ({len(built)} objects)")
    print(f"data tests: min / median / max {totals[0]:.2f} / {totals[len(totals) // 2]:.2f} / {totals[-1]:.2f} s "
          "(goal <= 1 s); the median trial:")
    for name, v in sorted(timed["per_model"].items(), key=lambda kv: -kv[1]["wall_s"])[:8]:
        print(f"  {name:<40s} {v['tests']:3d} tests {v['wall_s']:7.3f} s")
    return {"scenario": scenario, "build_memory_limit": memory_limit or "the writer's default",
            "models_build_s": round(build_sample.wall_s, 3), "trials_total_s": [r["total_s"] for r in runs],
            "data_tests": timed, "goal_s_max": GOALS["data_tests_s_max"],
            "met": totals[len(totals) // 2] <= GOALS["data_tests_s_max"]}


def _stored_scenario(data_dir: Path) -> dict | None:
    marker = data_dir / "bench_scenario.json"
    return json.loads(marker.read_text()) if marker.is_file() else None


def _load_synthetic(data_dir: Path, n_tenants: int, days: int) -> None:
    from bench_scale import setup
    from synthetic import MemoryClient

    from aurion_pipeline import ingest
    from aurion_pipeline.storage import Warehouse

    shutil.rmtree(data_dir, ignore_errors=True)
    today = datetime.now(UTC).date()
    end = today - timedelta(days=1)
    start = end - timedelta(days=days - 1)
    usage, _ = setup(n_tenants, start, end, today)
    wh = Warehouse(data_dir)
    clients = {t: MemoryClient(usage, t) for t in usage.tenants}
    ingest.load_usage_range(clients, wh, start, end, max_range_days=31, max_workers=8, run_id="bench")
    ingest.load_summaries(clients, wh, max_workers=8, run_id="bench-summary")


def report(samples, kinds, data_tests, n_tenants, days, start, end, latency) -> dict:
    contenders = {name: {**c.summarize(s), "peak_rss_mib_max": max(x.extra["peak_rss_mib"] for x in s),
                         "child_cpu_s_all": [x.extra["child_cpu_s"] for x in s], "last_trial": s[-1].extra}
                  for name, s in samples.items()}
    ratios = {f"{kind} cli / plain": c.ratio(samples[f"{kind} cli"], samples["plain"]) for kind in kinds}
    if len(kinds) == 2:
        ratios["postgres cli / sqlite cli"] = c.ratio(samples["postgres cli"], samples["sqlite cli"])
    goals = {"peak_rss_met": {name: v["peak_rss_mib_max"] <= GOALS["peak_rss_mib_max"]
                              for name, v in contenders.items()}}
    if "postgres" in kinds:
        goals["postgres_vs_plain_met"] = (ratios["postgres cli / plain"]["wall_median_of_trial_ratios"]
                                          <= GOALS["postgres_cli_vs_plain_max"])
    if data_tests:
        goals["data_tests_met"] = data_tests["total_s"] <= GOALS["data_tests_s_max"]
    result = {"scenario": {"tenants": n_tenants, "days": days, "start": str(start), "end": str(end),
                           "latency_s": latency, "max_range_days": 31, "transport": "HTTP on loopback (sandbox)"},
              "contenders": contenders, "ratios": ratios, "data_tests": data_tests, "goals": {**GOALS, **goals}}
    for name, v in contenders.items():
        print(f"{name:<14s} wall min {v['wall_s_min']:8.2f}  median {v['wall_s_median']:8.2f}  "
              f"max {v['wall_s_max']:8.2f} s"
              f"  requests {v['last_trial']['details_requests']} + {v['last_trial']['summary_requests']} summaries"
              f"  peak RSS {v['peak_rss_mib_max']:.0f} MiB")
    for name, r in ratios.items():
        print(f"{name:<28s} {r['wall_median_of_trial_ratios']:.2f}x wall (trials {r['wall_trial_ratios']})")
    if data_tests:
        print(f"data tests {data_tests['total_s']:.2f} s (goal <= 1 s)")
    return result


if __name__ == "__main__":
    main()
