"""A time limit on each HTTP exchange as a whole: connect, send, headers and every read of the body.

Socket timeouts bound each read, not the exchange: a server that drips one byte per second never
trips a 60 s read timeout and can hold a request for ever. While a `RequestDeadline` is active in a
thread, every connection our session opens starts a timer when it sends a request; when the time is
up the timer shuts the socket down, which unblocks the read in progress. The client then sees an
ordinary transport error, asks `expired`, and reports the deadline instead.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

_local = threading.local()


class RequestDeadline:
    """At most `seconds` for one attempt (connect + request + response headers + body)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expired = False
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._sock: socket.socket | None = None

    @contextmanager
    def active(self) -> Iterator[RequestDeadline]:
        """Watch every attempt this thread makes inside the block."""
        _local.deadline = self
        try:
            yield self
        finally:
            _local.deadline = None
            self._stop()

    def start_attempt(self) -> None:
        """The clock restarts for each attempt (a urllib3 retry is a new attempt)."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
            self._sock = None
            self._timer = threading.Timer(self.seconds, self._expire)
            self._timer.daemon = True
            self._timer.start()

    def watch(self, sock: socket.socket | None) -> None:
        with self._lock:
            self._sock = sock
            expired = self.expired
        if expired:
            _shutdown(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            sock = self._sock
        _shutdown(sock)

    def _stop(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
            self._sock = None


def current() -> RequestDeadline | None:
    """The deadline active in this thread, if any."""
    return getattr(_local, "deadline", None)


def _shutdown(sock: socket.socket | None) -> None:
    if sock is None:
        return
    with suppress(OSError):  # already closed
        # The plain-socket method, also on a TLS socket: SSLSocket.shutdown would drop its TLS state
        # under the reading thread's feet.
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _WatchedConnection:
    """Mixin: start the attempt's clock on each request and hand the socket to the watcher."""

    def request(self, *args, **kwargs):
        deadline = current()
        if deadline is not None:
            deadline.start_attempt()
        return super().request(*args, **kwargs)

    def getresponse(self, *args, **kwargs):
        deadline = current()
        if deadline is not None:
            deadline.watch(self.sock)
        return super().getresponse(*args, **kwargs)


class _HTTPConnection(_WatchedConnection, HTTPConnection):
    pass


class _HTTPSConnection(_WatchedConnection, HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


_WATCHED_POOLS = {"http": _HTTPPool, "https": _HTTPSPool}


class DeadlineAdapter(HTTPAdapter):
    """`HTTPAdapter` whose connections honour the thread's active `RequestDeadline`."""

    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _WATCHED_POOLS

    def proxy_manager_for(self, proxy, **proxy_kwargs):
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        manager.pool_classes_by_scheme = _WATCHED_POOLS
        return manager
