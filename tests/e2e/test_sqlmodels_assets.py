"""The SQL folder through Dagster: one asset per seed and model with lineage to the raw tables,
views built by `materialize` on a real DuckDB file, and each model's data tests run by its one
`data_tests` asset check, which passes on good data and fails, naming the tests and counting the
offending rows, on planted bad rows."""

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from sqlproj_data import load_small_warehouse

from aurion_pipeline.config import REPO_SQL_DIR
from aurion_pipeline.defs.analytics.models import CHECK_NAME, build_model_defs, build_models_asset
from aurion_pipeline.defs.names import WRITER_POOL
from aurion_pipeline.sqlmodels import load_project

FIXTURE = Path(__file__).parents[1] / "fixtures" / "sqlproj_basic"
MODEL_KEYS = {"analytics/usage_daily", "analytics/latest_summary", "analytics/tenant_usage"}
SEED_KEYS = {"seeds/plan_tiers", "seeds/alert_thresholds"}


class DuckDBFile(dg.ConfigurableResource):
    """Stand-in for the warehouse resource: a read-write connection to one DuckDB file."""

    database: str

    @contextmanager
    def get_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        con = duckdb.connect(self.database)
        try:
            yield con
        finally:
            con.close()


@pytest.fixture
def database(tmp_path) -> str:
    """A warehouse file with the raw tables and good rows: acme on starter, beta on enterprise."""
    path = str(tmp_path / "warehouse.duckdb")
    with duckdb.connect(path) as con:
        load_small_warehouse(con)
    return path


def run(assets_def: dg.AssetsDefinition, database: str, **kwargs) -> dg.ExecuteInProcessResult:
    return dg.materialize([assets_def], resources={"warehouse": DuckDBFile(database=database)}, **kwargs)


def checks_of(result: dg.ExecuteInProcessResult) -> dict[tuple[str, str], tuple[bool, int]]:
    """Each data test's verdict, read from its model's `data_tests` check: (passed, failing rows)."""
    verdicts = {}
    for check in result.get_asset_check_evaluations():
        assert check.check_name == CHECK_NAME
        tests = check.metadata["tests"].value
        assert check.passed == (not any(tests.values()))  # the check fails exactly when a test does
        assert check.metadata["failing_rows"].value == sum(tests.values())
        verdicts |= {(check.asset_key.to_user_string(), name): (rows == 0, rows) for name, rows in tests.items()}
    return verdicts


def error_messages(error) -> str:
    """Dagster wraps the op's exception: the messages of the whole cause chain."""
    messages = []
    while error is not None:
        messages.append(error.message)
        error = error.cause
    return "\n".join(messages)


def with_warehouse(defs: dg.Definitions, database: str) -> dg.Definitions:
    return dg.Definitions.merge(defs, dg.Definitions(resources={"warehouse": DuckDBFile(database=database)}))


def query(database: str, sql: str) -> list[tuple]:
    with duckdb.connect(database, read_only=True) as con:
        return con.execute(sql).fetchall()


def test_every_model_and_seed_is_an_asset_with_lineage_to_raw_tables():
    assets_def = build_models_asset(load_project(FIXTURE))
    specs = {spec.key.to_user_string(): spec for spec in assets_def.specs}
    assert set(specs) == MODEL_KEYS | SEED_KEYS
    assert {k: s.group_name for k, s in specs.items()} == {**dict.fromkeys(MODEL_KEYS, "analytics"),
                                                           **dict.fromkeys(SEED_KEYS, "seeds")}
    assert {d.asset_key for d in specs["analytics/usage_daily"].deps} == {dg.AssetKey(["raw", "usage_daily"])}
    assert {d.asset_key.to_user_string() for d in specs["analytics/tenant_usage"].deps} == {
        "analytics/usage_daily",
        "analytics/latest_summary",
        "seeds/plan_tiers",
        "seeds/alert_thresholds",
    }
    assert specs["analytics/tenant_usage"].description == "Where each tenant stands against its plan's voice quota."
    assert specs["seeds/plan_tiers"].description.startswith("Plan tiers from the vendor page")
    assert assets_def.can_subset
    assert assets_def.op.pool == WRITER_POOL


