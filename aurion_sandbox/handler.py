"""The sandbox's HTTP plumbing: a keep-alive JSON handler that hands each GET to its `SandboxServer`,
and the error a handler turns into an API error response."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit


class ApiError(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


class Handler(BaseHTTPRequestHandler):
    """One connection of the sandbox: JSON in and out, the API's semantics in `SandboxServer._handle`."""

    server_version = "AurionSandbox/1"
    protocol_version = "HTTP/1.1"  # keep-alive: a benchmark makes tens of thousands of requests
    disable_nagle_algorithm = True  # headers and body go out in two writes; do not wait for an ACK

    def setup(self) -> None:
        super().setup()
        with self.server.sandbox._lock:
            self.server.sandbox._connections.add(self.connection)

    def finish(self) -> None:
        with self.server.sandbox._lock:
            self.server.sandbox._connections.discard(self.connection)
        super().finish()

    def do_GET(self) -> None:  # http.server's naming
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        try:
            body = self.server.sandbox._handle(parts.path, query, self.headers.get("X-API-Key"))
            status, headers = 200, {}
        except ApiError as exc:
            body, status, headers = {"error": exc.message}, exc.status, exc.headers
        except Exception as exc:  # a sandbox bug must still answer, or the client just sees a reset
            body, status, headers = {"error": f"sandbox error: {type(exc).__name__}: {exc}"}, 500, {}
        self._send(status, body, headers)

    def do_POST(self) -> None:
        self._send(405, {"error": "the usage API is read-only (GET)"}, {"Allow": "GET"})

    def _send(self, status: int, body: object, headers: dict[str, str]) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:  # keep test and demo output quiet
        pass
