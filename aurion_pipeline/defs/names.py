"""Names of our Dagster objects under an optional key prefix, so our definitions can be merged into
another Dagster project (`aurion_pipeline.build_defs(key_prefix=...)`) without clashing with its own."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import dagster as dg

from aurion_pipeline.config_checks import ConfigError

# Every step that writes the warehouse takes this Dagster pool (one slot: DuckDB has one writer per file).
WRITER_POOL = "duckdb_writer"
_PART = re.compile(r"^[A-Za-z][A-Za-z0-9_]*\Z")


@dataclass(frozen=True)
class Names:
    """`prefix` goes in front of every asset key, and (joined with `_`) of every resource, job,
    schedule and group name. No prefix: the names of our own code location."""

    prefix: tuple[str, ...] = ()

    @classmethod
    def of(cls, key_prefix: str | Sequence[str] | None) -> Names:
        """Names under `key_prefix`: each part a name Dagster takes for groups, jobs and resources
        (letters, digits, `_`), checked here so a bad one is one line, not a traceback from Dagster."""
        if key_prefix is None:
            return cls()
        parts = (key_prefix,) if isinstance(key_prefix, str) else tuple(key_prefix)
        bad = [p for p in parts if not isinstance(p, str) or not _PART.match(p)]
        if bad or not parts:
            raise ConfigError(f"key_prefix {key_prefix!r}: each part must be letters, digits and _, starting with "
                              "a letter (it goes into asset keys, group, job and resource names), e.g. 'aurion'")
        return cls(parts)

    def asset_key(self, qualified: str) -> dg.AssetKey:
        """`raw.usage_daily` -> AssetKey([*prefix, "raw", "usage_daily"])."""
        return dg.AssetKey([*self.prefix, *qualified.split(".")])

    def owns(self, key: dg.AssetKey) -> bool:
        """Whether `key` is one of ours: under our prefix, in one of our schemas."""
        path = list(key.path)
        return path[:len(self.prefix)] == list(self.prefix) and path[len(self.prefix):][:1] in (
            ["raw"], ["analytics"], ["seeds"])

    def qualified(self, key: dg.AssetKey) -> str:
        """The warehouse name of one of our asset keys: the inverse of `asset_key`."""
        return ".".join(key.path[len(self.prefix):])

    def name(self, base: str) -> str:
        return "_".join([*self.prefix, base])

    @property
    def aurion_api(self) -> str:
        return self.name("aurion_api")

    @property
    def warehouse(self) -> str:
        return self.name("warehouse")
