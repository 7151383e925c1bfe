"""Runs on the CLI's instance ask Dagster's schema questions once, not once per partition, and on
SQLite open their database connections once, not once per event: SQLite here, PostgreSQL in
test_postgres_instance.py."""


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
