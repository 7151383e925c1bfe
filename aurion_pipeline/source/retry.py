"""urllib3 `Retry` with a capped `Retry-After` and a total time budget per request."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from urllib3.exceptions import InvalidHeader, MaxRetryError
from urllib3.util import Retry

from aurion_pipeline.source import errors
from aurion_pipeline.source.deadline import current as active_deadline

log = logging.getLogger("aurion_pipeline.source.client")


class BudgetedRetry(Retry):
    """urllib3 `Retry` with `Retry-After` capped and a total time budget for one request.

    The budget clock starts at the request's first failure; no retry is scheduled whose wait
    would end after it. Each scheduled retry calls `on_retry` (the client counts attempts).
    """

    def __init__(self, *args, retry_after_cap_s: float = 60.0, budget_s: float = 300.0,
                 deadline: float | None = None, on_retry: Callable[[], None] | None = None, **kw) -> None:
        super().__init__(*args, **kw)
        self.retry_after_cap_s = retry_after_cap_s
        self.budget_s = budget_s
        self.deadline = deadline
        self.on_retry = on_retry
        self.delay = 0.0

    def new(self, **kw) -> BudgetedRetry:
        for name in ("retry_after_cap_s", "budget_s", "deadline", "on_retry"):
            kw.setdefault(name, getattr(self, name))
        return super().new(**kw)

    def get_retry_after(self, response) -> float | None:
        try:
            seconds = super().get_retry_after(response)
        except InvalidHeader:
            return None  # an unparseable Retry-After falls back to exponential backoff
        return None if seconds is None else min(seconds, self.retry_after_cap_s)

    def increment(self, method=None, url=None, response=None, error=None, _pool=None, _stacktrace=None):
        watch = active_deadline()
        if watch is not None and watch.expired:
            # The attempt was cut at its deadline: a slow server gets no second chance to hang the run.
            raise MaxRetryError(_pool, url, error)
        retry = super().increment(method, url, response, error, _pool, _stacktrace)
        now = time.monotonic()
        retry.deadline = now + self.budget_s if self.deadline is None else self.deadline
        retry_after = self.get_retry_after(response) if response is not None else None
        retry.delay = retry_after or retry.get_backoff_time()
        if now + retry.delay > retry.deadline:
            raise MaxRetryError(_pool, url, errors.RetryBudgetSpent(error or f"HTTP {response.status}"))
        cause = type(error).__name__ if error else f"HTTP {response.status}"
        log.warning("Aurion API %s: %s; retry %d in %.1fs", (url or "").split("?")[0], cause,
                    len(retry.history), retry.delay)
        if retry.on_retry:
            retry.on_retry()
        return retry

    def sleep(self, response=None) -> None:
        if self.delay > 0:
            time.sleep(self.delay)
