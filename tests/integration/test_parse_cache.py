"""The SQL folder's parse cache (<folder>/.parse_cache.json): a second load parses nothing and gives the
same project; a changed, broken, removed or new file, a damaged or tampered cache, and a cache that
cannot be written all load exactly as without a cache."""

import json
import shutil
from pathlib import Path

import pytest

from aurion_pipeline.sqlmodels import SqlProjectError, load_project
from aurion_pipeline.sqlmodels import parse_cache as cache_module
from aurion_pipeline.sqlmodels.parse_cache import CACHE_FILE

FIXTURE = Path(__file__).parents[1] / "fixtures" / "sqlproj_basic"
MODEL = Path("models/analytics/tenant_usage.sql")


@pytest.fixture
def folder(tmp_path) -> Path:
    root = tmp_path / "sql"
    shutil.copytree(FIXTURE, root, ignore=shutil.ignore_patterns(CACHE_FILE + "*"))
    return root


@pytest.fixture
def parses(monkeypatch) -> list[str]:
    """The SQL texts sqlglot is asked to parse from here on."""
    seen: list[str] = []
    real = cache_module.parse_select

    def counting(sql, where):
        seen.append(sql)
        return real(sql, where)

    monkeypatch.setattr(cache_module, "parse_select", counting)
    return seen


def shape(project) -> list[tuple]:
    """What loading a folder decides: each model's SQL, what it reads, its tests, in build order."""
    return [(m.qualified, m.sql, sorted(m.depends_on), [(t.name, t.sql, sorted(t.references)) for t in m.tests])
            for m in project.models]


def test_a_second_load_parses_nothing_and_gives_the_same_project(folder, parses):
    first = load_project(folder)
    parsed_first = len(parses)
    assert parsed_first >= 4 and (folder / CACHE_FILE).is_file()  # 3 models and a custom test
    assert shape(load_project(folder)) == shape(first)
    assert len(parses) == parsed_first


def test_a_changed_file_is_parsed_again_and_the_others_are_not(folder, parses):
    load_project(folder)
    before = len(parses)
    sql = folder / MODEL
    sql.write_text(sql.read_text() + "\n-- a comment changes the text\n")
    again = load_project(folder)
    assert parses[before:] == [sql.read_text()]
    assert shape(again) == shape(_without_cache(folder))


def test_what_a_changed_file_reads_comes_from_its_new_text(folder):
    load_project(folder)
    sql = folder / MODEL
    sql.write_text("select tenant, 1 as n from raw.usage_summary\n")
    model = next(m for m in load_project(folder).models if m.qualified == "analytics.tenant_usage")
    assert model.depends_on == frozenset({"raw.usage_summary"})
    assert model.sql == "select tenant, 1 as n from raw.usage_summary"


@pytest.mark.parametrize("broken", ["select from from where\n", "select 'never closed\n"])
def test_a_file_that_does_not_parse_fails_every_time_and_is_never_kept(folder, broken):
    load_project(folder)
    (folder / MODEL).write_text(broken)
    for _ in range(2):
        with pytest.raises(SqlProjectError, match=r"tenant_usage\.sql: not valid SQL"):
            load_project(folder)


def test_entries_of_removed_files_are_dropped_on_the_next_write(folder):
    def kept() -> set[str]:
        return set(json.loads((folder / CACHE_FILE).read_text())["entries"])

    load_project(folder)
    before = kept()
    (folder / MODEL).unlink()
    (folder / MODEL.with_suffix(".yml")).unlink()  # with its custom test
    (folder / "models/analytics/extra.sql").write_text("select 1 as one\n")
    load_project(folder)
    after = kept()
    (folder / CACHE_FILE).unlink()
    load_project(folder)
    assert after == kept() != before  # exactly what a first load of the folder as it is now keeps


@pytest.mark.parametrize("damage", [
    "not json at all {",
    json.dumps({"format": 999, "entries": {}}),
    json.dumps(["a", "list"]),
    "",
])
def test_a_damaged_cache_is_ignored_and_rewritten(folder, parses, damage):
    expected = shape(_without_cache(folder))
    (folder / CACHE_FILE).write_text(damage)
    assert shape(load_project(folder)) == expected
    assert json.loads((folder / CACHE_FILE).read_text())["format"] == cache_module._FORMAT
    before = len(parses)
    load_project(folder)
    assert len(parses) == before


@pytest.mark.parametrize("entry", ["raw.usage_daily", [1, 2], {"reads": []}, None, [["raw.usage_daily"]]])
def test_an_entry_not_as_the_cache_writes_it_is_parsed_again(folder, parses, entry):
    expected = shape(_without_cache(folder))
    load_project(folder)
    doc = json.loads((folder / CACHE_FILE).read_text())
    doc["entries"] = dict.fromkeys(doc["entries"], entry)
    (folder / CACHE_FILE).write_text(json.dumps(doc))
    before = len(parses)
    assert shape(load_project(folder)) == expected
    assert len(parses) - before == len(doc["entries"])  # every select parsed again


def test_what_is_kept_is_what_a_select_reads_never_its_sql(folder):
    load_project(folder)
    entries = json.loads((folder / CACHE_FILE).read_text())["entries"]
    assert entries and all(isinstance(reads, list) for reads in entries.values())
    assert "raw.usage_daily" in {name for reads in entries.values() for name in reads}
    assert "select" not in (folder / CACHE_FILE).read_text().lower()


def test_another_sqlglot_or_other_reading_rules_parse_everything_again(folder, parses, monkeypatch):
    load_project(folder)
    first = len(parses)
    monkeypatch.setattr(cache_module, "_DERIVATION", "another sqlglot, or refs.py changed")
    load_project(folder)
    assert len(parses) == 2 * first
    load_project(folder)
    assert len(parses) == 2 * first  # and keeps the new answers


def test_a_writer_killed_mid_write_leaves_no_temp_file_for_long(folder):
    (folder / f"{CACHE_FILE}abc123.tmp").write_text('{"format": 2, "ent')  # cut short
    load_project(folder)
    assert not list(folder.glob(CACHE_FILE + "*.tmp"))
    assert json.loads((folder / CACHE_FILE).read_text())["entries"]


def test_a_cache_that_cannot_be_written_changes_nothing(folder, parses):
    expected = shape(_without_cache(folder))
    (folder / CACHE_FILE).mkdir()  # unwritable as a read-only folder is, even to root
    assert shape(load_project(folder)) == expected
    assert shape(load_project(folder)) == expected
    assert (folder / CACHE_FILE).is_dir() and not list(folder.glob(CACHE_FILE + "*.tmp"))


def _without_cache(folder: Path):
    """The folder loaded as if it had no cache (a copy beside it, its cache removed)."""
    clean = folder.parent / f"{folder.name}-clean"
    shutil.rmtree(clean, ignore_errors=True)
    shutil.copytree(folder, clean, ignore=shutil.ignore_patterns(CACHE_FILE + "*"))
    return load_project(clean)
