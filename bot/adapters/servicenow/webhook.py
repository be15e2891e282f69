"""ServiceNow's business rule, read: the signature (`X-ServiceNow-Signature`) and the delivery's JSON as the domain's
`TicketEvent` (bot/domain/ticket_rules.py). The only code that knows what the README's business rule sends.

`ServiceNowWebhook` is the `Webhook` the intake checks and stores deliveries with, and the `EventReader` the worker
applies them with (bot/ports.py).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from bot.domain.ticket_rules import TicketEvent
from bot.errors import DeliveryError
from bot.ports import Delivery

REQUIRED = ("table", "operation", "sys_id", "number", "updated_by")


class ServiceNowWebhook:
    """Deliveries of the business rule, signed with SERVICENOW_WEBHOOK_SECRET (hex HMAC-SHA256 of the raw body);
    without a secret, none is accepted."""

    def __init__(self, secret: str | None) -> None:
        self._secret = secret

    def check_signature(self, body: bytes, headers: Mapping[str, str]) -> None:
        signature = (headers.get("X-ServiceNow-Signature") or "").strip().lower()
        expected = hmac.new((self._secret or "").encode(), body, hashlib.sha256).hexdigest()
        if not self._secret or not hmac.compare_digest(signature.encode(), expected.encode()):
            raise DeliveryError("X-ServiceNow-Signature does not match SERVICENOW_WEBHOOK_SECRET (hex HMAC-SHA256 of "
                                "the raw body; see the README's business rule)")

    def read_delivery(self, body: bytes, headers: Mapping[str, str]) -> Delivery:
        try:
            document = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise DeliveryError(f"body is not JSON ({error.__class__.__name__})") from None
        # The business rule may not send a delivery id: the body's digest stands in, so a resend is still a duplicate.
        delivery_id = headers.get("X-ServiceNow-Delivery") or hashlib.sha256(body).hexdigest()[:32]
        event = read_ticket_event(document, delivery_id)
        return Delivery(delivery_id=delivery_id, event_id=delivery_id, event_type=f"ticket.{event.operation}",
                        incident_id=event.linked_incident,
                        occurred_at=event.updated_on.isoformat() if event.updated_on else None)

    def read_event(self, body: str, event_id: str) -> TicketEvent:
        """The stored body's ticket event; `event_id` is its delivery id."""
        try:
            document = json.loads(body)
        except ValueError as error:
            raise DeliveryError(str(error)) from error
        return read_ticket_event(document, event_id)


def read_ticket_event(body: Any, delivery_id: str) -> TicketEvent:
    """Check a ServiceNow business-rule delivery's shape; DeliveryError says what is wrong in one line."""
    if not isinstance(body, dict):
        raise DeliveryError("body is not a JSON object")
    missing = [k for k in REQUIRED if not isinstance(body.get(k), str) or not body[k]]
    if missing:
        raise DeliveryError(f"missing field(s) {', '.join(missing)}: send what the README's business rule sends")
    if body["table"] != "incident":
        raise DeliveryError(f"table {body['table']!r} is not handled; only 'incident' tickets are")
    updated_on = None
    if isinstance(body.get("updated_on"), str) and body["updated_on"]:
        try:
            updated_on = _parse_time(body["updated_on"])
        except ValueError:
            raise DeliveryError("updated_on is not a date-time") from None
    linked = str(body.get("correlation_id") or body.get("x_pd_integration_incident") or "") or None
    return TicketEvent(
        delivery_id=delivery_id, operation=str(body["operation"]), sys_id=str(body["sys_id"]),
        number=str(body["number"]), short_description=str(body.get("short_description") or ""),
        assignment_group=str(body.get("assignment_group") or ""), category=str(body.get("category") or ""),
        state=str(body.get("state") or ""), linked_incident=linked, updated_by=str(body["updated_by"]),
        updated_on=updated_on, work_note=str(body.get("work_notes") or ""), comment=str(body.get("comments") or ""))


def _parse_time(text: str) -> datetime:
    """ServiceNow's "2026-11-27 10:00:00" (UTC, as the business rule sends it) or ISO 8601 with 'Z' or an offset."""
    iso = text.replace(" ", "T") + ("" if "Z" in text or "+" in text else "Z")
    parsed = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError(f"timestamp {text!r} has no time zone")
    return parsed
