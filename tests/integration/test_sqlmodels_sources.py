"""Raw sources declared like models (dbt_like_sql/sources/<schema>.yml): their tests in the models' YAML
syntax, singular tests reading only raw tables attached to them, run by the same `run_tests` on a real
DuckDB file, loud errors naming the file, and their `data_tests` check on the raw Dagster asset."""

import dagster as dg
import pytest
from helpers_ops import SQL_FOLDER
from sqlproj_data import write_project

from aurion_pipeline.defs.aurion_usage.checks import build_source_checks
from aurion_pipeline.defs.names import Names
from aurion_pipeline.sqlmodels import Source, SqlProjectError, load_project, run_tests

RAW_YML = """
    description: What the pipeline loads.
    tables:
      usage_daily:
        description: One row per tenant and day.
        columns:
          tenant: {description: "Tenant name.", tests: [not_null, {accepted_values: {values: [acme, beta, gamma]}}]}
          api_calls: {description: "API calls."}
        tests:
          - unique: [tenant, usage_date]
          - {name: calls_below_a_million, sql: "select * from raw.usage_daily where api_calls >= 1000000"}
"""


@pytest.fixture
def project(tmp_path):
    return load_project(write_project(tmp_path / "proj", {
        "sources/raw.yml": RAW_YML,
        "models/analytics/daily.sql": "select tenant, usage_date, api_calls from raw.usage_daily",
        "tests/never_negative.sql": "select * from raw.usage_daily where api_calls < 0",
        "tests/model_matches_raw.sql": """
            select * from analytics.daily as d anti join raw.usage_daily as r using (tenant, usage_date)""",
    }))


def test_a_declared_source_gets_its_yaml_tests_and_the_singular_tests_reading_only_raw_tables(project):
    source = project.get("raw.usage_daily")
    assert isinstance(source, Source)
    assert source.description == "One row per tenant and day."
    assert [c.name for c in source.columns] == ["tenant", "api_calls"]
    assert [t.name for t in source.tests] == [
        "not_null__tenant",
        "accepted_values__tenant",
        "unique__tenant__usage_date",
        "calls_below_a_million",
        "never_negative",  # tests/never_negative.sql reads only raw.usage_daily
    ]
    # A singular test reading a model belongs to the model: it must run after the model's build.
    assert [t.name for t in project.get("analytics.daily").tests] == ["model_matches_raw"]
    assert project.declared_sources == (source,)


def test_every_declared_source_test_passes_on_good_rows(project, con):
    results = run_tests(con, project.get("raw.usage_daily"))
    assert [(r.name, r.passed, r.failing_rows, r.model) for r in results] == [
        (t.name, True, 0, "raw.usage_daily") for t in project.get("raw.usage_daily").tests
    ]


@pytest.mark.parametrize(
    ("planted", "test_name", "offending"),
    [
        pytest.param("('acme', '2024-01-02', 1, 10, false)", "unique__tenant__usage_date",
                     {("acme", "2024-01-02", 10), ("acme", "2024-01-02", 20)}, id="unique-shows-both-copies"),
        pytest.param("('gamma', '2024-01-03', 1, -3, false)", "never_negative", {("gamma", "2024-01-03", -3)},
                     id="singular-test-file"),
        pytest.param("('zeta', '2024-01-03', 1, 7, false)", "accepted_values__tenant",
                     {("zeta", "2024-01-03", 7)}, id="column-test"),
        pytest.param("('gamma', '2024-01-04', 1, 2000000, false)", "calls_below_a_million",
                     {("gamma", "2024-01-04", 2000000)}, id="inline-sql-test"),
    ],
)
def test_a_failing_source_test_names_its_offending_rows(project, con, planted, test_name, offending):
    con.execute(f"insert into raw.usage_daily (tenant, usage_date, voice_minutes, api_calls, _filled) values {planted}")
    results = {r.name: r for r in run_tests(con, project.get("raw.usage_daily"))}
    assert [name for name, r in results.items() if not r.passed] == [test_name]
    failed = results[test_name]
    assert failed.failing_rows == len(offending)
    assert {(row["tenant"], str(row["usage_date"]), row["api_calls"]) for row in failed.sample} == offending
    assert "raw.usage_daily" in failed.sql