def test_each_model_with_tests_has_one_check_that_names_them():
    assets_def = build_models_asset(load_project(FIXTURE))
    assert {(k.asset_key.to_user_string(), k.name) for k in assets_def.check_keys} == {
        ("analytics/usage_daily", CHECK_NAME),
        ("analytics/tenant_usage", CHECK_NAME),
    }  # latest_summary declares no test
    described = {s.asset_key.to_user_string(): s.description for s in assets_def.check_specs}
    assert "unique__tenant__usage_date: no two rows share (tenant, usage_date)" in described["analytics/usage_daily"]
    assert "no_negative_usage: custom assertion" in described["analytics/usage_daily"]  # tests/no_negative_usage.sql
    assert "relationships__plan" in described["analytics/tenant_usage"]
    assert "pct_not_negative" in described["analytics/tenant_usage"]


def test_materialize_builds_the_views_and_the_checks_pass_on_good_data(database):
    result = run(build_models_asset(load_project(FIXTURE)), database)
    assert result.success
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert materialized == MODEL_KEYS | SEED_KEYS
    checks = checks_of(result)
    assert len(checks) == 11 and all(checks.values()) and {n for _, n in checks.values()} == {0}
    assert query(database, "select tenant, alert_level from analytics.tenant_usage order by tenant") == [
        ("acme", "warning"),
        ("beta", "ok"),
    ]


def test_definitions_carry_the_sql_and_materializations_the_column_schema(database):
    asset = build_models_asset(load_project(FIXTURE))
    definition = {spec.key.to_user_string(): spec.metadata for spec in asset.specs}
    assert "create or replace view analytics.tenant_usage" in definition["analytics/tenant_usage"]["sql"].value
    assert "read_csv(" in definition["seeds/plan_tiers"]["sql"].value
    result = run(asset, database)
    metadata = {e.asset_key.to_user_string(): e.materialization.metadata
                for e in result.get_asset_materialization_events()}
    view = metadata["analytics/tenant_usage"]
    assert "sql" not in view  # written once, with the definitions, not twice per model and run
    columns = {c.name: c for c in view["dagster/column_schema"].value.columns}
    assert columns["pct_used"].type == "DOUBLE"
    assert columns["pct_used"].description == "Percent of the quota used; null = unlimited"
    assert "dagster/row_count" not in view  # a view's count is a scan: only on request
    assert metadata["seeds/plan_tiers"]["dagster/row_count"].value == 3


def test_row_counts_of_views_on_request(database):
    config = {"ops": {"sql_models": {"config": {"row_counts": True}}}}
    result = run(build_models_asset(load_project(FIXTURE)), database, run_config=config)
    metadata = {e.asset_key.to_user_string(): e.materialization.metadata
                for e in result.get_asset_materialization_events()}
    assert metadata["analytics/usage_daily"]["dagster/row_count"].value == 3


def test_checks_fail_on_planted_bad_rows_with_the_offending_rows_counted(database):
    with duckdb.connect(database) as con:
        con.execute(
            "insert into raw.usage_daily (tenant, usage_date, voice_minutes, api_calls, _filled) values "
            "('acme', '2024-01-02', -5, null, false)"  # duplicate day, negative minutes, null calls
        )
        con.execute(
            "insert into raw.usage_summary (tenant, captured_at, plan, billing_status) values "
            "('gamma', '2024-01-02 06:00', 'gold', 'frozen')"  # unknown plan and status
        )
    result = run(build_models_asset(load_project(FIXTURE)), database)
    assert result.success  # a failing data test is reported, not a crash
    checks = checks_of(result)
    failed = {key: rows for key, (passed, rows) in checks.items() if not passed}
    assert failed == {
        ("analytics/usage_daily", "not_null__api_calls"): 1,
        ("analytics/usage_daily", "unique__tenant__usage_date"): 2,
        ("analytics/usage_daily", "no_negative_usage"): 1,
        ("analytics/tenant_usage", "relationships__plan"): 1,
        ("analytics/tenant_usage", "accepted_values__billing_status"): 1,
    }
    evaluation = next(c for c in result.get_asset_check_evaluations() if c.asset_key.path[-1] == "tenant_usage")
    assert evaluation.severity == dg.AssetCheckSeverity.ERROR
    assert evaluation.description == "2 of 7 tests failed: relationships__plan, accepted_values__billing_status"
    failures = evaluation.metadata["failures"].value
    assert "**relationships__plan**: offending rows: 1" in failures and "not exists" in failures
    assert "gold" in failures  # the sample of offending rows


