"""Raw source tables declared in sources/<schema>.yml: their docs and data tests, in the models' syntax.

The pipeline (storage/schema.sql), not the runner, creates and fills these tables; declaring one only
describes it and states what must hold of its rows, checked by the same `run_tests` as the models.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from aurion_pipeline.sqlmodels.errors import SqlProjectError
from aurion_pipeline.sqlmodels.specs import Column, DataTest, read_sources_doc

FOLDER = "sources"


@dataclass(frozen=True)
class Source:
    """One raw table the pipeline loads, as declared under `tables:` in sources/<schema>.yml."""

    schema: str
    name: str
    path: Path  # the sources/<schema>.yml that declares it
    description: str | None = None
    columns: tuple[Column, ...] = ()
    tests: tuple[DataTest, ...] = ()

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"


def load_sources(
    root: Path, external: frozenset[str], display: Callable[[Path], str], is_plain_name: Callable[[str], bool]
) -> tuple[Source, ...]:
    """Every table declared in `root`/sources/*.yml; each must be one of the `external` raw tables."""
    base = root / FOLDER
    if not base.is_dir():
        return ()
    declared = []
    for path in sorted(p for p in base.rglob("*") if p.is_file() and not hidden(p, base)):
        where = display(path)
        if path.parent != base or path.suffix != ".yml":
            raise SqlProjectError(f"{where}: must sit at {FOLDER}/<schema>.yml")
        if not is_plain_name(path.stem):
            raise SqlProjectError(f"{where}: {path.stem!r} must be a lower-case name (a-z, 0-9, _)")
        for name, doc in read_sources_doc(path, where):
            qualified = f"{path.stem}.{name}"
            if qualified not in external:
                raise SqlProjectError(f"{where}: {qualified} is not a raw source table (storage/schema.sql)")
            declared.append(Source(path.stem, name, path, doc.description, doc.columns, doc.tests))
    return tuple(declared)


def hidden(path: Path, base: Path) -> bool:
    """Editor lock and swap files, .ipynb_checkpoints and the like are not part of the project."""
    return any(part.startswith(".") for part in path.relative_to(base).parts)
