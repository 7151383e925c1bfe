"""Daily UTC partitions of usage, and the run tags that select a range of them."""

from datetime import date

import dagster as dg

# Dagster's own tags for a run over a partition range (one run, `BackfillPolicy.single_run`).
_RANGE_START, _RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"


def daily_partitions(start_date: date) -> dg.DailyPartitionsDefinition:
    """One partition per UTC day from `start_date` (AURION_START_DATE) to yesterday."""
    return dg.DailyPartitionsDefinition(start_date=start_date.isoformat(), timezone="UTC")


def partition_range_tags(start: date, end: date) -> dict[str, str]:
    """Tags of one run over the daily partitions start..end, both included."""
    return {_RANGE_START: start.isoformat(), _RANGE_END: end.isoformat()}
