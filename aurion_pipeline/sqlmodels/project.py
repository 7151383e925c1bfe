"""A dbt-like SQL folder: models (one select = one view or table), seed CSVs and data tests, in build order.

    models/<schema>/<name>.sql   view <schema>.<name>; reads other tables as schema.name
    models/<schema>/<name>.yml   optional: description, column docs, data tests, `materialized: table`
    seeds/<schema>/<name>.csv    table <schema>.<name>; optional <name>.yml pins column types
    sources/<schema>.yml         raw tables of storage/schema.sql: descriptions and data tests
    macros/<schema>/<name>.sql   one `create macro <schema>.<name>(args) as <expression>` models call
    tests/<name>.sql             select returning offending rows; attached to the last-built model it
                                 reads (it runs once, when all it reads is built), or, reading no
                                 model, to every declared source it reads
"""

from __future__ import annotations

import graphlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

from aurion_pipeline.sqlmodels.errors import SqlProjectError
from aurion_pipeline.sqlmodels.macros import Macro, read_macro
from aurion_pipeline.sqlmodels.parse_cache import read_select, remembered
from aurion_pipeline.sqlmodels.refs import default_sources
from aurion_pipeline.sqlmodels.sources import Source, hidden, load_sources
from aurion_pipeline.sqlmodels.specs import Column, DataTest, ModelDoc, SeedDoc, read_model_doc, read_seed_doc, sql_test

# File and folder names become DuckDB identifiers and Dagster asset keys.
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*\Z")


@dataclass(frozen=True)
class Model:
    """One model: `select` text from models/<schema>/<name>.sql, what it reads, its docs and tests, and
    whether it is built as a view (recomputed on every query) or a table (computed once per build)."""

    schema: str
    name: str
    path: Path
    sql: str  # the statement, without trailing semicolons
    depends_on: frozenset[str]  # qualified names of models, seeds and raw tables it reads
    description: str | None = None
    columns: tuple[Column, ...] = ()
    tests: tuple[DataTest, ...] = ()
    materialized: str = "view"  # "view" or "table"

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"


@dataclass(frozen=True)
class Seed:
    """One user-editable CSV loaded as table <schema>.<name>."""

    schema: str
    name: str
    path: Path
    column_types: tuple[tuple[str, str], ...] = ()  # pinned DuckDB types; other columns are inferred
    description: str | None = None

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"


@dataclass(frozen=True)
class SqlProject:
    root: Path
    models: tuple[Model, ...]  # in build order: every model after the models it reads
    seeds: tuple[Seed, ...]
    sources: frozenset[str] = field(default_factory=frozenset)  # raw tables models may read
    declared_sources: tuple[Source, ...] = ()  # the raw tables sources/*.yml describes and tests
    macros: tuple[Macro, ...] = ()  # created before any model

    def display(self, path: Path) -> str:
        """A file's name in messages: relative to the folder, prefixed by the folder's name."""
        try:
            return f"{self.root.name}/{path.relative_to(self.root).as_posix()}"
        except ValueError:
            return str(path)

    def get(self, qualified: str) -> Model | Seed | Source:
        found = {item.qualified: item for item in (*self.seeds, *self.models, *self.declared_sources)}
        if qualified not in found:
            raise SqlProjectError(f"{self.root.name}: no model, seed or declared source named {qualified}")
        return found[qualified]


def load_project(root: Path, sources: Iterable[str] | None = None) -> SqlProject:
    """Discover, parse and order the folder; the first bad file raises `SqlProjectError` naming it.

    `sources` are the external tables models may read (default: the tables of storage/schema.sql).
    """
    root = Path(root).resolve()
    if not root.is_dir():
        raise SqlProjectError(f"{root}: SQL folder does not exist")
    with remembered(root):  # the selects' parse, kept in <root>/.parse_cache.json by content
        return _load(root, sources)


def _load(root: Path, sources: Iterable[str] | None) -> SqlProject:
    external = frozenset(s.lower() for s in (default_sources() if sources is None else sources))
    folder = SqlProject(root, (), (), external)  # names files in messages while the rest is read
    seeds = tuple(_seed(folder, path) for path in _files(folder, "seeds", ".csv"))
    model_paths = _files(folder, "models", ".sql")
    known = _known_names(folder, seeds, model_paths)
    models = [_model(folder, path, known) for path in model_paths]
    declared = load_sources(root, external, folder.display, lambda name: bool(_IDENTIFIER.match(name)))
    for source in declared:
        for test in source.tests:
            _require_known(test.references, known, f"{folder.display(source.path)} (test {test.name})")
    models, declared = _attach_custom_tests(folder, list(_in_build_order(folder, models)), declared, known)
    macros = tuple(read_macro(path, folder.display(path)) for path in _files(folder, "macros", ".sql"))
    return SqlProject(root, tuple(models), seeds, external, declared, macros)


