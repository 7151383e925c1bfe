"""The CLI's instance answers Dagster's schema questions from memory once the answer is yes. A real
SQLite instance in a temporary DAGSTER_HOME; runs on it in tests/e2e/test_instance_tuning_runs.py."""

import gc

import pytest
from catalog_queries import catalog_queries_of


def test_a_yes_is_remembered_and_a_no_is_asked_again(sqlite_home):
    from aurion_pipeline.cli.runs import open_instance

    with open_instance() as instance:
        events, runs = instance.event_log_storage, instance.run_storage
        for question in (lambda: events.has_table("event_logs"),
                         lambda: events.has_asset_key_col("last_materialization_timestamp"),
                         runs.has_run_stats_index_cols):
            assert catalog_queries_of(question)[0] is True  # asked: the instance just opened
            assert catalog_queries_of(question) == (True, 0)  # remembered
        for _ in range(2):  # a table that is not there (yet) is looked for every time
            answer, asked = catalog_queries_of(lambda: events.has_table("not_migrated_yet"))
            assert (answer, asked > 0) == (False, True)


def test_a_cli_run_freezes_the_heap_it_starts_with_and_unfreezes_it_after_even_when_it_fails():
    from aurion_pipeline.cli.runs import heap_frozen

    assert gc.get_freeze_count() == 0
    with pytest.raises(RuntimeError), heap_frozen():
        assert gc.get_freeze_count() > 10_000  # the interpreter, pytest, Dagster: all kept out of full collections
        raise RuntimeError("the run failed")
    assert gc.get_freeze_count() == 0
