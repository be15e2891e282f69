"""ServiceNow's business rule, read: the signature (`X-ServiceNow-Signature`) and the delivery's JSON as the domain's
`TicketEvent` (bot/domain/ticket_rules.py). The only code that knows what the README's business rule sends.

`ServiceNowWebhook` is the `Webhook` the intake checks and stores deliveries with, and the `EventReader` the worker
applies them with (bot/ports.py). The rule sends every field as a string (sandbox/servicenow/webhooks.py, its
script). Two typed readings, pydantic models of that body:

- at the door (`read_delivery`), what makes a delivery: an object whose table, operation, sys_id, number and
  updated_by are non-empty strings, on the incident table, with a readable `updated_on`. Anything else is refused
  with a one-line reason and never stored; what is stored is the cleaned JSON (bot/adapters/wire.py).
- when applying (`read_event`), the ticket's other fields, each a string (or null): a delivery whose content does
  not read is a DeliveryError naming the field, and the worker quarantines it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, ValidationError

from bot.adapters import wire
from bot.domain.ticket_rules import CREATED_BY_LENGTH, TicketEvent
from bot.errors import DeliveryError
from bot.ports import Delivery


class ServiceNowWebhook:
    """Deliveries of the business rule, signed with SERVICENOW_WEBHOOK_SECRET (hex HMAC-SHA256 of the raw body);
    without a secret, none is accepted. `integration_user` (SERVICENOW_USERNAME): a delivery of an update it made is
    the bot's own write coming back, an echo."""

    def __init__(self, secret: str | None, integration_user: str | None = None) -> None:
        self._secret = secret
        user = (integration_user or "").strip().lower()
        # As ServiceNow stamps it, too: `sys_updated_by` is a String of 40, a longer user ID cut to it.
        self._integration_users = frozenset({user, user[:CREATED_BY_LENGTH]} if user else ())

    def check_signature(self, body: bytes, headers: Mapping[str, str]) -> None:
        signature = (headers.get("X-ServiceNow-Signature") or "").strip().lower()
        expected = hmac.new((self._secret or "").encode(), body, hashlib.sha256).hexdigest()
        if not self._secret or not signature.isascii() or not hmac.compare_digest(signature.encode(),
                                                                                  expected.encode()):
            raise DeliveryError("X-ServiceNow-Signature does not match SERVICENOW_WEBHOOK_SECRET (hex HMAC-SHA256 of "
                                "the raw body; see the README's business rule)")

    def read_delivery(self, body: bytes, headers: Mapping[str, str]) -> Delivery:
        document, stored = wire.read_to_store(body)
        rule = _valid(RuleDelivery, document)
        # The business rule may not send a delivery id: the body's digest stands in, so a resend is still a duplicate.
        delivery_id = wire.header_id(headers, "X-ServiceNow-Delivery") or hashlib.sha256(body).hexdigest()[:32]
        updated_on = _parse_time(rule.updated_on) if rule.updated_on else None
        return Delivery(delivery_id=delivery_id, event_id=delivery_id, event_type=f"ticket.{rule.operation}",
                        incident_id=_linked(document.get("correlation_id"), document.get("x_pd_integration_incident")),
                        occurred_at=updated_on.isoformat() if updated_on else None, body=stored,
                        echo=rule.updated_by.strip().lower() in self._integration_users)

    def read_event(self, body: str, event_id: str) -> TicketEvent:
        """The stored body's ticket event; `event_id` is its delivery id."""
        return read_ticket_event(wire.read_stored(body), event_id)


# A time that says its offset: east or west of UTC, with or without the colon.
_ZONED = re.compile(r"[+-]\d{2}:?\d{2}$")


