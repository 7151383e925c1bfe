"""The shapes of daily usage: the warehouse's column schema, the API fields we know, and the
values normalization hands on (windows, dropped rows, rejected windows)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pyarrow as pa

USAGE_SCHEMA = pa.schema([
    pa.field("tenant", pa.string(), nullable=False),
    pa.field("usage_date", pa.date32(), nullable=False),
    ("voice_minutes", pa.float64()),
    ("api_calls", pa.int64()),
    ("llm_input_tokens", pa.int64()),
    ("llm_output_tokens", pa.int64()),
    ("_extra", pa.string()),
    pa.field("_filled", pa.bool_(), nullable=False),
])
METRIC_TYPES = {"voice_minutes": pa.float64(), "api_calls": pa.int64(),
            "llm_tokens.input": pa.int64(), "llm_tokens.output": pa.int64()}
EXPECTED = {"row": "expected an object", "date": "expected a date YYYY-MM-DD",
           "voice_minutes": "expected a non-negative number", "api_calls": "expected a non-negative integer",
           "llm_tokens": "expected an object {input, output} or null",
           "llm_tokens.input": "expected a non-negative integer",
           "llm_tokens.output": "expected a non-negative integer"}
KNOWN_FIELDS = ("date", "voice_minutes", "api_calls", "llm_tokens")
TOKEN_TYPES = {"input": pa.int64(), "output": pa.int64()}


@dataclass(frozen=True)
class RawWindow:
    """What the API returned for one tenant and one requested window (dates inclusive)."""

    tenant: str
    start: date
    end: date
    rows: list[dict]


@dataclass(frozen=True)
class DroppedRow:
    tenant: str
    day: str
    reason: str


@dataclass(frozen=True)
class RejectedWindow:
    """A window of which nothing is written; `error` is a one-line reason."""

    tenant: str
    start: date
    end: date
    error: str


@dataclass(frozen=True)
class NormalizedUsage:
    table: pa.Table
    new_fields: tuple[str, ...]
    dropped: tuple[DroppedRow, ...]
    rejected: tuple[RejectedWindow, ...]
    filled_days: int


class UsageDataError(ValueError):
    """A usage row that cannot be trusted; the message names tenant, day and field."""

    def __init__(self, tenant: str, day: str, field: str, problem: str):
        self.tenant, self.day, self.field = tenant, day, field
        super().__init__(f"tenant {tenant}, day {day}, field {field}: {problem}")


def show_value(value: object) -> str:
    """A payload value as a short literal for one-line error messages."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
