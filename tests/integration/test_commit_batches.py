"""Rounds of windows (`requests_per_tenant` windows of every tenant) and batches of rounds (gathered
for `commit_seconds`, or until they hold `commit_rows` tenant-days) load exactly what window-by-window
commits load, in fewer commits; a failure loses only the round or batch in flight; no tenant ever has
more than `requests_per_tenant` requests out.

Most tests here commit every round (`commit_seconds=0`): the stub answers at once, so the default
interval would gather every round into one commit."""

import logging
import threading
import time
from datetime import date, timedelta

import duckdb
import pytest

from aurion_pipeline import ingest
from aurion_pipeline.ingest import commit as commit_stage
from aurion_pipeline.ingest.commit import MAX_BATCH_TENANT_DAYS, CommitPolicy
from aurion_pipeline.ingest.fetch import Fetched
from aurion_pipeline.storage import Warehouse, lake
from aurion_pipeline.storage.load import Window
from aurion_sandbox import DEFAULT_TENANTS, daily_usage

TENANTS = DEFAULT_TENANTS[:2]
START, END = date(2026, 1, 1), date(2026, 4, 10)  # 100 days: 10 rounds of 10 days, 20 tenant-days each


class StubClient:
    """Serves the sandbox's rows for one tenant, as `AurionClient.get_details` would, after `delay_s`,
    and records the most requests it ever had in flight at once."""

    def __init__(self, profile, delay_s: float = 0.0):
        self.profile, self.delay_s, self.requests_made = profile, delay_s, 0
        self.in_flight = self.most_in_flight = 0
        self._lock = threading.Lock()

    @property
    def attempts(self) -> int:
        return self.requests_made  # never retries

    def get_details(self, start, end):
        with self._lock:
            self.requests_made += 1
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        time.sleep(self.delay_s)
        with self._lock:
            self.in_flight -= 1
        return daily_usage(self.profile, start, end).rows()


def load(tmp_path, name, monkeypatch, delay_s: float = 0.0, **kwargs):
    calls = []
    write_usage = lake.write_usage
    monkeypatch.setattr(lake, "write_usage", lambda *a, **kw: calls.append(1) or write_usage(*a, **kw))
    wh = Warehouse(tmp_path / name, lock_timeout_s=5)
    clients = {t.name: StubClient(t, delay_s) for t in TENANTS}
    report = ingest.load_usage_range(clients, wh, START, END, max_range_days=10, max_workers=4, run_id="r",
                                     **{"commit_seconds": 0, **kwargs})
    return wh, report, len(calls)


