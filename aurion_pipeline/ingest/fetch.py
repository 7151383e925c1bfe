"""Fetch: one round of windows from the API, concurrently, each ending `Fetched` or `Failed`."""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from aurion_pipeline.source.client import AurionClient
from aurion_pipeline.source.errors import AurionApiError, AuthError, ScopeError
from aurion_pipeline.source.redact import redact
from aurion_pipeline.storage.load import Window


@dataclass(frozen=True)
class Fetched:
    """The API's rows for one window."""

    window: Window
    rows: list[dict]


@dataclass(frozen=True)
class Failed:
    """A window not loaded, with a one-line reason; `key_refused` when the API refused the tenant's key
    (its later windows are not asked for)."""

    window: Window
    error: str
    key_refused: bool = False


FetchResult = Fetched | Failed


class PendingRound:
    """A round whose requests are in flight; `results()` waits for them, in the order they were asked."""

    def __init__(self, asked: int, skipped: tuple[Failed, ...]):
        self._results: list[FetchResult | None] = [None] * asked
        self._skipped = skipped
        self._remaining = asked
        self._error: BaseException | None = None
        self._lock = threading.Lock()
        self._done = threading.Event()
        if asked == 0:
            self._done.set()

    def results(self) -> list[FetchResult]:
        self._done.wait()
        if self._error is not None:
            raise self._error  # a bug, not an API error (those are `Failed` results)
        return [*self._results, *self._skipped]  # type: ignore[list-item] - every slot is filled by now

    def settle(self, index: int, result: FetchResult | None, error: BaseException | None = None) -> None:
        """Record request `index`'s result (or the error that stopped it); called from the fetch threads."""
        self._results[index] = result
        with self._lock:
            self._error = self._error or error
            self._remaining -= 1
            if self._remaining == 0:
                self._done.set()


class RoundFetcher:
    """`max_workers` threads shared by every tenant's requests, fed from one queue. On leaving the block
    it drops the requests not started yet and does not wait for those in flight: after an error nothing
    would commit them.

    A queue and a countdown per round rather than a `ThreadPoolExecutor`: a future (with its own lock and
    condition) per request cost more than the request itself against a fast API, ~1.3 s of a 1,000-tenant
    backfill's 36,000 requests (bench_scale's load, 10.5 -> 9.3 s)."""

    def __init__(self, clients: Mapping[str, AurionClient], max_workers: int):
        self._clients = clients
        self._max_workers = max_workers
        self._queue: queue.SimpleQueue[_Request | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []

    def __enter__(self) -> RoundFetcher:
        return self

    def __exit__(self, *exc_info) -> None:
        with contextlib.suppress(queue.Empty):
            while True:
                request = self._queue.get_nowait()
                if request is not None:
                    request.pending.settle(request.index, None, RuntimeError("fetcher closed"))
        for _ in self._threads:
            self._queue.put(None)

    def start(self, windows: Iterable[Window], refused: Mapping[str, str]) -> PendingRound:
        """Queue the round's requests; windows of tenants whose key was `refused` fail without one."""
        windows = tuple(windows)
        asked = [w for w in windows if w.tenant not in refused]
        pending = PendingRound(len(asked), tuple(Failed(w, refused[w.tenant], key_refused=True)
                                                 for w in windows if w.tenant in refused))
        self._add_threads(len(asked))
        for index, window in enumerate(asked):
            self._queue.put(_Request(pending, index, self._clients[window.tenant], window))
        return pending

    def _add_threads(self, wanted: int) -> None:
        while len(self._threads) < min(wanted, self._max_workers):
            thread = threading.Thread(target=self._work, name=f"aurion-fetch_{len(self._threads)}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def _work(self) -> None:
        while (request := self._queue.get()) is not None:
            try:
                result = fetch_window(request.client, request.window)
            except BaseException as exc:  # handed to the thread waiting for the round
                request.pending.settle(request.index, None, exc)
            else:
                request.pending.settle(request.index, result)


@dataclass(frozen=True)
class _Request:
    pending: PendingRound
    index: int
    client: AurionClient
    window: Window


def fetch_window(client: AurionClient, window: Window) -> FetchResult:
    try:
        return Fetched(window, client.get_details(window.start, window.end))
    except AurionApiError as exc:
        return Failed(window, redact(str(exc)), key_refused=isinstance(exc, (AuthError, ScopeError)))


def refused_keys(results: Iterable[FetchResult]) -> dict[str, str]:
    """Tenants whose key the API refused in these results, with the reason."""
    return {r.window.tenant: r.error for r in results if isinstance(r, Failed) and r.key_refused}
