"""The Aurion Usage API client: one `requests.Session` per tenant, urllib3 retries, no Dagster.

Transient failures (429, 500, 502, 503, 504, connection errors) are retried by a urllib3 `Retry`
mounted on the session, honouring `Retry-After` up to a cap and within a total time budget.
The API key never leaves the configured origin: redirects are followed by hand, same origin only.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from datetime import date, timedelta
from importlib import metadata
from urllib.parse import urljoin, urlsplit

import requests

from aurion_pipeline.config import ConfigError, validate_base_url
from aurion_pipeline.source import errors, pages
from aurion_pipeline.source.deadline import DeadlineAdapter
from aurion_pipeline.source.redact import redact_echoes, remember_key, shown_env_name
from aurion_pipeline.source.retry import BudgetedRetry
from aurion_pipeline.source.transport import (
    BROKEN,
    DEADLINE,
    OK,
    TRUNCATED,
    UNREACHABLE,
    exchange,
    origin,
    origin_text,
)
from aurion_pipeline.source.windows import check_window

log = logging.getLogger(__name__)

DETAILS_PATH = "/api/v1/usage/details"
SUMMARY_PATH = "/api/v1/usage/summary"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_REDIRECTS = 5
MAX_PAGES = 1000  # a pagination loop must end somewhere
# A refused connection or unknown host is a wrong AURION_BASE_URL or a network down, not a blip:
# one quick retry, then the window fails naming the URL.
CONNECT_RETRIES = 1
DEFAULT_DEADLINE_S = 120.0


@functools.cache  # asked once: importlib.metadata scans site-packages (~10 ms), and we build a client per tenant
def _user_agent() -> str:
    try:
        return f"aurion-pipeline/{metadata.version('aurion-pipeline')}"
    except metadata.PackageNotFoundError:
        return "aurion-pipeline/unknown"


def _session_for(base_url: str) -> requests.Session:
    """A session that takes its proxy and CA-bundle settings from the environment once, here.

    By default requests re-reads the whole environment on every request (proxies, no_proxy, CA bundle).
    With one key variable per tenant, a 1,000-tenant environment made that the largest CPU cost of a
    fetch (py-spy on bench_e2e's plain child). The settings are the same; they are read once per client."""
    session = requests.Session()
    found = session.merge_environment_settings(base_url, {}, None, None, None)
    session.proxies.update(found["proxies"])
    session.verify = found["verify"]
    session.trust_env = False  # also keeps ~/.netrc credentials off our requests: the key is the only auth
    return session


class AurionClient:
    """A connection to one Aurion tenant's Usage API, authenticated by its API key.

    `tenant` labels errors and logs; `api_key_env` names the variable the key came from, for messages.
    `timeout` is (connect, read) seconds per socket operation; `deadline_s` bounds each attempt as
    a whole (connect + all reads), and an attempt cut at its deadline is not retried. A request that gets
    429/5xx or a connection error is retried up to `max_retries` times, waiting `Retry-After` if given, else
    `backoff_factor * 2**(n-1)` plus up to `backoff_jitter` s; no wait exceeds `retry_after_cap_s`,
    and retrying stops once `retry_budget_s` have passed since the first failure. A body shorter
    than its Content-Length is fetched again (up to `max_retries` times); a host that refuses the
    connection or does not resolve is retried once, then reported with its URL.
    One client per tenant, used from one thread at a time (counters are kept under a lock).
    """

    def __init__(self, base_url: str, api_key: str, *, tenant: str | None = None,
                 api_key_env: str | None = None, timeout: float | tuple[float, float] = (10, 60),
                 max_retries: int = 6, backoff_factor: float = 0.5, backoff_jitter: float = 1.0,
                 retry_after_cap_s: float = 60, retry_budget_s: float = 300,
                 deadline_s: float = DEFAULT_DEADLINE_S, end_date_inclusive: bool = True,
                 session_pool_size: int = 4) -> None:
        if not api_key:
            raise ConfigError(
                f"No API key{errors.for_tenant(tenant)}: set {shown_env_name(api_key_env or 'AURION_API_KEY')}"
            )
        remember_key(api_key)
        self.base_url = validate_base_url(base_url)
        self.tenant = tenant
        self._key = api_key
        self._key_env = api_key_env
        self._timeout = timeout
        self._max_retries = max_retries
        self._backoff_factor = backoff_factor
        self._deadline_s = deadline_s
        self._end_inclusive = end_date_inclusive
        self._lock = threading.Lock()
        self._requests = self._retries = 0
        retry = BudgetedRetry(
            total=max_retries, connect=min(CONNECT_RETRIES, max_retries), status_forcelist=RETRY_STATUSES,
            allowed_methods=frozenset({"GET"}),
            backoff_factor=backoff_factor, backoff_jitter=backoff_jitter, backoff_max=retry_after_cap_s,
            raise_on_status=False, respect_retry_after_header=True, retry_after_cap_s=retry_after_cap_s,
            budget_s=retry_budget_s, on_retry=self._count_retry)
        adapter = DeadlineAdapter(max_retries=retry, pool_connections=1, pool_maxsize=session_pool_size)
        self._session = _session_for(self.base_url)
        for prefix in ("https://", "http://"):
            self._session.mount(prefix, adapter)
        self._session.headers.update(
            {"X-API-Key": api_key, "Accept": "application/json", "User-Agent": _user_agent()})

    def __repr__(self) -> str:
        return f"AurionClient(base_url={self.base_url!r}, tenant={self.tenant!r})"

    def __enter__(self) -> AurionClient:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        self._session.close()

    @property
    def requests_made(self) -> int:
        """HTTP requests issued: one per page and per followed redirect, retries not counted."""
        return self._requests

    @property
    def attempts(self) -> int:
        """Every attempt sent, retries included (`requests_made` + retries)."""
        with self._lock:
            return self._requests + self._retries

    def get_details(self, start: date, end: date) -> list[dict]:
        """Daily usage rows (`group_by=day`) for the inclusive window [start, end], as the API's
        `data` list of objects, all pages concatenated.

        The vendor page does not say whether `end_date` is inclusive; we read its example
        (2026-03-01..2026-03-08) as a closed range and send `end`. With `end_date_inclusive=False`
        (AURION_END_DATE_INCLUSIVE=false) the API's `end_date` is taken as exclusive and `end + 1
        day` is sent; callers always ask for an inclusive window.

        Pagination is undocumented too: see `source/pages.py`.
        """
        check_window(start, end)
        api_end = end if self._end_inclusive else end + timedelta(days=1)
        url: str = self.base_url + DETAILS_PATH
        params = {"start_date": start.isoformat(), "end_date": api_end.isoformat(), "group_by": "day"}
        rows: list[dict] = []
        seen = {url}
        for _ in range(MAX_PAGES):
            payload = self._get_json(url, params)
            rows.extend(pages.data_rows(payload, self._malformed))
            next_url = pages.next_page(payload, url, self.base_url, self._malformed)
            if next_url is None:
                return rows
            if next_url in seen:
                raise self._malformed("the pagination link points back to a page already read")
            seen.add(next_url)
            url, params = next_url, None
        raise self._malformed(f"more than {MAX_PAGES} pages", fix="lower AURION_MAX_RANGE_DAYS")

    def get_summary(self) -> dict:
        """The current billing period's overview (usage against plan limits), as a JSON object."""
        payload = self._get_json(self.base_url + SUMMARY_PATH, None)
        if not isinstance(payload, dict):
            raise self._malformed(f"the top level is a JSON {errors.json_type(payload)}, not an object",
                                  endpoint=SUMMARY_PATH)
        return payload

    def _count_retry(self) -> None:
        with self._lock:
            self._retries += 1

    def _get_json(self, url: str, params: dict | None) -> object:
        endpoint = urlsplit(url).path
        for _ in range(MAX_REDIRECTS + 1):
            resp = self._send(url, params, endpoint)
            if not resp.is_redirect:
                break
            target = urljoin(url, resp.headers["Location"])
            if origin(target) != origin(self.base_url):
                raise errors.redirect_refused(tenant=self.tenant, endpoint=endpoint,
                                              status=resp.status_code, target_origin=origin_text(target))
            log.info("Aurion API %s: following %d redirect to %s", endpoint, resp.status_code,
                     urlsplit(target).path)
            url, params = target, None
        else:
            raise errors.too_many_redirects(tenant=self.tenant, endpoint=endpoint,
                                            status=resp.status_code, limit=MAX_REDIRECTS)
        if not 200 <= resp.status_code < 300:
            raise errors.for_status(resp.status_code, tenant=self.tenant, endpoint=endpoint,
                                    key_env=shown_env_name(self._key_env, ""),
                                    api_message=errors.api_message(resp, self._key))
        try:
            # A payload that echoes the key (in a field we would keep in `_extra`) is redacted before
            # anything stores it.
            return redact_echoes(resp.json(), resp.text, self._key)
        except ValueError:
            pass  # raised below, outside the handler, so no exception holding the body is chained
        ctype = resp.headers.get("Content-Type", "no Content-Type")
        raise self._malformed(f"the body is not JSON ({ctype}, {len(resp.content)} bytes)", endpoint=endpoint)

    def _send(self, url: str, params: dict | None, endpoint: str) -> requests.Response:
        """One GET: urllib3 retries 429/5xx and dropped connections, a body cut short is fetched
        again, and every attempt as a whole is stopped at the request deadline. Errors are raised
        outside `except` so that no requests exception (its request carries the key) is chained."""
        attempts_before, started = self.attempts, time.monotonic()
        with self._lock:
            self._requests += 1
        log.debug("Aurion API GET %s%s", endpoint, f" {params}" if params else "")
        for refetch in range(self._max_retries + 1):
            if refetch:
                self._count_retry()
                log.warning("Aurion API %s: the body ended before its Content-Length; retry %d", endpoint, refetch)
                time.sleep(min(self._backoff_factor * 2 ** (refetch - 1), 5.0))
            kind, resp, cause = exchange(self._session, url, params, self._timeout, self._deadline_s)
            if kind != TRUNCATED:
                break
        if kind == OK and resp.status_code not in RETRY_STATUSES:
            return resp
        attempts = self.attempts - attempts_before
        where = {"tenant": self.tenant, "endpoint": endpoint}
        if kind == DEADLINE:
            raise errors.deadline_exceeded(**where, seconds=self._deadline_s)
        if kind == UNREACHABLE:
            raise errors.unreachable(**where, origin=origin_text(url), cause=cause, attempts=attempts)
        if kind == BROKEN:
            raise errors.transport_failed(**where, cause=cause)
        status = resp.status_code if kind == OK else None
        said = errors.api_message(resp, self._key) if kind == OK else ""
        raise errors.retries_exhausted(
            **where, status=status, attempts=attempts, elapsed_s=time.monotonic() - started,
            budget_spent=attempts <= self._max_retries,
            last=cause or f"HTTP {status}" + (f", API said: {errors.one_line(said, 80)}" if said else ""))

    def _malformed(self, what: str, *, endpoint: str = DETAILS_PATH, **kw) -> errors.MalformedResponseError:
        return errors.malformed(what, tenant=self.tenant, endpoint=endpoint, **kw)
