"""The CLI's instance answers Dagster's schema questions from memory once the answer is yes, and keeps
its SQLite connections open without anyone else seeing a difference. A real SQLite instance in a
temporary DAGSTER_HOME; more runs on it in tests/e2e/test_instance_tuning_runs.py."""

import gc
import os
from pathlib import Path

import dagster as dg
import pytest
from catalog_queries import catalog_queries_of, days, partitioned_noop_job


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


def _materialized_partitions(instance: dg.DagsterInstance) -> set[str]:
    return set(instance.get_materialized_partitions(dg.AssetKey("noop")))


def test_what_a_run_writes_through_kept_connections_another_instance_reads_at_once(sqlite_home):
    """Each event is still committed when it is written: an untuned instance (as the daemon or the
    webserver opens it) sees the run, its events and its partitions while the CLI's instance is open."""
    from aurion_pipeline.cli.runs import open_instance

    job = partitioned_noop_job()
    with open_instance() as ours, dg.DagsterInstance.get() as theirs:
        for n in (3, 5):
            run = job.execute_in_process(instance=ours, tags=days(n))
            assert theirs.get_run_by_id(run.run_id).is_success
            assert len(theirs.all_logs(run.run_id)) == len(ours.all_logs(run.run_id)) > n
            assert _materialized_partitions(theirs) == _materialized_partitions(ours) == {
                f"2025-01-0{d}" for d in range(1, n + 1)}


def _deleted_files_held_open(home: Path) -> list[str]:
    """Files under `home` this process still has open although they were deleted (Linux's /proc)."""
    fds = Path("/proc/self/fd")
    targets = [os.readlink(fds / fd) for fd in os.listdir(fds) if (fds / fd).is_symlink()]
    return [t for t in targets if t.startswith(str(home)) and t.endswith("(deleted)")]


def test_wiping_the_cli_instance_drops_its_kept_connections_with_the_files(sqlite_home):
    from aurion_pipeline.cli.runs import open_instance

    job = partitioned_noop_job()
    with open_instance() as instance:
        first = job.execute_in_process(instance=instance, tags=days(2)).run_id
        instance.wipe()  # deletes the run databases, whose engines were open
        assert _deleted_files_held_open(sqlite_home) == []
        assert instance.get_run_by_id(first) is None and _materialized_partitions(instance) == set()
        second = job.execute_in_process(instance=instance, tags=days(1))
        assert second.success and _materialized_partitions(instance) == {"2025-01-01"}
    with dg.DagsterInstance.get() as theirs:
        assert len(theirs.all_logs(second.run_id)) > 1
