"""The sandbox Aurion API: vendor shapes, deterministic data, errors and fault hooks, over real HTTP."""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest
import requests

from aurion_pipeline.config import parse_tenants_file
from aurion_pipeline.source.redact import forget_all_keys, redact, remember_key
from aurion_sandbox import (
    DEFAULT_TENANTS,
    SandboxServer,
    billing_period,
    daily_usage,
    make_tenants,
    sandbox_env,
    usage_table,
    write_tenants_file,
)

TODAY = date(2026, 4, 10)  # a Friday; globex (anchor 15) is 27 days into its period
DETAILS, SUMMARY = "/api/v1/usage/details", "/api/v1/usage/summary"
TENANTS = {t.name: t for t in DEFAULT_TENANTS}


@pytest.fixture(scope="module")
def server():
    with SandboxServer(today=TODAY) as s:
        yield s


@pytest.fixture
def api(server):
    yield server
    server.reset()


def get(api, path, tenant="acme", key=None, **params):
    headers = {"X-API-Key": key if key is not None else TENANTS[tenant].api_key}
    return requests.get(api.base_url + path, params=params, headers=headers, timeout=10)


def details(api, tenant, start, end, **kw):
    resp = get(api, DETAILS, tenant, start_date=str(start), end_date=str(end), group_by="day", **kw)
    assert resp.status_code == 200, resp.text
    return resp.json()["data"]


def test_details_rows_have_the_vendor_shape(api):
    rows = details(api, "acme", "2026-03-01", "2026-03-08")
    assert [r["date"] for r in rows] == [f"2026-03-0{d}" for d in range(1, 9)]  # end_date inclusive
    for row in rows:
        assert set(row) == {"date", "voice_minutes", "api_calls", "llm_tokens"}
        assert set(row["llm_tokens"]) == {"input", "output"}
        assert all(type(v) is int for v in (row["api_calls"], *row["llm_tokens"].values()))
        assert isinstance(row["voice_minutes"], int | float) and round(row["voice_minutes"], 1) == row["voice_minutes"]


def test_summary_has_the_vendor_shape(api):
    body = get(api, SUMMARY, "acme").json()
    assert set(body) == {"period", "voice_minutes", "api_calls", "storage_mb", "plan", "billing_status"}
    assert body["period"] == {"start": "2026-04-01T00:00:00Z", "end": "2026-04-30T23:59:59Z"}
    assert set(body["storage_mb"]) == {"used", "limit", "percentage"}
    assert (body["plan"], body["voice_minutes"]["limit"], body["storage_mb"]["limit"]) == ("professional", 1000, 5000)


@pytest.mark.parametrize("tenant", ["acme", "hooli", "initech"], ids=["plain", "launches-mid-range", "null-llm"])
def test_chunked_requests_agree_with_one_big_request(api, tenant):
    start, end = date(2025, 8, 1), date(2026, 1, 31)
    whole = details(api, tenant, start, end)
    chunks, day = [], start
    while day <= end:
        chunks += details(api, tenant, day, min(day + timedelta(days=6), end))
        day += timedelta(days=7)
    assert chunks == whole and len(whole) > 60


def test_weekends_are_much_lower_than_weekdays():
    u = daily_usage(TENANTS["acme"], date(2025, 1, 1), date(2025, 12, 31))
    is_weekend = (u.days.astype(np.int64) + 3) % 7 >= 5  # 1970-01-01 was a Thursday
    assert u.api_calls[is_weekend].mean() < 0.5 * u.api_calls[~is_weekend].mean()


def test_usage_grows_month_over_month():
    t = TENANTS["umbrella"]
    march = [daily_usage(t, date(y, 3, 1), date(y, 3, 31)).voice_minutes.mean() for y in (2025, 2026)]
    assert march[1] > 1.2 * march[0]


@pytest.mark.parametrize(
    ("params", "key", "status", "needle"),
    [
        pytest.param({}, "", 401, "X-API-Key", id="missing-key"),
        pytest.param({}, "sk_sandbox_nobody", 401, "X-API-Key", id="unknown-key"),
        pytest.param({"start_date": "2026-03-32", "end_date": "2026-04-01"}, None, 400, "start_date", id="bad-date"),
        pytest.param({"start_date": "2026-03-02", "end_date": "2026-03-01"}, None, 400, "after", id="start-after-end"),
        pytest.param({"end_date": "2026-03-01"}, None, 400, "start_date is required", id="missing-start"),
        pytest.param({"start_date": "2026-03-01", "end_date": "2026-03-02", "group_by": "week"}, None, 400,
                     "group_by", id="group-by-week-unsupported"),
    ],
)
def test_bad_requests_get_a_json_error(api, params, key, status, needle):
    resp = get(api, DETAILS, "acme", key=key, **params)
    assert resp.status_code == status
    assert needle in resp.json()["error"]


def test_403_names_the_missing_scope():
    no_scope = replace(TENANTS["acme"], scopes=())
    with SandboxServer(tenants=[no_scope], today=TODAY) as s:
        resp = get(s, SUMMARY, "acme")
    assert resp.status_code == 403 and "usage:read" in resp.json()["error"]


