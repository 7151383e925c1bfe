"""Synthetic Aurion tenants and their daily usage, deterministic per (tenant, day).

Every figure is a pure function of the tenant's profile and the day, so a day has the same value
whichever range it is requested in (one big request and many small ones agree), and the billing
summary can be computed from exactly the rows the details endpoint serves.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pyarrow as pa

from aurion_sandbox.draws import normal, seed_of, uniform

GROWTH_EPOCH = date(2026, 1, 1)  # each profile's base_* figures are its weekday level on this day
DAYS_PER_MONTH = 30.4375
# vendor plan tiers; 1 GB = 1,000 MB as its summary example reports; None = unlimited
PLAN_LIMITS: dict[str, dict[str, int | None]] = {
    "starter": {"voice_minutes": 25, "api_calls": 10_000, "storage_mb": 1_000},
    "professional": {"voice_minutes": 1_000, "api_calls": 50_000, "storage_mb": 5_000},
    "enterprise": {"voice_minutes": None, "api_calls": None, "storage_mb": 50_000},
}
BILLING_STATUSES = ("active", "past_due", "suspended")
_NOISE_SIGMA, _METRIC_SIGMA = 0.12, 0.06  # day-level spread (shared by all metrics), then per metric


@dataclass(frozen=True)
class TenantProfile:
    """A sandbox tenant: its plan, billing cycle and the shape of its usage."""

    name: str
    plan: str = "professional"
    anchor_day: int = 1  # billing periods run from this day of the month to the day before it
    billing_status: str = "active"
    base_voice_minutes: float = 20.0  # weekday level on GROWTH_EPOCH
    base_api_calls: float = 1_000.0
    base_llm_input: float = 100_000.0
    llm_output_ratio: float = 0.33
    growth_per_month: float = 0.02
    weekend_factor: float = 0.2
    zero_day_rate: float = 0.01  # share of days with no usage; half of those the API omits
    launched: date | None = None  # the API omits every day before this one
    llm_since: date | None = date.min  # llm_tokens is null before this day; None = never uses LLMs
    storage_mb: float = 250.0  # on GROWTH_EPOCH; grows with growth_per_month / 4
    storage_limit_mb: int | None = None  # a custom (enterprise) storage limit
    scopes: tuple[str, ...] = ("usage:read",)  # without usage:read the API answers 403

    def __post_init__(self) -> None:
        if self.plan not in PLAN_LIMITS:
            raise ValueError(f"unknown plan {self.plan!r}; use one of {', '.join(PLAN_LIMITS)}")
        if self.billing_status not in BILLING_STATUSES:
            raise ValueError(f"unknown billing_status {self.billing_status!r}")
        if not 1 <= self.anchor_day <= 28:
            raise ValueError("anchor_day must be 1..28 so every month has it")

    @property
    def api_key(self) -> str:
        """A public sandbox key that shares no 8 characters with the tenant's name or any word of ours:
        the pipeline redacts every 8-character piece of a key, so `sk_sandbox_umbrella` turned the
        tenant `umbrella` (and `aurion_sandbox`, `tenant-0001`) into [redacted] in every message."""
        return f"sk_sbx_{seed_of('key:' + self.name):016x}"

    @property
    def api_key_env(self) -> str:
        return "AURION_SANDBOX_KEY_" + re.sub(r"[^A-Z0-9]", "_", self.name.upper())

    def limit(self, metric: str) -> int | None:
        if metric == "storage_mb" and self.storage_limit_mb is not None:
            return self.storage_limit_mb
        return PLAN_LIMITS[self.plan][metric]


DEFAULT_TENANTS: tuple[TenantProfile, ...] = (
    # ~45% of its quotas: the healthy, calendar-month customer.
    TenantProfile("acme", base_voice_minutes=18, base_api_calls=850, storage_mb=245),
    # Runs at ~4x its quota pace, so it is over quota on voice and API calls by ~day 8 of a period.
    TenantProfile("globex", anchor_day=15, base_voice_minutes=170, base_api_calls=8_500,
                  base_llm_input=400_000, growth_per_month=0.015, storage_mb=3_900),
    # A starter plan that ends its periods around the 80-95% warning band; never uses LLMs.
    TenantProfile("initech", plan="starter", anchor_day=8, base_voice_minutes=0.9, base_api_calls=350,
                  growth_per_month=0.003, llm_since=None, storage_mb=610, zero_day_rate=0.03),
    # Enterprise: unlimited voice and API calls, a custom 200 GB storage limit.
    TenantProfile("umbrella", plan="enterprise", base_voice_minutes=900, base_api_calls=60_000,
                  base_llm_input=2_500_000, growth_per_month=0.03, storage_mb=30_000,
                  storage_limit_mb=204_800),
    # Launched mid-range, adopted LLMs later, and is behind on payment.
    TenantProfile("hooli", anchor_day=22, billing_status="past_due", base_voice_minutes=25,
                  base_api_calls=1_200, growth_per_month=0.04, launched=date(2025, 9, 15),
                  llm_since=date(2025, 12, 1), zero_day_rate=0.03, storage_mb=120),
)


def make_tenants(n: int, seed: int = 0) -> tuple[TenantProfile, ...]:
    """`n` generated tenants (`tenant-0001`, ...) on mixed plans and cycles, for benchmarks."""
    rng = np.random.default_rng(seed)
    plans = ("starter", "professional", "professional", "enterprise")
    tenants = []
    for i in range(n):
        plan = plans[i % len(plans)]
        scale = {"starter": 0.03, "professional": 1.0, "enterprise": 20.0}[plan] * rng.uniform(0.3, 2.0)
        late = rng.random() < 0.2
        tenants.append(TenantProfile(
            name=f"tenant-{i + 1:04d}", plan=plan, anchor_day=int(rng.integers(1, 29)),
            billing_status="past_due" if rng.random() < 0.05 else "active",
            base_voice_minutes=20 * scale, base_api_calls=1_000 * scale,
            base_llm_input=100_000 * scale, growth_per_month=float(rng.uniform(-0.01, 0.05)),
            weekend_factor=float(rng.uniform(0.1, 0.4)),
            launched=GROWTH_EPOCH - timedelta(days=int(rng.integers(0, 900))) if late else None,
            llm_since=None if rng.random() < 0.15 else date.min, storage_mb=250 * scale,
        ))
    return tuple(tenants)


@dataclass(frozen=True)
class DailyUsage:
    """One tenant's usage per day over an inclusive range; `served` is False where the API omits the day."""

    tenant: str
    days: np.ndarray  # datetime64[D]
    voice_minutes: np.ndarray  # float64, at most 1 decimal
    api_calls: np.ndarray  # int64
    llm_input: np.ndarray  # int64
    llm_output: np.ndarray  # int64
    has_llm: np.ndarray  # bool; False -> "llm_tokens": null
    served: np.ndarray  # bool

    def revised(self, since: date, factor: float) -> DailyUsage:
        """Late-arriving usage: every figure on or after `since` scaled by `factor`."""
        hit = self.days >= np.datetime64(since, "D")
        scale = np.where(hit, factor, 1.0)
        return DailyUsage(
            self.tenant, self.days, np.round(self.voice_minutes * scale, 1),
            *(np.rint(a * scale).astype(np.int64) for a in (self.api_calls, self.llm_input, self.llm_output)),
            self.has_llm, self.served,
        )

    def rows(self) -> list[dict]:
        """The served days as the vendor's `/usage/details` rows."""
        idx = np.flatnonzero(self.served)
        days = self.days[idx].astype(str).tolist()
        voice = [int(v) if v.is_integer() else v for v in self.voice_minutes[idx].tolist()]
        calls, tin, tout = (a[idx].tolist() for a in (self.api_calls, self.llm_input, self.llm_output))
        llm = self.has_llm[idx].tolist()
        return [
            {"date": d, "voice_minutes": v, "api_calls": c,
             "llm_tokens": {"input": i, "output": o} if has else None}
            for d, v, c, i, o, has in zip(days, voice, calls, tin, tout, llm)
        ]


