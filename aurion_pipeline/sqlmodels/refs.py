"""What a SQL file reads: one select statement, and the `schema.name` tables it references (sqlglot)."""

from __future__ import annotations

from pathlib import Path

import sqlglot
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import SqlglotError
from sqlglot.tokens import TokenType

from aurion_pipeline.sqlmodels.errors import SqlProjectError
from aurion_pipeline.text import first_line

DIALECT = "duckdb"
SCHEMA_SQL = Path(__file__).resolve().parents[1] / "storage" / "schema.sql"


def parse_select(sql: str, where: str) -> exp.Query:
    """The file's single select statement (CTEs and set operations allowed), or an error naming `where`."""
    statement = single_statement(sql, where, "select")
    if not isinstance(statement, exp.Query):
        kind = statement.key.upper()
        raise SqlProjectError(f"{where}: must be a select statement, found {kind}")
    return statement


def single_statement(sql: str, where: str, kind: str) -> exp.Expression:
    """The file's one statement (parsed), or an error naming `where` and the `kind` it must be."""
    try:
        # A comment after the last semicolon parses as an empty `Semicolon` statement: not a statement.
        statements = [s for s in sqlglot.parse(sql, read=DIALECT) if s is not None and not isinstance(s, exp.Semicolon)]
    except SqlglotError as exc:
        raise SqlProjectError(f"{where}: not valid SQL: {first_line(exc)}") from exc
    if len(statements) != 1:
        raise SqlProjectError(f"{where}: must hold exactly one {kind} statement, found {len(statements)}")
    return statements[0]


def table_references(query: exp.Query, where: str) -> frozenset[str]:
    """Lower-cased `schema.name` of every table the query reads, CTE names and table functions excluded."""
    ctes = {cte.alias_or_name.lower() for cte in query.find_all(exp.CTE)}
    found: set[str] = set()
    for table in query.find_all(exp.Table):
        if not isinstance(table.this, exp.Identifier):
            continue  # a table function such as generate_series(...) or read_csv(...)
        name, schema = table.name.lower(), table.db.lower()
        if table.catalog:
            raise SqlProjectError(f"{where}: {table.sql(DIALECT)} names a database; write schema.name")
        if not schema and name in ctes:
            continue
        if not schema:
            raise SqlProjectError(f"{where}: unqualified table {name!r}; write schema.name (e.g. analytics.{name})")
        found.add(f"{schema}.{name}")
    return frozenset(found)


def statement_body(sql: str) -> str:
    """The statement without trailing semicolons and trailing comments, safe to embed in a larger query."""
    tokens = Dialect.get_or_raise(DIALECT).tokenize(sql)
    while tokens and tokens[-1].token_type == TokenType.SEMICOLON:
        tokens.pop()
    return sql[: tokens[-1].end + 1].strip() if tokens else ""


def tables_created(ddl: str) -> frozenset[str]:
    """`schema.name` of every table or view a DDL script creates."""
    names = set()
    for statement in sqlglot.parse(ddl, read=DIALECT):
        if isinstance(statement, exp.Create) and statement.kind in ("TABLE", "VIEW"):
            target = statement.this.this if isinstance(statement.this, exp.Schema) else statement.this
            names.add(f"{target.db.lower()}.{target.name.lower()}")
    return frozenset(names)


def default_sources() -> frozenset[str]:
    """The raw tables the pipeline loads, read from `storage/schema.sql` (the source of truth)."""
    return tables_created(SCHEMA_SQL.read_text())
