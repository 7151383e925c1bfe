"""The `data_tests` check of each raw asset whose table dbt_like_sql/sources/*.yml declares with tests:
the raw table's declared data tests (and the singular tests in tests/ that read only raw tables), run
by the same `run_tests` as the models' after every load, severity ERROR."""

from collections.abc import Iterable

import dagster as dg

from aurion_pipeline.defs.analytics.data_tests import CHECK_NAME, check_result, check_spec
from aurion_pipeline.defs.names import Names
from aurion_pipeline.sqlmodels import SqlProject, run_tests


def build_source_checks(
    project: SqlProject, names: Names, raw_assets: Iterable[dg.AssetsDefinition]
) -> list[dg.AssetChecksDefinition]:
    """One multi-check holding a `data_tests` check per declared source that is one of `raw_assets`
    (e.g. raw/usage_daily); none when no such source declares tests. A declared table that is no asset
    (raw._load_log) keeps its tests, runnable from Python with `run_tests`."""
    keys = {key for asset in raw_assets for key in asset.keys}
    tested = [s for s in project.declared_sources if s.tests and names.asset_key(s.qualified) in keys]
    if not tested:
        return []

    @dg.multi_asset_check(
        specs=[check_spec(source, names) for source in tested],
        can_subset=True,
        name=names.name("raw_data_tests"),
        required_resource_keys={names.warehouse},
    )
    def raw_data_tests(context: dg.AssetCheckExecutionContext):
        with getattr(context.resources, names.warehouse).warehouse.writer() as con:
            for source in tested:
                key = names.asset_key(source.qualified)
                if dg.AssetCheckKey(key, CHECK_NAME) in context.selected_asset_check_keys:
                    yield check_result(key, run_tests(con, source))

    return [raw_data_tests]
