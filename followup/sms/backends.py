"""SMS gateway backends.

``get_backend()`` reads settings.SMS_BACKEND when it is called, so tests and
deployments switch backends without re-importing anything.
"""

from __future__ import annotations

import itertools
import logging
import threading
from dataclasses import dataclass

from django.conf import settings
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SendResult:
    """What the gateway answered: its id for the message and the status."""

    id: str
    status: str  # "sent" or "failed" (followup.models.SmsStatus values)
    error: str = ""


class BaseBackend:
    def send(self, to: str, text: str) -> SendResult:  # pragma: no cover - interface
        raise NotImplementedError


_counter = itertools.count(1)


def masked_number(to: str) -> str:
    """A mobile number as a log may show it: the last two digits, enough to tell two test phones apart."""
    digits = "".join(ch for ch in to if ch.isdigit())
    return f"***{digits[-2:]}" if len(digits) > 2 else "***"


class ConsoleBackend(BaseBackend):
    """Writes each message to the log at DEBUG (development and the demo), the number masked.

    A message names a child's appointment, station and time: at INFO it would reach every log
    collector of a deployment that left the console backend on.
    """

    def send(self, to: str, text: str) -> SendResult:
        message_id = f"console-{next(_counter)}"
        logger.debug("SMS %s to %s: %s", message_id, masked_number(to), text)
        return SendResult(id=message_id, status="sent")


class MemoryBackend(BaseBackend):
    """Keeps every message in ``MemoryBackend.outbox`` (tests)."""

    outbox: list[dict] = []
    _lock = threading.Lock()

    def send(self, to: str, text: str) -> SendResult:
        with self._lock:
            message_id = f"memory-{next(_counter)}"
            MemoryBackend.outbox.append({"id": message_id, "to": to, "text": text})
        return SendResult(id=message_id, status="sent")


def get_backend() -> BaseBackend:
    return import_string(settings.SMS_BACKEND)()


class HttpGatewayBackend(BaseBackend):
    """Posts each message as JSON to settings.SMS_GATEWAY_URL with a bearer token.

    The gateway answers {"id": "...", "status": "..."}; delivery reports come
    back later through the signed webhook (followup.sms.views.delivery_report).
    """

    def send(self, to: str, text: str) -> SendResult:
        import requests

        if not settings.SMS_GATEWAY_URL:
            return SendResult(id="", status="failed", error="SMS_GATEWAY_URL er ikke satt.")
        try:
            response = requests.post(
                settings.SMS_GATEWAY_URL,
                json={"to": to, "text": text},
                headers={"Authorization": f"Bearer {settings.SMS_GATEWAY_TOKEN}"},
                timeout=settings.SMS_GATEWAY_TIMEOUT_SECONDS,
            )
        except requests.RequestException as exc:
            return SendResult(id="", status="failed", error=f"Gatewayen svarte ikke: {type(exc).__name__}")
        if response.status_code >= 400:
            return SendResult(id="", status="failed", error=f"Gatewayen avviste meldingen (HTTP {response.status_code}).")
        try:
            data = response.json()
            message_id = str(data["id"])[:100]
        except (ValueError, KeyError, TypeError):
            return SendResult(id="", status="failed", error="Ugyldig svar fra gatewayen.")
        status = "failed" if str(data.get("status", "")).lower() in ("failed", "rejected") else "sent"
        return SendResult(id=message_id, status=status, error=str(data.get("error", ""))[:300] if status == "failed" else "")
