"""Every benchmark in turn, each in its own process; results in bench/results/, headline figures printed.

Run: make bench   (or .venv/bin/python bench/run_all.py [--quick] [--only backfill,scale])

About an hour on 2 cores (--quick: about 10 minutes). Each script prints its own figures and ratios and
saves bench/results/<name>.json (--quick: bench/results/quick/); this one adds summary.json there.
docs/performance.md explains them.
"""

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c

BENCHMARKS = ("normalize", "backfill", "daily_tick", "scale", "e2e", "forecast")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    p.add_argument("--quick", action="store_true", help="smoke run: fewer trials, smaller scale")
    p.add_argument("--profile", action="store_true", help="also write cProfile summaries to bench/results/profiles/")
    p.add_argument("--only", default=",".join(BENCHMARKS), help=f"comma-separated subset of {', '.join(BENCHMARKS)}")
    args = p.parse_args()
    chosen = [b for b in args.only.split(",") if b]
    unknown = sorted(set(chosen) - set(BENCHMARKS))
    if unknown:
        raise SystemExit(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    flags = (["--quick"] if args.quick else []) + (["--profile"] if args.profile else [])
    seconds, failed = {}, []
    began = time.perf_counter()
    for name in chosen:
        script = c.ROOT / "bench" / f"bench_{name}.py"
        print(f"\n=== {name}: {script.relative_to(c.ROOT)} {' '.join(flags)}", flush=True)
        started = time.perf_counter()
        quiet = name in ("backfill", "daily_tick", "e2e")
        code = subprocess.run([sys.executable, str(script), *flags], cwd=c.ROOT,
                              stderr=subprocess.DEVNULL if quiet else None).returncode
        seconds[name] = round(time.perf_counter() - started, 1)
        if code != 0:
            failed.append(name)
            print(f"=== {name} FAILED (exit {code})", flush=True)
    summary = headlines(chosen, c.results_dir(args.quick))
    summary["seconds_per_benchmark"] = seconds
    summary["total_minutes"] = round((time.perf_counter() - began) / 60, 1)
    summary["quick"] = args.quick
    c.save("summary", summary)
    print("\n" + "\n".join(f"{k}: {v}" for k, v in summary["headlines"].items()))
    if failed:
        raise SystemExit(f"failed: {', '.join(failed)}")


def headlines(chosen: list[str], results: Path) -> dict:
    """One line per figure the issue asks for, read back from the JSON files."""
    def load(name):
        path = results / f"{name}.json"
        return json.loads(path.read_text()) if name in chosen and path.exists() else None

    lines: dict[str, str] = {}
    if n := load("normalize"):
        clean = n["scenarios"]["clean"]
        lines["normalize"] = (f"{clean['rows_per_s'] / 1e6:.2f} M rows/s "
                              f"({clean['ratio_to_floor']:.2f}x pa.Table.from_pylist)")
    if b := load("backfill"):
        for kind, g in b["goals"].items():
            r = b["ratios"][g["ratio"]]
            lines[f"backfill on {kind}"] = (
                f"{g['ratio']}: {r['wall_median_of_trial_ratios']:.2f}x (trials {r['wall_trial_ratios']}), "
                f"goal <= {g['goal_max']}x: {'met' if g['met'] else 'NOT met'}")
    if e := load("e2e"):
        sc = e["scenario"]
        for name, v in e["contenders"].items():
            lines[f"e2e {sc['tenants']} tenants x {sc['days']} days, {name}"] = (
                f"median {v['wall_s_median']:.1f} s (min {v['wall_s_min']:.1f}, max {v['wall_s_max']:.1f}), "
                f"peak RSS {v['peak_rss_mib_max']:.0f} MiB")
        for name, r in e["ratios"].items():
            lines[f"e2e {name}"] = f"{r['wall_median_of_trial_ratios']:.2f}x"
        if e["data_tests"]:
            lines["e2e data tests"] = f"{e['data_tests']['total_s']:.2f} s (goal <= 1 s)"
    if t := load("daily_tick"):
        for n_tenants, v in t["by_tenants"].items():
            lines[f"daily tick, {n_tenants} tenant(s)"] = (
                f"{v['details_requests']['ours']} requests (floor {v['details_requests']['floor']}), "
                f"{v['ours']['wall_s_median']:.1f} s; "
                f"{v['ratios']['ours_vs_dagster_floor']['wall_median_of_trial_ratios']:.1f}x Dagster floor")
    if s := load("scale"):
        g = s["goals"]
        lines["scale normalize"] = f"{s['normalization']['rows_per_s'] / 1e6:.2f} M rows/s (goal >= 1)"
        for variant, seconds in s["load_plus_models_s"].items():
            lines[f"scale load + models, {variant}"] = (f"{seconds:.1f} s (goal <= 10): "
                                                        f"{'met' if g['load_plus_models_met'][variant] else 'NOT met'}")
        for name, q in s["analyst"]["queries"].items():
            lines[f"query {name}"] = f"{q['warm_best_s']:.3f} s (goal <= 1)"
        for variant, child in s["streaming_child"].items():
            lines[f"scale peak RSS, {variant}"] = (f"{child['peak_rss_mib']:.0f} MiB (goal <= 1024; load alone "
                                                   f"{child['load_peak_rss_mib']:.0f} MiB)")
        lines["scale data tests"] = f"{s['models']['data_tests_total_s']:.1f} s"
    if f := load("forecast"):
        for name, data in f["datasets"].items():
            if not data["available"]:
                lines[f"forecast {name}"] = data["note"]
                continue
            pooled = data["accuracy"].get("all", {})
            parts = [f"day {d}: MAPE {pooled[d]['mape']:.1f}% vs naive {pooled[d]['naive_mape']:.1f}%"
                     for d in ("7", "14", "21") if d in pooled]
            cover = pooled.get("all", {}).get("interval_coverage")
            lines[f"forecast {name}"] = "; ".join(parts) + (f"; 80% interval held {100 * cover:.0f}%" if cover else "")
    return {"headlines": lines}


if __name__ == "__main__":
    main()
