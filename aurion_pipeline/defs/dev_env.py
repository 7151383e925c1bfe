"""`python -m aurion_pipeline.defs.dev_env`: the variables `make dev` starts the webserver and the daemon
with (`env $(python -m ...) dagster dev`), so the runs they create (schedules, backfills, the launchpad)
write their planned events batched too. A module of its own: run as `-m`, a module the package already
imported makes Python warn."""

import os

from aurion_pipeline.defs.instance_tuning import tune_event_batching

if __name__ == "__main__":
    print(" ".join(f"{name}={value}" for name, value in tune_event_batching(dict(os.environ)).items()))
