"""The raw assets through Dagster (`dg.materialize`) against a real local Aurion API and real files."""

import json
from datetime import date

import dagster as dg
import duckdb
import pytest

from aurion_pipeline.config import REPO_SQL_DIR, ConfigError
from aurion_pipeline.defs.aurion_usage.assets import UsageLoadConfig, build_raw_assets
from aurion_pipeline.defs.aurion_usage.checks import build_source_checks
from aurion_pipeline.defs.aurion_usage.partitions import daily_partitions
from aurion_pipeline.defs.aurion_usage.partitions import partition_range_tags as range_tags
from aurion_pipeline.defs.aurion_usage.resources import AurionApiResource, TenantConfig, WarehouseResource
from aurion_pipeline.defs.names import Names
from aurion_pipeline.sqlmodels import load_project
from aurion_sandbox import DEFAULT_TENANTS, SandboxServer, sandbox_env

TODAY = date(2026, 11, 25)
TENANTS = DEFAULT_TENANTS[:2]  # acme and globex keep these runs small
RAW = build_raw_assets(Names(), daily_partitions(date(2025, 1, 1)))
usage_daily, usage_summary = RAW.usage_daily, RAW.usage_summary
(raw_data_tests,) = build_source_checks(load_project(REPO_SQL_DIR), Names(), [usage_daily, usage_summary])


def api_resource(base_url: str, tenants: list[tuple[str, str]], **kwargs) -> AurionApiResource:
    return AurionApiResource(
        base_url=base_url, tenants=[TenantConfig(name=name, api_key_env=env) for name, env in tenants], **kwargs
    )


@pytest.fixture
def api(monkeypatch):
    for name, key in sandbox_env(TENANTS).items():
        monkeypatch.setenv(name, key)
    with SandboxServer(tenants=TENANTS, today=TODAY) as server:
        yield server


@pytest.fixture
def resources(api, tmp_path):
    return {
        "aurion_api": api_resource(api.base_url, [(t.name, t.api_key_env) for t in TENANTS], max_range_days=31),
        "warehouse": WarehouseResource(data_dir=str(tmp_path / "data"), lock_timeout_s=10),
    }


