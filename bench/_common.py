"""What every benchmark shares: machine facts, paired timing, peak memory, results as JSON.

The machines are shared and noisy, so no figure stands alone: each is reported beside a baseline
measured in the same process, and trials of the thing and its baseline are interleaved so that a
burst of someone else's load hits both. We report medians over trials, the median of the per-trial
ratios, and CPU seconds (less sensitive to other tenants of the machine than wall time).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


def machine() -> dict:
    """Where and with what a figure was measured."""
    def version(pkg: str) -> str | None:
        try:
            return metadata.version(pkg)
        except metadata.PackageNotFoundError:
            return None

    return {
        "date_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
        **{pkg: version(pkg) for pkg in ("dagster", "duckdb", "pyarrow", "numpy", "pandas")},
        "git_commit": _git("rev-parse", "--short", "HEAD"),
        "git_dirty_files": len([line for line in _git("status", "--porcelain", "--", "aurion_pipeline").splitlines()
                                if line]),
    }


def _command() -> str:
    script = Path(sys.argv[0]).resolve()
    shown = script.relative_to(ROOT) if script.is_relative_to(ROOT) else script
    return " ".join([".venv/bin/python", str(shown), *sys.argv[1:]])


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


_AT_START = machine()  # the load average when the benchmark began, not when it saved


def parser(doc: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=doc.strip().splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer trials and a smaller scale (a smoke run, ~1 min)")
    p.add_argument("--profile", action="store_true", help="also write a cProfile summary of the measured code")
    p.add_argument("--out", type=Path, default=None, help="JSON result file (default bench/results/<name>.json)")
    return p


# --- timing ---------------------------------------------------------------------------------------


@dataclass
class Sample:
    wall_s: float
    cpu_s: float  # this process, all threads
    extra: dict = field(default_factory=dict)


def measure(fn: Callable[[], object]) -> tuple[Sample, object]:
    wall, cpu = time.perf_counter(), time.process_time()
    value = fn()
    return Sample(time.perf_counter() - wall, time.process_time() - cpu), value


def untimed_setup(run: Callable, prepare: Callable) -> Callable:
    """`run` with a `prepare(trial)` that `interleave` calls just before it, outside the timing."""
    run.prepare = prepare
    return run


def interleave(trials: int, contenders: dict[str, Callable[[int], dict | None]],
               after_trial: Callable[[dict[str, list[Sample]]], None] | None = None) -> dict[str, list[Sample]]:
    """Run every contender once per trial, in turn; each returns optional extra figures. A contender
    made with `untimed_setup` gets its set-up called first, untimed.
    `after_trial` sees the samples so far after each complete trial (to save partial results)."""
    samples: dict[str, list[Sample]] = {name: [] for name in contenders}
    for trial in range(trials):
        for name, fn in contenders.items():
            if hasattr(fn, "prepare"):
                fn.prepare(trial)
            sample, extra = measure(lambda: fn(trial))  # noqa: B023 - called in this iteration
            sample.extra = extra or {}
            samples[name].append(sample)
            print(f"  trial {trial + 1}/{trials} {name:<28s} {sample.wall_s:8.3f} s wall {sample.cpu_s:8.3f} s cpu",
                  flush=True)
        if after_trial:
            after_trial(samples)
    return samples


def summarize(samples: list[Sample]) -> dict:
    walls, cpus = [s.wall_s for s in samples], [s.cpu_s for s in samples]
    return {"trials": len(samples), "wall_s_median": _r(statistics.median(walls)), "wall_s_min": _r(min(walls)),
            "wall_s_max": _r(max(walls)), "wall_s_all": [_r(w) for w in walls],
            "cpu_s_median": _r(statistics.median(cpus))}


def ratio(samples: list[Sample], baseline: list[Sample]) -> dict:
    """Median of per-trial ratios (each trial's pair ran back to back), plus the ratio of medians."""
    per_trial = [a.wall_s / b.wall_s for a, b in zip(samples, baseline)]
    return {
        "wall_median_of_trial_ratios": _r(statistics.median(per_trial), 3),
        "wall_ratio_of_medians": _r(statistics.median(s.wall_s for s in samples)
                                    / statistics.median(s.wall_s for s in baseline), 3),
        "wall_ratio_of_minima": _r(min(s.wall_s for s in samples) / min(s.wall_s for s in baseline), 3),
        "cpu_ratio_of_medians": _r(statistics.median(s.cpu_s for s in samples)
                                   / max(statistics.median(s.cpu_s for s in baseline), 1e-9), 3),
        "wall_trial_ratios": [_r(x, 3) for x in per_trial],
    }


def best_of(repeat: int, fn: Callable[[], object]) -> tuple[float, list[float]]:
    times = [measure(fn)[0].wall_s for _ in range(repeat)]
    return min(times), times


def _r(x: float, digits: int = 4) -> float:
    return round(float(x), digits)


# --- memory ---------------------------------------------------------------------------------------


def peak_rss_mib() -> float:
    """Peak resident memory of this process since start (or since the last `reset_peak_rss`).

    Linux: VmHWM of /proc/self/status. Not ru_maxrss there: a child started by a big parent inherits
    the parent's peak in ru_maxrss (the kernel carries it across fork + exec). Elsewhere: ru_maxrss."""
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB; macOS: bytes (rough)


def current_rss_mib() -> float:
    try:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return float("nan")


def reset_peak_rss() -> bool:
    """Linux only: restart the peak-RSS clock, so a stage's own peak can be read. False if unsupported."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


class Stage:
    """`with Stage(report, "name"):` records wall, CPU and the stage's own peak RSS."""

    def __init__(self, report: dict, name: str) -> None:
        self.report, self.name = report, name

    def __enter__(self) -> Stage:
        self.rss_reset = reset_peak_rss()
        self.rss_before = current_rss_mib()
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        wall, cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu
        self.report[self.name] = {
            "wall_s": _r(wall), "cpu_s": _r(cpu), "rss_before_mib": _r(self.rss_before, 1),
            "peak_rss_mib": _r(peak_rss_mib(), 1) if self.rss_reset else None,
        }
        peak = self.report[self.name]["peak_rss_mib"]
        print(f"  {self.name:<40s} {wall:8.3f} s wall {cpu:8.3f} s cpu"
              + (f"  peak RSS {peak:7.1f} MiB" if peak is not None else ""), flush=True)


# --- Dagster instances ----------------------------------------------------------------------------


def fresh_dagster_home(root: Path, name: str, postgres=None, *, create_storage: bool = False) -> Path:
    """A persistent instance like the CLI's: a new DAGSTER_HOME seeded with dagster.yaml (SQLite), or,
    given a running `postgres` cluster (`start_postgres()`), with dagster_postgres.yaml and a new empty
    database named after the home in AURION_DAGSTER_PG_URL. `create_storage`: open the instance once,
    so that its tables exist, as they do in a deployed instance (creating them takes ~2.6 s on
    PostgreSQL, once per instance, not per run)."""
    home = root / name
    if home.exists():
        shutil.rmtree(home)
    home.mkdir(parents=True)
    shutil.copyfile(ROOT / ("dagster_postgres.yaml" if postgres else "dagster.yaml"), home / "dagster.yaml")
    if postgres:
        database = "".join(ch if ch.isalnum() else "_" for ch in name.lower())
        os.environ["AURION_DAGSTER_PG_URL"] = postgres.create_database(f"{database}_{time.time_ns() % 10**9}")
    os.environ["DAGSTER_HOME"] = str(home)
    if create_storage:
        import dagster as dg

        with dg.DagsterInstance.get():
            pass
    return home


def start_postgres():
    """A throwaway PostgreSQL server (tests/pg.py: initdb + pg_ctl on a free loopback port), stopped and
    removed when this process exits, also on SIGTERM."""
    import atexit
    import signal

    sys.path.insert(0, str(ROOT / "tests"))
    from pg import start_cluster

    cluster = start_cluster()
    atexit.register(cluster.stop)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that atexit runs
    return cluster


BATCHING_VARS = ("DAGSTER_EVENT_BATCH_SIZE", "DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS")


@contextmanager
def dagster_batching(values: dict[str, str] | None) -> Iterator[None]:
    """Run with exactly these Dagster batching variables (None: neither, as Dagster ships); restore after.
    Our runs set them themselves (aurion_pipeline/defs/instance_tuning.py) when they are unset."""
    saved = {name: os.environ.pop(name) for name in BATCHING_VARS if name in os.environ}
    os.environ.update(values or {})
    try:
        yield
    finally:
        for name in BATCHING_VARS:
            os.environ.pop(name, None)
        os.environ.update(saved)


def quiet_dagster() -> None:
    """Dagster logs every event to stderr at DEBUG; printing 2,000 lines would be part of the timing."""
    import logging

    os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")
    for name in ("dagster", "dagster.builtin"):
        logging.getLogger(name).setLevel(logging.WARNING)


# --- results --------------------------------------------------------------------------------------


def results_dir(quick: bool) -> Path:
    """Quick (smoke) runs keep their JSON apart, so they never replace the full run's figures."""
    return RESULTS / "quick" if quick else RESULTS


def save(name: str, result: dict, out: Path | None = None) -> Path:
    path = out or results_dir("--quick" in sys.argv) / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    result = {"benchmark": name, "command": _command(), "machine": _AT_START,
              "finished_utc": datetime.now(UTC).isoformat(timespec="seconds"), **result}
    path.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(f"saved {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return path


def profile_to(path: Path, fn: Callable[[], object], top: int = 40) -> object:
    """Run `fn` under cProfile; write the top entries by cumulative and by own time to `path`."""
    import cProfile
    import io
    import pstats

    profiler = cProfile.Profile()
    value = profiler.runcall(fn)
    buffer = io.StringIO()
    for key in ("cumulative", "tottime"):
        pstats.Stats(profiler, stream=buffer).strip_dirs().sort_stats(key).print_stats(top)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(buffer.getvalue())
    print(f"profile written to {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return value
