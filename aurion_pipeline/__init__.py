"""aurion-pipeline: Aurion usage in a DuckDB warehouse, through Dagster.

`aurion_pipeline.build_defs(settings=None, *, key_prefix=None, schedules=True)` gives an existing
Dagster project our resources, assets, checks, jobs and schedules (see docs/deployment.md,
"Embedding in an existing Dagster project").
"""

from __future__ import annotations

__all__ = ["build_defs"]


def __getattr__(name: str):
    # Imported on first use: the CLI's quick commands should not pay for importing Dagster.
    if name == "build_defs":
        from aurion_pipeline.defs import build_defs

        return build_defs
    raise AttributeError(f"module 'aurion_pipeline' has no attribute {name!r}")
