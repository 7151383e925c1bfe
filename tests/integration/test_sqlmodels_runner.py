"""The SQL runner on real DuckDB files: discovery, dependencies parsed from SQL, build order, loud
errors naming the file, seeds, all-or-nothing builds, and every data-test kind on planted bad rows."""

import shutil
from pathlib import Path

import duckdb
import pytest
from helpers_ops import SQL_FOLDER
from sqlproj_data import write_project

from aurion_pipeline.sqlmodels import (
    SqlProjectError,
    build,
    compile_test,
    default_sources,
    load_project,
    run_test,
    run_tests,
    seed,
)
from aurion_pipeline.sqlmodels.datatests import counts_query
from aurion_pipeline.sqlmodels.specs import sql_test

FIXTURE = Path(__file__).parents[1] / "fixtures" / "sqlproj_basic"


# --- discovery and dependencies -------------------------------------------------------------


def test_discovers_models_seeds_and_their_tests():
    project = load_project(FIXTURE)
    assert {m.qualified for m in project.models} == {
        "analytics.usage_daily",
        "analytics.latest_summary",
        "analytics.tenant_usage",
    }
    assert {s.qualified for s in project.seeds} == {"seeds.plan_tiers", "seeds.alert_thresholds"}
    usage = project.get("analytics.usage_daily")
    assert usage.description == "One row per loaded tenant and UTC day."
    assert [t.name for t in usage.tests] == [
        "not_null__tenant",
        "not_null__api_calls",
        "unique__tenant__usage_date",
        "no_negative_usage",  # tests/no_negative_usage.sql reads this model
    ]
    assert project.get("seeds.plan_tiers").column_types == (("voice_minutes", "DOUBLE"), ("storage_mb", "DOUBLE"))


def test_a_custom_test_reading_two_models_runs_once_with_the_model_built_last(tmp_path):
    root = write_project(tmp_path / "proj", {
        "models/analytics/a.sql": "select 1 as x",
        "models/analytics/b.sql": "select x from analytics.a",
        "models/analytics/c.sql": "select 2 as x",
        "tests/same_x.sql": "select * from analytics.c join analytics.a using (x)",
    })
    project = load_project(root)
    assert {m.qualified: [t.name for t in m.tests] for m in project.models} == {
        "analytics.a": [], "analytics.b": [], "analytics.c": ["same_x"],
    }


def test_dependencies_are_the_tables_the_sql_reads_minus_its_ctes():
    model = load_project(FIXTURE).get("analytics.tenant_usage")
    assert model.depends_on == {
        "analytics.usage_daily",
        "analytics.latest_summary",
        "seeds.plan_tiers",
        "seeds.alert_thresholds",  # read in scalar subqueries
    }


def test_table_functions_and_nested_ctes_are_not_dependencies(tmp_path):
    root = write_project(tmp_path / "proj", {
        "models/analytics/days.sql": """
            with spine as (select unnest(generate_series(date '2024-01-01', date '2024-01-03', interval 1 day)) as d),
                 nested as (select * from (select d from spine) as s)
            select n.d, r.tenant from nested as n, range(2) as x(i) left join raw.usage_daily as r on r.usage_date = n.d
        """,
    })
    assert load_project(root).get("analytics.days").depends_on == {"raw.usage_daily"}


def test_each_model_is_ordered_after_the_models_it_reads(tmp_path):
    # File names sort opposite to the dependency chain, so alphabetical order would be wrong.
    root = write_project(tmp_path / "proj", {
        "models/analytics/a_top.sql": "select * from analytics.m_middle",
        "models/analytics/m_middle.sql": "select * from staging.z_bottom",
        "models/staging/z_bottom.sql": "select tenant from raw.usage_daily",
    })
    order = [m.qualified for m in load_project(root).models]
    assert order == ["staging.z_bottom", "analytics.m_middle", "analytics.a_top"]


def test_fixture_order_puts_every_dependency_first():
    project = load_project(FIXTURE)
    position = {m.qualified: i for i, m in enumerate(project.models)}
    for model in project.models:
        assert all(position[dep] < position[model.qualified] for dep in model.depends_on if dep in position)


def test_default_sources_are_the_tables_of_schema_sql():
    assert default_sources() == {"raw.usage_daily", "raw._load_log", "raw.usage_restatements", "raw.usage_summary",
                                 "raw.tenant_plans"}


