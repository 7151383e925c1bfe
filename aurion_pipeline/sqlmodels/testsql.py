"""The SQL text of data tests: pieces `datatests.py` puts together into each test's query and each
model's counting query. Pure string building (and one sqlglot rewrite); nothing here runs SQL."""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

import sqlglot
from sqlglot import exp

from aurion_pipeline.sqlmodels.refs import DIALECT
from aurion_pipeline.sqlmodels.specs import DataTest


def days_held(test: DataTest, table: str, day_key: str) -> str:
    """Rows minus distinct keys, as the quick unique count, for a key with a DATE column: the rest of
    the key and the day's block of 64 days form a group, and each group ORs one bit per day (its place
    in the block) into a 64-bit mask, so its distinct keys are the mask's set bits. Grouping a 2.3 M-row
    table then makes ~100 k groups instead of 2.3 M distinct hashes (about 4x faster at 1,000 tenants).
    Groups are told apart by one hash of their columns (a quarter cheaper again than grouping on the
    columns): two groups sharing a hash share a mask, which can only hide distinct days, never add
    any, so the count stays 0 exactly when no key is held twice, or turns positive and is recounted
    exactly (`run_tests`)."""
    day = f"({quote(day_key)} - date '1970-01-01')"
    rest = [quote(c) for c in test.columns if c != day_key]
    # The block is day >> 6 and the place in it day & 63 (an arithmetic shift: floor(day / 64), and
    # day mod 64, for days before 1970 too), a third cheaper than floor and modulo.
    group = ", ".join([*rest, f"{day} >> 6"])
    masks = (
        f"select count(*) as n, bit_or(1::ubigint << ({day} & 63)) as days "
        f"from {table} where {key_present(test.columns)} group by hash({group})"
    )
    return f"select coalesce(sum(n) - sum(bit_count(days)), 0) from ({masks})"


@lru_cache(maxsize=256)
def retargeted(sql: str, model: str, table: str) -> str:
    """A custom test's SQL reading `table` wherever it reads `model` (aliased, so `model.col` still works)."""
    schema, name = model.split(".")

    def swap(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Table) and node.name.lower() == name and node.db.lower() == schema:
            return exp.to_table(table).as_(node.alias or name)
        return node

    return sqlglot.parse_one(sql, read=DIALECT).transform(swap).sql(DIALECT)


def offending_row(test: DataTest) -> str:
    col = quote(test.columns[0])
    if test.kind == "not_null":
        return f"{col} is null"
    allowed = ", ".join(exp.convert(v).sql(DIALECT) for v in test.values)
    return f"{col} is not null and {col} not in ({allowed})"


def key_present(cols: Iterable[str]) -> str:
    return " and ".join(f"{quote(c)} is not null" for c in cols)


def orphan(test: DataTest) -> str:
    # not exists, not `not in`: one null in the parent column would make `not in` match nothing.
    col = quote(test.columns[0])
    return (
        f"child.{col} is not null and not exists "
        f"(select 1 from {test.to} as parent where parent.{quote(test.field)} = child.{col})"
    )


def embedded(sql: str) -> str:
    # Newlines around the embedded query: a trailing `-- comment` must not swallow the parenthesis.
    return f"(\n{sql}\n) as offending"


def quote(name: str | None) -> str:
    return exp.to_identifier(name, quoted=True).sql(DIALECT)
