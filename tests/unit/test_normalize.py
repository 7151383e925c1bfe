"""normalize: raw Aurion payloads -> typed tables. Each case states why it matters."""

from __future__ import annotations

import json
import random
from datetime import UTC, date, datetime, timedelta, timezone

import duckdb
import pytest
from helpers_ops import SCHEMA_SQL

from aurion_pipeline.transform import columns
from aurion_pipeline.transform.summary import SUMMARY_SCHEMA, SummaryDataError, normalize_summary
from aurion_pipeline.transform.usage import (
    USAGE_SCHEMA,
    DroppedRow,
    RawWindow,
    RejectedWindow,
    UsageDataError,
    normalize_details,
)

MAR1, MAR2 = date(2026, 3, 1), date(2026, 3, 2)
VENDOR_ROWS = [
    {"date": "2026-03-01", "voice_minutes": 45, "api_calls": 1850, "llm_tokens": {"input": 125000, "output": 42000}},
    {"date": "2026-03-02", "voice_minutes": 38, "api_calls": 1620, "llm_tokens": {"input": 98000, "output": 35000}},
]


def day(n: int) -> str:
    return f"2026-03-{n:02d}"


def row(n: int, **fields) -> dict:
    return {"date": day(n), "voice_minutes": 1, "api_calls": 2, "llm_tokens": {"input": 3, "output": 4}} | fields


def values(table) -> list[tuple]:
    """Rows as (date, voice, calls, in, out, _extra, _filled); the tenant is asserted separately."""
    return [(r["usage_date"].isoformat(), r["voice_minutes"], r["api_calls"], r["llm_input_tokens"],
             r["llm_output_tokens"], r["_extra"], r["_filled"]) for r in table.to_pylist()]


# --- accepted windows: shape of the rows --------------------------------------------------------

@pytest.mark.parametrize(("rows", "end", "expected", "new_fields", "why"), [
    pytest.param(VENDOR_ROWS, MAR2,
                 [(day(1), 45.0, 1850, 125000, 42000, None, False), (day(2), 38.0, 1620, 98000, 35000, None, False)],
                 (), "the vendor's own example flattens llm_tokens into two columns", id="nested-tokens"),
    pytest.param([row(1, llm_tokens=None)], MAR1, [(day(1), 1.0, 2, None, None, None, False)], (),
                 "null llm_tokens means not reported: NULL, not zero", id="null-tokens"),
    pytest.param([{"date": day(1), "voice_minutes": 1, "api_calls": 2}], MAR1,
                 [(day(1), 1.0, 2, None, None, None, False)], (),
                 "an absent llm_tokens field is the same as null", id="missing-tokens-field"),
    pytest.param([row(1, llm_tokens={"input": 5})], MAR1, [(day(1), 1.0, 2, 5, None, None, False)], (),
                 "a missing token key nulls only its own column", id="one-token-key-missing"),
    pytest.param([{"date": day(1), "voice_minutes": 1}], MAR1, [(day(1), 1.0, None, None, None, None, False)], (),
                 "a metric the API did not send stays NULL (unknown), unlike an omitted day", id="missing-metric"),
    pytest.param([row(1, voice_minutes=38.5)], MAR1, [(day(1), 38.5, 2, 3, 4, None, False)], (),
                 "voice_minutes may be fractional", id="float-voice"),
    pytest.param([row(1, video_minutes=12), row(2)], MAR2,
                 [(day(1), 1.0, 2, 3, 4, '{"video_minutes":12}', False), (day(2), 1.0, 2, 3, 4, None, False)],
                 ("video_minutes",), "a new metric is kept in _extra and reported, never lost", id="new-metric"),
    pytest.param([row(1, llm_tokens={"input": 3, "output": 4, "cached": 7})], MAR1,
                 [(day(1), 1.0, 2, 3, 4, '{"llm_tokens.cached":7}', False)], ("llm_tokens.cached",),
                 "a new token kind is kept under a dotted name", id="nested-unknown-token-key"),
    pytest.param([row(1, video_minutes=None)], MAR1, [(day(1), 1.0, 2, 3, 4, None, False)], ("video_minutes",),
                 "a null-valued new field is reported but stores nothing", id="new-metric-null"),
    pytest.param([row(1, video_minutes=3), row(2, video_minutes="n/a")], MAR2,
                 [(day(1), 1.0, 2, 3, 4, '{"video_minutes":3}', False),
                  (day(2), 1.0, 2, 3, 4, '{"video_minutes":"n/a"}', False)], ("video_minutes",),
                 "we do not judge the types of metrics we do not know", id="new-metric-mixed-types"),
    pytest.param([row(2)], date(2026, 3, 4),
                 [(day(1), 0.0, 0, 0, 0, None, True), (day(2), 1.0, 2, 3, 4, None, False),
                  (day(3), 0.0, 0, 0, 0, None, True), (day(4), 0.0, 0, 0, 0, None, True)], (),
                 "an omitted day inside the window is zero usage, made explicit", id="omitted-days-zero-filled"),
    pytest.param([], MAR2, [(day(1), 0.0, 0, 0, 0, None, True), (day(2), 0.0, 0, 0, 0, None, True)], (),
                 "an empty data list is a loaded window with no usage", id="empty-data-list"),
])
def test_accepted_window_rows(rows, end, expected, new_fields, why):
    result = normalize_details([RawWindow("acme", MAR1, end, rows)])
    assert values(result.table) == expected, why
    assert result.table.column("tenant").to_pylist() == ["acme"] * len(expected)
    assert result.new_fields == new_fields
    assert result.filled_days == sum(r[-1] for r in expected)
    assert (result.dropped, result.rejected) == ((), ())
    assert result.table.schema == USAGE_SCHEMA


