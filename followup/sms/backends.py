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


class ConsoleBackend(BaseBackend):
    """Writes each message to the log (development and the demo)."""

    def send(self, to: str, text: str) -> SendResult:
        message_id = f"console-{next(_counter)}"
        logger.info("SMS %s to %s: %s", message_id, to, text)
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


class HttpGatewayBackend(BaseBackend):
    """Placeholder until the SMS part adds the HTTP gateway; refuses to pretend it sent."""

    def send(self, to: str, text: str) -> SendResult:
        return SendResult(id="", status="failed", error="HTTP-gatewayen er ikke satt opp ennå.")


def get_backend() -> BaseBackend:
    return import_string(settings.SMS_BACKEND)()
