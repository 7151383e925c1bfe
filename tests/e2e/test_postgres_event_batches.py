"""Event batches on PostgreSQL: the CLI's instance writes a run's planned events in one insert and a
step's materializations through one cached statement
(aurion_pipeline/defs/event_batches.py), and what it writes reads back exactly as what Dagster's own
one-event-at-a-time path writes: the events, the assets' planned materializations, the checks'
executions from planned to their outcome, a step's batch of materializations with their indexed
tags and asset rows, and the partitions' status. A real PostgreSQL server."""

from collections import Counter
from contextlib import contextmanager

import dagster as dg
import pytest
from catalog_queries import days
from pg import PG_URL_VAR

from aurion_pipeline.defs.event_batches import ASSET_PLANNED, CHECK_PLANNED, MATERIALIZED
from aurion_pipeline.defs.instance_tuning import BATCHING_ENV

DAILY = dg.AssetKey("daily")
ROLLUP = dg.AssetKey("rollup")
REPORT = dg.AssetKey("report")
ASSETS = (DAILY, ROLLUP, REPORT)
CHECKS = [dg.AssetCheckKey(DAILY, "daily_ok"), dg.AssetCheckKey(ROLLUP, "rollup_ok"),
          dg.AssetCheckKey(REPORT, "report_ok")]
PLANNED = (ASSET_PLANNED, CHECK_PLANNED)


def checked_job() -> dg.JobDefinition:
    """Two partitioned assets and an unpartitioned one after them (as the SQL models follow the load),
    each with a check: a planned batch of both kinds, as usage_job's."""
    partitions = dg.DailyPartitionsDefinition(start_date="2025-01-01", timezone="UTC")
    policy = dg.BackfillPolicy.single_run()

    @dg.asset(partitions_def=partitions, backfill_policy=policy,
              check_specs=[dg.AssetCheckSpec("daily_ok", asset="daily")])
    def daily() -> dg.MaterializeResult:
        return dg.MaterializeResult(check_results=[dg.AssetCheckResult(passed=True)])

    @dg.asset(partitions_def=partitions, backfill_policy=policy, deps=[daily],
              check_specs=[dg.AssetCheckSpec("rollup_ok", asset="rollup")])
    def rollup() -> dg.MaterializeResult:
        return dg.MaterializeResult(check_results=[dg.AssetCheckResult(passed=False)])

    @dg.asset(backfill_policy=policy, deps=[rollup], check_specs=[dg.AssetCheckSpec("report_ok", asset="report")])
    def report() -> dg.MaterializeResult:
        return dg.MaterializeResult(check_results=[dg.AssetCheckResult(passed=True)])

    assets = [daily, rollup, report]
    job = dg.define_asset_job("checked", selection=assets)
    return dg.Definitions(assets=assets, jobs=[job]).resolve_job_def("checked")


@contextmanager
def planned_events_stored_one_by_one(instance: dg.DagsterInstance):
    """The planned events that go through the storage's single-event `store_event` in the block."""
    storage, seen = instance.event_log_storage, []
    store_event = storage.store_event

    def counting(event):
        if event.dagster_event_type in PLANNED:
            seen.append(event.dagster_event_type)
        store_event(event)

    storage.store_event = counting
    try:
        yield seen
    finally:
        storage.store_event = store_event


def materialization_batches_dagster_stores(monkeypatch) -> list[int]:
    """The size of each batch of materializations dagster-postgres's own `store_event_batch` stores."""
    from dagster_postgres import PostgresEventLogStorage

    sizes: list[int] = []
    dagster_batch = PostgresEventLogStorage.store_event_batch

    def counting(self, events):
        if {event.dagster_event_type for event in events} == {MATERIALIZED}:
            sizes.append(len(events))
        return dagster_batch(self, events)

    monkeypatch.setattr(PostgresEventLogStorage, "store_event_batch", counting)
    return sizes


def what_a_created_run_plans(instance: dg.DagsterInstance, run_id: str) -> dict:
    """A run planned and started, before it writes anything: the assets name it as their last run, and
    its planned events name the partitions it will materialize."""
    def planned_partitions(key: dg.AssetKey) -> list[list[str]]:
        records = instance.fetch_planned_materializations(key, limit=5).records
        return [sorted(r.event_log_entry.dagster_event.event_specific_data.partitions_subset.get_partition_keys())
                for r in records if r.run_id == run_id]

    return {
        "last run": {r.asset_entry.asset_key.to_user_string(): r.asset_entry.last_run_id == run_id
                     for r in instance.get_asset_records(list(ASSETS))},
        "planned partitions": {key.to_user_string(): planned_partitions(key) for key in ASSETS},
        "check rows": planned_check_rows(instance, run_id),
    }


