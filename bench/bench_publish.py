"""Publishing the analyst copy: a byte copy of warehouse.duckdb (what we did before, DuckDB 2.0's own
format, which DuckDB 1.x cannot open) against `COPY FROM DATABASE` into a file attached with
`STORAGE_VERSION` (what we do now). Trials are interleaved so the machine's other load hits both.

    .venv/bin/python bench/bench_publish.py path/to/warehouse.duckdb --trials 7
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from aurion_pipeline.config import DEFAULT_ANALYST_STORAGE_VERSION
from aurion_pipeline.storage.publish import publish_analyst_copy


def byte_copy(warehouse: Path, analyst: Path) -> None:
    tmp = analyst.with_name(analyst.name + ".tmp")
    shutil.copyfile(warehouse, tmp)
    with open(tmp, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, analyst)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("warehouse", type=Path)
    parser.add_argument("--trials", type=int, default=7)
    parser.add_argument("--storage-version", default=DEFAULT_ANALYST_STORAGE_VERSION)
    args = parser.parse_args()
    contenders = {
        "byte copy (before)": lambda w, a: byte_copy(w, a),
        f"COPY FROM DATABASE, {args.storage_version} (now)":
            lambda w, a: publish_analyst_copy(w, a, args.storage_version),
    }
    times: dict[str, list[float]] = {name: [] for name in contenders}
    with tempfile.TemporaryDirectory() as scratch:
        warehouse = Path(scratch) / "warehouse.duckdb"
        shutil.copyfile(args.warehouse, warehouse)
        for _ in range(args.trials):
            for name, publish in contenders.items():
                started = time.perf_counter()
                publish(warehouse, Path(scratch) / "analyst.duckdb")
                times[name].append(time.perf_counter() - started)
        sizes = {"warehouse": warehouse.stat().st_size, "analyst (last)": (Path(scratch) / "analyst.duckdb").stat().st_size}
    print(f"{args.warehouse} ({sizes['warehouse'] / 1e6:.1f} MB), {args.trials} interleaved trials each")
    for name, seconds in times.items():
        print(f"  {name:<40} min {min(seconds):.3f}s  median {statistics.median(seconds):.3f}s  max {max(seconds):.3f}s")
    print(f"  analyst copy written now: {sizes['analyst (last)'] / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
