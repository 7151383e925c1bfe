"""The fetch stage's worker pool: a round's results come back in the order its windows were asked
(tenants whose key was refused last, without a request), a bug in a request reaches the caller, and
leaving the block drops the requests not started yet."""

import threading
import time
from datetime import date

import pytest

from aurion_pipeline.ingest.fetch import Failed, Fetched, RoundFetcher
from aurion_pipeline.source.errors import AurionApiError
from aurion_pipeline.storage.load import Window


class Client:
    """Answers each window with one row naming it, after `delay_s` (or `delay_s(start)`); `fail_on` raises
    that error instead."""

    def __init__(self, delay_s=0.0, fail_on: dict | None = None):
        self.delay_s, self.fail_on, self.asked = delay_s, fail_on or {}, []
        self._lock = threading.Lock()

    def get_details(self, start, end):
        with self._lock:
            self.asked.append(start)
        time.sleep(self.delay_s(start) if callable(self.delay_s) else self.delay_s)
        if start in self.fail_on:
            raise self.fail_on[start]
        return [{"date": start.isoformat()}]


def windows(tenant: str, days: range) -> list[Window]:
    return [Window(tenant, date(2026, 1, d), date(2026, 1, d)) for d in days]


def test_results_keep_the_order_asked_and_refused_tenants_come_last_unasked():
    # Later days answer first: results gathered as they arrive would come back reversed.
    def later_is_faster(day: date) -> float:
        return 0.01 * (6 - day.day)

    clients = {"a": Client(later_is_faster), "b": Client(later_is_faster), "c": Client()}
    asked = windows("a", range(1, 6)) + windows("b", range(1, 6))
    with RoundFetcher(clients, max_workers=4) as fetcher:
        results = fetcher.start([*windows("c", range(1, 3)), *asked], {"c": "key refused"}).results()
    assert [r.window for r in results] == [*asked, *windows("c", range(1, 3))]
    assert all(isinstance(r, Fetched) and r.rows == [{"date": r.window.start.isoformat()}] for r in results[:10])
    assert [(type(r), r.error, r.key_refused) for r in results[10:]] == [(Failed, "key refused", True)] * 2
    assert clients["c"].asked == []


def test_an_api_error_is_a_failed_window_and_a_bug_reaches_the_caller():
    api_error = AurionApiError("HTTP 503 from the API")
    clients = {"a": Client(fail_on={date(2026, 1, 2): api_error}),
               "b": Client(fail_on={date(2026, 1, 3): KeyError("bug")})}
    with RoundFetcher(clients, max_workers=2) as fetcher:
        results = fetcher.start(windows("a", range(1, 4)), {}).results()
        assert [type(r) for r in results] == [Fetched, Failed, Fetched]
        assert "503" in results[1].error and not results[1].key_refused
        with pytest.raises(KeyError, match="bug"):
            fetcher.start(windows("b", range(1, 5)), {}).results()


def test_leaving_the_block_drops_the_requests_not_started():
    client = Client(delay_s=0.2)
    with RoundFetcher({"a": client}, max_workers=1) as fetcher:
        fetcher.start(windows("a", range(1, 11)), {})
        deadline = time.monotonic() + 10
        while not client.asked and time.monotonic() < deadline:  # the one worker takes the first window
            time.sleep(0.005)
    time.sleep(0.5)  # long enough for two more requests, had they not been dropped
    assert client.asked == [date(2026, 1, 1)]


def test_a_round_with_nothing_to_ask_is_done_at_once():
    with RoundFetcher({}, max_workers=2) as fetcher:
        assert fetcher.start([], {}).results() == []
