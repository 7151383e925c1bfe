"""HTTP access to the Aurion Usage API. Imports nothing from Dagster."""

from aurion_pipeline.source.client import AurionClient
from aurion_pipeline.source.errors import (
    AurionApiError,
    AuthError,
    BadRequestError,
    DeadlineExceededError,
    MalformedResponseError,
    RedirectError,
    RetriesExhaustedError,
    ScopeError,
    UnexpectedStatusError,
    UnreachableError,
)
from aurion_pipeline.source.windows import chunk_window

__all__ = [
    "AurionApiError",
    "AurionClient",
    "AuthError",
    "BadRequestError",
    "DeadlineExceededError",
    "MalformedResponseError",
    "RedirectError",
    "RetriesExhaustedError",
    "ScopeError",
    "UnexpectedStatusError",
    "UnreachableError",
    "chunk_window",
]