def _files(project: SqlProject, folder: str, suffix: str) -> list[Path]:
    """The `<folder>/<schema>/<name><suffix>` files, sorted; a misplaced file or orphan .yml is an error."""
    base = project.root / folder
    paths = sorted(p for p in base.rglob("*") if p.is_file() and not hidden(p, base)) if base.is_dir() else []
    for path in paths:
        where = project.display(path)
        if path.suffix == ".yaml":
            raise SqlProjectError(f"{where}: rename to .yml")
        if path.suffix not in (suffix, ".yml"):
            continue
        if len(path.relative_to(base).parts) != 2:
            raise SqlProjectError(f"{where}: must sit at {folder}/<schema>/<name>{path.suffix}")
        for part in (path.parent.name, path.stem):
            if not _IDENTIFIER.match(part):
                raise SqlProjectError(f"{where}: {part!r} must be a lower-case name (a-z, 0-9, _)")
        if path.suffix == ".yml" and not path.with_suffix(suffix).is_file():
            raise SqlProjectError(f"{where}: no {path.stem}{suffix} beside it")
    return [p for p in paths if p.suffix == suffix]


def _known_names(project: SqlProject, seeds: tuple[Seed, ...], model_paths: list[Path]) -> frozenset[str]:
    taken = {name: "a raw source table" for name in project.sources}
    for seed in seeds:
        taken.setdefault(seed.qualified, project.display(seed.path))
    for path in model_paths:
        qualified = f"{path.parent.name}.{path.stem}"
        if qualified in taken:
            raise SqlProjectError(f"{project.display(path)}: {qualified} is already {taken[qualified]}")
        taken[qualified] = project.display(path)
    return frozenset(taken)


def _seed(project: SqlProject, path: Path) -> Seed:
    spec = path.with_suffix(".yml")
    doc = read_seed_doc(spec, project.display(spec)) if spec.is_file() else SeedDoc()
    return Seed(path.parent.name, path.stem, path, doc.column_types, doc.description)


def _model(project: SqlProject, path: Path, known: frozenset[str]) -> Model:
    where = project.display(path)
    select = read_select(path.read_text(), where)
    _require_known(select.reads, known, where)
    spec = path.with_suffix(".yml")
    doc = read_model_doc(spec, project.display(spec)) if spec.is_file() else ModelDoc()
    for test in doc.tests:
        _require_known(test.references, known, f"{project.display(spec)} (test {test.name})")
    return Model(
        path.parent.name, path.stem, path, select.body, select.reads,
        doc.description, doc.columns, doc.tests, doc.materialized,
    )


def _require_known(references: frozenset[str], known: frozenset[str], where: str) -> None:
    missing = sorted(references - known)
    if missing:
        raise SqlProjectError(f"{where}: {missing[0]} is not a model, a seed or a raw source table")


def _attach_custom_tests(
    project: SqlProject, models: list[Model], declared: tuple[Source, ...], known: frozenset[str]
) -> tuple[list[Model], tuple[Source, ...]]:
    """Each tests/<name>.sql becomes a test of the last model in build order (`models`) it reads, so it
    runs once, after everything it reads is built; one reading no model, of every declared source it
    reads. Not both: a source's tests run right after its load, before the models are rebuilt, so a
    test that reads a model belongs to the model."""
    base = project.root / "tests"
    tests = []
    for path in sorted(p for p in base.rglob("*.sql") if not hidden(p, base)) if base.is_dir() else []:
        where = project.display(path)
        if path.parent != base:
            raise SqlProjectError(f"{where}: must sit directly in tests/")
        test = sql_test(path.stem, path.read_text(), where)
        _require_known(test.references, known, where)
        if not test.references & {m.qualified for m in (*models, *declared)}:
            raise SqlProjectError(
                f"{where}: reads no model or declared source (sources/<schema>.yml), "
                "so there is nothing to attach the test to"
            )
        tests.append(test)
    model_names = {m.qualified for m in models}
    on_sources = [t for t in tests if not t.references & model_names]
    owner = {t.name: [m.qualified for m in models if m.qualified in t.references][-1]
             for t in tests if t not in on_sources}
    return (
        [_with_tests(project, model, [t for t in tests if owner.get(t.name) == model.qualified]) for model in models],
        tuple(_with_tests(project, s, [t for t in on_sources if s.qualified in t.references]) for s in declared),
    )


def _with_tests(project: SqlProject, model: Model | Source, extra: list[DataTest]) -> Model | Source:
    taken = {t.name for t in model.tests}
    for test in extra:
        if test.name in taken:
            raise SqlProjectError(f"{test.source}: {model.qualified} already has a test named {test.name}")
    return replace(model, tests=(*model.tests, *extra)) if extra else model


def _in_build_order(project: SqlProject, models: list[Model]) -> tuple[Model, ...]:
    by_name = {m.qualified: m for m in models}
    sorter = graphlib.TopologicalSorter({m.qualified: m.depends_on & by_name.keys() for m in models})
    try:
        sorter.prepare()
    except graphlib.CycleError as exc:
        cycle = list(dict.fromkeys(exc.args[1]))
        files = " -> ".join(project.display(by_name[name].path) for name in [*cycle, cycle[0]])
        raise SqlProjectError(f"models form a cycle: {files}") from None
    ordered = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready())  # sorted: the same folder always builds in the same order
        ordered += [by_name[name] for name in ready]
        sorter.done(*ready)
    return tuple(ordered)
