"""The dbt_like_sql folder as Dagster assets: one asset per seed and model, and per model one asset
check, `data_tests`, that runs all of the model's declared data tests.

Everything comes from the folder: adding a model is adding a .sql file. All seeds and models live in
one subsettable multi-asset, so a run builds exactly the selected views, in dependency order, in one
DuckDB transaction, and holds one `duckdb_writer` slot while it does.

One check per model, not per test: Dagster stores three events per check and run (planned, output,
evaluation), and with one check per test those events were the largest cost of every load job
(83 per-test checks: ~2 s per run on a SQLite instance, measured in bench/bench_backfill.py). The check's
metadata keeps each test's verdict, its failing rows, its SQL and a sample of the offending rows.
"""

import hashlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import dagster as dg
import duckdb
from pydantic import Field

from aurion_pipeline.defs.analytics.data_tests import CHECK_NAME, check_result, check_spec
from aurion_pipeline.defs.names import WRITER_POOL, Names
from aurion_pipeline.report.metadata import key_figures
from aurion_pipeline.sqlmodels import (
    BuiltModel,
    Model,
    Seed,
    SqlProject,
    build,
    load_project,
    run_tests,
)
from aurion_pipeline.sqlmodels.build import model_sql, seed_sql

MODELS_GROUP = "analytics"
SEEDS_GROUP = "seeds"
# The `warehouse` resource (under `Names.warehouse`) must have get_connection() yielding a read-write
# DuckDB connection that publishes the analyst copy when the block succeeds: this step is the run's last writer.


class SqlModelsConfig(dg.Config):
    row_counts: bool = Field(default=False, description="Count each built view's rows (a full scan on big data).")


def build_model_defs(
    project_root: Path, *, automation_condition: dg.AutomationCondition | None = None, names: Names = Names()
) -> dg.Definitions:
    """The folder's assets and checks; merge with the Definitions that provide the `warehouse` resource.

    A bad file fails here, at definitions load, with a `SqlProjectError` naming it.
    """
    return dg.Definitions(assets=[build_models_asset(load_project(project_root), automation_condition, names=names)])


def build_models_asset(
    project: SqlProject, automation_condition: dg.AutomationCondition | None = None, *, names: Names = Names()
) -> dg.AssetsDefinition:
    seeds = [_seed_spec(project, item, names) for item in project.seeds]
    models = [_model_spec(project, model, automation_condition, names) for model in project.models]

    @dg.multi_asset(
        name=names.name("sql_models"),
        specs=[*seeds, *models],
        check_specs=[check_spec(m, names) for m in project.models if m.tests],
        can_subset=True,
        pool=WRITER_POOL,
        # Unpartitioned, but in the same jobs as raw/usage_daily: `dg launch --job usage_job
        # --partition-range` requires every asset of the job to take a range in one run.
        backfill_policy=dg.BackfillPolicy.single_run(),
        required_resource_keys={names.warehouse},
        description=f"Seeds and views of {project.root.name}/, built in dependency order in one transaction.",
    )
    def sql_models(
        context: dg.AssetExecutionContext, config: SqlModelsConfig
    ) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
        selected = {names.qualified(key) for key in context.selected_asset_keys}
        with getattr(context.resources, names.warehouse).get_connection() as con:
            built = build(con, project, only=selected)
            # Tests run after the commit, on the views as analysts now see them, on a cursor of their
            # own while Dagster writes the materializations: DuckDB releases the GIL while it queries.
            with ThreadPoolExecutor(1) as tester, con.cursor() as test_con:
                checks = tester.submit(_check_results, test_con, project, context.selected_asset_check_keys, names)
                schemas = _column_schemas(con, project, [b.name for b in built])
                for item in built:
                    metadata = _built_metadata(con, project, item, schemas[item.name], config.row_counts)
                    yield dg.MaterializeResult(asset_key=names.asset_key(item.name), metadata=metadata)
                yield from checks.result()

    return sql_models


def _seed_spec(project: SqlProject, item: Seed, names: Names) -> dg.AssetSpec:
    sql = seed_sql(item)
    return dg.AssetSpec(
        key=names.asset_key(item.qualified),
        description=item.description or f"Seed table loaded from {item.path.name}; edit the CSV to change it.",
        group_name=names.name(SEEDS_GROUP),
        code_version=_digest(sql, item.path.read_text()),
        kinds={"duckdb", "csv"},
        metadata={"path": project.display(item.path), "sql": _sql_metadata(sql)},
    )


def _model_spec(
    project: SqlProject, model: Model, automation_condition: dg.AutomationCondition | None, names: Names
) -> dg.AssetSpec:
    sql = model_sql(model)
    return dg.AssetSpec(
        key=names.asset_key(model.qualified),
        deps=[names.asset_key(name) for name in sorted(model.depends_on)],
        description=model.description,
        group_name=names.name(MODELS_GROUP),
        # Changes with the SQL, with view <-> table and with a macro the SQL may call.
        code_version=_digest(sql, *(m.sql for m in project.macros)),
        automation_condition=automation_condition,
        kinds={"duckdb", "sql"},
        metadata={"path": project.display(model.path), "sql": _sql_metadata(sql)},
    )


def _sql_metadata(statement: str) -> dg.MetadataValue:
    # Definition metadata, not materialization metadata: the statement follows from the code (as the
    # code version does), and each materialization wrote it twice (its event and its step output):
    # a third of what the models' events add to the event log per run (420 -> 280 KB).
    return dg.MetadataValue.md(f"```sql\n{statement}\n```")


def _built_metadata(
    con: duckdb.DuckDBPyConnection, project: SqlProject, built: BuiltModel, schema: dg.TableSchema, row_counts: bool
) -> dict[str, object]:
    rows = built.rows
    if rows is None and row_counts:
        rows = con.execute(f"select count(*) from {built.name}").fetchone()[0]
    metadata = {
        "dagster/table_name": built.name,
        "dagster/column_schema": schema,
        "path": project.display(built.path),
        **key_figures(con, built.name),  # where tenants stand, for the models that say it
    }
    return metadata if rows is None else {**metadata, "dagster/row_count": rows}


def _column_schemas(
    con: duckdb.DuckDBPyConnection, project: SqlProject, qualified: list[str]
) -> dict[str, dg.TableSchema]:
    """Each built object's columns with their docs, from one catalog query for the whole build."""
    rows = con.execute(
        "select schema_name || '.' || table_name, column_name, data_type from duckdb_columns() "
        "where database_name = current_database() and not internal order by table_name, column_index"
    ).fetchall()
    columns: dict[str, list[tuple[str, str]]] = {name: [] for name in qualified}
    for name, column, kind in rows:
        if name in columns:
            columns[name].append((column, kind))
    return {name: _table_schema(project, name, cols) for name, cols in columns.items()}


def _table_schema(project: SqlProject, qualified: str, columns: list[tuple[str, str]]) -> dg.TableSchema:
    item = project.get(qualified)
    docs = {c.name: c.description for c in item.columns} if isinstance(item, Model) else {}
    return dg.TableSchema(columns=[dg.TableColumn(col, kind, description=docs.get(col)) for col, kind in columns])


def _check_results(
    con: duckdb.DuckDBPyConnection, project: SqlProject, selected: set[dg.AssetCheckKey], names: Names
) -> list[dg.AssetCheckResult]:
    keyed = ((model, names.asset_key(model.qualified)) for model in project.models)
    return [check_result(key, run_tests(con, model))
            for model, key in keyed if dg.AssetCheckKey(key, CHECK_NAME) in selected]


def _digest(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]
