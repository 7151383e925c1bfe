"""One GET on the wire, its body read in full under a deadline, and what became of it.

The outcome is a word, not an exception: requests' exceptions hold the request, whose headers carry
the API key, so none of them may travel further than this module (the client raises its own errors
from the outcome, outside any `except`).
"""

from __future__ import annotations

from urllib.parse import urlsplit

import requests

from aurion_pipeline.source import errors
from aurion_pipeline.source.deadline import RequestDeadline

OK = "ok"                    # a response, any status, body read in full
TRUNCATED = "truncated"      # the body ended before its Content-Length: worth fetching again
DEADLINE = "deadline"        # the attempt as a whole outlived the request deadline
UNREACHABLE = "unreachable"  # no connection at all: refused, unknown host, connect timeout
TRANSPORT = "transport"      # the connection broke or timed out through urllib3's retries
BROKEN = "broken"            # any other requests failure (not retried)


def exchange(session: requests.Session, url: str, params: dict | None, timeout: float | tuple[float, float],
             deadline_s: float) -> tuple[str, requests.Response | None, str]:
    """(outcome, the response when there is one, a short key-free cause of failure)."""
    watch = RequestDeadline(deadline_s)
    try:
        with watch.active():
            resp = session.get(url, params=params, timeout=timeout, allow_redirects=False, stream=True)
            resp.content  # noqa: B018 -- read the body now, under the same deadline
        return OK, resp, ""
    except requests.RequestException as exc:
        failure = exc
    return _classify(failure, watch.expired)


def _classify(failure: requests.RequestException, expired: bool) -> tuple[str, None, str]:
    if expired:
        return DEADLINE, None, "request deadline"
    if isinstance(failure, requests.exceptions.ChunkedEncodingError):
        return TRUNCATED, None, "the body ended before its Content-Length"
    if not isinstance(failure, (requests.ConnectionError, requests.Timeout, requests.exceptions.RetryError)):
        return BROKEN, None, type(failure).__name__
    connect_failure = errors.connect_cause(failure)
    if connect_failure is not None:
        return UNREACHABLE, None, connect_failure
    return TRANSPORT, None, errors.transport_cause(failure)


def origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:  # a malformed port matches no origin
        return (parts.scheme, "", -1)
    return (parts.scheme, (parts.hostname or "").lower(), port or {"http": 80, "https": 443}.get(parts.scheme))


def origin_text(url: str) -> str:
    scheme, host, port = origin(url)
    return f"{scheme}://{host}:{port}"