BAD_SOURCES = [
    pytest.param({"sources/raw.yml": "tables: {usage_weekly: {description: x}}"},
                 ["proj/sources/raw.yml", "raw.usage_weekly is not a raw source table"], id="table-not-in-schema-sql"),
    pytest.param({"sources/raw.yml": "tables: {usage_daily: {materialized: table}}"},
                 ["proj/sources/raw.yml", "unknown key(s) in table usage_daily: materialized"], id="no-materialized"),
    pytest.param({"sources/raw.yml": "description: nothing"},
                 ["proj/sources/raw.yml", "declares no table"], id="no-tables"),
    pytest.param({"sources/raw/usage_daily.yml": "tables: {usage_daily: {}}"},
                 ["proj/sources/raw/usage_daily.yml", "sources/<schema>.yml"], id="misplaced-file"),
    pytest.param({"sources/raw.yml": "tables: {usage_daily: {columns: {tenant: {tests: [is_tenant]}}}}"},
                 ["proj/sources/raw.yml", "unknown test 'is_tenant' on column tenant"], id="unknown-column-test"),
    pytest.param({"sources/raw.yml": "tables: {usage_daily: {columns: {plan: {tests: "
                  "[{relationships: {to: seeds.nope, field: plan}}]}}}}"},
                 ["proj/sources/raw.yml (test relationships__plan)", "seeds.nope"], id="relationship-to-unknown-table"),
    pytest.param({"sources/raw.yml": "tables: {usage_summary: {}}",
                  "tests/t.sql": "select * from raw.usage_daily where api_calls < 0"},
                 ["proj/tests/t.sql", "reads no model or declared source"], id="singular-test-on-undeclared-raw-table"),
    pytest.param({"sources/raw.yml": "tables: {usage_daily: {tests: [{name: t, sql: 'select 1 as x'}]}}",
                  "tests/t.sql": "select * from raw.usage_daily where api_calls < 0"},
                 ["proj/tests/t.sql", "raw.usage_daily already has a test named t"], id="test-name-twice"),
]


@pytest.mark.parametrize(("files", "fragments"), BAD_SOURCES)
def test_a_bad_source_file_fails_with_one_line_naming_it(tmp_path, files, fragments):
    with pytest.raises(SqlProjectError) as raised:
        load_project(write_project(tmp_path / "proj", files))
    message = str(raised.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message


def test_the_real_folder_declares_the_raw_usage_invariants_and_they_find_a_gap_in_a_loaded_window(con):
    source = load_project(SQL_FOLDER).get("raw.usage_daily")
    assert [t.name for t in source.tests] == ["unique__tenant__usage_date", "no_gaps_in_loaded_windows",
                                              "no_negative_usage"]
    con.execute("insert into raw._load_log (tenant, window_start, window_end, status, _loaded_at) values "
                "('acme', '2024-01-01', '2024-01-02', 'loaded', now()), "
                "('beta', '2024-01-01', '2024-01-02', 'loaded', now()), "  # beta has no row for 01-02
                "('beta', '2024-01-03', '2024-01-03', 'failed', now())")  # not loaded: no row is fine
    results = {r.name: r for r in run_tests(con, source)}
    assert {name: r.failing_rows for name, r in results.items()} == {
        "unique__tenant__usage_date": 0, "no_gaps_in_loaded_windows": 1, "no_negative_usage": 0}
    (gap,) = results["no_gaps_in_loaded_windows"].sample
    assert (gap["tenant"], str(gap["usage_date"])) == ("beta", "2024-01-02")


def test_the_raw_asset_gets_one_data_tests_check_and_a_table_that_is_no_asset_none(tmp_path):
    # raw._load_log declares tests but is no Dagster asset: its tests run from Python, not as a check.
    root = write_project(tmp_path / "proj", {
        "sources/raw.yml": "tables: {usage_daily: {tests: [{unique: [tenant, usage_date]}]}, "
                           "_load_log: {tests: [{unique: [tenant, window_start, _loaded_at]}]}}",
    })

    specs = [dg.AssetSpec(dg.AssetKey(["raw", "usage_daily"])), dg.AssetSpec(dg.AssetKey(["raw", "usage_summary"]))]

    @dg.multi_asset(specs=specs)
    def raw_tables():
        return None

    (checks,) = build_source_checks(load_project(root), Names(), [raw_tables])
    assert {(k.asset_key.to_user_string(), k.name) for k in checks.check_keys} == {("raw/usage_daily", "data_tests")}
    bare = write_project(tmp_path / "bare", {"models/analytics/a.sql": "select 1 as x"})  # declares no source
    assert build_source_checks(load_project(bare), Names(), [raw_tables]) == []


def test_the_ops_tests_soundness_helper_runs_the_declared_raw_tests(con):
    from helpers_ops import raw_test_failures

    assert raw_test_failures(con) == []
    con.execute("insert into raw.usage_daily select * from raw.usage_daily where tenant = 'beta'")
    (failure,) = raw_test_failures(con)
    assert failure.startswith("raw.usage_daily unique__tenant__usage_date: 2 offending rows")
    assert "'beta'" in failure
