"""In-memory stand-ins for the Aurion API, for benchmarks at a scale HTTP on loopback cannot reach quickly.

`SyntheticUsage` holds every tenant's days as columns (from `sandbox.usage_table`, ~0.5 s for 1.1 M
rows) and cuts vendor-shaped `/usage/details` rows out of them per request, exactly as
`sandbox.daily_usage(...).rows()` would (checked by `check_against_sandbox`). `MemoryClient` offers
the client methods the pipeline calls, so `ingest.load_usage_range` runs its real load path.
"""

from __future__ import annotations

from datetime import date

import numpy as np

from aurion_sandbox import TenantProfile, daily_usage, summary, usage_table


class SyntheticUsage:
    def __init__(self, tenants: tuple[TenantProfile, ...], start: date, end: date, today: date) -> None:
        table = usage_table(tenants, start, end)
        self.tenants = {t.name: t for t in tenants}
        self.start, self.today = start, today
        self.days = (end - start).days + 1
        self.position = {t.name: i * self.days for i, t in enumerate(tenants)}
        self.voice = table["voice_minutes"].to_numpy()
        self.calls = table["api_calls"].to_numpy()
        self.llm_in = table["llm_input_tokens"].fill_null(0).to_numpy()
        self.llm_out = table["llm_output_tokens"].fill_null(0).to_numpy()
        self.has_llm = table["llm_input_tokens"].is_valid().to_numpy(zero_copy_only=False)
        self.served = table["served"].to_numpy(zero_copy_only=False)
        self.day_text = np.arange(np.datetime64(start, "D"), np.datetime64(end, "D") + 1).astype(str)
        self.rows_total = int(self.served.sum())

    def rows(self, tenant: str, start: date, end: date) -> list[dict]:
        base = self.position[tenant]
        lo, hi = base + (start - self.start).days, base + (end - self.start).days + 1
        idx = lo + np.flatnonzero(self.served[lo:hi])
        voice = [int(v) if v.is_integer() else v for v in self.voice[idx].tolist()]
        return [
            {"date": d, "voice_minutes": v, "api_calls": c, "llm_tokens": {"input": i, "output": o} if has else None}
            for d, v, c, i, o, has in zip(self.day_text[idx - base].tolist(), voice, self.calls[idx].tolist(),
                                          self.llm_in[idx].tolist(), self.llm_out[idx].tolist(),
                                          self.has_llm[idx].tolist())
        ]

    def summary(self, tenant: str) -> dict:
        return summary(self.tenants[tenant], self.today)

    def check_against_sandbox(self, samples: list[tuple[str, date, date]]) -> None:
        for tenant, a, b in samples:
            expected = daily_usage(self.tenants[tenant], a, b).rows()
            if self.rows(tenant, a, b) != expected:
                raise AssertionError(f"synthetic rows differ from the sandbox's for {tenant} {a}..{b}")


class MemoryClient:
    """What the pipeline needs of an `AurionClient`, answered from memory (no HTTP, no JSON)."""

    def __init__(self, usage: SyntheticUsage, tenant: str, ready: dict[tuple[date, date], list[dict]] | None = None,
                 summary: dict | None = None):
        """`ready` and `summary`: answers synthesized beforehand, so a timed stage measures the pipeline,
        not the stand-in API (a summary costs ~2 ms to synthesize: 2.2 s for 1,000 tenants)."""
        self.usage, self.tenant, self.ready, self.summary = usage, tenant, ready, summary
        self.requests_made = 0

    @property
    def attempts(self) -> int:
        return self.requests_made  # never retries

    def get_details(self, start: date, end: date) -> list[dict]:
        self.requests_made += 1
        if self.ready is not None:
            return self.ready[(start, end)]
        return self.usage.rows(self.tenant, start, end)

    def get_summary(self) -> dict:
        return self.summary if self.summary is not None else self.usage.summary(self.tenant)

    def close(self) -> None:
        pass
