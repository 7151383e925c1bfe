"""How fast `normalize_details` is: 1,000 tenants x 3 years of daily rows in windows of <= 31 days.

Run: .venv/bin/python bench/bench_normalize.py [--quick] [--tenants 1000] [--repeat 3]
Prints rows/s and the ratio to `pa.Table.from_pylist` on the same rows (the floor: any normalizer
must at least turn the dicts into Arrow once), timed in turn with each scenario (best of --repeat).
Scenarios: clean payloads; a new metric on every row (the `_extra` path); one wrongly typed window
(the per-row error path); both at once (each slice of the error path builds its `_extra`).
Saves bench/results/normalize.json.
"""

from __future__ import annotations

import random
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import pyarrow as pa

from aurion_pipeline.transform.usage import RawWindow, normalize_details

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c

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
                tokens = (None if rnd.random() < 0.05
                          else {"input": rnd.randrange(10**6), "output": rnd.randrange(10**5)})
                voice = rnd.randrange(500) if rnd.random() < 0.5 else round(rnd.random() * 500, 2)
                row = {"date": day, "voice_minutes": voice, "api_calls": rnd.randrange(50_000), "llm_tokens": tokens}
                if new_metric:
                    row["video_minutes"] = rnd.randrange(100)
                rows.append(row)
            last = min(first + WINDOW_DAYS, DAYS) - 1
            windows.append(RawWindow(f"tenant-{t:04d}", FIRST_DAY + timedelta(first), FIRST_DAY + timedelta(last),
                                     rows))
    return windows


def with_one_bad_window(windows: list[RawWindow]) -> list[RawWindow]:
    """The windows with the middle one's rows replaced by its first row with a wrongly typed api_calls."""
    bad, mid = list(windows), windows[len(windows) // 2]
    bad[len(bad) // 2] = RawWindow(mid.tenant, mid.start, mid.end, [{**mid.rows[0], "api_calls": "12"}])
    return bad


def best_of(repeat: int, fn) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = c.parser(__doc__)
    parser.add_argument("--tenants", type=int, default=None, help="default 1000 (--quick: 100)")
    parser.add_argument("--repeat", type=int, default=None, help="default 5 (--quick: 2)")
    args = parser.parse_args()
    tenants, repeat = args.tenants or (100 if args.quick else 1000), args.repeat or (2 if args.quick else 5)
    clean, drifted = make_windows(tenants), make_windows(tenants, new_metric=True)
    scenarios = {"clean": clean, "new metric on every row": drifted,
                 "one bad window (error path)": with_one_bad_window(clean),
                 "new metric and one bad window": with_one_bad_window(drifted)}
    rows = [row for w in clean for row in w.rows]
    print(f"{len(rows):,} rows in {len(clean):,} windows")
    result = {"tenants": tenants, "rows": len(rows), "windows": len(clean), "repeat": repeat, "scenarios": {}}
    for name, windows in scenarios.items():
        n = sum(len(w.rows) for w in windows)
        floor_times, times = [], []
        for _ in range(repeat):  # in turn, so a burst of someone else's load hits both
            floor_times.append(best_of(1, lambda: pa.Table.from_pylist(rows)))
            times.append(best_of(1, lambda: normalize_details(windows)))  # noqa: B023 - called in this iteration
        seconds, floor = min(times), min(floor_times)
        result["scenarios"][name] = {"rows": n, "best_s": round(seconds, 4), "rows_per_s": round(n / seconds),
                                     "floor_best_s": round(floor, 4), "floor_rows_per_s": round(len(rows) / floor),
                                     "ratio_to_floor": round(seconds / floor, 3),
                                     "all_s": [round(t, 4) for t in times],
                                     "floor_all_s": [round(t, 4) for t in floor_times]}
        print(f"{name:32s} {seconds:6.3f} s  {n / seconds / 1e6:5.2f} M rows/s  {seconds / floor:4.2f}x floor "
              f"(from_pylist {len(rows) / floor / 1e6:.2f} M rows/s)")
    c.save("normalize", result, args.out)


if __name__ == "__main__":
    main()