def planned_check_rows(instance: dg.DagsterInstance, run_id: str) -> Counter:
    """Each planned check row of the run: its check, whether it has a partition, and whether the event
    it points at is the planned event of that same check."""
    from dagster._serdes import deserialize_value
    from sqlalchemy import text

    with instance.event_log_storage.index_connection() as conn:
        rows = conn.execute(text(
            "select c.check_name, c.partition is not null, l.dagster_event_type, l.event "
            "from asset_check_executions c left join event_logs l on l.id = c.evaluation_event_storage_id "
            "where c.run_id = :run_id and c.execution_status = 'PLANNED'"), {"run_id": run_id}).fetchall()
    return Counter(
        (name, partitioned, kind == CHECK_PLANNED.value
         and deserialize_value(event).dagster_event.event_specific_data.check_name == name)
        for name, partitioned, kind, event in rows)


def what_the_run_left(instance: dg.DagsterInstance, run_id: str) -> dict:
    """Everything Dagster reads back about a run's plan and outcome, without ids and timestamps."""
    events = instance.all_logs(run_id)
    return {
        "event types": Counter(e.dagster_event_type.value for e in events if e.is_dagster_event),
        "planned materializations": {
            key.to_user_string(): [r.run_id == run_id
                                   for r in instance.fetch_planned_materializations(key, limit=5).records]
            for key in ASSETS},
        "check executions": {
            key.name: Counter((r.run_id == run_id, r.status.value, r.partition) for r in
                              instance.event_log_storage.get_asset_check_execution_history(key, limit=100))
            for key in CHECKS},
        "materialized partitions": {key.to_user_string(): sorted(instance.get_materialized_partitions(key))
                                    for key in (DAILY, ROLLUP)},
        "report materialized": instance.get_latest_materialization_event(REPORT) is not None,
        **materializations_as_stored(instance, run_id),
    }


def materializations_as_stored(instance: dg.DagsterInstance, run_id: str) -> dict:
    """The run's materializations as rows: each asset's partitions in the order of their storage ids,
    the tags indexed for them (the data version's, whose values name the run, compared by key), and
    whether each asset's row names its newest materialization and this run."""
    from dagster._serdes import deserialize_value
    from sqlalchemy import text

    with instance.event_log_storage.index_connection() as conn:
        rows = conn.execute(text(
            "select l.asset_key, l.partition, l.id, t.key, t.asset_key = l.asset_key "
            "from event_logs l left join asset_event_tags t on t.event_id = l.id "
            "where l.run_id = :run_id and l.dagster_event_type = 'ASSET_MATERIALIZATION' order by l.id, t.key"),
            {"run_id": run_id}).fetchall()
        asset_rows = conn.execute(text(
            "select asset_key, last_materialization, last_run_id = :run_id from asset_keys"),
            {"run_id": run_id}).fetchall()
    order, newest = {}, {}
    for asset, partition, event_id, _, _ in rows:
        if partition not in order.setdefault(asset, []):
            order[asset].append(partition)
        newest[asset] = event_id
    return {
        "partitions in storage order": order,
        "indexed tags": Counter((asset, key, same_asset) for asset, _, _, key, same_asset in rows if key),
        # the asset_keys row (what the UI lists assets by): its last materialization and run
        "asset rows name the newest": {
            asset: (deserialize_value(last).storage_id == newest.get(asset) if last else None, this_run)
            for asset, last, this_run in asset_rows},
    }


