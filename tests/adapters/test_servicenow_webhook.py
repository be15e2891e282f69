"""ServiceNow's business rule, read by its adapter: the signature, the delivery's reasons for refusing a body, its
times and links, what the inbox keeps of it, and a stored body read back into the domain's ticket event."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from bot.adapters.servicenow.webhook import ServiceNowWebhook, read_ticket_event
from bot.errors import DeliveryError

SECRET = "rule-secret"


def rule(**changes: Any) -> dict[str, Any]:
    """What the README's business rule sends for a ticket, with `changes`."""
    return {"table": "incident", "operation": "update", "sys_id": "abc123", "number": "INC0010001",
            "short_description": "Checkout down", "state": "2", "assignment_group": "Payments",
            "category": "software", "correlation_id": "Q1", "x_pd_integration_incident": "",
            "updated_by": "jane.agent", "updated_on": "2026-11-27 10:07:00", "work_notes": "", "comments": ""} | changes


def signed(body: bytes, secret: str = SECRET) -> dict[str, str]:
    return {"X-ServiceNow-Signature": hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()}


def test_only_a_body_signed_with_the_secret_is_accepted() -> None:
    body = json.dumps(rule()).encode()
    ServiceNowWebhook(SECRET).check_signature(body, signed(body))
    upper = {"X-ServiceNow-Signature": signed(body)["X-ServiceNow-Signature"].upper()}
    ServiceNowWebhook(SECRET).check_signature(body, upper)  # hex in either case
    for webhook, headers in ((ServiceNowWebhook(SECRET), signed(body, "another")),
                             (ServiceNowWebhook(SECRET), {}),
                             (ServiceNowWebhook(None), signed(body, ""))):  # no secret configured: nothing is trusted
        with pytest.raises(DeliveryError, match="X-ServiceNow-Signature does not match SERVICENOW_WEBHOOK_SECRET"):
            webhook.check_signature(body, headers)


@pytest.mark.parametrize(("body", "reason"), [
    ([1, 2], "body is not a JSON object"),
    ({"table": "incident", "operation": "update"}, "missing field(s) sys_id, number, updated_by"),
    (rule(updated_by=""), "missing field(s) updated_by"),
    (rule(table="problem"), "table 'problem' is not handled"),
    (rule(updated_on="last Tuesday"), "updated_on is not a date-time"),
    (rule(updated_on="2026-11-27T10:07:00-25:00"), "updated_on is not a date-time"),
])
def test_malformed_deliveries_say_why(body: Any, reason: str) -> None:
    with pytest.raises(DeliveryError, match=re.escape(reason)):
        read_ticket_event(body, "D1")


@pytest.mark.parametrize(("body", "reason"), [
    (b"table=incident&sys_id=1", "body is not JSON (Expecting value at position 0)"),
    (json.dumps(rule()).encode("utf-16"), "body is not UTF-8"),
    (b"[" * 5000 + b"]" * 5000, "body is nested more than 64 levels deep"),
    (b"[1, 2]", "body is not a JSON object"),
])
def test_a_body_that_is_not_json_is_refused(body: bytes, reason: str) -> None:
    with pytest.raises(DeliveryError, match=re.escape(reason)):
        ServiceNowWebhook(SECRET).read_delivery(body, {})


@pytest.mark.parametrize(("updated_on", "expected"), [
    ("2026-11-27 10:07:00", datetime(2026, 11, 27, 10, 7, tzinfo=UTC)),  # the rule's own format, in UTC
    ("2026-11-27T10:07:00Z", datetime(2026, 11, 27, 10, 7, tzinfo=UTC)),
    ("2026-11-27T11:07:00+01:00", datetime(2026, 11, 27, 11, 7, tzinfo=timezone(timedelta(hours=1)))),
    # West of UTC: refused as "not a date-time" before session 20 (a 'Z' was added after the offset).
    ("2026-11-27T05:07:00-05:00", datetime(2026, 11, 27, 5, 7, tzinfo=timezone(timedelta(hours=-5)))),
    ("2026-11-27T05:07:00-0500", datetime(2026, 11, 27, 5, 7, tzinfo=timezone(timedelta(hours=-5)))),
    ("", None),
])
def test_update_times_are_read_as_utc_unless_they_say_otherwise(updated_on: str, expected: datetime | None) -> None:
    read = read_ticket_event(rule(updated_on=updated_on), "D1").updated_on
    # Kept in UTC whatever offset it was sent with: the bot shows its times with a "Z" and sorts them as text.
    assert read == expected and (read is None or read.tzinfo is UTC)


