"""No fragment of a key survives redaction: any run of 8+ consecutive characters of any remembered key."""

from __future__ import annotations

import json

import pytest

from aurion_pipeline.source import BadRequestError
from aurion_pipeline.source.redact import (
    forget_all_keys,
    redact,
    redact_echoes,
    remember_key,
    shown_env_name,
)

KEY = "ak_live_7Hq2Zx9Lm4Pw8Rt6"
OTHER = "ak_live_Vb3Nc5Jd1Ks0Qe2W"


@pytest.fixture(autouse=True)
def keys():
    forget_all_keys()
    remember_key(KEY)
    remember_key(OTHER)
    yield
    forget_all_keys()


@pytest.mark.parametrize("text, expected", [
    pytest.param(f"bad key {KEY}.", "bad key [redacted].", id="the-whole-key"),
    pytest.param(f"bad key {KEY[:-3]}.", "bad key [redacted].", id="the-key-minus-its-last-3-characters"),
    pytest.param(f"x{KEY[5:13]}y", "x[redacted]y", id="8-characters-from-the-middle"),
    pytest.param(f"x{KEY[5:12]}y", f"x{KEY[5:12]}y", id="7-characters-are-not-a-fragment"),
    pytest.param(f"{KEY[:10]} and {OTHER[-9:]}", "[redacted] and [redacted]", id="pieces-of-two-keys"),
    pytest.param(f'{{"key":"{KEY}{KEY}"}}', '{"key":"[redacted]"}', id="adjacent-fragments-make-one-mark"),
    pytest.param("API key rejected (401): check the key in AURION_API_KEY",
                 "API key rejected (401): check the key in AURION_API_KEY",
                 id="a-message-without-a-key-is-unchanged"),
    pytest.param("", "", id="empty"),
])
def test_redact_removes_every_run_of_8_characters_of_a_key(text, expected):
    assert redact(text) == expected


def test_redact_without_any_key_changes_nothing():
    forget_all_keys()
    assert redact(f"bad key {KEY}") == f"bad key {KEY}"


def test_a_key_shorter_than_8_characters_is_redacted_whole():
    remember_key("abc1234")
    assert redact("key=abc1234;") == "key=[redacted];"


def test_every_api_error_message_is_redacted_when_built():
    error = BadRequestError(f"API refused the request (400): unknown key {KEY[:-3]}")
    assert KEY[:8] not in str(error) and "[redacted]" in str(error)


@pytest.mark.parametrize("name, shown", [
    pytest.param("AURION_API_KEY_ACME", "AURION_API_KEY_ACME", id="a-variable-name-is-shown"),
    pytest.param(KEY, "the variable named by its api_key_env", id="a-key-pasted-as-the-name-is-not"),
    pytest.param("ak_live_unknownKey1234567", "the variable named by its api_key_env",
                 id="a-key-shaped-value-never-remembered-is-not-shown-either"),
])
def test_shown_env_name_never_echoes_a_key_shaped_value(name, shown):
    assert shown_env_name(name) == shown


def test_a_failed_window_is_logged_in_the_warehouse_without_the_key(tmp_path):
    from datetime import date

    import duckdb

    from aurion_pipeline.storage import Warehouse
    from aurion_pipeline.storage.load import Window, log_failures

    warehouse = Warehouse(tmp_path)
    with warehouse.writer() as con:
        log_failures(con, [(Window("acme", date(2026, 3, 1), date(2026, 3, 1)), f"HTTP 400: {KEY[:-3]}")], "r1")
    with duckdb.connect(str(warehouse.path), read_only=True) as con:
        assert con.execute("select error from raw._load_log").fetchall() == [("HTTP 400: [redacted]",)]


def test_a_payload_echoing_a_piece_of_the_key_is_redacted_everywhere_inside_it():
    key = "ak_live_0123456789abcdef01234567"
    remember_key(key)
    try:
        payload = {"data": [{"note": f"hello {key[:-3]}", key[2:12]: 1, "voice_minutes": 3}], "n": 1}
        out = redact_echoes(payload, json.dumps(payload), key)
        text = json.dumps(out)
        assert not any(key[i:i + 8] in text for i in range(len(key) - 7))
        assert out["data"][0]["voice_minutes"] == 3 and out["n"] == 1
    finally:
        forget_all_keys()


def test_a_payload_without_the_key_is_returned_as_it_is():
    payload = {"data": [{"date": "2026-03-01", "voice_minutes": 3}]}
    assert redact_echoes(payload, json.dumps(payload), "ak_live_0123456789abcdef01234567") is payload