@pytest.mark.slow
def test_the_cli_instance_writes_a_runs_planned_events_in_one_insert_and_they_read_back_as_dagsters(
        pg_home, monkeypatch):
    from aurion_pipeline.cli.runs import open_instance as cli_instance

    home, url = pg_home
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv(PG_URL_VAR, url)
    for name, value in BATCHING_ENV.items():  # as our runs set them (cli/runs.py)
        monkeypatch.setenv(name, value)
    job = checked_job()
    dagster_batches = materialization_batches_dagster_stores(monkeypatch)

    planned, left = {}, {}
    for name, opened in (("ours", cli_instance), ("dagster's", dg.DagsterInstance.get)):
        dagster_batches.clear()
        with opened() as instance, planned_events_stored_one_by_one(instance) as one_by_one:
            instance.wipe()  # each instance starts from an empty event log
            created = instance.create_run_for_job(job, tags=days(20), status=dg.DagsterRunStatus.STARTED)
            planned[name] = what_a_created_run_plans(instance, created.run_id)
            instance.wipe()
            result = job.execute_in_process(instance=instance, tags=days(20), raise_on_error=False)
            assert result.success  # a failed check is an outcome, not a failed run
            left[name] = what_the_run_left(instance, result.run_id)
        assert len(one_by_one) == (0 if name == "ours" else 12), name  # 3 assets + 3 checks, twice
        assert dagster_batches == ([] if name == "ours" else [20, 20]), name  # daily's and rollup's step

    first_20 = [f"2025-01-{d:02d}" for d in range(1, 21)]
    assert planned["ours"] == planned["dagster's"]
    assert planned["ours"] == {
        "last run": {"daily": True, "rollup": True, "report": True},
        "planned partitions": {"daily": [first_20], "rollup": [first_20], "report": [first_20]},
        # each row points at its own check's planned event, one row per partition of the run's range
        # (Dagster 1.13 plans even the unpartitioned asset's check per partition of a range run)
        "check rows": {("daily_ok", True, True): 20, ("rollup_ok", True, True): 20, ("report_ok", True, True): 20},
    }
    assert left["ours"] == left["dagster's"]
    assert left["ours"]["event types"]["ASSET_MATERIALIZATION_PLANNED"] == 3
    assert left["ours"]["event types"]["ASSET_CHECK_EVALUATION_PLANNED"] == 3
    assert left["ours"]["planned materializations"] == {"daily": [True], "rollup": [True], "report": [True]}
    # Dagster 1.13 plans each check of a range run once per partition and records its evaluation once.
    assert left["ours"]["check executions"] == {
        name: {**{(True, "PLANNED", day): 1 for day in first_20}, (True, outcome, None): 1}
        for name, outcome in (("daily_ok", "SUCCEEDED"), ("rollup_ok", "FAILED"), ("report_ok", "SUCCEEDED"))}
    assert left["ours"]["materialized partitions"] == {"daily": first_20, "rollup": first_20}
    assert left["ours"]["report materialized"]
    # the 20 partitions' materializations went through the batch path, in order, with their tags
    assert {a: p for a, p in left["ours"]["partitions in storage order"].items() if a != '["report"]'} == {
        '["daily"]': first_20, '["rollup"]': first_20}
    assert left["ours"]["asset rows name the newest"] == {
        '["daily"]': (True, True), '["rollup"]': (True, True), '["report"]': (True, True)}
    tags = left["ours"]["indexed tags"]
    assert tags[('["daily"]', "dagster/data_version", True)] == 20
    assert tags[('["rollup"]', "dagster/data_version", True)] == 20


@pytest.mark.slow
def test_a_planned_batch_that_fails_midway_is_stored_once_by_dagsters_fallback(pg_home, monkeypatch):
    """Dagster stores a batch one event at a time when the batch write raises: ours writes nothing
    unless it writes everything, so no planned event is stored twice."""
    from aurion_pipeline.cli.runs import open_instance as cli_instance
    from aurion_pipeline.defs import event_batches

    home, url = pg_home
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv(PG_URL_VAR, url)
    for name, value in BATCHING_ENV.items():
        monkeypatch.setenv(name, value)

    def broken(*args):
        raise RuntimeError("the index write fails after the events were inserted")

    monkeypatch.setattr(event_batches, "_planned_check_rows", broken)
    with cli_instance() as instance, planned_events_stored_one_by_one(instance) as one_by_one:
        result = checked_job().execute_in_process(instance=instance, tags=days(20), raise_on_error=False)
        left = what_the_run_left(instance, result.run_id)
    assert len(one_by_one) == 6  # the fallback stored them
    assert left["event types"]["ASSET_MATERIALIZATION_PLANNED"] == 3
    assert left["event types"]["ASSET_CHECK_EVALUATION_PLANNED"] == 3
    assert left["planned materializations"] == {"daily": [True], "rollup": [True], "report": [True]}
    assert sum(left["check executions"]["daily_ok"].values()) == 21
