"""Committing several window rounds at once (`commit_rows`) loads exactly what round-by-round commits
load, in fewer commits, and a failure loses only the batch in flight."""

from datetime import date, timedelta

import duckdb
import pytest

from aurion_pipeline import lake, pipeline
from aurion_pipeline.sandbox import DEFAULT_TENANTS, daily_usage
from aurion_pipeline.warehouse import Warehouse

TENANTS = DEFAULT_TENANTS[:2]
START, END = date(2026, 1, 1), date(2026, 4, 10)  # 100 days: 10 rounds of 10 days, 20 tenant-days each


class StubClient:
    """Serves the sandbox's rows for one tenant, as `AurionClient.get_details` would."""

    def __init__(self, profile):
        self.profile, self.requests_made = profile, 0

    def get_details(self, start, end):
        self.requests_made += 1
        return daily_usage(self.profile, start, end).rows()


def load(tmp_path, name, monkeypatch, **kwargs):
    calls = []
    write_usage = lake.write_usage
    monkeypatch.setattr(lake, "write_usage", lambda *a, **kw: calls.append(1) or write_usage(*a, **kw))
    wh = Warehouse(tmp_path / name, lock_timeout_s=5)
    clients = {t.name: StubClient(t) for t in TENANTS}
    report = pipeline.load_usage_range(clients, wh, START, END, max_range_days=10, max_workers=4, run_id="r", **kwargs)
    return wh, report, len(calls)


def contents(wh: Warehouse):
    con = duckdb.connect(str(wh.analyst_path), read_only=True)
    try:
        usage = con.execute("select * exclude (_loaded_at) from raw.usage_daily order by tenant, usage_date").fetchall()
        log = con.execute("select tenant, window_start, window_end, status, rows from raw._load_log order by all").fetchall()
        return usage, log
    finally:
        con.close()


@pytest.mark.parametrize(
    ("commit_rows", "commits"),
    [
        pytest.param(0, 10, id="every-round"),
        pytest.param(45, 4, id="three-rounds-per-batch"),
        pytest.param(10**9, 1, id="one-batch"),
    ],
)
def test_batched_commits_load_the_same_rows_and_windows(tmp_path, monkeypatch, commit_rows, commits):
    reference, _, _ = load(tmp_path, "reference", monkeypatch)
    wh, report, lake_writes = load(tmp_path, "batched", monkeypatch, commit_rows=commit_rows)
    assert lake_writes == commits
    assert contents(wh) == contents(reference)
    assert (report.windows_loaded, report.rows, report.requests) == (20, 200, 20)


def test_a_failed_batch_loses_only_that_batch(tmp_path, monkeypatch):
    real = pipeline.load_usage
    seen = []

    def fail_second(con, *args, **kwargs):
        seen.append(1)
        if len(seen) == 2:
            raise RuntimeError("disk full")
        return real(con, *args, **kwargs)

    monkeypatch.setattr(pipeline, "load_usage", fail_second)
    wh = Warehouse(tmp_path / "data", lock_timeout_s=5)
    clients = {t.name: StubClient(t) for t in TENANTS}
    with pytest.raises(RuntimeError, match="disk full"):
        pipeline.load_usage_range(clients, wh, START, END, max_range_days=10, max_workers=4, run_id="r", commit_rows=45)
    with wh.writer() as con:
        loaded = con.execute("select min(usage_date), max(usage_date), count(*), count(distinct (tenant, usage_date)) "
                             "from raw.usage_daily").fetchone()
    assert loaded == (START, START + timedelta(days=29), 60, 60)  # the first batch: rounds 1-3, whole days only
