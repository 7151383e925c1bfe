"""Asset checks on the raw usage table, from the invariants in storage/quality.py."""


import dagster as dg

from aurion_pipeline.defs.aurion_usage.assets import usage_daily
from aurion_pipeline.defs.aurion_usage.resources import WarehouseResource
from aurion_pipeline.storage.quality import RAW_USAGE_CHECKS, count_offenders


@dg.multi_asset_check(
    specs=[
        dg.AssetCheckSpec(name, asset=usage_daily.key, description=description)
        for name, (description, _) in RAW_USAGE_CHECKS.items()
    ],
    can_subset=True,
)
def raw_usage_checks(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource):
    with warehouse.warehouse.writer() as con:
        for name, (_, sql) in RAW_USAGE_CHECKS.items():
            if dg.AssetCheckKey(usage_daily.key, name) not in context.selected_asset_check_keys:
                continue
            count, sample = count_offenders(con, sql)
            yield dg.AssetCheckResult(
                asset_key=usage_daily.key, check_name=name, passed=count == 0,
                severity=dg.AssetCheckSeverity.ERROR,
                metadata={"failing_rows": count, "sample": dg.MetadataValue.json([list(map(str, r)) for r in sample])},
            )
