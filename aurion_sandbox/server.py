"""A local stand-in for the Aurion Usage API, serving the vendor page's JSON from synthetic tenants.

Only for the demo, the end-to-end tests and the benchmarks; nothing in the pipeline imports it.
Fault hooks (each documented on its method) let tests drive the pipeline through the failures
the real API may show: `fail_next` (5xx/429, with Retry-After), `revise` (late-arriving usage)
and `corrupt` (payload drift and malformed rows). `reset()` clears them and the request log.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from http.server import ThreadingHTTPServer
from typing import NamedTuple

from aurion_sandbox.data import (
    DEFAULT_TENANTS,
    DailyUsage,
    TenantProfile,
    billing_period,
    daily_usage,
    summary,
)
from aurion_sandbox.handler import ApiError, Handler

DETAILS_PATH = "/api/v1/usage/details"
SUMMARY_PATH = "/api/v1/usage/summary"
REQUIRED_SCOPE = "usage:read"
CORRUPTIONS = ("extra_field", "null_llm", "string_number", "missing_field", "bad_shape")


class LoggedRequest(NamedTuple):
    """One request as received; the dates are the raw query strings (None when absent)."""

    path: str
    tenant: str | None  # None when the key was missing or unknown
    start_date: str | None
    end_date: str | None


class SandboxServer:
    """The sandbox API on a background thread: `with SandboxServer() as s: s.base_url`."""

    def __init__(self, tenants: Iterable[TenantProfile] = DEFAULT_TENANTS, host: str = "127.0.0.1", port: int = 0,
                 latency_s: float = 0.0, max_range_days: int | None = None, today: date | None = None) -> None:
        self.tenants = {t.name: t for t in tenants}
        self._by_key = {t.api_key: t for t in self.tenants.values()}
        self.latency_s = latency_s  # slept on every request, before any response
        self.max_range_days = max_range_days
        self._today = today
        self._lock = threading.Lock()
        self._requests: list[LoggedRequest] = []
        self._failures: list[tuple[str | None, int, int | None]] = []
        self._revisions: dict[str, list[tuple[date, float]]] = {}
        self._corruptions: dict[str, tuple[str, date | None]] = {}
        self._connections: set[socket.socket] = set()  # keep-alive sockets, closed on stop()
        self._httpd = ThreadingHTTPServer((host, port), Handler)
        self._httpd.daemon_threads = True
        self._httpd.sandbox = self  # type: ignore[attr-defined]
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def today(self) -> date:
        """The last day with usage: the fixed `today`, else the real UTC date (read per request)."""
        return self._today or datetime.now(UTC).date()

    @property
    def requests(self) -> list[LoggedRequest]:
        """Every request received so far, in arrival order (a copy)."""
        with self._lock:
            return list(self._requests)

    def start(self) -> SandboxServer:
        if self._thread is None:
            self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        self._httpd.server_close()
        with self._lock:
            for conn in self._connections:  # else idle keep-alive connections would outlive the server
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def fail_next(self, n: int = 1, status: int = 503, retry_after: int | None = None,
                  tenant: str | None = None) -> None:
        """The next `n` requests (of `tenant`, or anyone's) answer `status` with a JSON error,
        and a `Retry-After: <retry_after>` header when given. Queued failures add up."""
        with self._lock:
            self._failures.extend([(tenant, status, retry_after)] * n)

    def revise(self, tenant: str, factor: float = 1.1, last_days: int = 3) -> None:
        """Late-arriving usage: from now on the last `last_days` days up to `today` (inclusive)
        read `factor` times higher, in details and summary alike. Calls compound."""
        since = self.today - timedelta(days=last_days - 1)
        with self._lock:
            self._revisions.setdefault(self._tenant(tenant).name, []).append((since, factor))

    def corrupt(self, tenant: str, kind: str, day: date | None = None) -> None:
        """Make `tenant`'s `/usage/details` rows drift or break (on `day` only, if given):
        `extra_field` adds an unknown metric `video_minutes`; `null_llm` sends `llm_tokens: null`;
        `string_number` sends `api_calls` as a string; `missing_field` drops `voice_minutes`;
        `bad_shape` answers a bare JSON list instead of `{"data": [...]}` (ignores `day`)."""
        if kind not in CORRUPTIONS:
            raise ValueError(f"unknown corruption {kind!r}; use one of {', '.join(CORRUPTIONS)}")
        with self._lock:
            self._corruptions[self._tenant(tenant).name] = (kind, day)

    def reset(self) -> None:
        """Forget requests, queued failures, revisions and corruptions."""
        with self._lock:
            self._requests.clear()
            self._failures.clear()
            self._revisions.clear()
            self._corruptions.clear()

    def usage(self, tenant: TenantProfile, start: date, end: date) -> DailyUsage:
        """What the API serves for `tenant` over `start..end`, revisions included."""
        usage = daily_usage(tenant, start, end)
        with self._lock:
            revisions = list(self._revisions.get(tenant.name, ()))
        for since, factor in revisions:
            usage = usage.revised(since, factor)
        return usage

    def _tenant(self, name: str) -> TenantProfile:
        if name not in self.tenants:
            raise KeyError(f"no sandbox tenant {name!r}")
        return self.tenants[name]

    def _handle(self, path: str, query: dict[str, str], api_key: str | None) -> object:
        tenant = self._by_key.get(api_key or "")
        name = tenant.name if tenant else None
        with self._lock:
            self._requests.append(LoggedRequest(path, name, query.get("start_date"), query.get("end_date")))
            failure = next((f for f in self._failures if f[0] in (None, name)), None)
            if failure is not None:
                self._failures.remove(failure)
        if self.latency_s:
            time.sleep(self.latency_s)
        if failure is not None:
            _, status, retry_after = failure
            headers = {"Retry-After": str(int(retry_after))} if retry_after is not None else {}
            raise ApiError(status, f"sandbox: injected failure {status}", headers)
        if tenant is None:
            raise ApiError(401, "missing or invalid API key (send it in the X-API-Key header)")
        if REQUIRED_SCOPE not in tenant.scopes:
            raise ApiError(403, f"this API key lacks the required scope {REQUIRED_SCOPE}")
        if path == SUMMARY_PATH:
            today = self.today
            return summary(tenant, today, self.usage(tenant, billing_period(tenant.anchor_day, today)[0], today))
        if path == DETAILS_PATH:
            return self._details(tenant, query)
        raise ApiError(404, f"no such endpoint: {path}")

    def _details(self, tenant: TenantProfile, query: dict[str, str]) -> object:
        start, end = _date_param(query, "start_date"), _date_param(query, "end_date")
        if start > end:
            raise ApiError(400, "start_date must not be after end_date")
        days = (end - start).days + 1
        if self.max_range_days is not None and days > self.max_range_days:
            raise ApiError(400, f"date range too long: {days} days (maximum {self.max_range_days})")
        if query.get("group_by", "day") != "day":
            raise ApiError(400, "the sandbox supports group_by=day only")
        if "event_type" in query:
            raise ApiError(400, "the sandbox does not support event_type")
        rows = self.usage(tenant, start, min(end, self.today)).rows()
        with self._lock:
            kind, day = self._corruptions.get(tenant.name, (None, None))
        if kind == "bad_shape":
            return rows
        for row in rows:
            if kind is not None and (day is None or row["date"] == day.isoformat()):
                _corrupt_row(row, kind)
        return {"data": rows}


def _corrupt_row(row: dict, kind: str) -> None:
    if kind == "extra_field":
        row["video_minutes"] = round(row["voice_minutes"] / 3)
    elif kind == "null_llm":
        row["llm_tokens"] = None
    elif kind == "string_number":
        row["api_calls"] = str(row["api_calls"])
    elif kind == "missing_field":
        del row["voice_minutes"]


def _date_param(query: dict[str, str], name: str) -> date:
    raw = query.get(name)
    if not raw:
        raise ApiError(400, f"{name} is required (YYYY-MM-DD)")
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ApiError(400, f"{name}={raw!r} is not a date (YYYY-MM-DD)") from None
