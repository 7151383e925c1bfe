"""Daily UTC partitions of usage, from AURION_START_DATE (not a secret, so read at load time)."""

import dagster as dg

from aurion_pipeline.config import load_settings


def daily_partitions() -> dg.DailyPartitionsDefinition:
    return dg.DailyPartitionsDefinition(start_date=load_settings().start_date.isoformat(), timezone="UTC")