def test_materializing_twice_changes_nothing(database):
    assets_def = build_models_asset(load_project(FIXTURE))
    run(assets_def, database)
    first = query(database, "select * from analytics.tenant_usage order by tenant")
    assert run(assets_def, database).success
    assert query(database, "select * from analytics.tenant_usage order by tenant") == first
    assert query(database, "select count(*) from seeds.plan_tiers") == [(3,)]


def test_a_subset_builds_only_the_selected_views_and_runs_only_their_checks(database):
    result = run(build_models_asset(load_project(FIXTURE)), database,
                 selection=[dg.AssetKey(["analytics", "usage_daily"])])
    assert ({e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
            == {"analytics/usage_daily"})
    assert {key for key, _ in checks_of(result)} == {"analytics/usage_daily"}
    assert query(database, "select table_schema || '.' || table_name from information_schema.tables "
                           "where table_schema <> 'raw'") == [
        ("analytics.usage_daily",)
    ]


def test_checks_alone_rerun_the_tests_without_rebuilding_views(database):
    assets_def = build_models_asset(load_project(FIXTURE))
    run(assets_def, database)
    with duckdb.connect(database) as con:
        con.execute("update raw.usage_daily set api_calls = null where tenant = 'beta'")
    key = dg.AssetKey(["analytics", "usage_daily"])
    result = run(assets_def, database, selection=dg.AssetSelection.checks(dg.AssetCheckKey(key, CHECK_NAME)))
    assert result.get_asset_materialization_events() == []
    verdicts = checks_of(result)
    assert {model for model, _ in verdicts} == {"analytics/usage_daily"}
    assert {test: v for (_, test), v in verdicts.items() if not v[0]} == {"not_null__api_calls": (False, 1)}


def test_a_broken_model_fails_the_run_naming_the_file_and_keeps_the_old_views(database, tmp_path):
    root = tmp_path / "proj"
    shutil.copytree(FIXTURE, root)
    run(build_models_asset(load_project(root)), database)
    (root / "models/analytics/tenant_usage.sql").write_text("select no_such_column from analytics.usage_daily")
    result = run(build_models_asset(load_project(root)), database, raise_on_error=False)
    assert not result.success
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    assert "proj/models/analytics/tenant_usage.sql: Binder Error" in error_messages(failure.step_failure_data.error)
    assert query(database, "select count(*) from analytics.tenant_usage") == [(2,)]


def test_a_new_sql_file_appears_as_an_asset_without_touching_python(database, tmp_path):
    root = tmp_path / "proj"
    shutil.copytree(FIXTURE, root)
    before = with_warehouse(build_model_defs(root), database).resolve_asset_graph().get_all_asset_keys()
    assert dg.AssetKey(["analytics", "busiest_day"]) not in before
    (root / "models/analytics/busiest_day.sql").write_text(
        "select tenant, arg_max(usage_date, voice_minutes) as busiest_day from analytics.usage_daily group by tenant\n"
    )
    (root / "models/analytics/busiest_day.yml").write_text("columns: {tenant: {tests: [unique]}}\n")
    defs = with_warehouse(build_model_defs(root), database)
    graph = defs.resolve_asset_graph()
    new_key = dg.AssetKey(["analytics", "busiest_day"])
    assert new_key in graph.get_all_asset_keys()
    assert graph.get(new_key).parent_keys == {dg.AssetKey(["analytics", "usage_daily"])}
    upstream = dg.AssetKey(["analytics", "usage_daily"])
    # warehouse bound by the merge
    result = dg.materialize([defs.resolve_assets_def(new_key)], selection=[upstream, new_key])
    assert checks_of(result)[("analytics/busiest_day", "unique__tenant")] == (True, 0)
    assert query(database, "select * from analytics.busiest_day order by tenant")[0][0] == "acme"


def test_definitions_load_merged_with_a_warehouse_resource(tmp_path):
    defs = with_warehouse(build_model_defs(FIXTURE), str(tmp_path / "w.duckdb"))
    dg.Definitions.validate_loadable(defs)
    job = defs.resolve_implicit_global_asset_job_def()
    assert job is not None


def test_the_real_sql_folder_loads_as_definitions(tmp_path):
    defs = with_warehouse(build_model_defs(REPO_SQL_DIR), str(tmp_path / "w.duckdb"))
    dg.Definitions.validate_loadable(defs)
    keys = defs.resolve_asset_graph().get_all_asset_keys()
    assert dg.AssetKey(["analytics", "usage_daily"]) in keys
    assert dg.AssetKey(["seeds", "plan_tiers"]) in keys
