"""Runs on the CLI's instance ask Dagster's schema questions once, not once per partition, and on
SQLite open their database connections once, not once per event: SQLite here, PostgreSQL in
test_postgres_instance.py."""

from pathlib import Path

import dagster as dg
from catalog_queries import catalog_queries_per_run, connections_opened, counted_per_run


def test_on_the_cli_instance_a_run_asks_the_catalog_the_same_whatever_its_partitions(sqlite_home):
    from aurion_pipeline.cli.runs import open_instance

    with open_instance() as instance:
        small, large = catalog_queries_per_run(instance, (2, 20))
    assert small == large


def test_an_untuned_instance_asks_the_catalog_again_for_every_partition(sqlite_home):
    """The cost the tuning removes, so that the test above cannot pass for another reason."""
    with dg.DagsterInstance.get() as instance:
        small, large = catalog_queries_per_run(instance, (2, 20))
    assert large >= small + 18


def test_on_the_cli_instance_a_run_opens_the_same_sqlite_connections_whatever_its_partitions(sqlite_home):
    from aurion_pipeline.cli.runs import open_instance

    with open_instance() as instance:
        small, large = counted_per_run(instance, (2, 20), connections_opened)
    assert small == large


def test_an_untuned_sqlite_instance_opens_connections_for_every_partition(sqlite_home):
    """Each event of an untuned SQLite instance opens its own connections (to the run's database and to
    the index): the cost the kept engines remove, so the test above cannot pass for another reason."""
    with dg.DagsterInstance.get() as instance:
        small, large = counted_per_run(instance, (2, 20), connections_opened)
    assert large >= small + 2 * 18


def _job_of_models_using_the_warehouse(models: int, data_dir: Path, started: list, *, uses_warehouse: bool = True
                                       ) -> dg.JobDefinition:
    """One step materializing `models` assets, as sql_models does, with or without our warehouse; it
    appends to `started` when its body begins (the resources set up)."""
    from aurion_pipeline.defs.aurion_usage.resources import WarehouseResource

    specs = [dg.AssetSpec(f"model_{i}") for i in range(models)]

    @dg.multi_asset(specs=specs, required_resource_keys={"warehouse"} if uses_warehouse else set())
    def sql_models():
        started.append(True)
        for spec in specs:
            yield dg.MaterializeResult(asset_key=spec.key)

    return dg.Definitions(assets=[sql_models], resources={"warehouse": WarehouseResource(data_dir=str(data_dir))},
                          jobs=[dg.define_asset_job("models", selection=[sql_models])]).resolve_job_def("models")


def _connections_opened_by_the_step_body(models: int, data_dir: Path, **kwargs) -> int:
    """Connections opened once the step's body began, in a run on an instance opened for it and not
    tuned, as a run worker's is (the run's start and planned events come before any step)."""
    started: list = []
    job = _job_of_models_using_the_warehouse(models, data_dir, started, **kwargs)
    with dg.DagsterInstance.get() as instance, connections_opened(lambda: bool(started)) as opened:
        assert job.execute_in_process(instance=instance).success
    return len(opened)


def test_a_run_on_an_untuned_instance_is_tuned_by_the_step_that_sets_up_the_warehouse(sqlite_home, tmp_path):
    """A run the daemon launches runs on an instance the CLI never opened: the warehouse resource tunes
    it when the step sets it up, so the step's events open no connection each."""
    # One to each database the step writes (the run's, the index, the runs table), however many events.
    assert _connections_opened_by_the_step_body(20, tmp_path) == _connections_opened_by_the_step_body(2, tmp_path)
    # Without the warehouse, each materialization opens its own (the run's database and the index).
    assert _connections_opened_by_the_step_body(20, tmp_path, uses_warehouse=False) >= 2 * 20