def test_sources_can_be_given(tmp_path):
    root = write_project(tmp_path / "proj", {"models/analytics/t.sql": "select * from ext.things"})
    assert load_project(root, sources={"ext.things"}).get("analytics.t").depends_on == {"ext.things"}
    with pytest.raises(SqlProjectError, match=r"ext.things is not a model, a seed or a raw source table"):
        load_project(root)


# --- loud errors, naming the file ------------------------------------------------------------

BAD_PROJECTS = [
    pytest.param(
        {"models/analytics/a.sql": "select * from analytics.b", "models/analytics/b.sql": "select * from analytics.a"},
        ["cycle", "proj/models/analytics/a.sql", "proj/models/analytics/b.sql"],
        id="cycle-names-both-files",
    ),
    pytest.param(
        {"models/analytics/a.sql": "select * from analytics.a"},
        ["cycle", "proj/models/analytics/a.sql"],
        id="model-reading-itself-is-a-cycle",
    ),
    pytest.param(
        {"models/analytics/a.sql": "select * from analytics.missing_model"},
        ["proj/models/analytics/a.sql", "analytics.missing_model"],
        id="unknown-reference-names-file-and-table",
    ),
    pytest.param(
        {"models/analytics/a.sql": "select * from usage_daily"},
        ["proj/models/analytics/a.sql", "unqualified", "usage_daily"],
        id="unqualified-reference",
    ),
    pytest.param(
        {"models/analytics/a.sql": "drop table raw.usage_daily"},
        ["proj/models/analytics/a.sql", "must be a select statement, found DROP"],
        id="not-a-select",
    ),
    pytest.param(
        {"models/analytics/a.sql": "select 1 as x; select 2 as y"},
        ["proj/models/analytics/a.sql", "exactly one select statement, found 2"],
        id="two-statements",
    ),
    pytest.param(
        {"models/analytics/a.sql": "select * frm raw.usage_daily"},
        ["proj/models/analytics/a.sql", "not valid SQL"],
        id="parse-error",
    ),
    pytest.param(
        {"models/analytics/a.sql": "-- nothing yet\n"},
        ["proj/models/analytics/a.sql", "found 0"],
        id="empty-file",
    ),
    pytest.param(
        {"models/raw/usage_daily.sql": "select 1 as x"},
        ["proj/models/raw/usage_daily.sql", "raw.usage_daily is already a raw source table"],
        id="model-shadowing-a-raw-table",
    ),
    pytest.param(
        {"seeds/seeds/plans.csv": "plan\na\n", "models/seeds/plans.sql": "select 1 as x"},
        ["proj/models/seeds/plans.sql", "seeds.plans is already proj/seeds/seeds/plans.csv"],
        id="model-and-seed-with-one-name",
    ),
    pytest.param(
        {"models/a.sql": "select 1 as x"},
        ["proj/models/a.sql", "models/<schema>/<name>.sql"],
        id="model-outside-a-schema-folder",
    ),
    pytest.param(
        {"models/analytics/Plan-Usage.sql": "select 1 as x"},
        ["proj/models/analytics/Plan-Usage.sql", "lower-case name"],
        id="file-name-not-an-identifier",
    ),
    pytest.param(
        {"models/analytics/a.sql": "select 1 as x", "models/analytics/b.yml": "description: orphan"},
        ["proj/models/analytics/b.yml", "no b.sql beside it"],
        id="yml-without-its-model",
    ),
    pytest.param(
        {"models/analytics/a.sql": "select 1 as x", "models/analytics/a.yaml": "description: x"},
        ["proj/models/analytics/a.yaml", ".yml"],
        id="yaml-extension-would-be-ignored",
    ),
    pytest.param(
        {"models/analytics/a.sql": "select 1 as x", "models/analytics/a.yml": "columns: {x: {tests: [not_null}"},
        ["proj/models/analytics/a.yml", "not valid YAML"],
        id="bad-yaml",
    ),
    pytest.param(
        {"models/analytics/a.sql": "select 1 as x", "models/analytics/a.yml": "columns: {x: {tests: [is_positive]}}"},
        ["proj/models/analytics/a.yml", "unknown test 'is_positive' on column x"],
        id="unknown-column-test",
    ),
    pytest.param(
        {"models/analytics/a.sql": "select 1 as x",
         "models/analytics/a.yml": "columns: {x: {tests: [{not_null: true}]}}"},
        ["proj/models/analytics/a.yml", "not_null on x takes no arguments"],
        id="column-test-with-unexpected-arguments",
    ),
    pytest.param(
        {
            "models/analytics/a.sql": "select 1 as x",
            "models/analytics/a.yml": "columns: {x: {tests: [{accepted_values: {values: [1, null]}}]}}",
        },
        ["proj/models/analytics/a.yml", "accepted_values on x", "non-null values"],
        id="accepted-null-would-make-the-test-always-pass",
    ),
    pytest.param(
        {"models/analytics/a.sql": "select 1 as x", "models/analytics/a.yml": "tests: [{row_count: 3}]"},
        ["proj/models/analytics/a.yml", "unknown model test 'row_count'"],
        id="unknown-model-test",
    ),
    pytest.param(
        {"models/analytics/a.sql": "select 1 as x", "models/analytics/a.yml": "colums: {x: {}}"},
        ["proj/models/analytics/a.yml", "unknown key(s) in the file: colums"],
        id="misspelt-yml-key",
    ),
    pytest.param(
        {
            "models/analytics/a.sql": "select 1 as x",
            "models/analytics/a.yml": "columns: {x: {tests: [{relationships: {to: seeds.nope, field: x}}]}}",
        },
        ["proj/models/analytics/a.yml", "relationships__x", "seeds.nope"],
        id="relationship-to-unknown-table",
    ),
    pytest.param(
        {
            "models/analytics/a.sql": "select 1 as x",
            "models/analytics/a.yml": "columns: {x: {tests: [unique]}}\ntests: [{unique: [x]}]",
        },
        ["proj/models/analytics/a.yml", "declared twice: unique__x"],
        id="two-tests-with-one-name",
    ),
    pytest.param(
        {"models/analytics/a.sql": "select 1 as x",
         "models/analytics/a.yml": "tests: [{name: t, sql: 'delete from analytics.a'}]"},
        ["proj/models/analytics/a.yml (test t)", "must be a select statement"],
        id="inline-custom-test-not-a-select",
    ),
    pytest.param(
        {"models/analytics/a.sql": "select 1 as x",
         "tests/only_raw.sql": "select * from raw.usage_daily where api_calls < 0"},
        ["proj/tests/only_raw.sql", "reads no model"],
        id="custom-test-reading-no-model",
    ),
    pytest.param(
        {"models/analytics/a.sql": "select 1 as x",
         "tests/t.sql": "select * from analytics.a join analytics.gone using (x)"},
        ["proj/tests/t.sql", "analytics.gone"],
        id="custom-test-unknown-reference",
    ),
    pytest.param(
        {"models/analytics/a.sql": "select 1 as x", "models/analytics/a.yml": "materialized: incremental"},
        ["proj/models/analytics/a.yml", "materialized must be view or table, got 'incremental'"],
        id="unknown-materialization",
    ),
    pytest.param(
        {"models/analytics/a.sql": "select 1 as x", "models/analytics/a.yml": "materialized: [table]"},
        ["proj/models/analytics/a.yml", "materialized must be view or table, got ['table']"],
        id="materialization-not-a-word",
    ),
    pytest.param(
        {"macros/analytics/half.sql": "select 1 as x"},
        ["proj/macros/analytics/half.sql", "create macro analytics.half"],
        id="macro-not-a-create-macro",
    ),
    pytest.param(
        {"macros/analytics/half.sql": "create macro analytics.third(x) as x / 3"},
        ["proj/macros/analytics/half.sql", "creates analytics.third"],
        id="macro-named-unlike-its-file",
    ),
    pytest.param(
        {"macros/analytics/top.sql": "create macro analytics.top(x) as (select max(x) from raw.usage_daily)"},
        ["proj/macros/analytics/top.sql", "reads no table", "raw.usage_daily"],
        id="macro-reading-a-table",
    ),
    pytest.param(
        {"seeds/seeds/plans.csv": "plan\na\n", "seeds/seeds/plans.yml": "columns: {plan: }"},
        ["proj/seeds/seeds/plans.yml", "needs a DuckDB type"],
        id="seed-column-without-type",
    ),
]