def _parse_time(text: str) -> datetime:
    """ServiceNow's "2026-11-27 10:00:00" — UTC: the README's business rule sends `getValue('sys_updated_on')`,
    GlideRecord's internal value, which is UTC whatever the instance's or the user's time zone (only a display value
    is local) — or ISO 8601 with 'Z' or an offset, converted to UTC: every time the bot keeps is UTC, shown with a
    "Z" and sorted as text (found in review: 12:07+02:00 was shown as 12:07Z)."""
    iso = text.replace(" ", "T").replace("Z", "+00:00")
    parsed = datetime.fromisoformat(iso if _ZONED.search(iso) else iso + "+00:00")
    if parsed.tzinfo is None:
        raise ValueError(f"timestamp {text!r} has no time zone")
    return parsed.astimezone(UTC)


def _date_time(text: str) -> str:
    if text:
        try:
            _parse_time(text)  # in range in UTC (converted there)
        except (ValueError, OverflowError):
            raise ValueError("is not a date-time") from None
    return text


Required = wire.Identifier
_STRICT = wire.STRICT_MODEL


class RuleDelivery(BaseModel):
    """What makes a body one of the business rule's deliveries."""

    model_config = _STRICT
    table: Required
    operation: Required
    sys_id: Required
    number: Required
    updated_by: Required
    updated_on: Annotated[str, AfterValidator(_date_time)] = ""


_R = TypeVar("_R", bound=RuleDelivery)


class Rule(RuleDelivery):
    """The whole delivery, as the worker reads it."""

    short_description: str | None = None
    assignment_group: str | None = None
    category: str | None = None
    state: str | None = None
    correlation_id: str | None = None
    x_pd_integration_incident: str | None = None
    work_notes: str | None = None
    comments: str | None = None
    impact: str | None = None
    urgency: str | None = None
    close_notes: str | None = None
    # Before this update: sent by the README's script since it tells the desk's resolution and reassignments.
    previous_state: str | None = None
    previous_group: str | None = None
    previous_impact: str | None = None  # (since it tells a ticket raised after it paged)
    previous_urgency: str | None = None


def read_ticket_event(body: Any, delivery_id: str) -> TicketEvent:
    """Check a ServiceNow business-rule delivery's shape; DeliveryError says what is wrong in one line."""
    rule = _valid(Rule, body)
    return TicketEvent(
        delivery_id=delivery_id, operation=rule.operation, sys_id=rule.sys_id, number=rule.number,
        short_description=rule.short_description or "", assignment_group=rule.assignment_group or "",
        category=rule.category or "", state=rule.state or "",
        linked_incident=_linked(rule.correlation_id, rule.x_pd_integration_incident), updated_by=rule.updated_by,
        updated_on=_parse_time(rule.updated_on) if rule.updated_on else None, work_note=rule.work_notes or "",
        comment=rule.comments or "", impact=rule.impact or "", urgency=rule.urgency or "",
        close_notes=rule.close_notes or "", previous_state=rule.previous_state, previous_group=rule.previous_group,
        previous_impact=rule.previous_impact, previous_urgency=rule.previous_urgency,
        from_pagerduty=_linked(None, rule.x_pd_integration_incident) is not None)


def _valid(model: type[_R], body: Any) -> _R:
    if not isinstance(body, dict):
        raise DeliveryError("body is not a JSON object")
    try:
        rule = model.model_validate(body)
    except ValidationError as error:
        missing = [str(e["loc"][0]) for e in error.errors() if e["type"] in ("missing", "string_too_short")]
        if missing:
            raise DeliveryError(f"missing field(s) {', '.join(missing)}: send what the README's business rule "
                                "sends") from None
        raise DeliveryError(wire.reason(error, "")) from None
    if rule.table != "incident":
        raise DeliveryError(f"table {rule.table!r} is not handled; only 'incident' tickets are")
    return rule


def _linked(correlation_id: object, pagerduty_field: object) -> str | None:
    """The PagerDuty incident a ticket is linked to: its correlation id or PagerDuty's own field, if a string."""
    for candidate in (correlation_id, pagerduty_field):
        if isinstance(candidate, str) and 0 < len(candidate) <= wire.MAX_HEADER_ID:
            return candidate
    return None
