"""Create the folder's seeds (tables) and models (views, or tables where asked) in DuckDB, all or nothing."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import duckdb
from sqlglot import exp

from aurion_pipeline.sqlmodels.errors import SqlProjectError
from aurion_pipeline.sqlmodels.macros import Macro
from aurion_pipeline.sqlmodels.project import Model, Seed, SqlProject
from aurion_pipeline.sqlmodels.refs import DIALECT
from aurion_pipeline.text import first_line

T = TypeVar("T")


@dataclass(frozen=True)
class BuiltModel:
    """One object created by a build: a seed table, or a model's view or table."""

    name: str  # schema.name
    kind: str  # "table" (a seed or a `materialized: table` model) or "view"
    path: Path
    sql: str  # the statement that created it
    rows: int | None = None  # counted for tables only: a view's count is a full scan


def build(con: duckdb.DuckDBPyConnection, project: SqlProject, only: set[str] | None = None) -> list[BuiltModel]:
    """Load the seeds, then create or replace every model's view or table in build order, in one transaction.

    `only` limits the build to these qualified names (seeds and/or models). On any error nothing
    changes: the previous tables and views stay as they were. A table model holds the data as of its
    build: rebuild it after every load of what it reads.
    """
    _check_names(project, only)
    seeds = [s for s in project.seeds if only is None or s.qualified in only]
    models = [m for m in project.models if only is None or m.qualified in only]

    def work() -> list[BuiltModel]:
        _create_schemas(con, [*seeds, *models, *project.macros])
        for macro in project.macros:  # every build: a model built alone may call any of them
            _execute(con, project, macro.path, macro.sql)
        existing = _existing_kinds(con)
        built = [_load_seed(con, project, s) for s in seeds]
        return [*built, *(_create_model(con, project, m, existing.get(m.qualified)) for m in models)]

    return _in_transaction(con, work)


def seed(con: duckdb.DuckDBPyConnection, project: SqlProject, only: set[str] | None = None) -> list[BuiltModel]:
    """Reload the seed tables from their CSVs (all, or those named in `only`), in one transaction."""
    _check_names(project, only)
    seeds = [s for s in project.seeds if only is None or s.qualified in only]

    def work() -> list[BuiltModel]:
        _create_schemas(con, seeds)
        return [_load_seed(con, project, s) for s in seeds]

    return _in_transaction(con, work)


def seed_sql(item: Seed) -> str:
    """`create or replace table` from the CSV; pinned types override DuckDB's inferred ones."""
    options = [_literal(str(item.path)), "header = true"]
    if item.column_types:
        pinned = ", ".join(f"{_literal(col)}: {_literal(kind)}" for col, kind in item.column_types)
        options.append(f"types = {{{pinned}}}")
    return f"create or replace table {item.qualified} as select * from read_csv({', '.join(options)})"


def _literal(text: str) -> str:
    return exp.convert(text).sql(DIALECT)


def model_sql(model: Model) -> str:
    """`create or replace view` (or `table`, for `materialized: table`) from the model's select."""
    return f"create or replace {model.materialized} {model.qualified} as\n{model.sql}\n"


def _load_seed(con: duckdb.DuckDBPyConnection, project: SqlProject, item: Seed) -> BuiltModel:
    sql = seed_sql(item)
    return BuiltModel(item.qualified, "table", item.path, sql, _execute(con, project, item.path, sql))


def _create_model(
    con: duckdb.DuckDBPyConnection, project: SqlProject, model: Model, existing: str | None
) -> BuiltModel:
    if existing is not None and existing != model.materialized:
        # DuckDB will not replace a view with a table or the reverse (nor drop one as the other).
        _execute(con, project, model.path, f"drop {existing} {model.qualified}")
    create = _create_table if model.materialized == "table" else _create_view
    return create(con, project, model)


def _create_view(con: duckdb.DuckDBPyConnection, project: SqlProject, model: Model) -> BuiltModel:
    sql = model_sql(model)
    _execute(con, project, model.path, sql)
    return BuiltModel(model.qualified, "view", model.path, sql)


def _create_table(con: duckdb.DuckDBPyConnection, project: SqlProject, model: Model) -> BuiltModel:
    sql = model_sql(model)
    return BuiltModel(model.qualified, "table", model.path, sql, _execute(con, project, model.path, sql))


def _existing_kinds(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """What each schema.name of the connection's database is now: "view" or "table" (one catalog
    query for the whole build: information_schema costs milliseconds per query)."""
    found = con.execute(
        "select schema_name || '.' || table_name, 'table' from duckdb_tables() "
        "where database_name = current_database() and not temporary "
        "union all select schema_name || '.' || view_name, 'view' from duckdb_views() "
        "where database_name = current_database() and not temporary and not internal"
    ).fetchall()
    return dict(found)


def _execute(con: duckdb.DuckDBPyConnection, project: SqlProject, path: Path, sql: str) -> int | None:
    """Run one statement; `create table as` answers with the rows it wrote (no second count)."""
    try:
        answer = con.execute(sql).fetchall()
    except duckdb.Error as exc:
        raise SqlProjectError(f"{project.display(path)}: {first_line(exc)}") from exc
    return answer[0][0] if answer and len(answer[0]) == 1 else None


def _create_schemas(con: duckdb.DuckDBPyConnection, items: Iterable[Model | Seed | Macro]) -> None:
    for schema in sorted({item.schema for item in items}):
        con.execute(f"create schema if not exists {schema}")


def _check_names(project: SqlProject, only: set[str] | None) -> None:
    buildable = {item.qualified for item in (*project.seeds, *project.models)}  # not declared raw sources
    for name in sorted(only or ()):
        if name not in buildable:
            raise SqlProjectError(f"{project.root.name}: no model or seed named {name}")


def _in_transaction(con: duckdb.DuckDBPyConnection, work: Callable[[], T]) -> T:
    con.begin()
    try:
        result = work()
    except BaseException:
        con.rollback()
        raise
    con.commit()
    # Harden the DDL into the database file now: a crash before a checkpoint has left DuckDB
    # unable to replay its WAL after schema changes.
    con.execute("checkpoint")
    return result
