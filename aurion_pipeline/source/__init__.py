"""HTTP access to the Aurion Usage API. Imports nothing from Dagster."""

from aurion_pipeline.source.client import AurionClient
from aurion_pipeline.source.errors import (
    AuthError,
    AurionApiError,
    BadRequestError,
    MalformedResponseError,
    RedirectError,
    RetriesExhaustedError,
    ScopeError,
    UnexpectedStatusError,
)
from aurion_pipeline.source.windows import chunk_window

__all__ = [
    "AurionApiError",
    "AurionClient",
    "AuthError",
    "BadRequestError",
    "MalformedResponseError",
    "RedirectError",
    "RetriesExhaustedError",
    "ScopeError",
    "UnexpectedStatusError",
    "chunk_window",
]
