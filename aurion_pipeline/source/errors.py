"""Why a call to the Aurion Usage API failed, in one line a user can act on, and the helpers
that describe a failure without the key.

Every error carries `tenant` (the label the client was built with), `endpoint` (the URL path, never
the query) and `status` (the HTTP status, or None when no response came back). Messages are built
only from those, from the API's own short error text and from exception type names — never from
a `requests` exception, whose request object holds the key — and every fragment of a key is
redacted from them (`source.redact`).
"""

from __future__ import annotations

import json

import requests
from urllib3.exceptions import (
    ConnectTimeoutError,
    NameResolutionError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    SSLError,
)

from aurion_pipeline.source.redact import REDACTED, redact

_API_MESSAGE_MAX = 200
_MESSAGE_KEYS = ("error", "message", "detail")
_JSON_TYPES = {dict: "object", list: "array", str: "string", bool: "boolean", int: "number",
               float: "number", type(None): "null"}
_CAUSES = ((NameResolutionError, "host name not found"), (NewConnectionError, "could not connect"),
           (ConnectTimeoutError, "connect timed out"), (ReadTimeoutError, "read timed out"),
           (ProtocolError, "connection dropped"), (SSLError, "TLS error"))


class AurionApiError(Exception):
    """The Aurion API did not give us what we asked for; the message says why and what to do."""

    def __init__(self, message: str, *, tenant: str | None = None, endpoint: str | None = None,
                 status: int | None = None) -> None:
        super().__init__(redact(message))  # whatever went into the message, no key fragment comes out
        self.tenant = tenant
        self.endpoint = endpoint
        self.status = status

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({str(self)!r}, tenant={self.tenant!r}, "
                f"endpoint={self.endpoint!r}, status={self.status!r})")

    def __reduce__(self):
        # Keeps tenant/endpoint/status when the error crosses a process boundary (pickle).
        return (type(self), (str(self),), self.__dict__.copy())


class AuthError(AurionApiError):
    """401: the API key is wrong, revoked or expired."""


class ScopeError(AurionApiError):
    """403: the key is valid but may not read usage (it lacks the `usage:read` scope)."""


class BadRequestError(AurionApiError):
    """400: the API refused our query; the message carries the API's own explanation."""


class UnexpectedStatusError(AurionApiError):
    """Any other status we do not retry (404, 405, 410, 501, …)."""


class RetriesExhaustedError(AurionApiError):
    """429, 5xx or connection errors persisted through every retry or the retry time budget."""


class UnreachableError(AurionApiError):
    """The API's host could not be reached at all (connection refused, name not found, no route)."""


class DeadlineExceededError(AurionApiError):
    """One exchange took longer than the request deadline as a whole (a dripping or stuck server)."""


class RedirectError(AurionApiError):
    """A redirect we refuse to follow: to another host (it would receive the key) or too many."""


class MalformedResponseError(AurionApiError):
    """The API answered 200 but the body is not JSON or not the shape its documentation shows."""


class RetryBudgetSpent(Exception):
    """urllib3's reason for stopping: one more wait would overrun the retry time budget.
    Internal: it only ever reaches users as a RetriesExhaustedError."""


def for_tenant(tenant: str | None) -> str:
    return f" for tenant {tenant!r}" if tenant else ""


