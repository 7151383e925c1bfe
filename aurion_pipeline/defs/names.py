"""Names of our Dagster objects under an optional key prefix, so our definitions can be merged into
another Dagster project (`aurion_pipeline.build_defs(key_prefix=...)`) without clashing with its own."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import dagster as dg

# Every step that writes the warehouse takes this Dagster pool (one slot: DuckDB has one writer per file).
WRITER_POOL = "duckdb_writer"


@dataclass(frozen=True)
class Names:
    """`prefix` goes in front of every asset key, and (joined with `_`) of every resource, job,
    schedule and group name. No prefix: the names of our own code location."""

    prefix: tuple[str, ...] = ()

    @classmethod
    def of(cls, key_prefix: str | Sequence[str] | None) -> Names:
        if key_prefix is None:
            return cls()
        parts = (key_prefix,) if isinstance(key_prefix, str) else tuple(key_prefix)
        return cls(tuple(parts))

    def asset_key(self, qualified: str) -> dg.AssetKey:
        """`raw.usage_daily` -> AssetKey([*prefix, "raw", "usage_daily"])."""
        return dg.AssetKey([*self.prefix, *qualified.split(".")])

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
