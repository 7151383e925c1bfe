"""The YAML beside models and seeds and of raw sources: descriptions, column docs, declared data tests,
pinned seed types."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from aurion_pipeline.sqlmodels.errors import SqlProjectError
from aurion_pipeline.sqlmodels.parse_cache import read_select
from aurion_pipeline.text import first_line

# Test names become Dagster asset check names: letters, digits and underscores only.
_NAME = re.compile(r"^[A-Za-z0-9_]+\Z")
COLUMN_TESTS = ("not_null", "unique", "accepted_values", "relationships")
# How a model is stored: a view recomputes on every query; a table is computed once per build.
MATERIALIZATIONS = ("view", "table")


@dataclass(frozen=True)
class Column:
    name: str
    description: str | None = None


@dataclass(frozen=True)
class DataTest:
    """One assertion about a model; `kind` is not_null, unique, accepted_values, relationships or sql."""

    name: str
    kind: str
    source: str  # the file that declares it, as named in messages
    columns: tuple[str, ...] = ()
    values: tuple[Any, ...] = ()
    to: str | None = None
    field: str | None = None
    sql: str | None = None
    references: frozenset[str] = frozenset()  # tables a relationships or sql test reads


@dataclass(frozen=True)
class ModelDoc:
    description: str | None = None
    columns: tuple[Column, ...] = ()
    tests: tuple[DataTest, ...] = ()
    materialized: str = "view"


@dataclass(frozen=True)
class SeedDoc:
    description: str | None = None
    column_types: tuple[tuple[str, str], ...] = ()


def read_model_doc(path: Path, where: str) -> ModelDoc:
    doc = _load(path, where, {"description", "columns", "tests", "materialized"})
    table = _table_doc(doc, where)
    return replace(table, materialized=_materialized(doc.get("materialized", "view"), where))


def read_sources_doc(path: Path, where: str) -> tuple[tuple[str, ModelDoc], ...]:
    """sources/<schema>.yml: `tables:` maps each raw table's name to what a model's .yml holds, minus
    `materialized` (the pipeline, not the runner, writes these tables)."""
    doc = _load(path, where, {"description", "tables"})
    _text(doc.get("description"), where, "description")
    tables = _mapping(doc.get("tables"), where, "tables")
    if not tables:
        raise SqlProjectError(f"{where}: declares no table; list them under `tables:`")
    allowed = {"description", "columns", "tests"}
    return tuple(
        (_name(name, where), _table_doc(_mapping(spec, where, f"table {name}", allowed), where))
        for name, spec in tables.items()
    )


def _table_doc(doc: dict, where: str) -> ModelDoc:
    """Description, column docs and tests of one table: a model's, or a raw source table's."""
    columns, tests = [], []
    for name, spec in _mapping(doc.get("columns"), where, "columns").items():
        spec = _mapping(spec, where, f"column {name}", {"description", "tests"})
        columns.append(Column(_name(name, where), _text(spec.get("description"), where, f"column {name}")))
        tests += [_column_test(entry, str(name), where) for entry in _list(spec.get("tests"), where, name)]
    tests += [_model_test(entry, where) for entry in _list(doc.get("tests"), where, "tests")]
    names = [t.name for t in tests]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise SqlProjectError(f"{where}: test name(s) declared twice: {', '.join(dupes)}")
    return ModelDoc(_text(doc.get("description"), where, "description"), tuple(columns), tuple(tests))


def _materialized(value: Any, where: str) -> str:
    if value not in MATERIALIZATIONS:
        raise SqlProjectError(f"{where}: materialized must be view or table, got {value!r}")
    return value


def read_seed_doc(path: Path, where: str) -> SeedDoc:
    doc = _load(path, where, {"description", "columns"})
    types = _mapping(doc.get("columns"), where, "columns")
    pinned = tuple((_name(col, where), _text(kind, where, f"column {col}") or "") for col, kind in types.items())
    if any(not kind for _, kind in pinned):
        raise SqlProjectError(f"{where}: every pinned column needs a DuckDB type, e.g. `plan: VARCHAR`")
    return SeedDoc(_text(doc.get("description"), where, "description"), pinned)


def sql_test(name: str, sql: str, source: str, where: str | None = None) -> DataTest:
    """A custom assertion: a select returning the offending rows (none = pass). `where` names it in errors."""
    where = where or source
    select = read_select(sql, where)
    return DataTest(_name(name, where), "sql", source, sql=select.body, references=select.reads)


def _column_test(entry: Any, column: str, where: str) -> DataTest:
    kind, args = _kind(entry, where)
    if kind in ("not_null", "unique"):
        if args is not None:
            raise SqlProjectError(f"{where}: {kind} on {column} takes no arguments; write it as `- {kind}`")
        return DataTest(_name(f"{kind}__{column}", where), kind, where, columns=(column,))
    if kind == "accepted_values":
        values = _mapping(args, where, f"accepted_values on {column}", {"values"}).get("values")
        # A null in the list would make `not in` match nothing, so the test could never fail.
        if not isinstance(values, list) or not values or any(v is None or isinstance(v, (dict, list)) for v in values):
            raise SqlProjectError(f"{where}: accepted_values on {column} needs `values:` a list of non-null values")
        name = _name(f"accepted_values__{column}", where)
        return DataTest(name, kind, where, columns=(column,), values=tuple(values))
    if kind == "relationships":
        spec = _mapping(args, where, f"relationships on {column}", {"to", "field"})
        to, field = spec.get("to"), spec.get("field")
        if not isinstance(to, str) or to.count(".") != 1 or not isinstance(field, str):
            raise SqlProjectError(f"{where}: relationships on {column} needs `to: schema.name` and `field: column`")
        to = to.lower()
        name = _name(f"relationships__{column}", where)
        return DataTest(name, kind, where, (column,), to=to, field=field, references=frozenset({to}))
    raise SqlProjectError(f"{where}: unknown test {kind!r} on column {column}; use one of {', '.join(COLUMN_TESTS)}")


def _model_test(entry: Any, where: str) -> DataTest:
    if isinstance(entry, dict) and set(entry) == {"name", "sql"}:
        name, sql = entry["name"], entry["sql"]
        if not isinstance(name, str) or not isinstance(sql, str):
            raise SqlProjectError(f"{where}: a custom test needs a `name` and a `sql` string")
        return sql_test(name, sql, where, f"{where} (test {name})")
    kind, args = _kind(entry, where)
    if kind == "unique":
        columns = [args] if isinstance(args, str) else args
        if not isinstance(columns, list) or not columns or not all(isinstance(c, str) for c in columns):
            raise SqlProjectError(f"{where}: unique needs a column or a list of columns")
        return DataTest(_name("__".join(["unique", *columns]), where), kind, where, columns=tuple(columns))
    raise SqlProjectError(f"{where}: unknown model test {kind!r}; use unique: [columns] or {{name, sql}}")


def _kind(entry: Any, where: str) -> tuple[str, Any]:
    if isinstance(entry, str):
        return entry, None
    if isinstance(entry, dict) and len(entry) == 1:
        ((kind, args),) = entry.items()
        return str(kind), args
    raise SqlProjectError(f"{where}: a test must be a name or a one-key mapping, got {entry!r}")


# libyaml's loader when PyYAML was built with it: the model docs are read by every process that loads
# the definitions, and the pure-Python loader took 0.7 s of a CLI run's 2.5 s set-up.
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _load(path: Path, where: str, allowed: set[str]) -> dict:
    try:
        doc = yaml.load(path.read_text(), Loader=_SAFE_LOADER)  # a safe loader
    except yaml.YAMLError as exc:
        raise SqlProjectError(f"{where}: not valid YAML: {first_line(exc)}") from exc
    return _mapping(doc, where, "the file", allowed)


def _mapping(value: Any, where: str, what: str, allowed: set[str] | None = None) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise SqlProjectError(f"{where}: {what} must be a mapping")
    unknown = sorted(str(k) for k in value if allowed is not None and k not in allowed)
    if unknown:
        allowed_keys = ", ".join(sorted(allowed or ()))
        raise SqlProjectError(f"{where}: unknown key(s) in {what}: {', '.join(unknown)}; allowed: {allowed_keys}")
    return value


def _list(value: Any, where: str, what: str) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise SqlProjectError(f"{where}: tests of {what} must be a list")
    return value


def _text(value: Any, where: str, what: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise SqlProjectError(f"{where}: {what} must be text")


def _name(name: Any, where: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise SqlProjectError(f"{where}: {name!r} is not a plain name (letters, digits, underscores)")
    return name
