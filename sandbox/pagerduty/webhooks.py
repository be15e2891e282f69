"""Delivery of the PagerDuty emulator's v3 webhooks, behaving as PagerDuty documents ("Webhooks: Behavior").

Owns the one ordered queue and the one sender task (so events arrive in the order they happened, and a failing
delivery holds back the ones behind it, as PagerDuty does), signing, retries, the record of every delivery, and the
subscription's temporary disablement after repeated drops. It does not decide what happened: the emulator hands it
finished event envelopes.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sandbox.ordered_sender import OrderedSender

USER_AGENT = "PagerDuty-Webhook/V3.0"
# PagerDuty disables a subscription for 24 hours after 3 consecutive dropped deliveries and drops what it had queued.
DISABLE_AFTER_DROPS = 3
DISABLE_FOR = timedelta(hours=24)


def sign(secrets: Sequence[str], body: bytes) -> str:
    """The `X-PagerDuty-Signature` value: one `v1=<hex HMAC-SHA256>` per secret (several during rotation)."""
    return ",".join(
        "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest() for secret in secrets
    )


@dataclass
class Delivery:
    """One webhook: `id` is its `X-Webhook-Id`, the same on every attempt so receivers can de-duplicate.

    `status`: pending, delivered, dropped (a 4xx other than 429: not retried), failed (retries exhausted),
    discarded (the subscription was disabled), or no_webhook_url (nobody to send it to yet).
    """

    id: str
    event_id: str
    event_type: str
    incident_id: str | None
    status: str = "pending"
    attempts: int = 0
    http_status: int | None = None
    error: str | None = None


class WebhookSender(OrderedSender[Delivery]):
    """Sends queued envelopes one at a time to `url`. Create it anywhere; it starts its task on first use."""

    REFUSED = "dropped"  # PagerDuty's word for a delivery the receiver refused for good (a 4xx other than 429)

    def __init__(
        self,
        *,
        secrets: Sequence[str],
        subscription_id: str,
        clock: Callable[[], datetime],
        max_attempts: int = 5,
        backoff_seconds: float = 0.2,
        timeout_seconds: float = 5.0,
    ) -> None:
        super().__init__("pagerduty-webhooks", timeout_seconds)
        self.secrets = list(secrets)
        self.subscription_id = subscription_id
        self.max_attempts = max(1, max_attempts)
        self.backoff_seconds = backoff_seconds
        self.deliveries: list[Delivery] = []
        self.disabled_until: datetime | None = None
        self._clock = clock
        self._consecutive_drops = 0

    def enqueue(self, envelope: dict[str, Any]) -> Delivery:
        """Queue one `{"event": {...}}` envelope; returns its delivery record (updated as it progresses)."""
        event = envelope["event"]
        data = event.get("data") or {}
        incident = data.get("incident") if data.get("type") != "incident" else data
        delivery = Delivery(
            id=str(uuid.uuid4()),
            event_id=str(event["id"]),
            event_type=str(event["event_type"]),
            incident_id=incident.get("id") if isinstance(incident, dict) else None,
        )
        self.deliveries.append(delivery)
        if self.disabled:
            delivery.status = "discarded"
            return delivery
        # Serialised now, so the body (and so the signature) reflects the incident as it was when the event happened.
        body = json.dumps(envelope, separators=(",", ":")).encode()
        self._put(delivery, body)
        return delivery

    @property
    def disabled(self) -> bool:
        return self.disabled_until is not None and self._clock() < self.disabled_until

    def enable(self) -> None:
        """Re-enable a disabled subscription, as a PagerDuty admin can from the web app."""
        self.disabled_until = None
        self._consecutive_drops = 0

    def snapshot(self) -> dict[str, object]:
        return {
            "subscription": {
                "id": self.subscription_id,
                "url": self.url,
                "disabled_until": self.disabled_until.isoformat() if self.disabled and self.disabled_until else None,
            },
            "deliveries": [asdict(d) for d in self.deliveries],
        }

    async def _deliver(self, delivery: Delivery, body: bytes) -> None:
        if self.disabled:
            delivery.status = "discarded"
            return
        if not self.url:
            delivery.status = "no_webhook_url"
            return
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": USER_AGENT,
            "X-Webhook-Id": delivery.id,
            "X-Webhook-Subscription": self.subscription_id,
        }
        if self.secrets:
            headers["X-PagerDuty-Signature"] = sign(self.secrets, body)
        self._http()
        while True:
            delivery.attempts += 1
            retry = await self._attempt(delivery, body, headers)
            if not retry:
                break
            if delivery.attempts >= self.max_attempts:
                delivery.status = "failed"
                break
            await asyncio.sleep(self.backoff_seconds * 2 ** (delivery.attempts - 1))
        if delivery.status == "delivered":
            self._consecutive_drops = 0
            return
        self._consecutive_drops += 1
        if self._consecutive_drops >= DISABLE_AFTER_DROPS:
            self.disabled_until = self._clock() + DISABLE_FOR
            self._discard_queued()

    def _discard_queued(self) -> None:
        queue = self._ensure_queue()
        while not queue.empty():
            delivery, _ = queue.get_nowait()
            delivery.status = "discarded"
            queue.task_done()
