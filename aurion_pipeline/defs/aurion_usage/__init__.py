"""The Aurion Usage API in Dagster: resources, daily partitions, raw assets, checks, jobs, schedules."""