def daily_usage(tenant: TenantProfile, start: date, end: date) -> DailyUsage:
    """`tenant`'s usage for every day from `start` to `end` inclusive (empty if end < start)."""
    g = _generate((tenant,), start, end)
    return DailyUsage(tenant.name, g["days"], *(g[k][0] for k in _METRICS))


def usage_table(tenants: tuple[TenantProfile, ...] | list[TenantProfile], start: date, end: date) -> pa.Table:
    """All tenants' days in one long table (tenant, date, metrics, served), generated in one pass."""
    g = _generate(tuple(tenants), start, end)
    n, d = len(tenants), len(g["days"])
    names = pa.array([t.name for t in tenants], pa.string())
    mask = ~g["has_llm"].ravel()
    return pa.table({
        "tenant": pa.DictionaryArray.from_arrays(pa.array(np.repeat(np.arange(n, dtype=np.int32), d)), names),
        "date": pa.array(np.tile(g["days"], n)),
        "voice_minutes": g["voice_minutes"].ravel(),
        "api_calls": g["api_calls"].ravel(),
        "llm_input_tokens": pa.array(g["llm_input"].ravel(), mask=mask),
        "llm_output_tokens": pa.array(g["llm_output"].ravel(), mask=mask),
        "served": g["served"].ravel(),
    })


