"""Dagster wiring, one folder per integration: `aurion_usage/` (the Aurion source: resources,
partitions, raw assets, checks, jobs, schedules) and `analytics/` (the SQL models as assets)."""
