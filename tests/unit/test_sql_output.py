"""`aurion-pipeline sql` for people: every column shown whatever the terminal width, floats rounded
for reading, the row count, markdown, and a hint for an analytics view named without its schema."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import duckdb
import pytest

from aurion_pipeline.cli import main
from aurion_pipeline.ops.query import display

COLUMNS = ["tenant", "plan", "quota_name", "period_start", "period_end", "used", "quota", "pct_used",
           "alert_level", "projected_total", "projected_low", "projected_high", "days_elapsed", "days_in_period"]


@pytest.fixture
def analyst(tmp_path, monkeypatch):
    """An analyst copy holding a 14-column `analytics.plan_utilization` like the real one."""
    data = tmp_path / "data"
    data.mkdir()
    con = duckdb.connect(str(data / "analyst.duckdb"))
    con.execute("create schema analytics")
    con.execute("""
        create view analytics.plan_utilization as
        select * from (values
            ('acme', 'professional', 'voice_minutes', date '2026-11-01', date '2026-11-30',
             30.549999999999994, 1000, 3.0549999999999994, 'ok', 61.1, 50.2, 70.3, 29, 30),
            ('globex', 'starter', 'api_calls', date '2026-11-01', date '2026-11-30',
             12000.0, 10000, 120.0, 'exceeded', 12400.0, 12100.0, 12800.0, 29, 30)
        ) t(tenant, plan, quota_name, period_start, period_end, used, quota, pct_used, alert_level,
            projected_total, projected_low, projected_high, days_elapsed, days_in_period)
    """)
    con.close()
    for name in ("AURION_TENANTS_FILE", "AURION_SQL_DIR", "AURION_ALERTS_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AURION_DATA_DIR", str(data))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    return data


def run(capfd, *args):
    code = main(["sql", *args])
    out, err = capfd.readouterr()
    return code, out, err


@pytest.mark.parametrize("columns", [200, 60], ids=["wide terminal", "narrow terminal"])
def test_every_column_is_shown_at_any_width_with_rounded_floats_and_a_row_count(analyst, capfd, monkeypatch, columns):
    monkeypatch.setenv("COLUMNS", str(columns))
    code, out, err = run(capfd, "select * from analytics.plan_utilization order by tenant")
    assert code == 0 and err == ""
    assert all(name in out for name in COLUMNS)
    assert "30.55" in out and "30.549999" not in out and "3.05" in out
    assert out.rstrip().endswith("(2 rows)")
    assert max(len(line) for line in out.splitlines()) <= columns


def test_a_narrow_terminal_gets_one_record_per_block(analyst, capfd, monkeypatch):
    monkeypatch.setenv("COLUMNS", "60")
    _, out, _ = run(capfd, "select * from analytics.plan_utilization order by tenant")
    assert "-[ row 1 ]" in out and "-[ row 2 ]" in out
    assert any(line.split() == ["used", "30.55"] for line in out.splitlines())


def test_markdown_is_a_pipe_table_with_numbers_right_aligned(analyst, capfd):
    code, out, err = run(capfd, "select tenant, used, quota from analytics.plan_utilization order by tenant",
                         "--format", "markdown")
    assert code == 0
    # stdout is the table alone, to paste into a document; the row count is a note on stderr
    assert out.splitlines() == ["| tenant | used | quota |", "|---|---:|---:|", "| acme | 30.55 | 1000 |",
                                "| globex | 12000 | 10000 |"]
    assert err.strip() == "(2 rows)"


def test_json_keeps_full_precision_for_programs(analyst, capfd):
    _, out, _ = run(capfd, "select used from analytics.plan_utilization where tenant = 'acme'", "--format", "json")
    assert json.loads(out) == [{"used": 30.549999999999994}]


NESTED = ("select 'acme' as tenant, [1.5, 2.0] as weekday_rates, {'a': 1.25::decimal(9, 3), 'b': 'x'} as s, "
          "'inf'::double as pct_used, '-inf'::double as low, 'nan'::double as n")


def test_csv_writes_lists_and_structs_as_json_text(analyst, capfd):
    code, out, err = run(capfd, NESTED, "--format", "csv")
    assert (code, err) == (0, "")
    header, row = out.splitlines()
    assert header == '"tenant","weekday_rates","s","pct_used","low","n"'
    assert row.startswith('"acme","[1.5,2.0]","{""a"":1.25,""b"":""x""}",')


def test_json_is_valid_for_strict_parsers_with_infinity_as_a_string(analyst, capfd):
    code, out, _ = run(capfd, NESTED, "--format", "json")

    def strict(value):
        raise ValueError(f"not JSON: {value}")

    assert code == 0
    assert json.loads(out, parse_constant=strict) == [
        {"tenant": "acme", "weekday_rates": [1.5, 2.0], "s": {"a": 1.25, "b": "x"},
         "pct_used": "Infinity", "low": "-Infinity", "n": "NaN"}]


def test_a_struct_reads_as_names_and_values_in_the_table(analyst, capfd):
    code, out, _ = run(capfd, NESTED)
    assert code == 0 and "{a: 1.25, b: x}" in out and "Decimal" not in out


def test_an_empty_query_is_bad_input(analyst, capfd):
    code, out, err = run(capfd, "  ")
    assert (code, out) == (2, "") and err.startswith("aurion-pipeline sql: no query given")


def test_a_reader_that_stops_early_ends_the_output_quietly(analyst):
    """`aurion-pipeline sql … | head -2`: no BrokenPipeError traceback, and the shell's 141 (SIGPIPE)."""
    command = [sys.executable, "-m", "aurion_pipeline.cli", "sql", "select * from range(200000)", "--format", "csv"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=os.environ.copy()) as proc:
        assert proc.stdout.readline() == b'"range"\n'
        proc.stdout.close()  # what `head` does once it has its lines
        err = proc.stderr.read().decode()
        assert proc.wait(timeout=60) == 141 and err == "", err


def test_an_analytics_view_without_its_schema_gets_the_qualified_name(analyst, capfd):
    code, out, err = run(capfd, "select * from plan_utilization")
    assert code == 1 and out == ""
    assert len(err.strip().splitlines()) == 1 and "analytics.plan_utilization" in err


@pytest.mark.parametrize(
    "value, shown",
    [
        pytest.param(30.549999999999994, "30.55", id="float noise"),
        pytest.param(12000.0, "12000", id="whole float"),
        pytest.param(0.000123456, "0.000123", id="small keeps three significant digits"),
        pytest.param(None, "NULL", id="null"),
        pytest.param(True, "true", id="boolean"),
        pytest.param(7, "7", id="integer untouched"),
    ],
)
def test_display_rounds_floats_for_reading(value, shown):
    assert display(value) == shown