# --- dropped rows: the window is still loaded ---------------------------------------------------

@pytest.mark.parametrize(("rows", "expected", "dropped", "why"), [
    pytest.param([row(1), row(5)], [(day(1), 1.0, 2, 3, 4, None, False), (day(2), 0.0, 0, 0, 0, None, True)],
                 (DroppedRow("acme", day(5), "outside requested window 2026-03-01..2026-03-02"),),
                 "a row the window did not ask for is not ours to write", id="outside-window"),
    pytest.param([row(1), row(1), row(2)], [(day(1), 1.0, 2, 3, 4, None, False), (day(2), 1.0, 2, 3, 4, None, False)],
                 (DroppedRow("acme", day(1), "exact duplicate of an earlier row for the same day"),),
                 "an identical repeat carries no new information", id="exact-duplicate"),
    pytest.param([row(1), row(1, voice_minutes=1.0), row(1)], [(day(1), 1.0, 2, 3, 4, None, False),
                                                                (day(2), 0.0, 0, 0, 0, None, True)],
                 (DroppedRow("acme", day(1), "exact duplicate of an earlier row for the same day"),) * 2,
                 "1 and 1.0 are the same figure; a third copy is dropped too", id="triple-duplicate"),
])
def test_dropped_rows_are_reported(rows, expected, dropped, why):
    result = normalize_details([RawWindow("acme", MAR1, MAR2, rows)])
    assert values(result.table) == expected, why
    assert result.dropped == dropped
    assert result.rejected == ()


# --- rejected windows: nothing of them is written, other windows are unaffected ------------------

