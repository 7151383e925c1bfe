"""A loopback TCP server that answers HTTP by hand, for servers no HTTP framework will imitate:
one that drips its response a byte per second, one that closes before its Content-Length."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable

Responder = Callable[[socket.socket, bytes, int, threading.Event], None]


class RawServer:
    """Every connection's request is read, then `respond(conn, request_head, request_number, stop)` answers it."""

    def __init__(self, respond: Responder) -> None:
        self._respond = respond
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.1)
        self.port = self._sock.getsockname()[1]
        self.stop = threading.Event()
        self.requests = 0
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self.stop.set()
        self._sock.close()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except (TimeoutError, OSError):
                continue
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            received = b""
            try:
                while b"\r\n\r\n" not in received:
                    chunk = conn.recv(4096)
                    if not chunk:
                        return
                    received += chunk
                with self._lock:
                    self.requests += 1
                    number = self.requests
                self._respond(conn, received, number, self.stop)
            except OSError:
                pass  # the client hung up: what a deadline does


def head(body: bytes, status: str = "200 OK", extra: str = "") -> bytes:
    return (f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n{extra}"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()


def header(request: bytes, name: str) -> str | None:
    """A request header's value, from the raw request head."""
    for line in request.decode("latin-1").split("\r\n")[1:]:
        key, _, value = line.partition(":")
        if key.strip().lower() == name.lower():
            return value.strip()
    return None


def json_body(payload: object) -> bytes:
    return json.dumps(payload).encode()


def drip(response: bytes) -> Responder:
    """Send `response` one byte per second until done, the client leaves or the server stops."""
    def respond(conn: socket.socket, _request: bytes, _number: int, stop: threading.Event) -> None:
        for i in range(len(response)):
            conn.sendall(response[i:i + 1])
            if stop.wait(1.0):
                return
    return respond


def short_body(full: bytes, *, complete_from: int | None = None) -> Responder:
    """Announce `full`'s length, send half of it and close; from request `complete_from` on, all of it."""
    def respond(conn: socket.socket, _request: bytes, number: int, _stop: threading.Event) -> None:
        if complete_from is not None and number >= complete_from:
            conn.sendall(head(full) + full)
        else:
            conn.sendall(head(full) + full[: len(full) // 2])
    return respond