def one_line(text: str, limit: int = _API_MESSAGE_MAX) -> str:
    """Whitespace collapsed and truncated, so an API's message fits in our one-line error."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def for_status(status: int, *, tenant: str | None, endpoint: str, key_env: str | None,
               api_message: str) -> AurionApiError:
    """The error for a non-retried 4xx/5xx answer to `GET endpoint`."""
    who, where = for_tenant(tenant), f" (GET {endpoint})"
    said = f" API said: {api_message}." if api_message else ""
    kw = {"tenant": tenant, "endpoint": endpoint, "status": status}
    if status == 401:
        key_hint = f"the key in {key_env}" if key_env else "the API key"
        return AuthError(f"API key rejected (401){who}: check {key_hint}{where}.{said}", **kw)
    if status == 403:
        return ScopeError(
            f"API key lacks permission (403){who}: it needs the usage:read scope; create a key with "
            f"usage:read and put it in {key_env or 'the key variable'}{where}.{said}", **kw)
    if status == 400:
        return BadRequestError(
            f"API refused the request (400){who}: {api_message or 'no reason given'}; check "
            f"AURION_START_DATE / AURION_MAX_RANGE_DAYS and the date range{where}.", **kw)
    hint = "check AURION_BASE_URL points at the Aurion API" if status in (404, 405, 410) else \
        "this is not a status the pipeline retries; try again later or contact Aurion support"
    return UnexpectedStatusError(f"API answered {status}{who}: {hint}{where}.{said}", **kw)


def retries_exhausted(*, tenant: str | None, endpoint: str, status: int | None, attempts: int,
                      elapsed_s: float, last: str, budget_spent: bool) -> RetriesExhaustedError:
    stop = "retry time budget spent" if budget_spent else "retries used up"
    return RetriesExhaustedError(
        f"GET {endpoint}{for_tenant(tenant)} still failing after {attempts} attempt(s) over "
        f"{elapsed_s:.1f}s ({stop}; last: {last}): check the Aurion API status, lower "
        "AURION_MAX_WORKERS if it is rate-limiting, and run again later.",
        tenant=tenant, endpoint=endpoint, status=status)


def unreachable(*, tenant: str | None, endpoint: str, origin: str, cause: str, attempts: int) -> UnreachableError:
    return UnreachableError(
        f"Could not reach the Aurion API at {origin}{for_tenant(tenant)} (GET {endpoint}: {cause}, "
        f"{attempts} attempt(s)): check AURION_BASE_URL and that this machine can reach that host.",
        tenant=tenant, endpoint=endpoint)


def deadline_exceeded(*, tenant: str | None, endpoint: str, seconds: float) -> DeadlineExceededError:
    return DeadlineExceededError(
        f"GET {endpoint}{for_tenant(tenant)} exceeded the request deadline of {seconds:g}s (the server "
        "answered too slowly or stalled mid-response): run again later; raise "
        "AURION_REQUEST_DEADLINE_SECONDS if the API is slow but steady.", tenant=tenant, endpoint=endpoint)


def redirect_refused(*, tenant: str | None, endpoint: str, status: int, target_origin: str) -> RedirectError:
    return RedirectError(
        f"Refused redirect to another host ({target_origin}){for_tenant(tenant)} (GET {endpoint}, "
        f"{status}) so the API key is not sent there; set AURION_BASE_URL to the final host.",
        tenant=tenant, endpoint=endpoint, status=status)


def too_many_redirects(*, tenant: str | None, endpoint: str, status: int, limit: int) -> RedirectError:
    return RedirectError(
        f"More than {limit} redirects{for_tenant(tenant)} (GET {endpoint}): set AURION_BASE_URL "
        "to the final API URL.", tenant=tenant, endpoint=endpoint, status=status)


def malformed(what: str, *, tenant: str | None, endpoint: str, status: int | None = 200,
              fix: str = "the API's response format may have changed; report it to the pipeline "
                         "maintainers") -> MalformedResponseError:
    return MalformedResponseError(
        f"Unexpected response from GET {endpoint}{for_tenant(tenant)}: {what}; {fix}.",
        tenant=tenant, endpoint=endpoint, status=status)


def transport_failed(*, tenant: str | None, endpoint: str, cause: str) -> AurionApiError:
    return AurionApiError(
        f"GET {endpoint}{for_tenant(tenant)} failed while reading the response ({cause}): run again; "
        "if it persists, check the network or proxy.", tenant=tenant, endpoint=endpoint)


def api_message(resp: requests.Response, api_key: str) -> str:
    """The API's own explanation of an error status: short, one line, the key redacted."""
    try:
        body = resp.json()
    except ValueError:
        body = "" if resp.text.lstrip().startswith("<") else resp.text  # an HTML page is noise
    for _ in range(2):  # {"error": {"message": "..."}} nests one level
        if isinstance(body, dict):
            body = next((body[k] for k in _MESSAGE_KEYS if body.get(k)), "")
    text = body if isinstance(body, str) else json.dumps(body) if body else ""
    return one_line(redact(text.replace(api_key, REDACTED)))


def connect_cause(exc: requests.RequestException) -> str | None:
    """What stopped a connection from being made at all (refused, host not found, connect timeout),
    or None when the failure came after connecting."""
    reason = exc.args[0] if exc.args else exc
    reason = getattr(reason, "reason", reason)
    if isinstance(reason, NameResolutionError):
        return "host name not found"
    if isinstance(reason, NewConnectionError):
        return "connection refused" if "refused" in str(reason).lower() else "could not connect"
    if isinstance(reason, ConnectTimeoutError):
        return "connect timed out"
    return None


def transport_cause(exc: requests.RequestException) -> str:
    """A short, key-free name for what broke: the urllib3 reason behind a requests exception."""
    reason = exc.args[0] if exc.args else exc
    reason = getattr(reason, "reason", reason)
    if isinstance(reason, RetryBudgetSpent) and reason.args:
        reason = reason.args[0]
    if isinstance(reason, str):
        return reason
    phrase = next((text for cls, text in _CAUSES if isinstance(reason, cls)), "network error")
    return f"{phrase} ({type(reason).__name__})"


def json_type(value: object) -> str:
    """The JSON name of a decoded value's type, for messages about a wrong shape."""
    return _JSON_TYPES.get(type(value), type(value).__name__)
