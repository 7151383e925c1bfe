"""Publishing the analyst copy: a byte copy of warehouse.duckdb (what we did before: whatever format the
warehouse is in, DuckDB 2.0's own for an old warehouse, which DuckDB 1.x cannot open), `COPY FROM
DATABASE` into a file attached with `STORAGE_VERSION` (the path for a warehouse in another format), and
`publish_analyst_copy` (now: a byte copy when the warehouse is already in the analyst format, as one
the pipeline creates is, else the COPY). Trials are interleaved so the machine's other load hits all.

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
from aurion_pipeline.storage.publish import copy_database, format_number, publish_analyst_copy


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
    def copy_from_database(w: Path, a: Path) -> None:
        a.unlink(missing_ok=True)
        copy_database(w, a, args.storage_version)

    contenders = {
        "byte copy (before)": byte_copy,
        f"COPY FROM DATABASE, {args.storage_version}": copy_from_database,
        "publish_analyst_copy (now)": lambda w, a: publish_analyst_copy(w, a, args.storage_version),
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
        sizes = {"warehouse": warehouse.stat().st_size,
                 "analyst (last)": (Path(scratch) / "analyst.duckdb").stat().st_size}
    print(f"{args.warehouse} ({sizes['warehouse'] / 1e6:.1f} MB, storage format {format_number(args.warehouse)}), "
          f"{args.trials} interleaved trials each")
    for name, seconds in times.items():
        print(f"  {name:<40} min {min(seconds):.3f}s  median {statistics.median(seconds):.3f}s  "
              f"max {max(seconds):.3f}s")
    print(f"  analyst copy written now: {sizes['analyst (last)'] / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
