"""Asset checks on the raw usage table, from the invariants in storage/quality.py."""

import dagster as dg

from aurion_pipeline.defs.names import Names
from aurion_pipeline.storage.quality import RAW_USAGE_CHECKS, count_offenders


def build_raw_usage_checks(names: Names) -> dg.AssetChecksDefinition:
    usage = names.asset_key("raw.usage_daily")

    @dg.multi_asset_check(
        specs=[dg.AssetCheckSpec(name, asset=usage, description=description)
               for name, (description, _) in RAW_USAGE_CHECKS.items()],
        can_subset=True,
        name=names.name("raw_usage_checks"),
        required_resource_keys={names.warehouse},
    )
    def raw_usage_checks(context: dg.AssetCheckExecutionContext):
        with getattr(context.resources, names.warehouse).warehouse.writer() as con:
            for name, (_, sql) in RAW_USAGE_CHECKS.items():
                if dg.AssetCheckKey(usage, name) not in context.selected_asset_check_keys:
                    continue
                count, sample = count_offenders(con, sql)
                yield dg.AssetCheckResult(
                    asset_key=usage, check_name=name, passed=count == 0, severity=dg.AssetCheckSeverity.ERROR,
                    metadata={"failing_rows": count,
                              "sample": dg.MetadataValue.json([list(map(str, r)) for r in sample])},
                )

    return raw_usage_checks
