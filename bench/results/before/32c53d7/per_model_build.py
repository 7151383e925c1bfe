"""Each model's build time after the same load, for the code of one worktree: ours, or 32c53d7's.

    MAIN=<this checkout>; git worktree add /tmp/ab/new HEAD; git worktree add /tmp/ab/old 32c53d7
    cd /tmp/ab/<w> && PYTHONPATH=$PWD $MAIN/.venv/bin/python $MAIN/bench/results/before/32c53d7/per_model_build.py $PWD

Synthesizes 1,000 tenants x 3 years as bench_scale.py does, loads them with that code's own ingest
path (`ingest` now, `pipeline` then), then builds every model in one writer session as a backfill run
does, timing each statement. Prints one JSON line (per_model_build_2026-12-02_1641.jsonl holds four,
old/new alternated twice).
"""

import importlib
import json
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(sys.argv[1])
sys.path.insert(0, str(ROOT / "bench"))

import bench_scale  # noqa: E402  (the worktree's own, found through sys.path)
from synthetic import MemoryClient  # noqa: E402

from aurion_pipeline.sqlmodels import build, load_project  # noqa: E402

try:  # the layout since issue 9
    from aurion_pipeline import ingest as loader
    from aurion_pipeline.storage import Warehouse

    LOAD_OPTIONS = {"publish": False}
except ImportError:  # 32c53d7's
    from aurion_pipeline.warehouse import Warehouse

    from aurion_pipeline import pipeline as loader

    LOAD_OPTIONS = {}


def main() -> None:
    today = datetime.now(UTC).date()
    end = today - timedelta(days=1)
    start = end - timedelta(days=1095)
    usage, _ = bench_scale.setup(1000, start, end, today)
    work = Path(tempfile.mkdtemp(prefix="per-model-build-"))
    wh = Warehouse(work / "data")
    clients = {t: MemoryClient(usage, t) for t in usage.tenants}
    loader.load_usage_range(clients, wh, start, end, max_range_days=31, max_workers=8, run_id="bench", **LOAD_OPTIONS)
    loader.load_summaries(clients, wh, max_workers=8, run_id="bench-summary", **LOAD_OPTIONS)
    times = time_statements(importlib.import_module("aurion_pipeline.sqlmodels.build"))
    project = load_project(ROOT / "dbt_like_sql")
    began = time.perf_counter()
    with wh.writer(publish=True) as con:
        build(con, project)
    total = time.perf_counter() - began
    shutil.rmtree(work, ignore_errors=True)
    per_model = dict(sorted(times.items(), key=lambda kv: -kv[1]))
    print(json.dumps({"root": str(ROOT), "total_s": round(total, 2), "per_model": per_model}))


def time_statements(module) -> dict[str, float]:
    """Wrap the build's one statement runner (`_execute`, in both layouts) to add up seconds per file."""
    times: dict[str, float] = {}
    run = module._execute

    def timed(con, project, path, sql):
        began = time.perf_counter()
        result = run(con, project, path, sql)
        times[path.stem] = round(times.get(path.stem, 0) + time.perf_counter() - began, 3)
        return result

    module._execute = timed
    return times


if __name__ == "__main__":
    main()
