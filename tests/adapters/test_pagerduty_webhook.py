"""PagerDuty's v3 webhook, read by its adapter: the signature, the envelope's reasons for refusing a body, what the
inbox keeps of a delivery, and a stored body read back into the domain's event."""

from __future__ import annotations

import json
import re

import pytest

from bot.adapters.pagerduty.webhook import PagerDutyWebhook, read_event, signature_matches
from bot.errors import DeliveryError
from tests.helpers import envelope, fixture, incident_event, note_event, sign

SECRET = "s3cret"


def test_published_signature_vector() -> None:
    vector = fixture("signature-vector.json")
    body = vector["body"].encode()
    assert signature_matches([vector["secret"]], body, vector["valid_header"])
    assert not signature_matches([vector["secret"]], body, vector["invalid_header"])
    # Rotation: any configured secret, any offered v1= value, spaces tolerated.
    assert signature_matches(["old", vector["secret"]], body, f"v1=00ff, {vector['valid_header']}")
    assert not signature_matches([], body, vector["valid_header"])
    assert not signature_matches([vector["secret"]], body, None)
    assert not signature_matches([vector["secret"]], body, vector["valid_header"].replace("v1=", "v0="))


def test_an_unsigned_delivery_is_refused_naming_the_header_and_the_setting() -> None:
    webhook = PagerDutyWebhook([SECRET])
    body = json.dumps(incident_event("incident.triggered")).encode()
    webhook.check_signature(body, {"X-PagerDuty-Signature": sign(SECRET, body)})
    with pytest.raises(DeliveryError, match=r"X-PagerDuty-Signature .* PAGERDUTY_WEBHOOK_SECRETS"):
        webhook.check_signature(body, {"X-PagerDuty-Signature": sign("another", body)})
    with pytest.raises(DeliveryError):
        webhook.check_signature(body, {})


@pytest.mark.parametrize(("body", "reason"), [
    ({}, "missing the 'event' envelope"),
    ({"event": "x"}, "missing the 'event' envelope"),
    ({"event": {"event_type": "incident.triggered", "occurred_at": "2026-01-01T00:00:00Z"}}, "event.id"),
    ({"event": {"id": "1", "event_type": "incident.triggered", "occurred_at": "yesterday"}}, "ISO 8601"),
    ({"event": {"id": "1", "event_type": "incident.triggered", "occurred_at": "2026-11-27T10:00:00"}}, "time zone"),
    ({"event": {"id": "1", "event_type": "x", "occurred_at": "2026-01-01T00:00:00Z", "data": [1]}}, "data"),
])
def test_malformed_envelopes_say_why(body: object, reason: str) -> None:
    with pytest.raises(DeliveryError, match=re.escape(reason)):
        read_event(body)
    with pytest.raises(DeliveryError, match=re.escape(reason)):
        PagerDutyWebhook([SECRET]).read_delivery(json.dumps(body).encode(), {})


@pytest.mark.parametrize("body", [b"not json", b"\xff\xfe"])
def test_a_body_that_is_not_json_is_refused_with_where_it_broke(body: bytes) -> None:
    with pytest.raises(DeliveryError, match=r"body is not JSON \(\w+ at position \d+\)"):
        PagerDutyWebhook([SECRET]).read_delivery(body, {})


def test_the_inbox_keeps_the_ids_the_type_and_the_incident_of_a_delivery() -> None:
    webhook = PagerDutyWebhook([SECRET])
    triggered = json.dumps(incident_event("incident.triggered", event_id="E1", incident_id="Q1")).encode()
    delivery = webhook.read_delivery(triggered, {"X-Webhook-Id": "D1"})
    assert (delivery.delivery_id, delivery.event_id, delivery.event_type, delivery.incident_id,
            delivery.occurred_at) == ("D1", "E1", "incident.triggered", "Q1", "2026-11-27T10:00:00.000Z")
    # Without X-Webhook-Id the event id stands in; a note names its incident by reference.
    note = json.dumps(note_event("on it", incident_id="Q2", event_id="E2")).encode()
    delivery = webhook.read_delivery(note, {})
    assert (delivery.delivery_id, delivery.incident_id) == ("E2", "Q2")
    service = json.dumps(envelope("service.updated", fixture("data.service.json"),
                                  occurred_at="2026-11-27T10:00:00Z")).encode()
    assert webhook.read_delivery(service, {}).incident_id is None


def test_a_stored_body_reads_back_into_the_domains_event() -> None:
    body = incident_event("incident.acknowledged", event_id="E3", assignees=[("PU1", "Asha")], priority=None)
    event = PagerDutyWebhook([SECRET]).read_event(json.dumps(body), "E3")
    assert (event.id, event.type, event.incident_id, event.handled) == ("E3", "incident.acknowledged", "PGR0VU2",
                                                                       True)
    assert event.snapshot is not None and event.snapshot.status == "acknowledged"
    assert [p.name for p in event.snapshot.assignees] == ["Asha"] and event.snapshot.priority is None


def test_a_stored_body_that_does_not_read_is_a_delivery_error_with_the_reason() -> None:
    webhook = PagerDutyWebhook([SECRET])
    with pytest.raises(DeliveryError, match="Expecting value"):
        webhook.read_event("not json", "E4")
    broken = incident_event("incident.triggered")
    broken["event"]["data"]["number"] = "twelve"  # passes the envelope, not the snapshot
    with pytest.raises(DeliveryError, match="twelve"):
        webhook.read_event(json.dumps(broken), "E5")