def contents(wh: Warehouse):
    con = duckdb.connect(str(wh.analyst_path), read_only=True)
    try:
        usage = con.execute("select * exclude (_loaded_at) from raw.usage_daily order by tenant, usage_date").fetchall()
        log = con.execute(
            "select tenant, window_start, window_end, status, rows from raw._load_log order by all").fetchall()
        return usage, log
    finally:
        con.close()


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """What window-by-window commits load, loaded once for every batching below to equal."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        wh, _, writes = load(tmp_path_factory.mktemp("reference"), "reference", monkeypatch, requests_per_tenant=1)
    assert writes == 10  # one commit per window round: the finest grain
    return contents(wh)


@pytest.mark.parametrize(
    ("kwargs", "commits"),
    [
        pytest.param({"requests_per_tenant": 1, "commit_rows": 45}, 4, id="three-single-window-rounds-per-batch",
                     marks=pytest.mark.slow),
        pytest.param({"requests_per_tenant": 4}, 3, id="rounds-of-4-windows-per-tenant", marks=pytest.mark.slow),
        pytest.param({}, 3, id="default-4-windows-per-tenant"),
        pytest.param({"requests_per_tenant": 16}, 1, id="one-round-holds-every-window", marks=pytest.mark.slow),
        pytest.param({"requests_per_tenant": 3, "commit_rows": 100}, 2, id="rounds-of-60-batched-to-120"),
        pytest.param({"commit_rows": 10**9}, 1, id="one-batch", marks=pytest.mark.slow),
        pytest.param({"commit_seconds": 3600}, 1, id="every-round-within-the-interval"),
    ],
)
def test_rounds_and_batches_load_the_same_rows_and_windows(tmp_path, monkeypatch, reference, kwargs, commits):
    wh, report, lake_writes = load(tmp_path, "batched", monkeypatch, **kwargs)
    assert lake_writes == commits
    assert contents(wh) == reference
    assert (report.windows_loaded, report.rows, report.requests) == (20, 200, 20)


@pytest.mark.parametrize(
    ("kwargs", "days_kept"),
    [
        pytest.param({"commit_rows": 45, "requests_per_tenant": 1}, 30, id="batch-of-three-single-window-rounds"),
        pytest.param({"requests_per_tenant": 4, "commit_seconds": 0}, 40, id="round-of-four-windows"),
    ],
)
def test_a_failed_commit_loses_only_the_batch_in_flight(tmp_path, monkeypatch, kwargs, days_kept):
    real = commit_stage.load_usage
    seen = []

    def fail_second(con, *args, **kw):
        seen.append(1)
        if len(seen) == 2:
            raise RuntimeError("disk full")
        return real(con, *args, **kw)

    monkeypatch.setattr(commit_stage, "load_usage", fail_second)
    wh = Warehouse(tmp_path / "data", lock_timeout_s=5)
    clients = {t.name: StubClient(t) for t in TENANTS}
    with pytest.raises(RuntimeError, match="disk full"):
        ingest.load_usage_range(clients, wh, START, END, max_range_days=10, max_workers=4, run_id="r", **kwargs)
    with wh.writer() as con:
        loaded = con.execute("select min(usage_date), max(usage_date), count(*), count(distinct (tenant, usage_date)) "
                             "from raw.usage_daily").fetchone()
    # The first commit, both tenants, whole windows only.
    assert loaded == (START, START + timedelta(days=days_kept - 1), 2 * days_kept, 2 * days_kept)


@pytest.mark.parametrize(("tenants", "per_tenant"), [
    (1, 4), (3, 2), *(pytest.param(t, k, marks=pytest.mark.slow) for t, k in [(1, 1), (3, 1), (3, 4)])])
def test_no_tenant_has_more_requests_in_flight_than_allowed(tmp_path, tenants, per_tenant):
    wh = Warehouse(tmp_path / "data", lock_timeout_s=5)
    clients = {t.name: StubClient(t, delay_s=0.02) for t in DEFAULT_TENANTS[:tenants]}
    report = ingest.load_usage_range(clients, wh, START, END, max_range_days=10, max_workers=8, run_id="r",
                                       requests_per_tenant=per_tenant)
    assert report.requests == 10 * tenants
    assert max(c.most_in_flight for c in clients.values()) <= per_tenant
    if tenants == 1:  # a lone tenant's round is fetched all at once: that is what the setting buys
        assert clients[DEFAULT_TENANTS[0].name].most_in_flight == per_tenant


def progress(caplog) -> list[dict]:
    return [r.progress for r in caplog.records if r.name == "aurion_pipeline.progress"]


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        pytest.param({"requests_per_tenant": 4, "commit_seconds": 0}, [(1, 8, 80, 0), (2, 16, 160, 0), (3, 20, 200, 2)],
                     id="one-record-per-round"),
        pytest.param({"requests_per_tenant": 1, "commit_rows": 45},
                     [(3, 6, 60, 0), (6, 12, 120, 0), (9, 18, 180, 0), (10, 20, 200, 2)], id="one-record-per-batch"),
    ],
)
def test_each_commit_logs_one_progress_record(tmp_path, caplog, kwargs, expected):
    caplog.set_level(logging.INFO, logger="aurion_pipeline.progress")
    wh = Warehouse(tmp_path / "data", lock_timeout_s=5)
    clients = {t.name: StubClient(t) for t in TENANTS}
    ingest.load_usage_range(clients, wh, START, END, max_range_days=10, max_workers=4, run_id="r", **kwargs)
    rounds = 10 // kwargs["requests_per_tenant"] + bool(10 % kwargs["requests_per_tenant"])
    assert progress(caplog) == [
        {"event": "round", "round": i, "rounds": rounds, "windows": w, "windows_total": 20, "rows": r,
         "tenants_done": done, "tenants": 2}
        for i, w, r, done in expected
    ]


def fetched(tenant_days: int) -> list[Fetched]:
    return [Fetched(Window("acme", START, START + timedelta(days=tenant_days - 1)), [])]


def test_the_default_policy_commits_after_the_interval_or_at_the_size_cap():
    policy = CommitPolicy(interval_s=5)
    assert not policy.is_full(fetched(10), waited_s=4.9)
    assert policy.is_full(fetched(10), waited_s=5.0)
    assert policy.is_full(fetched(MAX_BATCH_TENANT_DAYS), waited_s=0.0)  # its rows are in memory until committed
    assert CommitPolicy(interval_s=0).is_full(fetched(1), waited_s=0.0)  # every round


def test_commit_rows_gathers_until_the_batch_holds_them_however_long_it_takes():
    policy = CommitPolicy(interval_s=5, min_tenant_days=45)
    assert not policy.is_full(fetched(40), waited_s=3600)
    assert policy.is_full(fetched(45), waited_s=0.0)


@pytest.mark.slow
def test_a_slow_api_commits_what_arrived_within_each_interval(tmp_path, monkeypatch):
    # 10 single-window rounds, each 0.2 s at the API: a 1 s interval gathers several rounds per commit.
    reference, _, _ = load(tmp_path, "reference", monkeypatch, requests_per_tenant=1)
    wh, _, lake_writes = load(tmp_path, "timed", monkeypatch, delay_s=0.2, requests_per_tenant=1, commit_seconds=1)
    assert 1 < lake_writes < 10
    assert contents(wh) == contents(reference)
