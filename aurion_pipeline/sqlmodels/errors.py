"""The one error the SQL runner raises: a file in the SQL folder is wrong, and which one."""

from __future__ import annotations


class SqlProjectError(ValueError):
    """A model, seed or test file cannot be used; the one-line message names the file and why."""
