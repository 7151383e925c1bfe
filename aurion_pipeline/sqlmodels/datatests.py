"""Data tests: each declared test compiles to one query returning the offending rows (none = pass).

All the tests of one model run as ONE query that only counts offending rows: the model is read once
(a view, recomputed by every query that reads it, becomes one materialized CTE that every test reads,
custom `sql` tests included; a view only row tests read is scanned once, nothing kept), the
row-by-row tests (not_null, accepted_values) share one scan, and
the offending rows are fetched only for a test that fails. The SQL reported with a result is the
test's own query on the model, so it can be pasted into an analyst session.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NoReturn

import duckdb

from aurion_pipeline.sqlmodels.errors import SqlProjectError
from aurion_pipeline.sqlmodels.project import Model
from aurion_pipeline.sqlmodels.sources import Source
from aurion_pipeline.sqlmodels.specs import DataTest
from aurion_pipeline.sqlmodels.testsql import days_held, embedded, key_present, offending_row, orphan, quote, retargeted
from aurion_pipeline.text import first_line

Tested = Model | Source  # a model the runner builds, or a raw table the pipeline loads
SHARED = "__aurion_tested"  # the CTE holding a view's rows while its tests run (never in reported SQL)
ROW_TESTS = ("not_null", "accepted_values")  # decided row by row: one shared scan counts them all


@dataclass(frozen=True)
class TestResult:
    __test__ = False  # not a pytest test class

    name: str
    model: str  # schema.name of the model (or declared raw source) tested
    passed: bool
    failing_rows: int
    sql: str  # the query returning the offending rows
    sample: tuple[dict[str, Any], ...] = ()  # the first few offending rows


def compile_test(model: Tested, test: DataTest, table: str | None = None) -> str:
    """The query returning the rows of `model` (or of `table`, a name holding its rows) that break `test`."""
    table, cols = table or model.qualified, [quote(c) for c in test.columns]
    if test.kind in ROW_TESTS:
        return f"select * from {table} where {offending_row(test)}"
    if test.kind == "unique":
        # As a SQL unique constraint: rows with a null in the key never conflict (not_null covers nulls).
        present = key_present(test.columns)
        return f"select * from {table} where {present} qualify count(*) over (partition by {', '.join(cols)}) > 1"
    if test.kind == "relationships":
        return f"select child.* from {table} as child where {orphan(test)}"
    if test.kind == "sql":
        return test.sql if table == model.qualified else retargeted(test.sql, model.qualified, table)
    raise SqlProjectError(f"{test.source}: unknown test kind {test.kind!r}")


def counts_query(model: Tested, tests: list[DataTest], day_keys: dict[str, str] | None = None) -> str:
    """One query returning one row: the offending-row count of each test, in order (and, reading a
    view, a last column that is always 0). `day_keys`: for a unique test's name, a DATE column of its
    key whose days cluster within the rest of the key (see `_count`)."""
    shared = isinstance(model, Model) and model.materialized == "view" and len(tests) >= 2
    row_tests = [i for i, t in enumerate(tests) if t.kind in ROW_TESTS]
    # The view's rows are computed once: kept for the tests that read them again, or, when only row
    # tests read them (one shared scan), not kept at all.
    kept = shared and len(row_tests) < len(tests)
    table = SHARED if kept else model.qualified
    columns = [
        f"row_checks.n{i}" if test.kind in ROW_TESTS
        else f"({_count(model, test, table, quick=True, day_key=(day_keys or {}).get(test.name))})"
        for i, test in enumerate(tests)
    ]
    ctes = [f"{SHARED} as materialized (select * from {model.qualified})"] if kept else []
    filters = [f"count(*) filter (where {offending_row(tests[i])}) as n{i}" for i in row_tests]
    if shared:
        # A row is never null: this only makes DuckDB compute every column of every row, which the
        # tests alone would not (it reads only the columns they name), so a view that an analyst's
        # `select *` would fail on fails its tests too.
        filters.append(f"count(*) filter (where {SHARED} is null) as whole_rows")
        columns.append("row_checks.whole_rows")  # selected, or the optimizer drops it
    if filters and not shared:
        # Only offending rows count: a filter DuckDB can push into the scan (skipping row groups whose
        # statistics rule it out, or, through a view, the work of the rows it drops), same counts.
        offending = " or ".join(f"({offending_row(tests[i])})" for i in row_tests)
        ctes.append(f"row_checks as (select {', '.join(filters)} from {table} where {offending})")
    elif filters:
        rows = SHARED if kept else f"{model.qualified} as {SHARED}"
        ctes.append(f"row_checks as (select {', '.join(filters)} from {rows})")
    with_clause = "with " + ",\n".join(ctes) + "\n" if ctes else ""
    source = "row_checks" if filters else "(select 1) as row_checks"
    return with_clause + "select\n" + ",\n".join(columns) + f"\nfrom {source}"


def run_tests(
    con: duckdb.DuckDBPyConnection, model: Tested, tests: Iterable[DataTest] | None = None, *, sample_size: int = 5
) -> list[TestResult]:
    """Run the model's tests (or the given subset) against its built view or table; the same for a
    declared raw source's tests against its raw table. One counting query, then a sample per failure
    (and, for a unique test whose quick count is not 0, its exact count: `_count`)."""
    tests = list(model.tests if tests is None else tests)
    if not tests:
        return []
    try:
        counts = con.execute(counts_query(model, tests, _day_keys(con, model, tests))).fetchone()
    except duckdb.Error as exc:
        _raise_naming_the_culprit(con, model, tests, exc)
    return [
        run_test(con, model, test, sample_size=sample_size) if test.kind == "unique" and count
        else _result(con, model, test, int(count), sample_size)
        for test, count in zip(tests, counts)
    ]


def run_test(
    con: duckdb.DuckDBPyConnection, model: Tested, test: DataTest, *, sample_size: int = 5
) -> TestResult:
    """One test alone, counted on its own offending-rows query (the reference `run_tests` agrees with)."""
    offending = embedded(compile_test(model, test))
    try:
        count = con.execute(f"select count(*) from {offending}").fetchone()[0]
    except duckdb.Error as exc:
        raise SqlProjectError(f"{_where(model, test)} cannot run: {first_line(exc)}") from exc
    return _result(con, model, test, count, sample_size)


def _result(con: duckdb.DuckDBPyConnection, model: Tested, test: DataTest, count: int, size: int) -> TestResult:
    sql = compile_test(model, test)
    try:
        sample = _sample(con, embedded(sql), size) if count else ()
    except duckdb.Error as exc:
        raise SqlProjectError(f"{_where(model, test)} cannot run: {first_line(exc)}") from exc
    return TestResult(test.name, model.qualified, count == 0, count, sql, sample)


def _count(model: Tested, test: DataTest, table: str, *, quick: bool = False, day_key: str | None = None) -> str:
    """A scalar subquery counting the test's offending rows in `table`.

    `quick`, for a unique test: 0 exactly when no key is held twice (rows minus distinct key hashes:
    equal keys have equal hashes), else a positive number that only says to count exactly. One hash
    per row is 2-3x cheaper to group than the key's columns, and a passing test is the usual case.
    With `day_key`, a DATE column of the key, exactly the same number from far fewer groups (`days_held`)."""
    if test.kind == "unique" and quick and day_key:
        return days_held(test, table, day_key)
    if test.kind == "unique" and quick:
        cols = ", ".join(quote(c) for c in test.columns)
        return f"select count(*) - count(distinct hash({cols})) from {table} where {key_present(test.columns)}"
    if test.kind == "unique":
        # Every row of a key held by two or more rows, as `compile_test` returns them, without a window.
        cols = ", ".join(quote(c) for c in test.columns)
        duplicated = (f"select count(*) as n from {table} where {key_present(test.columns)} "
                      f"group by {cols} having count(*) > 1")
        return f"select coalesce(sum(n), 0) from ({duplicated})"
    return f"select count(*) from {embedded(compile_test(model, test, table))}"


def _day_keys(con: duckdb.DuckDBPyConnection, model: Tested, tests: list[DataTest]) -> dict[str, str]:
    """For each unique test of `model` whose key ends with a DATE column, that column: the finest part
    of the key as keys are written (tenant, period_start, as_of_date), a day per row within the rest,
    so a 64-day block holds many keys. A date inside the key (tenant, period_start, quota_name) is
    usually a month apart from the next: its blocks hold one or two keys each, and the masks cost
    more than they save. One catalog query; none without a unique test."""
    keyed = [t for t in tests if t.kind == "unique"]
    if not keyed:
        return {}
    schema, name = model.qualified.split(".")
    dates = {row[0] for row in con.execute(
        "select column_name from duckdb_columns() where schema_name = ? and table_name = ? and data_type = 'DATE'",
        [schema, name]).fetchall()}
    return {t.name: t.columns[-1] for t in keyed if t.columns[-1] in dates}


def _raise_naming_the_culprit(
    con: duckdb.DuckDBPyConnection, model: Tested, tests: list[DataTest], exc: duckdb.Error
) -> NoReturn:
    """The counting query failed: name the model if its own rows cannot be computed, else the first
    test that cannot run alone, else the model (the tests fail only together, e.g. out of memory)."""
    try:
        con.execute(f"select count(*) filter (where whole is null) from {model.qualified} as whole").fetchall()
    except duckdb.Error as own:
        raise SqlProjectError(f"tests of {model.qualified} cannot run: {first_line(own)}") from own
    for test in tests:
        run_test(con, model, test, sample_size=0)
    raise SqlProjectError(f"tests of {model.qualified} cannot run together: {first_line(exc)}") from exc


def _where(model: Tested, test: DataTest) -> str:
    return f"{test.source}: test {test.name} on {model.qualified}"


def _sample(con: duckdb.DuckDBPyConnection, offending: str, size: int) -> tuple[dict[str, Any], ...]:
    if size <= 0:
        return ()
    cursor = con.execute(f"select * from {offending} limit {int(size)}")
    names = [d[0] for d in cursor.description]
    return tuple(dict(zip(names, row, strict=True)) for row in cursor.fetchall())