@pytest.mark.parametrize(("bad_rows", "error", "why"), [
    pytest.param([row(1), row(2, voice_minutes="abc")],
                 "tenant acme, day 2026-03-02, field voice_minutes: expected a non-negative number, got 'abc'",
                 "a non-numeric string is no figure", id="string"),
    pytest.param([row(2, voice_minutes="12")],
                 "tenant acme, day 2026-03-02, field voice_minutes: expected a non-negative number, got '12'",
                 "strict: even a numeric string means the vendor's serializer changed", id="numeric-string"),
    pytest.param([row(2, api_calls=-5)],
                 "tenant acme, day 2026-03-02, field api_calls: expected a non-negative integer, got -5",
                 "usage cannot be negative", id="negative-count"),
    pytest.param([row(2, voice_minutes=-0.5)],
                 "tenant acme, day 2026-03-02, field voice_minutes: expected a non-negative number, got -0.5",
                 "usage cannot be negative", id="negative-voice"),
    pytest.param([row(2, voice_minutes=float("nan"))],
                 "tenant acme, day 2026-03-02, field voice_minutes: expected a non-negative number, got nan",
                 "NaN is no figure", id="nan-voice"),
    pytest.param([row(2, voice_minutes=True)],
                 "tenant acme, day 2026-03-02, field voice_minutes: expected a non-negative number, got True",
                 "True would silently become 1.0 (the good window has float minutes)", id="bool-voice-among-floats"),
    pytest.param([row(2, voice_minutes=False, api_calls=0)],
                 "tenant acme, day 2026-03-02, field voice_minutes: expected a non-negative number, got False",
                 "False would silently become a zero", id="bool-voice-false"),
    pytest.param([row(2, api_calls=True)],
                 "tenant acme, day 2026-03-02, field api_calls: expected a non-negative integer, got True",
                 "a boolean is not a count", id="bool-count"),
    pytest.param([row(2, llm_tokens=5)],
                 "tenant acme, day 2026-03-02, field llm_tokens: expected an object {input, output} or null, got 5",
                 "a number where the token object belongs", id="tokens-number"),
    pytest.param([row(2, llm_tokens="many")],
                 "tenant acme, day 2026-03-02, field llm_tokens: expected an object {input, output} or null, "
                 "got 'many'", "a string where the token object belongs", id="tokens-string"),
    pytest.param([row(2, llm_tokens=[])],
                 "tenant acme, day 2026-03-02, field llm_tokens: expected an object {input, output} or null, got []",
                 "an empty list must not pass as an empty object", id="tokens-list"),
    pytest.param([row(2, api_calls=1.5)],
                 "tenant acme, day 2026-03-02, field api_calls: expected a non-negative integer, got 1.5",
                 "half an API call would be truncated to 1", id="float-count"),
    pytest.param([row(2, api_calls=1620.0)],
                 "tenant acme, day 2026-03-02, field api_calls: expected a non-negative integer, got 1620.0",
                 "strict: counts are JSON integers", id="integral-float-count"),
    pytest.param([row(2, llm_tokens={"input": 2.5, "output": 1})],
                 "tenant acme, day 2026-03-02, field llm_tokens.input: expected a non-negative integer, got 2.5",
                 "token counts are integers too", id="float-token"),
    pytest.param([{"voice_minutes": 1}],
                 "tenant acme, day ?, field date: expected a date YYYY-MM-DD, got None",
                 "a row without a day cannot be placed", id="missing-date"),
    pytest.param([row(1, date="2026-3-2")],
                 "tenant acme, day 2026-3-2, field date: expected a date YYYY-MM-DD, got '2026-3-2'",
                 "not ISO 8601", id="unparseable-date"),
    pytest.param([row(1, date="2026-02-30")],
                 "tenant acme, day 2026-02-30, field date: expected a date YYYY-MM-DD, got '2026-02-30'",
                 "a day that does not exist must not roll over to March", id="impossible-date"),
    pytest.param([row(1, date=20260302)],
                 "tenant acme, day 20260302, field date: expected a date YYYY-MM-DD, got 20260302",
                 "a date must be a string", id="numeric-date"),
    pytest.param([["2026-03-01", 45]],
                 "tenant acme, day ?, field row: expected an object, got ['2026-03-01', 45]",
                 "each data entry must be an object", id="row-not-object"),
    pytest.param([row(1), row(1, voice_minutes=46)],
                 "tenant acme, day 2026-03-01, field voice_minutes: two different figures for the same day (1 and 46)",
                 "we cannot know which figure is right", id="conflicting-duplicate"),
    pytest.param([row(1, api_calls=2**64)],
                 "tenant acme, day 2026-03-01, field api_calls: expected a non-negative integer, "
                 "got 18446744073709551616", "beyond bigint", id="count-overflow"),
])
def test_bad_window_is_rejected_alone(bad_rows, error, why):
    good = RawWindow("good", MAR1, MAR2, [row(1, voice_minutes=0.5), row(2, voice_minutes=1.0)])
    result = normalize_details([good, RawWindow("acme", MAR1, MAR2, bad_rows)])
    assert result.rejected == (RejectedWindow("acme", MAR1, MAR2, error),), why
    assert "\n" not in error
    assert result.table.column("tenant").to_pylist() == ["good", "good"]
    assert values(result.table) == [(day(1), 0.5, 2, 3, 4, None, False), (day(2), 1.0, 2, 3, 4, None, False)]