_METRICS = ("voice_minutes", "api_calls", "llm_input", "llm_output", "has_llm", "served")


def _generate(tenants: tuple[TenantProfile, ...], start: date, end: date) -> dict[str, np.ndarray]:
    """Every metric as an (n_tenants, n_days) array; tenant parameters broadcast down the rows."""
    days = np.arange(np.datetime64(start, "D"), np.datetime64(end, "D") + 1, dtype="datetime64[D]")
    ordinal = days.astype(np.int64) + date(1970, 1, 1).toordinal()  # date.toordinal() of each day
    col = lambda attr: np.array([[getattr(t, attr)] for t in tenants], dtype=np.float64)  # noqa: E731
    seeds = np.array([[seed_of(t.name)] for t in tenants], dtype=np.uint64)
    u = lambda stream: uniform(seeds, ordinal, stream)  # noqa: E731

    months = (ordinal - GROWTH_EPOCH.toordinal()) / DAYS_PER_MONTH
    weekend = ((ordinal - 1) % 7) >= 5  # ordinal 1 (0001-01-01) was a Monday
    level = (1 + col("growth_per_month")) ** months * np.where(weekend, col("weekend_factor"), 1.0)
    level = level * np.exp(_NOISE_SIGMA * normal(u(0), u(1)))
    zero = u(2) < col("zero_day_rate")
    level = np.where(zero, 0.0, level)
    noisy = lambda k: level * np.exp(_METRIC_SIGMA * normal(u(k), u(k + 1)))  # noqa: E731

    launched = np.array([[(t.launched or date.min).toordinal()] for t in tenants])
    llm_since = np.array([[(t.llm_since or date.max).toordinal()] for t in tenants])
    llm_input = np.rint(col("base_llm_input") * noisy(5)).astype(np.int64)
    return {
        "days": days,
        "voice_minutes": np.round(col("base_voice_minutes") * noisy(3), 1),
        "api_calls": np.rint(col("base_api_calls") * noisy(7)).astype(np.int64),
        "llm_input": llm_input,
        "llm_output": np.rint(llm_input * col("llm_output_ratio") * np.exp(_METRIC_SIGMA * normal(u(9), u(10))))
        .astype(np.int64),
        "has_llm": np.broadcast_to(ordinal >= llm_since, level.shape).copy(),
        "served": (ordinal >= launched) & ~(zero & (u(4) < 0.5)),
    }


def billing_period(anchor_day: int, today: date) -> tuple[date, date]:
    """The billing period containing `today`: from the anchor day to the day before the next one."""
    y, m = today.year, today.month
    if today.day < anchor_day:
        y, m = (y, m - 1) if m > 1 else (y - 1, 12)
    ny, nm = (y, m + 1) if m < 12 else (y + 1, 1)
    return date(y, m, anchor_day), date(ny, nm, anchor_day) - timedelta(days=1)


def summary(tenant: TenantProfile, today: date, usage: DailyUsage | None = None) -> dict:
    """The vendor's `/usage/summary` body: the current period's served usage up to `today`.

    `usage` must cover the period's first day through `today` (the server passes revised figures).
    """
    start, end = billing_period(tenant.anchor_day, today)
    usage = usage if usage is not None else daily_usage(tenant, start, today)
    served = usage.served & (usage.days >= np.datetime64(start, "D")) & (usage.days <= np.datetime64(today, "D"))
    months = (today - GROWTH_EPOCH).days / DAYS_PER_MONTH
    used = {
        "voice_minutes": round(float(usage.voice_minutes[served].sum()), 1),
        "api_calls": int(usage.api_calls[served].sum()),
        "storage_mb": round(tenant.storage_mb * (1 + tenant.growth_per_month / 4) ** months),
    }
    body: dict = {"period": {"start": f"{start}T00:00:00Z", "end": f"{end}T23:59:59Z"}}
    for metric, value in used.items():
        limit = tenant.limit(metric)
        pct = None if limit is None else round(value / limit * 100, 1)
        body[metric] = {"used": value, "limit": limit, "percentage": pct}
    return body | {"plan": tenant.plan, "billing_status": tenant.billing_status}
