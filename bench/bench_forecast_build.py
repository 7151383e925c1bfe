"""What the forecast models cost to build: each model's build alone, at N tenants x 3 years, within the
writer's memory limit (AURION_DUCKDB_MEMORY_LIMIT, 384MB by default).

Run: .venv/bin/python bench/bench_forecast_build.py [--tenants 1000] [--trials 3] [--warehouse PATH]

The warehouse is the one a backfill of N sandbox tenants builds (rows synthesized as the sandbox serves
them, bench/synthetic.py, loaded by `ingest` as in bench_e2e.py --data-tests-only); `--warehouse PATH`
keeps it (and reuses it when it exists) so that several sittings compare the same data. Each trial
copies it, opens the copy as the pipeline's writer does (same memory limit) and builds the models one
at a time in build order, timing each: a `materialized: table` model's figure is what every run pays;
a view's is only its creation (its cost is paid by each query that reads it). A model that fails
(e.g. out of memory) is reported with its one-line error, and the trial stops there.
"""

from __future__ import annotations

import shutil
import statistics
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c


def main() -> None:
    p = c.parser(__doc__)
    p.add_argument("--tenants", type=int, default=None, help="default 1000 (--quick: 100)")
    p.add_argument("--days", type=int, default=1096)
    p.add_argument("--trials", type=int, default=None, help="default 3 (--quick: 1)")
    p.add_argument("--warehouse", type=Path, default=None, help="keep (or reuse) the loaded warehouse file here")
    p.add_argument("--memory-limit", default=None, help="DuckDB memory limit of the builds (default: the writer's)")
    p.add_argument("--models", default="", help="comma-separated models to time (default: every forecast_* model)")
    args = p.parse_args()
    n_tenants = args.tenants or (100 if args.quick else 1000)
    trials = args.trials or (1 if args.quick else 3)
    work = Path(tempfile.mkdtemp(prefix="aurion-bench-forecast-build-"))
    try:
        source = args.warehouse or work / "loaded.duckdb"
        if not source.exists():
            load_warehouse(n_tenants, args.days, source, work)
        result = time_builds(source, work, trials, [m for m in args.models.split(",") if m], args.memory_limit)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result["scenario"] = {"tenants": n_tenants, "days": args.days, "warehouse": str(source)}
    c.save("forecast_build", result, args.out)


def load_warehouse(n_tenants: int, days: int, path: Path, work: Path) -> None:
    """The warehouse a backfill of `n_tenants` x `days` loads (raw tables only), written to `path`."""
    from bench_scale import setup
    from synthetic import MemoryClient

    from aurion_pipeline import ingest
    from aurion_pipeline.storage import Warehouse

    today = datetime.now(UTC).date()
    end = today - timedelta(days=1)
    start = end - timedelta(days=days - 1)
    usage, _ = setup(n_tenants, start, end, today)
    wh = Warehouse(work / "load")
    clients = {t: MemoryClient(usage, t) for t in usage.tenants}
    print(f"loading {n_tenants} tenants x {days} days ({start}..{end})", flush=True)
    ingest.load_usage_range(clients, wh, start, end, max_range_days=31, max_workers=8, run_id="bench")
    ingest.load_summaries(clients, wh, max_workers=8, run_id="bench-summary")
    with wh.writer() as con:
        con.execute("checkpoint")
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(wh.path, path)


def time_builds(source: Path, work: Path, trials: int, names: list[str], memory_limit: str | None) -> dict:
    """Per model: wall and CPU seconds of its build in each trial (a fresh copy of `source` each time)."""
    from aurion_pipeline.config import sql_folder
    from aurion_pipeline.sqlmodels import build, load_project, seed
    from aurion_pipeline.storage import Warehouse

    project = load_project(sql_folder())
    timed = set(names) or {m.qualified for m in project.models if m.name.startswith("forecast_")}
    samples: dict[str, list[c.Sample]] = {}
    failures: dict[str, str] = {}
    for trial in range(trials):
        data = work / f"trial-{trial}"
        data.mkdir()
        wh = Warehouse(data, memory_limit=memory_limit) if memory_limit else Warehouse(data)
        shutil.copyfile(source, wh.path)
        with wh.writer() as con:
            seed(con, project)
            for model in project.models:
                try:
                    sample, _ = c.measure(lambda m=model: build(con, project, only={m.qualified}))
                except Exception as exc:  # reported, and the trial stops
                    failures[model.qualified] = str(exc).splitlines()[0][:300]
                    print(f"  trial {trial + 1}: {model.qualified} failed: {failures[model.qualified]}", flush=True)
                    break
                if model.qualified in timed:
                    samples.setdefault(model.qualified, []).append(sample)
                    print(f"  trial {trial + 1}/{trials} {model.qualified:<36s} {model.materialized:<5s} "
                          f"{sample.wall_s:7.2f} s wall {sample.cpu_s:7.2f} s cpu", flush=True)
        shutil.rmtree(data, ignore_errors=True)
    per_model = {name: {**c.summarize(s), "materialized": next(m.materialized for m in project.models
                                                               if m.qualified == name)}
                 for name, s in samples.items()}
    tables = [name for name, v in per_model.items() if v["materialized"] == "table"]
    total = ([sum(samples[n][t].wall_s for n in tables) for t in range(min(len(samples[n]) for n in tables))]
             if tables else [])
    print("build wall s (min / median / max):")
    for name, v in per_model.items():
        print(f"  {name:<36s} {v['materialized']:<5s} "
              f"{v['wall_s_min']:7.2f} {v['wall_s_median']:7.2f} {v['wall_s_max']:7.2f}")
    if total:
        print(f"  tables together: median {statistics.median(total):.2f} s")
    return {"per_model": per_model, "tables_total_wall_s": total, "failures": failures,
            "memory_limit": memory_limit or Warehouse(work).memory_limit}


if __name__ == "__main__":
    main()