def test_mixed_good_and_bad_windows_in_one_call():
    windows = [
        RawWindow("zeta", MAR1, MAR2, [row(1)]),
        RawWindow("acme", MAR1, MAR1, [row(1, api_calls="x")]),
        RawWindow("beta", MAR1, MAR1, [row(1, voice_minutes=7.5)]),
        RawWindow("acme", MAR2, MAR2, [row(2, llm_tokens=None)]),
        RawWindow("beta", MAR2, MAR2, [row(2), row(2, api_calls=3)]),
    ]
    result = normalize_details(windows)
    assert [(r["tenant"], r["usage_date"].isoformat()) for r in result.table.to_pylist()] == [
        ("acme", day(2)), ("beta", day(1)), ("zeta", day(1)), ("zeta", day(2))]
    assert values(result.table) == [(day(2), 1.0, 2, None, None, None, False), (day(1), 7.5, 2, 3, 4, None, False),
                                    (day(1), 1.0, 2, 3, 4, None, False), (day(2), 0.0, 0, 0, 0, None, True)]
    assert [(r.tenant, r.start, r.error.split(":")[0]) for r in result.rejected] == [
        ("acme", MAR1, "tenant acme, day 2026-03-01, field api_calls"),
        ("beta", MAR2, "tenant beta, day 2026-03-02, field api_calls")]
    assert result.filled_days == 1


def test_error_path_gives_the_same_rows_as_the_fast_path():
    good = [RawWindow(f"t{t}", MAR1, date(2026, 3, 9), [row(d, voice_minutes=d / 2, video_minutes=d) for d in (1, 3, 4)]
                      + [row(5, llm_tokens={"input": 1, "cached": 9})]) for t in range(3)]
    fast = normalize_details(good)
    slow = normalize_details([*good, RawWindow("bad", MAR1, MAR1, [row(1, api_calls="?")])])
    assert slow.table.equals(fast.table)
    assert (slow.new_fields, slow.filled_days) == (fast.new_fields, fast.filled_days) == (
        ("llm_tokens.cached", "video_minutes"), 15)
    assert json.loads(fast.table.column("_extra")[0].as_py()) == {"video_minutes": 1}


@pytest.mark.parametrize("sliced", [
    pytest.param(False, id="one-fast-call"), pytest.param(True, id="slices-of-2-rows", marks=pytest.mark.slow)])
def test_fast_and_checked_paths_agree_on_random_payloads(monkeypatch, sliced):
    """The one-call fast path, or the fast path over slices with only the failing slices checked
    per row, and the per-row checked path over everything must make identical decisions."""
    if sliced:  # every batch with a bad value is cut down to 2-row slices: all the stitching is exercised
        monkeypatch.setattr(columns, "_CHECKED_ROWS", 2)
        monkeypatch.setattr(columns, "_SLICES", 3)
    rnd = random.Random(3)
    odd = [0, 1, 1.0, 2.5, -1, True, False, None, "3", float("nan"), [], {}, 2**70]

    def metric(count: bool) -> object:
        return rnd.choice(odd) if rnd.random() < 0.05 else (rnd.randrange(99) if count or rnd.random() < 0.5
                                                             else rnd.random() * 99)

    def random_row(d: date) -> dict:
        r = {"date": rnd.choice([d.isoformat(), "2026-02-30", 5, None]) if rnd.random() < 0.05 else d.isoformat(),
             "voice_minutes": metric(False), "api_calls": metric(True)}
        if rnd.random() < 0.05:
            r["llm_tokens"] = rnd.choice(odd)
        elif rnd.random() < 0.9:
            r["llm_tokens"] = {"input": metric(True), "output": metric(True)} | (
                {"cached": 1} if rnd.random() < 0.05 else {})
        if rnd.random() < 0.05:
            r["video"] = rnd.choice([1, 2.5, None, "s"])
        return r

    for _ in range(150):
        windows = []
        for t in range(rnd.randrange(1, 5)):
            start = MAR1 + timedelta(rnd.randrange(5))
            rows = [random_row(start + timedelta(rnd.randrange(-1, 7))) for _ in range(rnd.randrange(8))]
            rows += [dict(rows[-1])] if rows and rnd.random() < 0.2 else []
            windows.append(RawWindow(f"t{t}", start, start + timedelta(rnd.randrange(5)), rows))
        fast = normalize_details(windows)
        with monkeypatch.context() as m:
            m.setattr(columns, "_columns_fast", lambda rows: None)
            checked = normalize_details(windows)
        assert fast.table.drop_columns(["_extra"]).equals(checked.table.drop_columns(["_extra"]))
        assert [json.loads(e) if e else None for e in fast.table.column("_extra").to_pylist()] == [
            json.loads(e) if e else None for e in checked.table.column("_extra").to_pylist()]
        assert (fast.new_fields, fast.dropped, fast.rejected, fast.filled_days) == (
            checked.new_fields, checked.dropped, checked.rejected, checked.filled_days)


def test_no_windows_gives_an_empty_table():
    result = normalize_details([])
    assert result.table.num_rows == 0 and result.table.schema == USAGE_SCHEMA


