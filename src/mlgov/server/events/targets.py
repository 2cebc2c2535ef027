"""Sending one delivery to one target: webhooks, Slack, email, internal handlers.

Senders run after the claim has committed and outside any transaction. They raise
:class:`DeliveryFailed`; ``retriable`` says whether the retry policy applies or the delivery goes
straight to the dead-letter store (EventBridge's split: throttling, timeouts and 5xx retry;
missing permissions or resources and other 4xx do not). Bus-to-bus delivery needs the database
and lives in the dispatcher.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import smtplib
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any

import httpx

from mlgov import __version__
from mlgov.settings import EventsSettings

if TYPE_CHECKING:
    from mlgov.server.kit.runtime import Runtime

logger = logging.getLogger("mlgov.events.targets")

SIGNATURE_HEADER = "X-Mlgov-Signature"
TIMESTAMP_HEADER = "X-Mlgov-Timestamp"
EVENT_ID_HEADER = "X-Mlgov-Event-Id"


class DeliveryFailed(Exception):
    def __init__(self, code: str, message: str, *, retriable: bool) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retriable = retriable


@dataclass(frozen=True)
class Outgoing:
    """What a sender needs: the rendered body, the event it came from, the target's settings."""

    event_id: str
    event: dict[str, Any]
    body: Any  # the rendered input: JSON value or text
    config: dict[str, Any]
    secret: str | None
    rule_name: str
    # The account whose rule matched (the bus owner): internal handlers act in this account.
    account_id: str = ""
    # The dispatcher's runtime (database, blobs, settings) for internal handlers that need it.
    runtime: Runtime | None = None


# --- internal targets ----------------------------------------------------------------------------

InternalHandler = Callable[[Outgoing], None]
_INTERNAL: dict[str, InternalHandler] = {}


def register_internal_target(name: str, handler: InternalHandler) -> None:
    """Make ``handler`` reachable as ``{"type": "internal", "config": {"handler": name}}``.

    Handlers run in the dispatcher at least once per matching event; raise to have the delivery
    retried (``DeliveryFailed(..., retriable=False)`` sends it straight to the dead-letter store).
    """
    _INTERNAL[name] = handler


def unregister_internal_target(name: str) -> None:
    _INTERNAL.pop(name, None)


def internal_targets() -> dict[str, InternalHandler]:
    return dict(_INTERNAL)


def _log_handler(outgoing: Outgoing) -> None:
    logger.info("event %s matched rule %s", outgoing.event_id, outgoing.rule_name)


register_internal_target("log", _log_handler)


# --- HTTP ----------------------------------------------------------------------------------------


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">``; receivers recompute and compare."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def _encode(body: Any) -> tuple[bytes, str]:
    if isinstance(body, str):
        return body.encode(), "text/plain; charset=utf-8"
    return json.dumps(body, separators=(",", ":")).encode(), "application/json"


def _post(
    client: httpx.Client,
    outgoing: Outgoing,
    content: bytes,
    headers: dict[str, str],
    timeout: float,
) -> None:
    url = str(outgoing.config["url"])
    try:
        response = client.post(url, content=content, headers=headers, timeout=timeout)
    except httpx.TimeoutException as exc:
        raise DeliveryFailed(
            "TIMEOUT", f"{url} did not answer in {timeout}s", retriable=True
        ) from exc
    except httpx.HTTPError as exc:
        raise DeliveryFailed("CONNECTION_FAILED", f"{url}: {exc}", retriable=True) from exc
    status = response.status_code
    if status < 300:
        return
    retriable = status == 429 or status >= 500 or status in (408, 409)
    code = "THROTTLING" if status == 429 else f"HTTP_{status}"
    raise DeliveryFailed(code, f"{url} answered HTTP {status}", retriable=retriable)


def send_webhook(client: httpx.Client, settings: EventsSettings, outgoing: Outgoing) -> None:
    content, content_type = _encode(outgoing.body)
    timestamp = str(int(time.time()))
    headers = {
        **{str(k): str(v) for k, v in (outgoing.config.get("headers") or {}).items()},
        "content-type": content_type,
        "user-agent": f"mlgov-events/{__version__}",
        EVENT_ID_HEADER: outgoing.event_id,
        TIMESTAMP_HEADER: timestamp,
    }
    if outgoing.secret:
        headers[SIGNATURE_HEADER] = sign(outgoing.secret, timestamp, content)
    timeout = float(outgoing.config.get("timeout_seconds", settings.webhook_timeout_seconds))
    _post(client, outgoing, content, headers, timeout)


def slack_text(outgoing: Outgoing) -> str:
    if isinstance(outgoing.body, str):
        return outgoing.body
    event = outgoing.event
    if outgoing.body == event:
        detail = json.dumps(event.get("detail", {}), separators=(",", ":"))[:2000]
        title = f"*{event.get('detail-type')}* from `{event.get('source')}`"
        return f"{title} ({event.get('id')})\n{detail}"
    return json.dumps(outgoing.body)[:3000]


def send_slack(client: httpx.Client, settings: EventsSettings, outgoing: Outgoing) -> None:
    content = json.dumps({"text": slack_text(outgoing)}).encode()
    headers = {
        "content-type": "application/json",
        "user-agent": f"mlgov-events/{__version__}",
        EVENT_ID_HEADER: outgoing.event_id,
    }
    timeout = float(outgoing.config.get("timeout_seconds", settings.webhook_timeout_seconds))
    _post(client, outgoing, content, headers, timeout)


# --- email ---------------------------------------------------------------------------------------


def send_email(settings: EventsSettings, outgoing: Outgoing) -> None:
    event = outgoing.event
    message = EmailMessage()
    message["From"] = settings.smtp_sender
    message["To"] = ", ".join(outgoing.config["to"])
    message["Subject"] = str(
        outgoing.config.get("subject")
        or f"[mlgov] {event.get('detail-type')} ({event.get('source')})"
    )
    message["X-Mlgov-Event-Id"] = outgoing.event_id
    body = outgoing.body if isinstance(outgoing.body, str) else json.dumps(outgoing.body, indent=2)
    message.set_content(body)
    try:
        with smtplib.SMTP(
            settings.smtp_host, settings.smtp_port, timeout=settings.webhook_timeout_seconds
        ) as smtp:
            if settings.smtp_starttls:
                smtp.starttls()
            if settings.smtp_username and settings.smtp_password is not None:
                smtp.login(settings.smtp_username, settings.smtp_password.get_secret_value())
            smtp.send_message(message)
    except smtplib.SMTPRecipientsRefused as exc:
        raise DeliveryFailed("NO_RESOURCE", f"recipients refused: {exc}", retriable=False) from exc
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryFailed("SMTP_FAILED", f"SMTP delivery failed: {exc}", retriable=True) from exc


def send_internal(outgoing: Outgoing) -> None:
    name = str(outgoing.config.get("handler"))
    handler = _INTERNAL.get(name)
    if handler is None:
        raise DeliveryFailed(
            "NO_RESOURCE", f"internal handler {name} is not registered", retriable=False
        )
    try:
        handler(outgoing)
    except DeliveryFailed:
        raise
    except Exception as exc:
        raise DeliveryFailed("HANDLER_FAILED", f"{name}: {exc}", retriable=True) from exc
