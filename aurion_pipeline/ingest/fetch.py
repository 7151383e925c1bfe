"""Fetch: one round of windows from the API, concurrently, each ending `Fetched` or `Failed`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from aurion_pipeline.source.client import AurionClient
from aurion_pipeline.source.errors import AuthError, AurionApiError, ScopeError
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


@dataclass(frozen=True)
class PendingRound:
    """A round whose requests are in flight; `results()` waits for them."""

    started: tuple[tuple[Window, Future[FetchResult]], ...]
    skipped: tuple[Failed, ...]

    def results(self) -> list[FetchResult]:
        return [*(future.result() for _, future in self.started), *self.skipped]


class RoundFetcher:
    """A thread pool shared by every tenant's requests. On leaving the block it does not wait for
    requests still in flight: after an error nothing would commit them."""

    def __init__(self, clients: Mapping[str, AurionClient], max_workers: int):
        self._clients = clients
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="aurion-fetch")

    def __enter__(self) -> RoundFetcher:
        return self

    def __exit__(self, *exc_info) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def start(self, windows: Iterable[Window], refused: Mapping[str, str]) -> PendingRound:
        """Submit the round's requests; windows of tenants whose key was `refused` fail without one."""
        windows = tuple(windows)
        started = tuple((w, self._pool.submit(fetch_window, self._clients[w.tenant], w))
                        for w in windows if w.tenant not in refused)
        skipped = tuple(Failed(w, refused[w.tenant], key_refused=True) for w in windows if w.tenant in refused)
        return PendingRound(started, skipped)


def fetch_window(client: AurionClient, window: Window) -> FetchResult:
    try:
        return Fetched(window, client.get_details(window.start, window.end))
    except AurionApiError as exc:
        return Failed(window, redact(str(exc)), key_refused=isinstance(exc, (AuthError, ScopeError)))


def refused_keys(results: Iterable[FetchResult]) -> dict[str, str]:
    """Tenants whose key the API refused in these results, with the reason."""
    return {r.window.tenant: r.error for r in results if isinstance(r, Failed) and r.key_refused}