def test_overlapping_windows_are_a_caller_error():
    with pytest.raises(ValueError, match=r"windows overlap for tenant acme: 2026-03-01..2026-03-02 and 2026-03-02"):
        normalize_details([RawWindow("acme", MAR1, MAR2, []), RawWindow("acme", MAR2, date(2026, 3, 3), [])])


def test_usage_data_error_carries_its_parts():
    err = UsageDataError("acme", "2026-03-02", "voice_minutes", "expected a non-negative number, got 'abc'")
    assert (err.tenant, err.day, err.field) == ("acme", "2026-03-02", "voice_minutes")
    assert str(err) == "tenant acme, day 2026-03-02, field voice_minutes: expected a non-negative number, got 'abc'"


def test_schemas_match_the_warehouse_contract():
    con = duckdb.connect()
    con.execute(SCHEMA_SQL.read_text())

    def columns(table: str, skip: set[str]) -> list[tuple[str, str]]:
        rows = con.execute("select column_name, data_type from information_schema.columns where table_schema = 'raw' "
                           "and table_name = ? order by ordinal_position", [table]).fetchall()
        return [r for r in rows if r[0] not in skip]

    arrow_to_sql = {"string": "VARCHAR", "date32[day]": "DATE", "double": "DOUBLE", "int64": "BIGINT",
                    "bool": "BOOLEAN", "timestamp[us]": "TIMESTAMP"}
    for schema, table, skip in [(USAGE_SCHEMA, "usage_daily", {"_run_id", "_loaded_at"}),
                                (SUMMARY_SCHEMA, "usage_summary", {"_run_id"})]:
        assert [(f.name, arrow_to_sql[str(f.type)]) for f in schema] == columns(table, skip)


# --- summary ------------------------------------------------------------------------------------

VENDOR_SUMMARY = {
    "period": {"start": "2026-03-01T00:00:00Z", "end": "2026-03-31T23:59:59Z"},
    "voice_minutes": {"used": 320, "limit": 1000, "percentage": 32.0},
    "api_calls": {"used": 12450, "limit": 50000, "percentage": 24.9},
    "storage_mb": {"used": 245, "limit": 5000, "percentage": 4.9},
    "plan": "professional",
    "billing_status": "active",
}
VENDOR_RECORD = {
    "tenant": "acme", "captured_at": datetime(2026, 3, 5, 12, 0), "period_start": MAR1,
    "period_end": date(2026, 3, 31), "plan": "professional", "billing_status": "active",
    "voice_minutes_used": 320.0, "voice_minutes_limit": 1000.0, "voice_minutes_pct": 32.0,
    "api_calls_used": 12450.0, "api_calls_limit": 50000.0, "api_calls_pct": 24.9,
    "storage_mb_used": 245.0, "storage_mb_limit": 5000.0, "storage_mb_pct": 4.9, "_extra": None,
}


@pytest.mark.parametrize(("changes", "expected", "why"), [
    pytest.param({}, {}, "the vendor's example, exactly", id="vendor-example"),
    pytest.param({"voice_minutes": {"used": 5000, "limit": None, "percentage": 0}},
                 {"voice_minutes_used": 5000.0, "voice_minutes_limit": None, "voice_minutes_pct": None},
                 "a null limit is unlimited: no percentage of it", id="unlimited-null-limit"),
    pytest.param({"api_calls": {"used": 12450}},
                 {"api_calls_limit": None, "api_calls_pct": None}, "a missing limit is unlimited too",
                 id="missing-limit"),
    pytest.param({"voice_minutes": {"used": 320, "limit": 1000}}, {"voice_minutes_pct": 32.0},
                 "a missing percentage is computed from a positive limit", id="missing-percentage"),
    pytest.param({"storage_mb": {"used": 0, "limit": 0}},
                 {"storage_mb_used": 0.0, "storage_mb_limit": 0.0, "storage_mb_pct": None},
                 "no division by a zero limit", id="zero-limit"),
    pytest.param({"storage_mb": None}, {"storage_mb_used": None, "storage_mb_limit": None, "storage_mb_pct": None},
                 "a missing quota object is nulls, not a crash", id="missing-quota"),
    pytest.param({"plan": "enterprise-plus", "billing_status": "trialing"},
                 {"plan": "enterprise-plus", "billing_status": "trialing"},
                 "new plans and statuses are data, not errors", id="unknown-plan-and-status"),
    pytest.param({"seats": {"used": 3, "limit": 25, "percentage": 12.0}},
                 {"_extra": '{"seats":{"used":3,"limit":25,"percentage":12.0}}'},
                 "a new quota is kept in _extra", id="new-quota-in-extra"),
    pytest.param({"api_calls": {"used": 1, "limit": 2, "percentage": 50.0, "overage": 0}},
                 {"api_calls_used": 1.0, "api_calls_limit": 2.0, "api_calls_pct": 50.0,
                  "_extra": '{"api_calls.overage":0}'}, "a new key inside a quota is kept too", id="new-quota-key"),
    pytest.param({"period": {"start": "2026-03-01T00:00:00Z", "end": "2026-04-01T00:00:00Z"}},
                 {"period_end": date(2026, 3, 31)}, "an end at midnight is exclusive", id="exclusive-midnight-end"),
    pytest.param({"period": {"start": "2026-03-01", "end": "2026-03-31"}}, {},
                 "a bare date is an inclusive day", id="date-only-period"),
    pytest.param({"period": None}, {"period_start": None, "period_end": None}, "no period, no crash", id="no-period"),
])
def test_summary_row(changes, expected, why):
    table = normalize_summary("acme", {**VENDOR_SUMMARY, **changes}, datetime(2026, 3, 5, 12, 0, tzinfo=UTC))
    assert table.schema == SUMMARY_SCHEMA
    assert table.to_pylist() == [VENDOR_RECORD | expected], why


