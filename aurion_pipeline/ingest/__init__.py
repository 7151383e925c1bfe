"""Loading from the Aurion API without Dagster: Dagster assets and the benchmarks call this; it
knows nothing of partitions or run storage.

- `plan.py`: which windows to ask for, in rounds of `requests_per_tenant` windows per tenant;
- `fetch.py`: one round's requests, concurrently, each ending `Fetched` or `Failed`;
- `commit.py`: normalize a batch of rounds and commit it in one transaction (`CommitPolicy`);
- `usage.py`: the loop tying them together (`load_usage_range`), with progress records;
- `summary.py`: /usage/summary snapshots (`load_summaries`).
"""

from aurion_pipeline.ingest.commit import CommitPolicy
from aurion_pipeline.ingest.fetch import Failed, Fetched
from aurion_pipeline.ingest.summary import Snapshot, SummaryReport, load_summaries
from aurion_pipeline.ingest.usage import UsageReport, load_usage_range

__all__ = ["CommitPolicy", "Failed", "Fetched", "Snapshot", "SummaryReport", "UsageReport", "load_summaries",
           "load_usage_range"]
