"""Every request has a deadline, a body cut short is fetched again, and an unreachable host fails
fast naming the URL — against real loopback servers, and at the level of a whole load, where the
window that fails must not take the other windows with it."""

from __future__ import annotations

from datetime import date

import duckdb
import pytest
from pytest_httpserver import HTTPServer
from rawhttp import RawServer, drip, head, json_body, short_body

from aurion_pipeline.ingest import load_usage_range
from aurion_pipeline.source import (
    AurionClient,
    DeadlineExceededError,
    RetriesExhaustedError,
    UnreachableError,
)
from aurion_pipeline.storage import Warehouse

KEY = "ak_test_Zq7Xw2Lr9Vt4Kp8N"
DETAILS = "/api/v1/usage/details"
DAY = date(2026, 3, 1)
ROW = {"date": DAY.isoformat(), "voice_minutes": 45, "api_calls": 1850,
       "llm_tokens": {"input": 125000, "output": 42000}}
PAYLOAD = json_body({"data": [ROW]})


def client(base_url: str, tenant: str = "acme", **overrides) -> AurionClient:
    settings = dict(tenant=tenant, api_key_env="AURION_API_KEY", timeout=(2, 30), max_retries=2,
                    backoff_factor=0.01, backoff_jitter=0, retry_after_cap_s=1, retry_budget_s=10,
                    deadline_s=1.0)
    settings.update(overrides)
    return AurionClient(base_url, KEY, **settings)


@pytest.fixture
def servers():
    started: list[RawServer] = []

    def start(respond) -> RawServer:
        server = RawServer(respond)
        started.append(server)
        return server

    yield start
    for server in started:
        server.close()


@pytest.fixture
def healthy(httpserver: HTTPServer) -> HTTPServer:
    httpserver.expect_request(DETAILS).respond_with_json({"data": [ROW]})
    return httpserver


def loaded_tenants(warehouse: Warehouse) -> list[str]:
    with duckdb.connect(str(warehouse.path), read_only=True) as con:
        return [t for (t,) in con.execute("select distinct tenant from raw.usage_daily order by 1").fetchall()]


def load(clients: dict[str, AurionClient], tmp_path):
    warehouse = Warehouse(tmp_path / "data")
    try:
        report = load_usage_range(clients, warehouse, DAY, DAY, max_range_days=31, max_workers=4, run_id="r1")
    finally:
        for c in clients.values():
            c.close()
    return report, warehouse


# --- the deadline ---------------------------------------------------------------------------------


@pytest.mark.parametrize("what_drips", [
    pytest.param("body", id="headers-sent-then-the-body-drips"),
    pytest.param("headers", id="the-status-line-itself-drips"),
])
def test_a_dripping_server_is_cut_at_the_deadline_and_not_retried(servers, what_drips):
    response = head(PAYLOAD) + PAYLOAD
    if what_drips == "body":
        server = servers(lambda conn, request, n, stop: (conn.sendall(response[:len(head(PAYLOAD)) + 1]),
                                                         drip(PAYLOAD[1:])(conn, request, n, stop)))
    else:
        server = servers(drip(response))
    slow = client(server.url, deadline_s=0.5)

    with pytest.raises(DeadlineExceededError, match=r"exceeded the request deadline of 0.5s.*"
                                                    r"AURION_REQUEST_DEADLINE_SECONDS") as caught:
        slow.get_details(DAY, DAY)

    assert server.requests == 1 and slow.attempts == 1
    assert caught.value.tenant == "acme" and caught.value.endpoint == DETAILS


def test_a_prompt_answer_is_not_affected_by_the_deadline(healthy):
    with client(healthy.url_for(""), deadline_s=0.5) as fine:
        assert fine.get_details(DAY, DAY) == [ROW]
        assert fine.get_details(DAY, DAY) == [ROW]  # a reused connection gets a fresh clock


def test_a_dripping_tenant_fails_its_window_while_the_other_tenant_loads(servers, healthy, tmp_path):
    server = servers(drip(head(PAYLOAD) + PAYLOAD))
    clients = {"slow": client(server.url, "slow", deadline_s=0.5), "fine": client(healthy.url_for(""), "fine")}

    report, warehouse = load(clients, tmp_path)

    assert [(f.window.tenant, f.window.start, f.window.end) for f in report.failures] == [("slow", DAY, DAY)]
    assert "exceeded the request deadline of 0.5s" in report.failures[0].error
    assert loaded_tenants(warehouse) == ["fine"]


# --- a body shorter than its Content-Length --------------------------------------------------------


def test_a_body_cut_short_is_fetched_again(servers):
    server = servers(short_body(PAYLOAD, complete_from=2))
    with client(server.url) as c:
        assert c.get_details(DAY, DAY) == [ROW]
        assert server.requests == 2 and c.attempts == 2


def test_a_body_always_cut_short_fails_the_window_after_the_retries_and_the_other_tenant_loads(
        servers, healthy, tmp_path):
    server = servers(short_body(PAYLOAD))
    clients = {"cut": client(server.url, "cut"), "fine": client(healthy.url_for(""), "fine")}

    report, warehouse = load(clients, tmp_path)

    [(window, error)] = [(f.window, f.error) for f in report.failures]
    assert window.tenant == "cut"
    assert "after 3 attempt(s)" in error and "ended before its Content-Length" in error
    assert server.requests == 3
    assert loaded_tenants(warehouse) == ["fine"]


# --- an API that cannot be reached -----------------------------------------------------------------


def test_connection_refused_fails_fast_naming_the_url_and_the_setting(closed_port, healthy, tmp_path):
    clients = {"gone": client(f"http://127.0.0.1:{closed_port}", "gone", max_retries=6),
               "fine": client(healthy.url_for(""), "fine")}
    gone = clients["gone"]

    report, warehouse = load(clients, tmp_path)

    [(window, error)] = [(f.window, f.error) for f in report.failures]
    assert window.tenant == "gone"
    assert f"Could not reach the Aurion API at http://127.0.0.1:{closed_port}" in error
    assert "connection refused" in error and "check AURION_BASE_URL" in error
    assert gone.attempts == 2  # one quick retry, not six with backoff
    assert loaded_tenants(warehouse) == ["fine"]


def test_an_unknown_host_fails_fast_naming_the_url():
    with client("https://aurion-test.invalid", max_retries=6) as c:
        with pytest.raises(UnreachableError, match=r"at https://aurion-test.invalid:443 .*host name not found"
                                                   r".*check AURION_BASE_URL"):
            c.get_details(DAY, DAY)
        assert c.attempts == 2


def test_a_503_is_still_retried_as_before(httpserver):
    httpserver.expect_request(DETAILS).respond_with_json({"error": "busy"}, status=503)
    with client(httpserver.url_for("")) as c, pytest.raises(RetriesExhaustedError, match="after 3 attempt"):
        c.get_details(DAY, DAY)
