"""How fast `normalize_details` is: 1,000 tenants x 3 years of daily rows in windows of <= 31 days.

Run: .venv/bin/python bench/bench_normalize.py [--tenants 1000] [--repeat 3]
Prints rows/s and the ratio to `pa.Table.from_pylist` on the same rows (the floor: any normalizer
must at least turn the dicts into Arrow once). Scenarios: clean payloads; a new metric on every row
(the `_extra` path); one wrongly typed window (the per-row error path).
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import date, timedelta

import pyarrow as pa

from aurion_pipeline.normalize import RawWindow, normalize_details

FIRST_DAY, DAYS, WINDOW_DAYS = date(2023, 1, 1), 3 * 365 + 1, 31


def make_windows(tenants: int, new_metric: bool = False, seed: int = 7) -> list[RawWindow]:
    """API-shaped windows: ~2% of days omitted, ~5% with `llm_tokens: null`, voice int or float."""
    rnd = random.Random(seed)
    days = [(FIRST_DAY + timedelta(d)).isoformat() for d in range(DAYS)]
    windows = []
    for t in range(tenants):
        for first in range(0, DAYS, WINDOW_DAYS):
            rows = []
            for day in days[first:first + WINDOW_DAYS]:
                if rnd.random() < 0.02:
                    continue
                tokens = None if rnd.random() < 0.05 else {"input": rnd.randrange(10**6), "output": rnd.randrange(10**5)}
                voice = rnd.randrange(500) if rnd.random() < 0.5 else round(rnd.random() * 500, 2)
                row = {"date": day, "voice_minutes": voice, "api_calls": rnd.randrange(50_000), "llm_tokens": tokens}
                if new_metric:
                    row["video_minutes"] = rnd.randrange(100)
                rows.append(row)
            last = min(first + WINDOW_DAYS, DAYS) - 1
            windows.append(RawWindow(f"tenant-{t:04d}", FIRST_DAY + timedelta(first), FIRST_DAY + timedelta(last), rows))
    return windows


def best_of(repeat: int, fn) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    clean = make_windows(args.tenants)
    bad = list(clean)
    bad[len(bad) // 2] = RawWindow(bad[len(bad) // 2].tenant, bad[len(bad) // 2].start, bad[len(bad) // 2].end,
                                   [{**bad[len(bad) // 2].rows[0], "api_calls": "12"}])
    scenarios = {"clean": clean, "new metric on every row": make_windows(args.tenants, new_metric=True),
                 "one bad window (error path)": bad}
    rows = [row for w in clean for row in w.rows]
    floor = best_of(args.repeat, lambda: pa.Table.from_pylist(rows))
    print(f"{len(rows):,} rows in {len(clean):,} windows")
    print(f"{'floor: pa.Table.from_pylist':32s} {floor:6.3f} s  {len(rows) / floor / 1e6:5.2f} M rows/s")
    for name, windows in scenarios.items():
        n = sum(len(w.rows) for w in windows)
        seconds = best_of(args.repeat, lambda: normalize_details(windows))
        print(f"{name:32s} {seconds:6.3f} s  {n / seconds / 1e6:5.2f} M rows/s  {seconds / floor:4.2f}x floor")


if __name__ == "__main__":
    main()