def test_summary_captured_at_becomes_utc_naive():
    berlin = timezone(timedelta(hours=1))
    table = normalize_summary("acme", VENDOR_SUMMARY, datetime(2026, 3, 5, 13, 0, tzinfo=berlin))
    assert table.column("captured_at").to_pylist() == [datetime(2026, 3, 5, 12, 0)]


@pytest.mark.parametrize("payload", [{"data": None}, {"data": {"plan": "starter"}}, {},
                                     {"plan": None, "period": None, "voice_minutes": None}])
def test_a_payload_with_none_of_the_summarys_fields_is_refused_not_stored_as_an_empty_snapshot(payload):
    """Stored, it became the period's latest snapshot: no plan, no quota, and the tenant's alerts went quiet."""
    with pytest.raises(SummaryDataError, match=r"field payload: has none of period, plan, billing_status, "
                                               r"voice_minutes, api_calls, storage_mb .*format may have changed"):
        normalize_summary("acme", payload, datetime(2026, 3, 5, 12, 0))


@pytest.mark.parametrize(("changes", "error", "why"), [
    pytest.param({"voice_minutes": {"used": "320", "limit": 1000}},
                 "tenant acme, field voice_minutes.used: expected a non-negative number, got '320'",
                 "a string where a number belongs", id="string-used"),
    pytest.param({"api_calls": {"used": 1, "limit": True}},
                 "tenant acme, field api_calls.limit: expected a non-negative number, got True",
                 "a boolean is not a limit", id="bool-limit"),
    pytest.param({"storage_mb": 245},
                 "tenant acme, field storage_mb: expected an object {used, limit, percentage}, got 245",
                 "a bare number where the quota object belongs", id="quota-not-object"),
    pytest.param({"plan": 3}, "tenant acme, field plan: expected a string, got 3", "plans are names", id="plan-number"),
    pytest.param({"period": {"start": "last month", "end": "2026-03-31T23:59:59Z"}},
                 "tenant acme, field period.start: expected an ISO 8601 timestamp, got 'last month'",
                 "an unreadable period", id="bad-period"),
    pytest.param({"period": {"start": "2026-03-10T00:00:00Z", "end": "2026-03-01T00:00:00Z"}},
                 "tenant acme, field period: ends on 2026-03-01, before it starts on 2026-03-10",
                 "a period that ends before it starts is not stored", id="period-ends-before-it-starts"),
    pytest.param({"period": {"start": "2026-03-10", "end": "2026-03-09"}},
                 "tenant acme, field period: ends on 2026-03-09, before it starts on 2026-03-10",
                 "the same with bare dates", id="date-only-period-ends-before-it-starts"),
])
def test_summary_bad_type_names_tenant_and_field(changes, error, why):
    with pytest.raises(SummaryDataError) as caught:
        normalize_summary("acme", {**VENDOR_SUMMARY, **changes}, datetime(2026, 3, 5, 12, 0))
    assert str(caught.value) == error, why
    assert caught.value.tenant == "acme"
