"""Data tests: each declared test compiles to one query returning the offending rows (none = pass).

A view is recomputed by every query that reads it, so a view with several declared tests is first
computed once into a temporary snapshot and its tests run against that (same connection, same data).
The SQL reported with a result still names the model, so it can be pasted into an analyst session.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import duckdb
from sqlglot import exp

from aurion_pipeline.sqlmodels.errors import SqlProjectError, first_line
from aurion_pipeline.sqlmodels.project import Model
from aurion_pipeline.sqlmodels.refs import DIALECT
from aurion_pipeline.sqlmodels.sources import Source
from aurion_pipeline.sqlmodels.specs import DataTest

Tested = Model | Source  # a model the runner builds, or a raw table the pipeline loads


@dataclass(frozen=True)
class TestResult:
    __test__ = False  # not a pytest test class

    name: str
    model: str  # schema.name of the model (or declared raw source) tested
    passed: bool
    failing_rows: int
    sql: str  # the query returning the offending rows
    sample: tuple[dict[str, Any], ...] = ()  # the first few offending rows


SNAPSHOT = "temp.main.__aurion_test_snapshot"  # per connection; dropped after the tests


def compile_test(model: Tested, test: DataTest, table: str | None = None) -> str:
    """The query returning the rows of `model` (or of `table`, its snapshot) that break `test`."""
    table, cols = table or model.qualified, [_quote(c) for c in test.columns]
    if test.kind == "not_null":
        return f"select * from {table} where {cols[0]} is null"
    if test.kind == "unique":
        # As a SQL unique constraint: rows with a null in the key never conflict (not_null covers nulls).
        present = " and ".join(f"{c} is not null" for c in cols)
        return f"select * from {table} where {present} qualify count(*) over (partition by {', '.join(cols)}) > 1"
    if test.kind == "accepted_values":
        allowed = ", ".join(exp.convert(v).sql(DIALECT) for v in test.values)
        return f"select * from {table} where {cols[0]} is not null and {cols[0]} not in ({allowed})"
    if test.kind == "relationships":
        # not exists, not `not in`: one null in the parent column would make `not in` match nothing.
        return (
            f"select child.* from {table} as child where child.{cols[0]} is not null and not exists "
            f"(select 1 from {test.to} as parent where parent.{_quote(test.field)} = child.{cols[0]})"
        )
    if test.kind == "sql":
        return test.sql
    raise SqlProjectError(f"{test.source}: unknown test kind {test.kind!r}")


def run_tests(
    con: duckdb.DuckDBPyConnection, model: Tested, tests: Iterable[DataTest] | None = None, *, sample_size: int = 5
) -> list[TestResult]:
    """Run the model's tests (or the given subset) against its built view or table; the same for a
    declared raw source's tests against its raw table."""
    tests = list(model.tests if tests is None else tests)
    with _snapshot_if_worth_it(con, model, tests) as table:
        return [run_test(con, model, test, sample_size=sample_size, table=table) for test in tests]


def run_test(
    con: duckdb.DuckDBPyConnection, model: Tested, test: DataTest, *, sample_size: int = 5, table: str | None = None
) -> TestResult:
    sql = compile_test(model, test)
    # Newlines around the embedded query: a trailing `-- comment` must not swallow the parenthesis.
    offending = f"(\n{compile_test(model, test, table)}\n) as offending"
    try:
        count = con.execute(f"select count(*) from {offending}").fetchone()[0]
        sample = _sample(con, offending, sample_size) if count else ()
    except duckdb.Error as exc:
        where = f"{test.source}: test {test.name} on {model.qualified}"
        raise SqlProjectError(f"{where} cannot run: {first_line(exc)}") from exc
    return TestResult(test.name, model.qualified, count == 0, count, sql, sample)


@contextmanager
def _snapshot_if_worth_it(
    con: duckdb.DuckDBPyConnection, model: Tested, tests: list[DataTest]
) -> Iterator[str | None]:
    """Yield the snapshot's name if a view has two or more declared tests reading it, else None.

    Custom `sql` tests name their models themselves, so they always read the view."""
    if not isinstance(model, Model) or model.materialized != "view" or sum(t.kind != "sql" for t in tests) < 2:
        yield None
        return
    try:
        con.execute(f"create or replace temp table {SNAPSHOT} as select * from {model.qualified}")
    except duckdb.Error as exc:
        raise SqlProjectError(f"tests of {model.qualified} cannot run: {first_line(exc)}") from exc
    try:
        yield SNAPSHOT
    finally:
        con.execute(f"drop table if exists {SNAPSHOT}")


def _sample(con: duckdb.DuckDBPyConnection, offending: str, size: int) -> tuple[dict[str, Any], ...]:
    cursor = con.execute(f"select * from {offending} limit {int(size)}")
    names = [d[0] for d in cursor.description]
    return tuple(dict(zip(names, row, strict=True)) for row in cursor.fetchall())


def _quote(name: str | None) -> str:
    return exp.to_identifier(name, quoted=True).sql(DIALECT)
