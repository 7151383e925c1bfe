"""The canary sweep: plant random keys, make the API fail in every way that can echo one, run the
CLI for real, then search everything the pipeline printed or stored — stdout, stderr, the whole
DAGSTER_HOME (SQLite run storage, compute logs) and the data directory (Parquet, DuckDB, read both
as bytes and through their readers, as both compress) — for any 8 consecutive characters of a key."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import threading
from datetime import date
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
import yaml
from helpers_ops import clean_env
from rawhttp import RawServer, drip, head, header

pytestmark = pytest.mark.slow

DAY = date(2026, 3, 2)
# How each tenant's API answers; every answer but "fine" carries its key somewhere.
BEHAVIOURS = ("fine", "401", "400-full-echo", "400-partial-echo", "500-echo", "malformed-echo", "timeout", "drip")


def canary() -> str:
    return "ak_live_" + secrets.token_hex(12)


def fragments(key: str) -> set[str]:
    return {key[i:i + 8] for i in range(len(key) - 7)}


def answer(behaviour: str, key: str) -> bytes | None:
    """The whole HTTP response for a behaviour, or None for a server that never answers."""
    def respond(status: str, payload: object, extra: str = "") -> bytes:
        body = json.dumps(payload).encode()
        return head(body, status, extra) + body

    row = {"date": DAY.isoformat(), "voice_minutes": 3, "api_calls": 5, "llm_tokens": {"input": 7, "output": 11}}
    return {
        "fine": lambda: respond("200 OK", {"data": [row]}),
        "401": lambda: respond("401 Unauthorized", {"error": f"invalid API key {key}"}),
        "400-full-echo": lambda: respond("400 Bad Request", {"error": {"message": f"unknown key {key}"}}),
        "400-partial-echo": lambda: respond("400 Bad Request", {"message": f"unknown key {key[:-3]}"}),
        "500-echo": lambda: respond("500 Internal Server Error", {"error": f"crash serving {key}"},
                                    "Retry-After: 1\r\n"),
        "malformed-echo": lambda: respond("200 OK", {"data": [dict(row, voice_minutes=key)]}),
        "drip": lambda: respond("400 Bad Request", {"error": f"unknown key {key}"}),
        "timeout": lambda: None,
    }[behaviour]()


class CanaryApi:
    """One loopback API whose answer depends on the key each request carries."""

    def __init__(self, keys: dict[str, str]) -> None:
        self.behaviour_of = {key: behaviour for behaviour, key in keys.items()}
        self.server = RawServer(self._respond)

    def _respond(self, conn, request: bytes, number: int, stop: threading.Event) -> None:
        key = header(request, "X-API-Key") or ""
        behaviour = self.behaviour_of.get(key, "401")
        response = answer(behaviour, key)
        if response is None:
            stop.wait(60)
        elif behaviour == "drip":
            drip(response)(conn, request, number, stop)
        else:
            conn.sendall(response)


def run_cli(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "aurion_pipeline.cli", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=600)


def stored_texts(root: Path):
    """(where, text) for every file under `root`: its bytes, and for DuckDB and Parquet files every
    value as their readers return it (their pages are compressed, so bytes alone prove nothing)."""
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        yield str(path), path.read_bytes().decode("latin-1")
        if path.suffix == ".parquet":
            yield f"{path} (rows)", json.dumps(pq.read_table(path).to_pylist(), default=str)
        if path.suffix == ".duckdb":
            yield f"{path} (rows)", duckdb_values(path)


def duckdb_values(path: Path) -> str:
    with duckdb.connect(str(path), read_only=True) as con:
        tables = con.execute("select database_name, schema_name, table_name from duckdb_tables()").fetchall()
        return json.dumps([con.execute(f'select * from "{d}"."{s}"."{t}"').fetchall() for d, s, t in tables],
                          default=str)


@pytest.fixture
def sweep(tmp_path):
    keys = {behaviour: canary() for behaviour in BEHAVIOURS}
    pasted = canary()
    api = CanaryApi(keys)
    tenants = [{"name": b.replace("-", "_"), "api_key_env": f"CANARY_KEY_{i}"} for i, b in enumerate(BEHAVIOURS)]
    (tmp_path / "tenants.yaml").write_text(yaml.safe_dump(tenants))
    (tmp_path / "pasted.yaml").write_text(yaml.safe_dump([{"name": "pasted", "api_key_env": pasted}]))
    env = clean_env()
    env.update({f"CANARY_KEY_{i}": keys[b] for i, b in enumerate(BEHAVIOURS)})
    env.update(AURION_BASE_URL=api.server.url, AURION_TENANTS_FILE=str(tmp_path / "tenants.yaml"),
               AURION_DATA_DIR=str(tmp_path / "data"), DAGSTER_HOME=str(tmp_path / "dagster_home"),
               AURION_START_DATE="2026-01-01", AURION_REQUEST_DEADLINE_SECONDS="2", PYTHONUNBUFFERED="1")
    yield tmp_path, env, keys, pasted
    api.server.close()


def test_no_fragment_of_any_key_is_printed_or_stored_whatever_the_api_answers(sweep):
    root, env, keys, pasted = sweep
    runs = [run_cli(env, root, "backfill", "--start", DAY.isoformat(), "--end", DAY.isoformat()),
            run_cli({**env, "AURION_TENANTS_FILE": str(root / "pasted.yaml")}, root,
                    "backfill", "--start", DAY.isoformat(), "--end", DAY.isoformat())]

    # The sweep only means something if every failure mode really happened.
    assert [r.returncode != 0 for r in runs] == [True, True]
    with duckdb.connect(str(root / "data" / "analyst.duckdb"), read_only=True) as con:
        loaded = con.execute("select distinct tenant from raw.usage_daily").fetchall()
        failed = dict(con.execute("select tenant, any_value(error) from raw._load_log where status = 'failed' "
                                  "group by tenant").fetchall())
    assert loaded == [("fine",)]
    assert sorted(failed) == sorted(b.replace("-", "_") for b in BEHAVIOURS if b != "fine")
    assert "deadline" in failed["timeout"] and "deadline" in failed["drip"]
    assert "[redacted]" in failed["400_partial_echo"] and "[redacted]" in failed["500_echo"]

    leaks = []
    every_fragment = {f: b for b, key in {**keys, "pasted": pasted}.items() for f in fragments(key)}
    outputs = [(f"run {i} {stream}", getattr(r, stream)) for i, r in enumerate(runs) for stream in ("stdout", "stderr")]
    for where, text in [*outputs, *stored_texts(root / "dagster_home"), *stored_texts(root / "data")]:
        leaks += [(where, every_fragment[f]) for f in every_fragment if f in text]
    assert leaks == []
