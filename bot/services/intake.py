"""Durable intake of PagerDuty Webhooks v3: authenticate, check the envelope, store in the inbox, then answer.

`PagerDutyIntake.receive` raises `Rejected(status, reason)` for what must not be stored (bad signature, bad body);
everything else — including event types we do not handle — is stored, because PagerDuty disables a subscription
after dropped deliveries. Nothing here logs a secret or a payload.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot.domain.events import EventError, read_envelope
from bot.domain.ticket_rules import read_ticket_event
from bot.ports.store import Inbox

MAX_BODY_BYTES = 256 * 1024


class Rejected(Exception):
    """The delivery is refused: `status` is the HTTP status to answer, `reason` a one-line explanation."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class Received:
    event_id: str
    event_type: str
    duplicate: bool


def signature_matches(secrets: Sequence[str], body: bytes, header: str | None) -> bool:
    """True if any `v1=` signature in the header is the HMAC-SHA256 of the body under any configured secret.
    The secret is used as raw bytes; every comparison is constant-time."""
    if not header or not secrets:
        return False
    offered = [part.strip()[3:] for part in header.split(",") if part.strip().startswith("v1=")]
    expected = [hmac.new(secret.encode(), body, hashlib.sha256).hexdigest() for secret in secrets]
    matched = False
    for signature in offered:
        for digest in expected:
            # No early exit: the time taken does not depend on which secret or signature matched.
            matched |= hmac.compare_digest(signature.encode(), digest.encode())
    return matched


class PagerDutyIntake:
    def __init__(self, store: Inbox, secrets: Sequence[str], on_stored: Callable[[], None]) -> None:
        self._store = store
        self._secrets = list(secrets)
        self._on_stored = on_stored

    async def receive(self, body: bytes, headers: Mapping[str, str]) -> Received:
        if len(body) > MAX_BODY_BYTES:
            raise Rejected(413, f"body is {len(body)} bytes; PagerDuty webhooks are at most {MAX_BODY_BYTES}")
        if not signature_matches(self._secrets, body, headers.get("X-PagerDuty-Signature")):
            raise Rejected(401, "X-PagerDuty-Signature does not match any configured PAGERDUTY_WEBHOOK_SECRETS")
        try:
            document = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise Rejected(400, f"body is not JSON ({error.__class__.__name__} at position "
                                f"{getattr(error, 'pos', 0)})") from None
        try:
            event = read_envelope(document)
        except EventError as error:
            raise Rejected(400, str(error)) from None
        data: dict[str, Any] = event["data"] if isinstance(event.get("data"), dict) else {}
        incident_id = data.get("id") if data.get("type") == "incident" else (data.get("incident") or {}).get("id")
        stored = await self._store.record_delivery(
            source="pagerduty", delivery_id=headers.get("X-Webhook-Id") or event["id"], event_id=event["id"],
            event_type=event["event_type"], incident_id=incident_id, occurred_at=event["occurred_at"],
            body=body.decode())
        if stored:
            self._on_stored()
        return Received(event["id"], event["event_type"], duplicate=not stored)


class ServiceNowIntake:
    """POST /servicenow/webhook: the business rule's deliveries, signed with SERVICENOW_WEBHOOK_SECRET
    (`X-ServiceNow-Signature`: hex HMAC-SHA256 of the raw body), stored like PagerDuty's before the answer."""

    def __init__(self, store: Inbox, secret: str | None, on_stored: Callable[[], None],
                 clock: Callable[[], str]) -> None:
        self._store, self._secret, self._on_stored, self._now = store, secret, on_stored, clock

    async def receive(self, body: bytes, headers: Mapping[str, str]) -> Received:
        if len(body) > MAX_BODY_BYTES:
            raise Rejected(413, f"body is {len(body)} bytes; at most {MAX_BODY_BYTES} are accepted")
        signature = (headers.get("X-ServiceNow-Signature") or "").strip().lower()
        expected = hmac.new((self._secret or "").encode(), body, hashlib.sha256).hexdigest()
        if not self._secret or not hmac.compare_digest(signature.encode(), expected.encode()):
            raise Rejected(401, "X-ServiceNow-Signature does not match SERVICENOW_WEBHOOK_SECRET (hex HMAC-SHA256 of "
                                "the raw body; see the README's business rule)")
        try:
            document = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise Rejected(400, f"body is not JSON ({error.__class__.__name__})") from None
        delivery_id = headers.get("X-ServiceNow-Delivery") or hashlib.sha256(body).hexdigest()[:32]
        try:
            event = read_ticket_event(document, delivery_id)
        except EventError as error:
            raise Rejected(400, str(error)) from None
        stored = await self._store.record_delivery(
            source="servicenow", delivery_id=delivery_id, event_id=delivery_id,
            event_type=f"ticket.{event.operation}", incident_id=event.linked_incident,
            occurred_at=event.updated_on.isoformat() if event.updated_on else self._now(), body=body.decode())
        if stored:
            self._on_stored()
        return Received(delivery_id, f"ticket.{event.operation}", duplicate=not stored)
