"""Dagster settings our runs turn on for themselves, so a user writes nothing beyond the instance config.

Dagster writes one event per partition when a run is planned and one per materialized partition, so a
3-year backfill (1,096 daily partitions in one run) costs thousands of event-log writes: on the default
SQLite instance that bookkeeping is most of the run. Two environment variables, read by Dagster in
the process that creates and executes a run, cut it:

- `DAGSTER_EVENT_BATCH_SIZE`: the materializations of a multi-partition step (and the planned events
  of a run) are written through `store_event_batch`, which dagster-postgres does as one multi-row
  insert. SQLite's storage loops over single inserts, so there it changes nothing, good or bad.
- `DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS`: one planned event per asset for the whole range
  instead of one per partition. The price: when such a run fails, Dagster's UI no longer marks its
  partitions failed (they show as missing, or keep an older materialization). We accept it because
  the mark was coarse anyway (every partition of the range, loaded or not), while `raw._load_log`, the
  `all_windows_loaded` check and `aurion-pipeline status` name the tenant and days of every failed
  window (docs/deployment.md, "Batched events").

Both are set only when the caller has not set them itself (an explicit `0` turns batching off).
The edges call `tune_event_batching(os.environ)`: `cli/runs.py` before it executes a run, and
`definitions.py`, which a run worker launched by the daemon imports before executing its run.
"""

from __future__ import annotations

from collections.abc import MutableMapping

EVENT_BATCH_SIZE = 1000  # a 3-year backfill (1,096 partitions) then flushes its materializations in two inserts
BATCHING_ENV: dict[str, str] = {
    "DAGSTER_EVENT_BATCH_SIZE": str(EVENT_BATCH_SIZE),
    "DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS": "1",
}


def tune_event_batching(environ: MutableMapping[str, str]) -> dict[str, str]:
    """Set the batching variables in `environ` where the caller left them unset; returns what it set."""
    added = {name: value for name, value in BATCHING_ENV.items() if name not in environ}
    environ.update(added)
    return added


if __name__ == "__main__":
    # `make dev` starts the webserver and the daemon with these (`env $(python -m ...) dagster dev`):
    # runs they create (schedules, backfills, the launchpad) write their planned events batched too.
    import os

    print(" ".join(f"{name}={value}" for name, value in tune_event_batching(dict(os.environ)).items()))
