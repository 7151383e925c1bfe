"""Real alert receivers on loopback: a webhook endpoint that verifies the HMAC signature, a Slack-shaped
incoming webhook, and an SMTP server (aiosmtpd). Each records what it accepted."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections import deque
from email import message_from_bytes
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from helpers_ops import free_port


class HttpReceiver:
    """A webhook (kind="webhook", checks `X-Aurion-Signature` with `secret`) or Slack-shaped endpoint
    (kind="slack", expects {"text": ...} at `path`). `answers` queues status codes to give before 200s.
    `start()` can be called late, on the port chosen up front, to play a receiver that was down."""

    def __init__(self, kind: str, secret: str = "", path: str = "/hook", port: int | None = None) -> None:
        self.kind, self.secret, self.path = kind, secret, path
        self.port = port or free_port()
        self.answers: deque[int] = deque()
        self.accepted: list[dict] = []  # {"body": parsed JSON, "headers": dict}
        self.requests = 0
        self.bad_signatures = 0
        self.delay_s = 0.0  # seconds each answer is held back: a stalled receiver
        self._httpd: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    def start(self) -> HttpReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                time.sleep(receiver.delay_s)
                status = receiver._handle(self.path, dict(self.headers), body)
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._httpd:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def _handle(self, path: str, headers: dict, body: bytes) -> int:
        self.requests += 1
        if path != self.path:
            return 404
        if self.kind == "webhook":
            expected = "sha256=" + hmac.new(self.secret.encode(), body, hashlib.sha256).hexdigest()
            if not hmac.compare_digest(headers.get("X-Aurion-Signature", ""), expected):
                self.bad_signatures += 1
                return 401
        if self.answers:
            return self.answers.popleft()
        parsed = json.loads(body)
        if self.kind == "slack" and set(parsed) != {"text"}:
            return 400
        self.accepted.append({"body": parsed, "headers": headers, "raw": body})
        return 200

    def keys(self) -> list[str]:
        return [a["headers"]["X-Aurion-Idempotency-Key"] for a in self.accepted]


class SmtpReceiver:
    """aiosmtpd on loopback, with AUTH (over plain text: loopback only) checking one user and password."""

    def __init__(self, user: str = "", password: str = "", tls: tuple[str, str] | None = None) -> None:
        """`tls` = (certificate, key) PEM files: the server then offers STARTTLS and requires it."""
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult

        self.messages: list = []
        self.raw: list[bytes] = []
        receiver = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                receiver.raw.append(envelope.content)
                receiver.messages.append(message_from_bytes(envelope.content, policy=default_policy))
                return "250 OK"

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = auth_data.login.decode() == user and auth_data.password.decode() == password
            return AuthResult(success=ok)

        self.port = free_port()
        extra = {}
        if tls:
            import ssl

            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*tls)
            extra = {"tls_context": context, "require_starttls": True}
        self._controller = Controller(
            Handler(), hostname="127.0.0.1", port=self.port, authenticator=authenticator if user else None,
            auth_require_tls=bool(tls), **extra,
        )

    def start(self) -> SmtpReceiver:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def keys(self) -> list[str]:
        return [m["X-Aurion-Idempotency-Key"] for m in self.messages]