def test_range_longer_than_max_range_days_is_rejected():
    with SandboxServer(max_range_days=31, today=TODAY) as s:
        assert get(s, DETAILS, start_date="2026-01-01", end_date="2026-01-31").status_code == 200
        resp = get(s, DETAILS, start_date="2026-01-01", end_date="2026-02-01")
    assert resp.status_code == 400 and "32 days" in resp.json()["error"]


def test_over_quota_tenant_shows_more_than_100_percent(api):
    body = get(api, SUMMARY, "globex").json()
    assert body["period"] == {"start": "2026-03-15T00:00:00Z", "end": "2026-04-14T23:59:59Z"}
    assert body["voice_minutes"]["percentage"] > 100 and body["api_calls"]["percentage"] > 100


def test_enterprise_limits_are_null_except_custom_storage(api):
    body = get(api, SUMMARY, "umbrella").json()
    assert body["voice_minutes"]["limit"] is None and body["voice_minutes"]["percentage"] is None
    assert body["api_calls"]["limit"] is None and body["api_calls"]["percentage"] is None
    assert body["storage_mb"]["limit"] == 204_800


def test_summary_used_is_the_sum_of_the_periods_details(api):
    body = get(api, SUMMARY, "hooli").json()
    start = date.fromisoformat(body["period"]["start"][:10])
    rows = details(api, "hooli", start, TODAY)
    assert body["voice_minutes"]["used"] == round(sum(r["voice_minutes"] for r in rows), 1)
    assert body["api_calls"]["used"] == sum(r["api_calls"] for r in rows)
    assert body["billing_status"] == "past_due"


def test_days_before_launch_are_omitted(api):
    rows = details(api, "hooli", "2025-09-01", "2025-09-30")
    assert rows[0]["date"] == "2025-09-15" and len(rows) <= 16


def test_some_zero_days_are_omitted_and_the_rest_are_served(api):
    u = daily_usage(TENANTS["initech"], date(2024, 1, 1), TODAY)
    omitted = {str(d) for d in u.days[~u.served]}
    assert omitted, "initech should have a few omitted zero days"
    served = {r["date"] for r in details(api, "initech", "2024-01-01", TODAY)}
    assert served.isdisjoint(omitted) and len(served) + len(omitted) == len(u.days)


def test_tenant_without_llms_sends_null_llm_tokens(api):
    assert all(r["llm_tokens"] is None for r in details(api, "initech", "2026-03-01", "2026-03-31"))


def test_no_usage_after_today(api):
    rows = details(api, "acme", TODAY - timedelta(days=2), TODAY + timedelta(days=10))
    assert rows[-1]["date"] == str(TODAY) and len(rows) == 3
    assert details(api, "acme", TODAY + timedelta(days=1), TODAY + timedelta(days=5)) == []


def test_requests_are_logged_with_tenant_and_window(api):
    details(api, "acme", "2026-03-01", "2026-03-31")
    get(api, SUMMARY, key="nope")
    assert api.requests == [
        (DETAILS, "acme", "2026-03-01", "2026-03-31"),
        (SUMMARY, None, None, None),
    ]


def test_latency_knob_delays_each_request():
    with SandboxServer(today=TODAY, latency_s=0.2) as s:
        began = time.perf_counter()
        get(s, SUMMARY)
        assert time.perf_counter() - began >= 0.2


def test_fail_next_injects_errors_with_retry_after(api):
    api.fail_next(2, status=429, retry_after=1, tenant="globex")
    assert get(api, SUMMARY, "acme").status_code == 200  # scoped to globex
    first = get(api, SUMMARY, "globex")
    assert first.status_code == 429 and first.headers["Retry-After"] == "1" and "error" in first.json()
    assert get(api, SUMMARY, "globex").status_code == 429
    assert get(api, SUMMARY, "globex").status_code == 200


def test_revise_raises_only_the_last_days(api):
    before = details(api, "acme", TODAY - timedelta(days=5), TODAY)
    summary_before = get(api, SUMMARY).json()["api_calls"]["used"]
    api.revise("acme", factor=1.5, last_days=2)
    after = details(api, "acme", TODAY - timedelta(days=5), TODAY)
    assert after[:-2] == before[:-2]
    assert all(a["api_calls"] > b["api_calls"] for a, b in zip(after[-2:], before[-2:]))
    assert get(api, SUMMARY).json()["api_calls"]["used"] > summary_before


@pytest.mark.parametrize(
    ("kind", "check"),
    [
        pytest.param("extra_field", lambda r: "video_minutes" in r, id="unknown-metric"),
        pytest.param("null_llm", lambda r: r["llm_tokens"] is None, id="llm-null"),
        pytest.param("string_number", lambda r: isinstance(r["api_calls"], str), id="string-in-numeric"),
        pytest.param("missing_field", lambda r: "voice_minutes" not in r, id="metric-missing"),
    ],
)
def test_corrupt_changes_only_the_chosen_day(api, kind, check):
    api.corrupt("acme", kind, day=date(2026, 3, 2))
    rows = details(api, "acme", "2026-03-01", "2026-03-03")
    assert [check(r) for r in rows] == [False, True, False]


