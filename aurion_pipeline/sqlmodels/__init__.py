"""A small dbt-like runner: SQL files become DuckDB views (or tables, with `materialized: table` in
their YAML), CSVs become tables, YAML declares data tests, macros/ holds fragments models share.

    project = load_project(Path("dbt_like_sql"))      # parse, check references, order (errors name the file)
    build(con, project)                               # seeds + views and tables in one transaction
    run_tests(con, project.get("analytics.plan_utilization"))
    run_tests(con, project.get("raw.usage_daily"))    # a raw table's tests, declared in sources/raw.yml
"""

from aurion_pipeline.sqlmodels.build import BuiltModel, build, seed
from aurion_pipeline.sqlmodels.datatests import TestResult, compile_test, run_test, run_tests
from aurion_pipeline.sqlmodels.errors import SqlProjectError
from aurion_pipeline.sqlmodels.macros import Macro
from aurion_pipeline.sqlmodels.project import Model, Seed, SqlProject, load_project
from aurion_pipeline.sqlmodels.refs import default_sources
from aurion_pipeline.sqlmodels.sources import Source
from aurion_pipeline.sqlmodels.specs import Column, DataTest

__all__ = [
    "BuiltModel",
    "Column",
    "DataTest",
    "Macro",
    "Model",
    "Seed",
    "Source",
    "SqlProject",
    "SqlProjectError",
    "TestResult",
    "build",
    "compile_test",
    "default_sources",
    "load_project",
    "run_test",
    "run_tests",
    "seed",
]