@pytest.mark.parametrize(("links", "expected"), [
    ({"correlation_id": "Q1"}, "Q1"),
    ({"correlation_id": "", "x_pd_integration_incident": "Q2"}, "Q2"),  # PagerDuty's own integration field
    ({"correlation_id": "", "x_pd_integration_incident": ""}, None),
])
def test_a_ticket_is_linked_by_correlation_id_or_pagerdutys_field(links: dict[str, str],
                                                                  expected: str | None) -> None:
    assert read_ticket_event(rule(**links), "D1").linked_incident == expected


def test_the_inbox_keeps_the_delivery_id_the_operation_and_the_linked_incident() -> None:
    webhook = ServiceNowWebhook(SECRET)
    body = json.dumps(rule(operation="insert")).encode()
    delivery = webhook.read_delivery(body, {"X-ServiceNow-Delivery": "D7"})
    assert (delivery.delivery_id, delivery.event_id, delivery.event_type, delivery.incident_id,
            delivery.occurred_at) == ("D7", "D7", "ticket.insert", "Q1", "2026-11-27T10:07:00+00:00")
    # Without a delivery id the body's digest stands in (a resend is the same delivery); without a time, None.
    undated = json.dumps(rule(updated_on="")).encode()
    first, again = webhook.read_delivery(undated, {}), webhook.read_delivery(undated, {})
    assert first.delivery_id == again.delivery_id == hashlib.sha256(undated).hexdigest()[:32]
    assert first.occurred_at is None


def test_a_stored_body_reads_back_into_the_ticket_event() -> None:
    webhook = ServiceNowWebhook(SECRET)
    event = webhook.read_event(json.dumps(rule(work_notes="restarted the pods")), "D8")
    assert (event.delivery_id, event.number, event.work_note, event.linked_incident) == (
        "D8", "INC0010001", "restarted the pods", "Q1")
    with pytest.raises(DeliveryError, match="Expecting value"):
        webhook.read_event("not json", "D9")


def test_a_signature_header_with_a_non_ascii_byte_is_refused() -> None:
    body = json.dumps(rule()).encode()
    for header in (signed(body)["X-ServiceNow-Signature"] + "\udcff", "\u00e9" * 64):
        with pytest.raises(DeliveryError, match="X-ServiceNow-Signature does not match"):
            ServiceNowWebhook(SECRET).check_signature(body, {"X-ServiceNow-Signature": header})


@pytest.mark.parametrize(("changes", "reason"), [
    ({"sys_id": 5}, "sys_id is 5, not a string"),
    ({"operation": ["update"]}, "operation is a list, not a string"),
    ({"updated_on": 1767225600}, "updated_on is 1767225600, not a string"),
    ({"number": "x" * 256}, "number is longer than 255 characters"),
    ({"updated_on": "0001-01-01T00:00:00+23:59"}, "updated_on is not a date-time"),
])
def test_a_body_that_is_not_the_rules_is_refused_at_the_door_naming_the_field(changes: dict[str, Any],
                                                                            reason: str) -> None:
    with pytest.raises(DeliveryError, match=f"^{re.escape(reason)}$"):
        ServiceNowWebhook(SECRET).read_delivery(json.dumps(rule(**changes)).encode(), {})


@pytest.mark.parametrize(("changes", "reason"), [
    ({"work_notes": 5}, "work_notes is 5, not a string"),
    ({"state": {"value": "2"}}, "state is an object, not a string"),
    ({"short_description": ["a"]}, "short_description is a list, not a string"),
    ({"correlation_id": ["Q1"]}, "correlation_id is a list, not a string"),
    ({"comments": 1e400}, "comments is Infinity, not a string"),
])
def test_content_that_does_not_read_is_stored_then_a_delivery_error_naming_the_field(changes: dict[str, Any],
                                                                                     reason: str) -> None:
    webhook = ServiceNowWebhook(SECRET)
    delivery = webhook.read_delivery(json.dumps(rule(**changes)).encode(), {})
    with pytest.raises(DeliveryError, match=f"^{re.escape(reason)}$"):
        webhook.read_event(delivery.body, delivery.event_id)


def test_a_linked_incident_that_is_not_a_string_does_not_order_the_delivery() -> None:
    body = json.dumps(rule(correlation_id={"id": "Q1"}, x_pd_integration_incident="")).encode()
    assert ServiceNowWebhook(SECRET).read_delivery(body, {}).incident_id is None


def test_half_an_emoji_in_a_work_note_is_stored_with_the_replacement_character_and_read() -> None:
    # The business rule escapes each UTF-16 unit (charCodeAt): half an emoji arrives as a lone surrogate escape.
    body = json.dumps(rule(work_notes="rolled back \ud83d")).encode()
    assert b"\\ud83d" in body
    webhook = ServiceNowWebhook(SECRET)
    delivery = webhook.read_delivery(body, {})
    assert webhook.read_event(delivery.body, delivery.event_id).work_note == "rolled back \ufffd"