def test_corrupt_bad_shape_answers_a_bare_list(api):
    api.corrupt("acme", "bad_shape")
    assert isinstance(get(api, DETAILS, start_date="2026-03-01", end_date="2026-03-02").json(), list)


@pytest.mark.parametrize(
    ("anchor", "today", "period"),
    [
        pytest.param(1, date(2026, 3, 31), (date(2026, 3, 1), date(2026, 3, 31)), id="calendar-month"),
        pytest.param(15, date(2026, 3, 14), (date(2026, 2, 15), date(2026, 3, 14)), id="day-before-anchor"),
        pytest.param(15, date(2026, 3, 15), (date(2026, 3, 15), date(2026, 4, 14)), id="on-anchor"),
        pytest.param(8, date(2026, 1, 3), (date(2025, 12, 8), date(2026, 1, 7)), id="across-new-year"),
    ],
)
def test_billing_period(anchor, today, period):
    assert billing_period(anchor, today) == period


def test_tenants_file_is_what_the_config_loader_reads(tmp_path):
    path = write_tenants_file(tmp_path / "tenants.yaml", DEFAULT_TENANTS)
    specs = parse_tenants_file(path)
    env = sandbox_env(DEFAULT_TENANTS)
    assert [s.name for s in specs] == list(TENANTS)
    assert env[specs[0].api_key_env] == TENANTS["acme"].api_key


def test_sandbox_keys_leave_tenant_names_readable_in_redacted_messages():
    """Every 8-character piece of a key is redacted (source/redact.py): a sandbox key must not hold one
    of a tenant's name, or the demo's own messages would hide the tenant they are about."""
    tenants = [*DEFAULT_TENANTS, *make_tenants(1000)]
    for tenant in tenants:
        remember_key(tenant.api_key)
    try:
        names = " ".join(t.name for t in tenants) + " aurion_sandbox AURION_SANDBOX_KEY_ACME"
        assert redact(names) == names
        assert redact(f"key {TENANTS['acme'].api_key[:-2]}") == "key [redacted]"
    finally:
        forget_all_keys()


def test_generating_1000_tenants_for_3_years():
    table = usage_table(make_tenants(1000), date(2024, 1, 1), date(2024, 1, 1) + timedelta(days=1095))
    assert table.num_rows == 1000 * 1096


def test_make_tenants_is_deterministic_and_valid_for_the_config():
    assert make_tenants(20) == make_tenants(20)
    assert len({t.api_key_env for t in make_tenants(200)}) == 200


def test_module_runs_in_the_foreground_and_prints_how_to_reach_it():
    proc = subprocess.Popen(
        [sys.executable, "-m", "aurion_sandbox", "--port", "0", "--today", str(TODAY)],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        env = dict(proc.stdout.readline().strip().split("=", 1) for _ in range(2 + len(DEFAULT_TENANTS)))
        resp = requests.get(env["AURION_BASE_URL"] + SUMMARY, headers={"X-API-Key": env["AURION_SANDBOX_KEY_ACME"]},
                            timeout=10)
        assert resp.status_code == 200 and parse_tenants_file(Path(env["AURION_TENANTS_FILE"]))
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0


def test_the_cli_sandbox_command_prints_its_url_tenants_file_and_keys():
    """`aurion-pipeline sandbox`: what a user runs to try the real-key flow or test their own integration."""
    cli = str(Path(sys.executable).with_name("aurion-pipeline"))
    proc = subprocess.Popen([cli, "sandbox", "--port", "0", "--tenants", "3"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        env = dict(proc.stdout.readline().strip().split("=", 1) for _ in range(2 + 3))
        tenants = parse_tenants_file(Path(env["AURION_TENANTS_FILE"]))
        assert len(tenants) == 3 and all(t.api_key_env in env for t in tenants)
        resp = requests.get(env["AURION_BASE_URL"] + SUMMARY, headers={"X-API-Key": env[tenants[0].api_key_env]},
                            timeout=10)
        assert resp.status_code == 200
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0
    assert "Ctrl-C" in proc.stderr.read()
    assert not Path(env["AURION_TENANTS_FILE"]).parent.exists(), "the temporary tenants file was left behind"


def test_the_sandbox_started_in_the_background_stops_on_sigint_and_cleans_up():
    """A shell starts a background job with SIGINT ignored; `kill -INT` (or Ctrl-C) must still stop it."""
    import signal

    proc = subprocess.Popen([sys.executable, "-m", "aurion_sandbox", "--port", "0"], stdout=subprocess.PIPE,
                            text=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    try:
        env = dict(proc.stdout.readline().strip().split("=", 1) for _ in range(2 + len(DEFAULT_TENANTS)))
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
    finally:
        proc.kill()
    assert not Path(env["AURION_TENANTS_FILE"]).parent.exists()
