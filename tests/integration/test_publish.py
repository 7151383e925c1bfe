"""The analyst copy's storage format: a warehouse the pipeline creates is in the analyst storage
version, so the copy is a byte copy; any other warehouse is rewritten by DuckDB into that version.
Either way the copy's header carries the format DuckDB 1.x reads (the slow test in
test_analyst_copy_clients opens it with DuckDB 1.5 itself)."""

from __future__ import annotations

from datetime import date

import duckdb
import pytest
from test_storage_faults import usage

from aurion_pipeline.storage import Warehouse, lake
from aurion_pipeline.storage.load import Window, load_usage
from aurion_pipeline.storage.publish import format_number, publish_analyst_copy

V1_0, V1_2 = 64, 65  # the header numbers DuckDB writes for storage versions v1.0.0 and v1.2.0
MARCH = date(2026, 3, 1)


def loaded(wh: Warehouse) -> None:
    with wh.writer(publish=True) as con:
        lake.write_usage(wh.lake_dir, usage("acme", MARCH, 10))
        load_usage(con, wh.lake_dir, [Window("acme", MARCH, date(2026, 3, 10))], "r1")


def rows(path) -> list[tuple]:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute("select tenant, usage_date, api_calls from raw.usage_daily order by all").fetchall()


def test_a_warehouse_the_pipeline_creates_is_in_the_analyst_format_and_copied_byte_for_byte(tmp_path):
    wh = Warehouse(tmp_path / "data")
    loaded(wh)

    assert format_number(wh.path) == V1_0
    assert wh.analyst_path.read_bytes() == wh.path.read_bytes()


def test_a_warehouse_in_duckdb_2_format_is_rewritten_into_the_analyst_format(tmp_path):
    wh = Warehouse(tmp_path / "data")
    wh.data_dir.mkdir()
    duckdb.connect(str(wh.path)).close()  # created before this version of the pipeline: DuckDB's own format
    native = format_number(wh.path)
    loaded(wh)

    assert native != V1_0 and format_number(wh.path) == native
    assert format_number(wh.analyst_path) == V1_0
    assert rows(wh.analyst_path) == rows(wh.path) and len(rows(wh.path)) == 10


@pytest.mark.parametrize("version, number", [("v1.0.0", V1_0), ("v1.2.0", V1_2)])
def test_the_copy_is_written_in_the_configured_version(tmp_path, version, number):
    wh = Warehouse(tmp_path / "data")
    loaded(wh)

    publish_analyst_copy(wh.path, tmp_path / "copy.duckdb", version)

    assert format_number(tmp_path / "copy.duckdb") == number
    assert rows(tmp_path / "copy.duckdb") == rows(wh.path)
