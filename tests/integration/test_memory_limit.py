"""AURION_DUCKDB_MEMORY_LIMIT: the writer's DuckDB memory limit, and DuckDB spilling to disk beyond it."""

import pytest

from aurion_pipeline.config import ConfigError, load_settings
from aurion_pipeline.defs.aurion_usage.resources import resources_from_env
from aurion_pipeline.storage import Warehouse


def test_default_is_384mb():
    assert load_settings({}).duckdb_memory_limit == "384MB"


@pytest.mark.parametrize("value", ["1GB", "1.5GB", "2GiB", "256 mb", "64MiB"])
def test_duckdb_sizes_are_accepted(value):
    assert load_settings({"AURION_DUCKDB_MEMORY_LIMIT": value}).duckdb_memory_limit == value


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("512", id="no unit"),
        pytest.param("lots", id="not a number"),
        pytest.param("50%", id="share of RAM (not accepted: say how much)"),
        pytest.param("512MB; drop table raw.usage_daily", id="anything after the size"),
    ],
)
def test_a_bad_size_is_one_line_naming_the_variable_and_an_example(value):
    with pytest.raises(ConfigError, match="AURION_DUCKDB_MEMORY_LIMIT") as err:
        load_settings({"AURION_DUCKDB_MEMORY_LIMIT": value})
    assert "512MB" in str(err.value) and "\n" not in str(err.value)


def test_the_setting_reaches_the_dagster_warehouse_resource(tmp_path):
    resources = resources_from_env({"AURION_DATA_DIR": str(tmp_path), "AURION_DUCKDB_MEMORY_LIMIT": "1GiB"})
    assert resources["warehouse"].warehouse.memory_limit == "1GiB"


def test_the_writer_connection_applies_the_limit(tmp_path):
    with Warehouse(tmp_path, memory_limit="64MiB").writer() as con:
        assert con.execute("select current_setting('memory_limit')").fetchone() == ("64.0 MiB",)


def test_beyond_the_limit_duckdb_spills_beside_the_warehouse_instead_of_failing(tmp_path):
    wh = Warehouse(tmp_path, memory_limit="64MB")
    with wh.writer() as con:
        con.execute("set threads = 2")  # DuckDB needs some memory per thread: keep the test independent of the host
        # 3M distinct 32-byte strings: a hash table of well over 64 MB.
        groups = con.execute(
            "select count(*) from "
            "(select s, count(*) from (select md5(i::varchar) as s from range(3000000) t(i)) group by s)"
        ).fetchone()[0]
        assert groups == 3_000_000
        assert (tmp_path / "warehouse.duckdb.tmp").is_dir()  # DuckDB's default temp directory, removed on close