@pytest.mark.parametrize(("files", "fragments"), BAD_PROJECTS)
def test_a_bad_file_fails_with_one_line_naming_it(tmp_path, files, fragments):
    root = write_project(tmp_path / "proj", files)
    with pytest.raises(SqlProjectError) as raised:
        load_project(root)
    message = str(raised.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message


def test_the_first_bad_model_stops_the_load(tmp_path):
    root = write_project(tmp_path / "proj", {
        "models/analytics/a.sql": "select * from analytics.nope_a",
        "models/analytics/b.sql": "select * from analytics.nope_b",
    })
    with pytest.raises(SqlProjectError, match=r"a.sql: analytics.nope_a") as raised:
        load_project(root)
    assert "nope_b" not in str(raised.value)


def test_hidden_files_and_other_suffixes_are_ignored(tmp_path):
    root = write_project(tmp_path / "proj", {
        "models/analytics/a.sql": "select 1 as x",
        "models/analytics/.#a.sql": "an editor lock file",
        "models/.ipynb_checkpoints/b.sql": "not a model",
        "models/analytics/README.md": "notes",
        "tests/.c.sql": "not a test",
    })
    assert [m.qualified for m in load_project(root).models] == ["analytics.a"]


def test_a_missing_folder_is_an_error(tmp_path):
    with pytest.raises(SqlProjectError, match="does not exist"):
        load_project(tmp_path / "absent")


# --- seeds and builds -------------------------------------------------------------------------


def column_types(con, qualified: str) -> dict[str, str]:
    return {row[0]: row[1] for row in con.sql(f"describe {qualified}").fetchall()}


def test_seeds_load_with_inferred_and_pinned_types(con):
    built = seed(con, load_project(FIXTURE))
    assert {(b.name, b.kind, b.rows) for b in built} == {("seeds.plan_tiers", "table", 3),
                                                         ("seeds.alert_thresholds", "table", 3)}
    assert column_types(con, "seeds.plan_tiers") == {
        "plan": "VARCHAR",
        "voice_minutes": "DOUBLE",  # pinned in plan_tiers.yml
        "api_calls": "BIGINT",  # inferred
        "storage_mb": "DOUBLE",  # pinned
    }
    assert column_types(con, "seeds.alert_thresholds") == {"level": "VARCHAR", "min_pct": "BIGINT"}
    enterprise = con.sql("select voice_minutes, api_calls, storage_mb from seeds.plan_tiers where plan = 'enterprise'")
    assert enterprise.fetchall() == [(None, None, None)]  # empty cell = unlimited
    assert con.execute(
        "select count(*) from information_schema.tables where table_schema = 'analytics'"
    ).fetchone() == (0,)


def test_build_creates_seeds_then_views_in_dependency_order(con):
    project = load_project(FIXTURE)
    built = build(con, project)
    assert [b.name for b in built] == [
        "seeds.alert_thresholds",
        "seeds.plan_tiers",
        *(m.qualified for m in project.models),
    ]
    assert {b.kind for b in built[2:]} == {"view"}
    rows = con.sql(
        "select tenant, voice_minutes_used, pct_used, alert_level from analytics.tenant_usage order by tenant")
    assert rows.fetchall() == [("acme", 800.0, 80.0, "warning"), ("beta", 50.0, None, "ok")]


def test_building_twice_changes_nothing(con):
    project = load_project(FIXTURE)
    build(con, project)
    first = con.sql("select * from analytics.tenant_usage order by tenant").fetchall()
    build(con, project)
    assert con.sql("select * from analytics.tenant_usage order by tenant").fetchall() == first
    assert con.execute("select count(*) from seeds.plan_tiers").fetchone() == (3,)


def test_a_failing_model_leaves_the_previous_seeds_and_views_in_place(con, tmp_path):
    root = tmp_path / "proj"
    shutil.copytree(FIXTURE, root)
    build(con, load_project(root))
    (root / "seeds/seeds/plan_tiers.csv").write_text("plan,voice_minutes,api_calls,storage_mb\nstarter,1,1,1\n")
    (root / "models/analytics/tenant_usage.sql").write_text("select tenant, no_such_column from analytics.usage_daily")
    with pytest.raises(SqlProjectError) as raised:
        build(con, load_project(root))
    assert str(raised.value).startswith("proj/models/analytics/tenant_usage.sql: Binder Error")
    assert "\n" not in str(raised.value)
    assert con.execute("select count(*) from seeds.plan_tiers").fetchone() == (3,)  # the seed reload was rolled back
    assert con.execute(
        "select alert_level from analytics.tenant_usage where tenant = 'acme'"
    ).fetchone() == ("warning",)


def test_only_builds_the_named_seeds_and_models(con):
    project = load_project(FIXTURE)
    built = build(con, project, only={"analytics.usage_daily", "seeds.plan_tiers"})
    assert [b.name for b in built] == ["seeds.plan_tiers", "analytics.usage_daily"]
    with pytest.raises(SqlProjectError, match=r"no model or seed named analytics.nope"):
        build(con, project, only={"analytics.nope"})


def test_trailing_semicolons_and_comments_do_not_break_the_view(con, tmp_path):
    root = write_project(tmp_path / "proj", {"models/analytics/t.sql": "select 1 as x; -- the end\n"})
    build(con, load_project(root))
    assert con.sql("select x from analytics.t").fetchall() == [(1,)]


# --- materialized: table ----------------------------------------------------------------------

TOTALS = {
    "models/analytics/totals.sql": "select tenant, sum(voice_minutes) as voice_minutes "
                                   "from raw.usage_daily group by tenant",
    "models/analytics/totals.yml": "materialized: table\n",
    "models/analytics/top.sql": "select tenant from analytics.totals order by voice_minutes desc limit 1",
}


def object_type(con, qualified: str) -> str | None:
    schema, name = qualified.split(".")
    found = con.execute(
        "select table_type from information_schema.tables where table_schema = ? and table_name = ?", [schema, name]
    ).fetchall()
    return found[0][0] if found else None


def totals(con) -> list[tuple]:
    return con.sql("select tenant, voice_minutes from analytics.totals order by tenant").fetchall()


def test_a_macro_is_created_before_the_models_that_call_it_even_in_a_partial_build(con, tmp_path):
    root = write_project(tmp_path / "proj", {
        "macros/analytics/pct_of.sql": "-- the one definition\n"
                                       "create macro analytics.pct_of(part, whole) as 100.0 * part / whole;",
        "models/analytics/shares.sql": "select analytics.pct_of(1, 4) as quarter",
    })
    project = load_project(root)
    assert [m.qualified for m in project.macros] == ["analytics.pct_of"]
    build(con, project, only={"analytics.shares"})
    build(con, project, only={"analytics.shares"})  # twice: create or replace
    assert con.execute("select quarter from analytics.shares").fetchall() == [(25.0,)]


def test_a_table_model_is_built_as_a_table_with_its_row_count(con, tmp_path):
    project = load_project(write_project(tmp_path / "proj", TOTALS))
    assert [(m.qualified, m.materialized) for m in project.models] == [("analytics.totals", "table"),
                                                                       ("analytics.top", "view")]
    built = {b.name: b for b in build(con, project)}
    assert (built["analytics.totals"].kind, built["analytics.totals"].rows) == ("table", 2)
    assert built["analytics.totals"].sql.startswith("create or replace table analytics.totals as\n")
    assert (built["analytics.top"].kind, built["analytics.top"].rows) == ("view", None)  # a view is never counted
    assert object_type(con, "analytics.totals") == "BASE TABLE"
    assert object_type(con, "analytics.top") == "VIEW"
    assert totals(con) == [("acme", 800.0), ("beta", 50.0)]
    assert con.sql("select tenant from analytics.top").fetchall() == [("acme",)]  # a view reads the table


def test_a_table_model_holds_the_data_of_its_last_build_and_the_next_build_refreshes_it(con, tmp_path):
    project = load_project(write_project(tmp_path / "proj", TOTALS))
    build(con, project)
    con.execute("insert into raw.usage_daily (tenant, usage_date, voice_minutes, _filled) "
                "values ('beta', '2024-01-02', 5000, false)")
    assert totals(con) == [("acme", 800.0), ("beta", 50.0)]  # stored: unchanged until rebuilt
    built = {b.name: b for b in build(con, project)}
    assert totals(con) == [("acme", 800.0), ("beta", 5050.0)]
    assert built["analytics.totals"].rows == 2
    assert con.sql("select tenant from analytics.top").fetchall() == [("beta",)]


@pytest.mark.parametrize(
    ("before", "after", "table_type"),
    [
        pytest.param("view", "table", "BASE TABLE", id="view-to-table"),
        pytest.param("table", "view", "VIEW", id="table-to-view"),
    ],
)
def test_a_model_switches_between_view_and_table(con, tmp_path, before, after, table_type):
    root = write_project(tmp_path / "proj", {**TOTALS, "models/analytics/totals.yml": f"materialized: {before}\n"})
    build(con, load_project(root))
    (root / "models/analytics/totals.yml").write_text(f"materialized: {after}\n")
    con.execute("insert into raw.usage_daily (tenant, usage_date, voice_minutes, _filled) "
                "values ('beta', '2024-01-02', 5000, false)")
    built = {b.name: b for b in build(con, load_project(root))}
    assert built["analytics.totals"].kind == after
    assert object_type(con, "analytics.totals") == table_type
    assert totals(con) == [("acme", 800.0), ("beta", 5050.0)]
    assert con.sql("select tenant from analytics.top").fetchall() == [("beta",)]


@pytest.mark.parametrize(
    ("first", "table_type"),
    [
        pytest.param("table", "BASE TABLE", id="table-rebuild-rolled-back"),
        pytest.param("view", "VIEW", id="switch-to-table-rolled-back"),
    ],
)
def test_a_failing_later_model_rolls_back_the_table_build(con, tmp_path, first, table_type):
    root = write_project(tmp_path / "proj", {**TOTALS, "models/analytics/totals.yml": f"materialized: {first}\n"})
    build(con, load_project(root))
    con.execute("insert into raw.usage_daily (tenant, usage_date, voice_minutes, _filled) "
                "values ('beta', '2024-01-02', 5000, false)")
    con.execute("delete from raw.usage_daily where tenant = 'acme'")
    (root / "models/analytics/totals.yml").write_text("materialized: table\n")
    (root / "models/analytics/top.sql").write_text("select no_such_column from analytics.totals")
    with pytest.raises(SqlProjectError, match=r"^proj/models/analytics/top.sql: Binder Error"):
        build(con, load_project(root))
    assert object_type(con, "analytics.totals") == table_type
    if first == "table":
        assert totals(con) == [("acme", 800.0), ("beta", 50.0)]  # the rows of the last good build
    assert con.sql("select tenant from analytics.top").fetchall() == [("acme",) if first == "table" else ("beta",)]


# --- data tests -------------------------------------------------------------------------------

THINGS = {
    "seeds/seeds/kinds.csv": "kind,label\na,Alpha\nb,Beta\n,Unknown\n",  # a null kind: `not in` would hide misses
    "models/analytics/things.sql": "select * from src.things",
    "models/analytics/things.yml": """
        description: Things to test the tests on.
        columns:
          id: {tests: [not_null, unique]}
          kind: {tests: [{accepted_values: {values: [a, b]}}, {relationships: {to: seeds.kinds, field: kind}}]}
          qty: {tests: [{accepted_values: {values: [1, 2, 3]}}]}
        tests:
          - {unique: [id, kind]}
          - {name: qty_positive, sql: "select * from analytics.things where qty <= 0  -- a trailing comment"}
    """,
    "tests/no_zero_id.sql": "select * from analytics.things where id = 0;\n",
}


@pytest.fixture
def things(tmp_path):
    """A project over `src.things` holding three good rows, built on a real DuckDB file."""
    project = load_project(write_project(tmp_path / "proj", THINGS), sources={"src.things"})
    con = duckdb.connect(str(tmp_path / "things.duckdb"))
    con.execute("create schema src; create table src.things (id integer, kind varchar, qty integer)")
    con.execute("insert into src.things values (1, 'a', 1), (2, 'b', 2), (3, null, 3)")
    build(con, project)
    yield con, project.get("analytics.things")
    con.close()


def test_test_names_state_kind_and_columns(things):
    _, model = things
    assert [t.name for t in model.tests] == [
        "not_null__id",
        "unique__id",
        "accepted_values__kind",
        "relationships__kind",
        "accepted_values__qty",
        "unique__id__kind",
        "qty_positive",
        "no_zero_id",
    ]


def test_every_test_passes_on_good_data(things):
    con, model = things
    results = run_tests(con, model)
    assert [(r.name, r.passed, r.failing_rows) for r in results] == [(t.name, True, 0) for t in model.tests]


@pytest.mark.parametrize(
    ("bad_rows", "test_name", "failing_rows"),
    [
        pytest.param("(null, 'a', 1)", "not_null__id", 1, id="not_null"),
        pytest.param("(1, 'b', 1), (1, 'a', 2)", "unique__id", 3, id="unique-counts-every-row-sharing-the-key"),
        pytest.param("(null, 'a', 1), (null, 'a', 1)", "unique__id", 0, id="unique-ignores-null-keys"),
        pytest.param("(1, 'a', 2)", "unique__id__kind", 2, id="unique-combination"),
        pytest.param("(2, 'a', 2)", "unique__id__kind", 0, id="unique-combination-other-kind-is-fine"),
        pytest.param("(4, 'c', 1), (5, 'd', 1)", "accepted_values__kind", 2, id="accepted_values-text"),
        pytest.param("(6, 'a', 9)", "accepted_values__qty", 1, id="accepted_values-numbers"),
        pytest.param("(7, 'zz', 1)", "relationships__kind", 1, id="relationships-despite-a-null-parent"),
        pytest.param("(8, 'a', 0), (9, 'a', -1)", "qty_positive", 2, id="inline-custom-sql"),
        pytest.param("(0, 'a', 1)", "no_zero_id", 1, id="custom-sql-file"),
    ],
)
def test_each_test_counts_the_planted_bad_rows(things, bad_rows, test_name, failing_rows):
    con, model = things
    con.execute(f"insert into src.things values {bad_rows}")
    (test,) = [t for t in model.tests if t.name == test_name]
    result = run_test(con, model, test)
    assert (result.passed, result.failing_rows) == (failing_rows == 0, failing_rows)
    assert len(result.sample) == min(failing_rows, 5)
    assert result.model == "analytics.things"
    # All tests together run as one counting query over the view read once: the same verdict, the same
    # reported SQL, the same sample.
    (together,) = [r for r in run_tests(con, model) if r.name == test_name]
    assert together == result


CUSTOM_SHAPES = [
    pytest.param("select * from analytics.things where qty <= 0", id="plain"),
    pytest.param("select things.* from analytics.things where things.qty <= 0", id="columns-qualified-by-the-name"),
    pytest.param("with low as (select * from analytics.things as t where t.qty <= 0) select * from low", id="own-cte"),
    pytest.param(
        "select * from analytics.things as t where t.qty <= 0 "
        "and exists (select 1 from seeds.kinds as k where k.kind = t.kind)",
        id="reads-another-table-too",
    ),
]


@pytest.mark.parametrize("sql", CUSTOM_SHAPES)
def test_a_custom_test_reads_the_shared_rows_of_a_view_and_still_counts_bad_rows(things, sql):
    con, model = things
    tests = [sql_test("low_qty", sql, "inline"), *model.tests]  # 2+ tests: the view is read once, shared
    assert counts_query(model, tests).count("analytics.things") == 1
    assert run_tests(con, model, tests)[0].passed
    con.execute("insert into src.things values (8, 'a', 0), (9, 'b', -1)")
    (low_qty, *_) = run_tests(con, model, tests)
    assert (low_qty.passed, low_qty.failing_rows, len(low_qty.sample)) == (False, 2, 2)
    assert low_qty.sql == sql  # reported as written: it reads the model


def test_the_shared_rows_of_a_view_are_never_named_in_the_reported_sql(things):
    con, model = things
    results = run_tests(con, model)
    assert all("__aurion" not in r.sql for r in results)
    assert [r.sql for r in results] == [compile_test(model, t) for t in model.tests]
    assert con.execute("select count(*) from duckdb_tables() where temporary").fetchone()[0] == 0


def test_a_view_that_cannot_be_snapshotted_names_the_model(things):
    con, model = things
    con.execute("create or replace view analytics.things as "
                "select id, kind, qty, 1 / 0 = 'x' as broken from src.things")
    with pytest.raises(SqlProjectError, match=r"^tests of analytics.things cannot run: .*Error"):
        run_tests(con, model)


def test_a_view_read_only_by_row_tests_is_not_kept_and_still_computes_every_column(things):
    # Row tests share one scan, so the view's rows are not kept for them; the scan still computes every
    # column, so a view an analyst's `select *` fails on fails its tests too.
    con, model = things
    row_tests = [t for t in model.tests if t.kind in ("not_null", "accepted_values")]
    assert len(row_tests) >= 2 and "materialized" not in counts_query(model, row_tests)
    assert all(r.passed for r in run_tests(con, model, row_tests))
    con.execute("create or replace view analytics.things as "
                "select id, kind, qty, ('x' || id)::integer as broken from src.things")
    with pytest.raises(SqlProjectError, match=r"^tests of analytics.things cannot run: Conversion Error"):
        run_tests(con, model, row_tests)


def test_a_test_that_cannot_run_names_its_file(things, tmp_path):
    con, model = things
    con.execute("create or replace view analytics.things as select id, kind from src.things")  # qty gone
    (test,) = [t for t in model.tests if t.name == "accepted_values__qty"]
    with pytest.raises(SqlProjectError,
                       match=r"^proj/models/analytics/things.yml: test accepted_values__qty .*Binder Error"):
        run_test(con, model, test)


# --- the real folder ---------------------------------------------------------------------------


def test_the_real_sql_folder_parses_and_orders(con):
    project = load_project(SQL_FOLDER)
    assert project.models, "dbt_like_sql/models holds no model"
    position = {m.qualified: i for i, m in enumerate(project.models)}
    for model in project.models:
        assert all(position[dep] < position[model.qualified] for dep in model.depends_on if dep in position)
    # The forecast's windows and calibration sets are computed once per build, in its stored stages;
    # forecast_by_day is a hash join of the two (docs/performance.md: its readers stay under 1 s).
    stored = {"analytics.forecast_projection", "analytics.forecast_calibration"}
    assert {name for name in stored if project.get(name).materialized == "table"} == stored
    assert project.get("analytics.forecast_by_day").materialized == "view"
    built = {b.name: b for b in build(con, project)}
    assert {name: built[name].kind for name in [*stored, "analytics.forecast_by_day"]} == {
        "analytics.forecast_projection": "table", "analytics.forecast_calibration": "table",
        "analytics.forecast_by_day": "view"}
    for model in project.models:
        run_tests(con, model)  # every declared test compiles and runs (passing depends on the data)


DAYS = {
    "models/analytics/days.sql": "select * from src.days",
    "models/analytics/days.yml": """
        materialized: table
        columns:
          tenant: {tests: [not_null]}
          kind: {tests: [{accepted_values: {values: [a, b]}}]}
        tests:
          - {unique: [tenant, day]}
    """,
}


@pytest.mark.parametrize(
    ("bad_rows", "test_name", "failing_rows"),
    [
        pytest.param("('t', date '2026-03-01', 'a')", "unique__tenant__day", 2, id="the-same-day-twice"),
        pytest.param("('t', date '1969-12-31', 'a'), ('t', date '1969-12-31', 'b')", "unique__tenant__day", 2,
                     id="the-same-day-before-1970"),
        pytest.param("('v', date '1969-11-28', 'a'), ('v', date '1969-11-28' + 64, 'a'), "
                     "('v', date '1969-11-28' + 128, 'a')",
                     "unique__tenant__day", 0, id="days-64-apart-are-different-days"),
        pytest.param("('u', date '2026-03-01', 'a')", "unique__tenant__day", 0, id="another-tenant-same-day"),
        pytest.param("('t', null, 'a'), ('t', null, 'a')", "unique__tenant__day", 0, id="null-days-are-no-key"),
        pytest.param("(null, date '2026-03-02', 'a')", "not_null__tenant", 1, id="not-null-on-a-table"),
        pytest.param("('w', date '2026-03-09', 'z'), ('w', date '2026-03-10', null)", "accepted_values__kind", 1,
                     id="accepted-values-on-a-table"),
    ],
)
def test_a_key_with_a_day_and_row_tests_on_a_table_count_as_each_test_alone(
    tmp_path, bad_rows, test_name, failing_rows
):
    # The quick unique count of a key with a DATE column groups 64-day blocks (bit masks) and the row
    # tests of a table count only the rows their filter keeps: the same verdict as each test alone.
    project = load_project(write_project(tmp_path / "proj", DAYS), sources={"src.days"})
    con = duckdb.connect(str(tmp_path / "days.duckdb"))
    con.execute("create schema src; create table src.days (tenant varchar, day date, kind varchar)")
    con.execute("insert into src.days select 't', date '2026-03-01' + i::integer, 'a' from range(-200, 200) as r(i)")
    con.execute("insert into src.days select 'u', date '1969-06-01' + i::integer, 'b' from range(0, 300) as r(i)")
    build(con, project)
    model = project.get("analytics.days")
    assert all(r.passed for r in run_tests(con, model))
    con.execute(f"insert into src.days values {bad_rows}")
    build(con, project)
    (test,) = [t for t in model.tests if t.name == test_name]
    alone = run_test(con, model, test)
    assert (alone.passed, alone.failing_rows) == (failing_rows == 0, failing_rows)
    results = run_tests(con, model)
    assert [r for r in results if r.name == test_name] == [alone]
    assert all(r.passed for r in results if r.name != test_name)
    # The quick unique count itself is rows minus distinct keys (0 exactly when the key is unique).
    quick = con.execute(counts_query(model, list(model.tests), {"unique__tenant__day": "day"})).fetchone()
    key = "from analytics.days where tenant is not null and day is not null"
    assert quick[[t.name for t in model.tests].index("unique__tenant__day")] == con.execute(
        f"select count(*) - count(distinct (tenant, day)) {key}").fetchone()[0]
    con.close()
