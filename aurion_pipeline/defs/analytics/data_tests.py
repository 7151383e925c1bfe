"""The `data_tests` asset check: all declared data tests of one model (or declared raw source) in one
check, severity ERROR, with each test's verdict, SQL and offending rows in its metadata.

One check per model, not per test: Dagster stores three events per check and run (planned, output,
evaluation), and with one check per test those events were the largest cost of every load job
(83 per-test checks: ~2 s per run on a SQLite instance, measured in bench/bench_backfill.py).
"""

import dagster as dg

from aurion_pipeline.defs.names import Names
from aurion_pipeline.sqlmodels import DataTest, Model, Source, TestResult

CHECK_NAME = "data_tests"
SHOWN_FAILURES = 10  # failing tests whose SQL and sample rows go into the check's metadata


def check_spec(model: Model | Source, names: Names) -> dg.AssetCheckSpec:
    tests = "; ".join(f"{t.name}: {_describe(t)}" for t in model.tests)
    return dg.AssetCheckSpec(
        name=CHECK_NAME, asset=names.asset_key(model.qualified),
        description=f"{len(model.tests)} data tests, each passing when it returns no rows: {tests}",
    )


def _describe(test: DataTest) -> str:
    columns = ", ".join(test.columns)
    return {
        "not_null": f"{columns} is never null",
        "unique": f"no two rows share ({columns})",
        "accepted_values": f"{columns} is one of {', '.join(map(str, test.values))}",
        "relationships": f"every {columns} exists in {test.to}.{test.field}",
    }.get(test.kind, f"custom assertion from {test.source}: no rows returned")


def check_result(key: dg.AssetKey, results: list[TestResult]) -> dg.AssetCheckResult:
    failed = [r for r in results if not r.passed]
    metadata = {
        "failing_rows": dg.MetadataValue.int(sum(r.failing_rows for r in failed)),
        "failed_tests": dg.MetadataValue.int(len(failed)),
        "tests": dg.MetadataValue.json({r.name: r.failing_rows for r in results}),  # 0 = passed
    }
    if failed:
        metadata["failures"] = dg.MetadataValue.md("\n\n".join(_failure_md(r) for r in failed[:SHOWN_FAILURES]))
    return dg.AssetCheckResult(
        asset_key=key,
        check_name=CHECK_NAME,
        passed=not failed,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata=metadata,
        description=f"{len(failed)} of {len(results)} tests failed: {', '.join(r.name for r in failed)}"
        if failed else f"all {len(results)} tests passed",
    )


def _failure_md(result: TestResult) -> str:
    parts = [f"**{result.name}**: offending rows: {result.failing_rows}", f"```sql\n{result.sql}\n```"]
    return "\n\n".join([*parts, _markdown_table(result.sample)] if result.sample else parts)


def _markdown_table(rows: tuple[dict, ...]) -> str:
    header = list(rows[0])
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(str(row[c]).replace("|", "\\|") for c in header) + " |" for row in rows]
    return "\n".join(lines)
