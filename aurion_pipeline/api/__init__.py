"""HTTP access to the Aurion Usage API. Imports nothing from Dagster."""

from aurion_pipeline.api.client import AurionClient
from aurion_pipeline.api.errors import (
    AuthError,
    AurionApiError,
    BadRequestError,
    MalformedResponseError,
    RedirectError,
    RetriesExhaustedError,
    ScopeError,
    UnexpectedStatusError,
)
from aurion_pipeline.api.windows import chunk_window

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