def warehouse_rows(resources, sql):
    con = duckdb.connect(str(resources["warehouse"].warehouse.analyst_path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def details_requests(api) -> list[tuple[str, str, str]]:
    return [(r.tenant, r.start_date, r.end_date) for r in api.requests if r.path.endswith("/details")]


@pytest.mark.smoke
def test_one_partition_twice_leaves_no_duplicates(api, resources):
    for _ in range(2):
        result = dg.materialize([usage_daily], partition_key="2026-11-01", resources=resources)
        assert result.success
    assert warehouse_rows(resources, "select tenant, count(*) from raw.usage_daily group by all order by 1") == [
        ("acme", 1),
        ("globex", 1),
    ]
    served = {t.name: api.usage(t, date(2026, 11, 1), date(2026, 11, 1)).rows() for t in TENANTS}
    loaded = warehouse_rows(resources, "select tenant, api_calls, llm_input_tokens from raw.usage_daily order by 1")
    for tenant, api_calls, tokens in loaded:
        (row,) = served[tenant]
        assert (api_calls, tokens) == (row["api_calls"], row["llm_tokens"]["input"])


def run_report(result: dg.ExecuteInProcessResult) -> list[dict]:
    """The load report of each run of raw/usage_daily: one observation per run, not per partition."""
    return [o.metadata for o in result.asset_observations_for_node(usage_daily.node_def.name)]


def test_a_60_day_range_with_max_range_31_makes_two_requests_per_tenant(api, resources):
    start, end = date(2026, 8, 1), date(2026, 9, 29)
    result = dg.materialize([usage_daily], resources=resources, tags=range_tags(start, end))
    assert result.success
    requests = details_requests(api)
    assert sorted(requests) == sorted(
        (t.name, a, b) for t in TENANTS for a, b in [("2026-08-01", "2026-08-31"), ("2026-09-01", "2026-09-29")]
    )
    materialized = result.asset_materializations_for_node(usage_daily.node_def.name)
    assert len(materialized) == 60
    assert {m.metadata["window"].value for m in materialized} == {"2026-08-01..2026-09-29"}
    (observed,) = run_report(result)
    assert (observed["details_requests"].value, observed["rows"].value) == (4, 120)
    assert (observed["tenants"].value, observed["days"].value, observed["failed_windows"].value) == (2, 60, 0)
    (check,) = result.get_asset_check_evaluations()
    assert (check.check_name, check.passed) == ("all_windows_loaded", True)
    assert warehouse_rows(
        resources, "select count(*), count(distinct (tenant, usage_date)) from raw.usage_daily"
    ) == [(120, 120)]


def test_omitted_days_become_explicit_zero_rows(httpserver, tmp_path, monkeypatch):
    monkeypatch.setenv("KEY_SOLO", "ak_test_solo")
    httpserver.expect_request("/api/v1/usage/details").respond_with_json(
        {"data": [{"date": "2026-03-01", "voice_minutes": 5, "api_calls": 7, "llm_tokens": {"input": 1, "output": 2}},
                  {"date": "2026-03-04", "voice_minutes": 1, "api_calls": 1, "llm_tokens": None}]}
    )
    resources = {
        "aurion_api": api_resource(httpserver.url_for("").rstrip("/"), [("solo", "KEY_SOLO")]),
        "warehouse": WarehouseResource(data_dir=str(tmp_path / "data")),
    }
    result = dg.materialize([usage_daily], resources=resources, tags=range_tags(date(2026, 3, 1), date(2026, 3, 4)))
    assert result.success
    rows = warehouse_rows(
        resources,
        "select usage_date, voice_minutes, api_calls, llm_input_tokens, _filled from raw.usage_daily order by 1",
    )
    assert rows == [
        (date(2026, 3, 1), 5.0, 7, 1, False),
        (date(2026, 3, 2), 0.0, 0, 0, True),
        (date(2026, 3, 3), 0.0, 0, 0, True),
        (date(2026, 3, 4), 1.0, 1, None, False),
    ]
    (observed,) = run_report(result)
    assert observed["filled_zero_days"].value == 2


@pytest.mark.smoke
def test_a_bad_window_is_a_failing_check_naming_it_and_the_others_load(api, resources):
    api.corrupt("globex", "string_number", day=date(2026, 10, 10))
    result = dg.materialize([usage_daily], resources=resources, tags=range_tags(date(2026, 10, 1), date(2026, 10, 31)))
    assert result.success  # what was committed is materialized; the failure is data
    assert len(result.asset_materializations_for_node(usage_daily.node_def.name)) == 31
    (check,) = result.get_asset_check_evaluations()
    assert (check.check_name, check.passed, check.severity) == (
        "all_windows_loaded", False, dg.AssetCheckSeverity.ERROR)
    (failed,) = check.metadata["failures"].value
    assert ((failed["tenant"], failed["window"]) == ("globex", "2026-10-01..2026-10-31")
            and "api_calls" in failed["error"])
    assert (check.metadata["failed_windows"].value, check.metadata["failed_days"].value) == (
        1, "2026-10-01..2026-10-31")
    assert warehouse_rows(resources, "select tenant, count(*) from raw.usage_daily group by all") == [("acme", 31)]
    assert warehouse_rows(
        resources, "select tenant, status from raw._load_log where status = 'failed'"
    ) == [("globex", "failed")]

    api.reset()
    rerun = dg.materialize(
        [usage_daily], resources=resources, tags=range_tags(date(2026, 10, 1), date(2026, 10, 31)),
        run_config=dg.RunConfig(ops={usage_daily.node_def.name: UsageLoadConfig(only_missing=True)}),
    )
    assert rerun.success
    assert [c.passed for c in rerun.get_asset_check_evaluations()] == [True]
    assert details_requests(api) == [("globex", "2026-10-01", "2026-10-31")]  # acme's loaded days are not re-fetched
    assert warehouse_rows(resources, "select count(*) from raw.usage_daily") == [(62,)]


def test_raw_checks_pass_on_loaded_data_and_fail_on_planted_duplicates(api, resources):
    result = dg.materialize([usage_daily, raw_data_tests], partition_key="2026-11-02", resources=resources)
    evaluations = {c.check_name: c for c in result.get_asset_check_evaluations()}
    assert set(evaluations) == {"all_windows_loaded", "data_tests"}
    assert all(c.passed for c in evaluations.values())
    assert evaluations["data_tests"].metadata["tests"].value == {
        "unique__tenant__usage_date": 0, "no_negative_usage": 0, "no_gaps_in_loaded_windows": 0,
    }
    with resources["warehouse"].warehouse.writer() as con:
        con.execute("insert into raw.usage_daily select * from raw.usage_daily where tenant = 'acme'")
        con.execute("update raw.usage_daily set api_calls = -1 where tenant = 'globex'")
    checks = dg.materialize(
        [usage_daily, raw_data_tests], resources=resources, selection=dg.AssetSelection.checks(raw_data_tests),
        raise_on_error=False,
    )
    (check,) = checks.get_asset_check_evaluations()
    assert (check.asset_key.to_user_string(), check.passed, check.severity) == (
        "raw/usage_daily", False, dg.AssetCheckSeverity.ERROR)
    assert check.metadata["tests"].value == {  # offending rows: both copies of acme's day, globex's day
        "unique__tenant__usage_date": 2, "no_negative_usage": 1, "no_gaps_in_loaded_windows": 0,
    }
    assert "globex" in check.metadata["failures"].value  # the offending rows are shown


def test_summary_snapshots_append_keeping_unlimited_quotas_null_and_unknown_plans(httpserver, tmp_path, monkeypatch):
    monkeypatch.setenv("KEY_SOLO", "ak_test_solo")
    httpserver.expect_request("/api/v1/usage/summary").respond_with_json(
        {"period": {"start": "2026-11-15T00:00:00Z", "end": "2026-12-14T23:59:59Z"},
         "voice_minutes": {"used": 1200, "limit": None, "percentage": None},
         "api_calls": {"used": 61000, "limit": 50000, "percentage": 122.0},
         "storage_mb": {"used": 245, "limit": 5000, "percentage": 4.9},
         "plan": "enterprise_plus", "billing_status": "past_due"}
    )
    resources = {
        "aurion_api": api_resource(httpserver.url_for("").rstrip("/"), [("solo", "KEY_SOLO")]),
        "warehouse": WarehouseResource(data_dir=str(tmp_path / "data")),
    }
    for _ in range(2):
        assert dg.materialize([usage_summary], resources=resources).success
    rows = warehouse_rows(
        resources,
        """select tenant, period_start, period_end, plan, billing_status, voice_minutes_limit, voice_minutes_pct,
                  api_calls_used, api_calls_limit, api_calls_pct from raw.usage_summary""",
    )
    assert rows == 2 * [
        ("solo", date(2026, 11, 15), date(2026, 12, 14), "enterprise_plus", "past_due", None, None,
         61000.0, 50000.0, 122.0)
    ]


def test_a_summary_run_stored_with_the_dropped_flag_can_still_be_re_executed(api, resources):
    """Runs stored before 7b03a95 carry `only_without_current_period` in their config; Dagster re-executes
    a run with its stored config and refuses a field the job no longer has."""
    stored = {"ops": {usage_summary.node_def.name: {"config": {"only_without_current_period": True}}}}
    assert dg.materialize([usage_summary], resources=resources, run_config=stored).success
    assert warehouse_rows(resources, "select tenant from raw.usage_summary order by 1") == [("acme",), ("globex",)]


def test_the_api_key_never_reaches_metadata_logs_parquet_or_duckdb(httpserver, tmp_path, monkeypatch):
    secret = "ak_live_SECRET_4c1d9e"
    monkeypatch.setenv("AURION_KEY_SOLO", secret)
    httpserver.expect_request("/api/v1/usage/details").respond_with_json({"data": []})
    httpserver.expect_request("/api/v1/usage/summary").respond_with_json({"error": "nope"}, status=401)
    resources = {
        "aurion_api": api_resource(httpserver.url_for("").rstrip("/"), [("solo", "AURION_KEY_SOLO")]),
        "warehouse": WarehouseResource(data_dir=str(tmp_path / "data")),
    }
    home = tmp_path / "dagster_home"
    home.mkdir()
    with dg.instance_for_test(temp_dir=str(home)) as instance:
        dg.materialize([usage_daily], resources=resources, partition_key="2026-03-01", instance=instance)
        failed = dg.materialize([usage_summary], resources=resources, instance=instance)
        (check,) = failed.get_asset_check_evaluations()
        assert (check.check_name, check.passed) == ("all_summaries_captured", False)
        events = json.dumps([str(e) for e in failed.all_events] + [str(r) for r in instance.all_logs(failed.run_id)])
        assert "API key rejected" in events and secret not in events
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path


@pytest.mark.smoke
@pytest.mark.parametrize(
    ("only", "key", "message"),
    [
        pytest.param(["initech"], "k", "the run config's tenant initech is not configured; configured tenants: acme",
                     id="unknown-tenant"),
        pytest.param([], "", "AURION_TEST_KEY is not set: export the API key of tenant 'acme'", id="unset-key"),
        pytest.param([], "sk_live_1\n", "AURION_TEST_KEY holds spaces, line breaks or non-ASCII characters "
                     "(value not shown); set it to the key alone", id="key-with-a-line-break"),
    ],
)
def test_a_run_launched_from_the_ui_checks_tenants_and_keys_as_the_cli_does(monkeypatch, only, key, message):
    """The resource says what the CLI's edge (config.py) says, in the same words, before any request."""
    monkeypatch.setenv("AURION_TEST_KEY", key)
    resource = api_resource("https://api.aurion.example", [("acme", "AURION_TEST_KEY")])
    with pytest.raises(ConfigError) as err:
        resource.get_clients(only)
    assert str(err.value) == message


@pytest.mark.slow
def test_a_retried_request_is_counted_as_a_retry_not_a_request(api, resources):
    api.fail_next(1, status=503, retry_after=0)
    result = dg.materialize([usage_daily], partition_key="2026-11-03", resources=resources)
    (observed,) = run_report(result)
    assert (observed["details_requests"].value, observed["retries"].value, observed["rows"].value) == (2, 1, 2)


@pytest.mark.slow
def test_the_usage_job_publishes_the_analyst_copy_once_after_the_models_and_records_declared_plans(
    api, tmp_path, monkeypatch
):
    from dataclasses import replace

    from aurion_pipeline import build_defs
    from aurion_pipeline.config import TenantSpec, load_settings
    from aurion_pipeline.storage import connection

    published = []
    real_publish = connection.publish_analyst_copy
    monkeypatch.setattr(connection, "publish_analyst_copy", lambda *a: published.append(a) or real_publish(*a))
    settings = load_settings({"AURION_BASE_URL": api.base_url, "AURION_DATA_DIR": str(tmp_path / "data"),
                              "AURION_START_DATE": "2026-01-01"})
    settings = replace(settings, tenants=(TenantSpec("acme", TENANTS[0].api_key_env, plan="growth"),
                                          TenantSpec("globex", TENANTS[1].api_key_env)))
    defs = build_defs(settings)
    result = defs.resolve_job_def("usage_job").execute_in_process(
        tags=range_tags(date(2026, 11, 1), date(2026, 11, 2)))
    assert result.success
    assert len(published) == 1  # by the SQL models, at the end: not by the load, not twice
    assert warehouse_rows({"warehouse": defs.resources["warehouse"]}, "select count(*) from raw.usage_daily") == [(4,)]
    assert warehouse_rows({"warehouse": defs.resources["warehouse"]},
                          "select tenant, plan from raw.tenant_plans order by tenant") == [("acme", "growth")]
