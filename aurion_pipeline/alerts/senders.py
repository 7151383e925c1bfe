"""Sending one alert body to one channel, and classifying what happened.

Every send ends in an `Outcome`: `sent`; `failed`, retried on a later run (timeouts, refused or
dropped connections, HTTP 429 and 5xx, SMTP 4xx); or `gave_up`, never retried (any other HTTP 4xx or a
redirect, SMTP 5xx: the receiver said no and would say it again). An outcome's error is one line
built by us, never an exception's text: a Slack webhook's URL is its secret, and requests puts the
URL in its connection errors.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage

import requests

from aurion_pipeline.alerts import messages
from aurion_pipeline.alerts.channels import Channel, Secret

TIMEOUT = (3.05, 10)  # (connect, read) seconds
SMTP_TIMEOUT_S = 15
USER_AGENT = "aurion-pipeline-alerts/1"
SIGNATURE_HEADER = "X-Aurion-Signature"
IDEMPOTENCY_HEADER = "X-Aurion-Idempotency-Key"


@dataclass(frozen=True)
class Outcome:
    status: str  # sent | failed | gave_up
    code: int | None = None
    error: str | None = None


def body_bytes(payload: dict) -> bytes:
    """The exact bytes signed and sent: compact, keys sorted, UTF-8."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def send(channel: Channel, secrets: dict[str, Secret], payload: dict) -> Outcome:
    if channel.kind == "webhook":
        return send_webhook(channel, secrets, payload)
    if channel.kind == "slack":
        key = {IDEMPOTENCY_HEADER: payload["idempotency_key"]}  # Slack ignores it; a relay in between can use it
        return _post(secrets["url"], body_bytes({"text": messages.text(payload)}), key)
    return send_email(channel, secrets, payload)


def send_webhook(channel: Channel, secrets: dict[str, Secret], payload: dict) -> Outcome:
    body = body_bytes(payload)
    headers = {
        SIGNATURE_HEADER: signature(secrets["secret"], body),
        IDEMPOTENCY_HEADER: payload["idempotency_key"],
    }
    return _post(channel.url, body, headers)


def _post(url: str, body: bytes, headers: dict[str, str]) -> Outcome:
    try:
        response = requests.post(
            url, data=body, timeout=TIMEOUT, allow_redirects=False,
            headers={"Content-Type": "application/json", "User-Agent": USER_AGENT, **headers},
        )
    except requests.Timeout:
        return Outcome("failed", None, "timed out")
    except (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema, requests.exceptions.InvalidSchema):
        # A URL requests cannot use fails every attempt alike: retrying it for hours would only hide it.
        return Outcome("gave_up", None, "the channel's URL is not a valid URL; not retried")
    except requests.ConnectionError:
        return Outcome("failed", None, "could not connect (refused, unreachable or dropped)")
    except requests.RequestException as exc:
        return Outcome("failed", None, f"request failed ({type(exc).__name__})")
    return http_outcome(response.status_code)


def http_outcome(code: int) -> Outcome:
    if 200 <= code < 300:
        return Outcome("sent", code)
    if code == 429 or code >= 500:
        return Outcome("failed", code, f"receiver answered HTTP {code}; retrying later")
    if 300 <= code < 400:
        return Outcome("gave_up", code, f"receiver redirected (HTTP {code}); point the channel at the final URL")
    return Outcome("gave_up", code, f"receiver rejected the alert (HTTP {code}); not retried")


def email_message(channel: Channel, payload: dict) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = messages.subject(payload)
    message["From"] = channel.sender
    message["To"] = ", ".join(channel.recipients)
    key = payload.get("idempotency_key")
    if key:
        message["Message-ID"] = f"<{key}@aurion-pipeline>"  # the same alert keeps its id: mail tools can drop repeats
        message[IDEMPOTENCY_HEADER] = key
    message.set_content(messages.text(payload))
    message.add_alternative(messages.html(payload), subtype="html")
    return message


def send_email(channel: Channel, secrets: dict[str, Secret], payload: dict) -> Outcome:
    try:
        with smtplib.SMTP(channel.host, channel.port, timeout=SMTP_TIMEOUT_S) as smtp:
            if channel.starttls:
                # Verified like a browser would: a relay with a private CA needs ca_file, never "no verify".
                smtp.starttls(context=ssl.create_default_context(cafile=channel.ca_file))
            if "username" in secrets:
                smtp.login(secrets["username"], secrets["password"])
            smtp.send_message(email_message(channel, payload))
    except smtplib.SMTPRecipientsRefused as exc:
        codes = sorted({code for code, _ in exc.recipients.values()})
        return _smtp_outcome(codes[-1] if codes else 550, "refused the recipients")
    except smtplib.SMTPResponseException as exc:
        return _smtp_outcome(exc.smtp_code, f"answered {type(exc).__name__}")
    except smtplib.SMTPNotSupportedError:
        return Outcome("gave_up", None, "the SMTP server does not offer STARTTLS or AUTH as configured")
    except ssl.SSLCertVerificationError:
        return Outcome("failed", None, "the SMTP server's certificate did not verify (set ca_file for a private CA)")
    except TimeoutError:
        return Outcome("failed", None, "SMTP timed out")
    except (OSError, smtplib.SMTPException) as exc:
        return Outcome("failed", None, f"SMTP connection failed ({type(exc).__name__})")
    return Outcome("sent", 250)


def _smtp_outcome(code: int, what: str) -> Outcome:
    if 400 <= code < 500:
        return Outcome("failed", code, f"SMTP server {what} ({code}); retrying later")
    return Outcome("gave_up", code, f"SMTP server {what} ({code}); not retried")
