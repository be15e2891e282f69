"""PagerDuty's v3 webhook, read by its adapter: the signature, the envelope's reasons for refusing a body, what the
inbox keeps of a delivery, and a stored body read back into the domain's event."""

from __future__ import annotations

import json
import re
from typing import Any

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


@pytest.mark.parametrize(("body", "reason"), [
    (b"not json", r"body is not JSON \(Expecting value at position 0\)"),
    (b'{"event": {"id": "1",', r"body is not JSON \(Expecting property name enclosed in double quotes at position"),
    (b"\xff\xfe{\x00}\x00", r"body is not UTF-8"),
])
def test_a_body_that_is_not_json_is_refused_with_where_it_broke(body: bytes, reason: str) -> None:
    with pytest.raises(DeliveryError, match=reason):
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


def test_a_clean_body_is_stored_as_it_came_and_one_to_clean_is_stored_cleaned() -> None:
    webhook = PagerDutyWebhook([SECRET])
    sent = json.dumps(incident_event("incident.triggered", title="Café down"), ensure_ascii=False, indent=1)
    assert webhook.read_delivery(sent.encode(), {}).body == sent  # not written out again: the same document
    escaped = incident_event("incident.triggered", title="half an emoji \ud83d and a NUL \x00")
    stored = webhook.read_delivery(json.dumps(escaped).encode(), {}).body
    assert json.loads(stored)["event"]["data"]["title"] == "half an emoji \ufffd and a NUL "


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
    with pytest.raises(DeliveryError, match=r"^event\.data\.number is a string, not a whole number$"):
        webhook.read_event(json.dumps(broken), "E5")


def test_a_signature_header_with_a_non_ascii_byte_matches_nothing() -> None:
    body = json.dumps(incident_event("incident.triggered")).encode()
    # aiohttp hands a header's undecodable bytes on as lone surrogates (surrogateescape)
    assert not signature_matches([SECRET], body, sign(SECRET, body) + "\udcff")
    assert not signature_matches([SECRET], body, "v1=\u00e9")
    with pytest.raises(DeliveryError, match="X-PagerDuty-Signature"):
        PagerDutyWebhook([SECRET]).check_signature(body, {"X-PagerDuty-Signature": "v1=\udcff"})


def _triggered(**data: object) -> dict[str, Any]:
    event = incident_event("incident.triggered")
    event["event"]["data"].update(data)
    return event


def _note_about(incident: object) -> dict[str, Any]:
    event = note_event("on it")
    event["event"]["data"]["incident"] = incident
    return event


def _with_agent(agent: object) -> dict[str, Any]:
    event = incident_event("incident.triggered")
    event["event"]["agent"] = agent
    return event


# A well-formed envelope whose content does not read: stored at the door, a DeliveryError naming the field when the
# worker reads it (never a TypeError, KeyError, AttributeError or OverflowError).
UNREADABLE_CONTENT = [
    pytest.param(_triggered(number=1e30), r"event\.data\.number is 1e\+30, not a whole number", id="number 1e30"),
    pytest.param(_triggered(number=2 ** 63), r"event\.data\.number is 9223372036854775808, beyond a 64-bit integer",
                 id="number 2^63"),
    pytest.param(_triggered(number=-1), r"event\.data\.number is -1, not a whole number from 0", id="number -1"),
    pytest.param(_triggered(number=float("inf")), r"event\.data\.number is Infinity, not a finite number",
                 id="number Infinity"),
    pytest.param(_triggered(trimmed=float("nan")), r"event\.data\.trimmed is NaN, not a finite number",
                 id="NaN elsewhere in data"),
    pytest.param(_triggered(number=True), r"event\.data\.number is true, not a whole number", id="number true"),
    pytest.param(_triggered(id={"id": "PGR0VU2"}), r"event\.data\.id is an object, not a string", id="id an object"),
    pytest.param(_triggered(id=""), r"event\.data\.id is empty", id="id empty"),
    pytest.param(_triggered(service="PCHECKO"), r"event\.data\.service is a string, not an object",
                 id="service a string"),
    pytest.param(_triggered(priority="P1"), r"event\.data\.priority is a string, not an object",
                 id="priority a string"),
    pytest.param(_triggered(priority={"summary": 1}), r"event\.data\.priority\.summary is 1, not a string",
                 id="priority summary a number"),
    pytest.param(_triggered(assignees={"id": "PU1"}), r"event\.data\.assignees is an object, not a list",
                 id="assignees an object"),
    pytest.param(_triggered(assignees=["PU1"]), r"event\.data\.assignees\[0\] is a string, not an object",
                 id="assignee a string"),
    pytest.param(_triggered(title=["a"]), r"event\.data\.title is a list, not a string", id="title a list"),
    pytest.param(_triggered(created_at="yesterday"),
                 r"event\.data\.created_at is not an ISO 8601 timestamp with a time zone", id="created_at not a time"),
    pytest.param(_note_about("PGR0VU2"), r"event\.data\.incident is a string, not an object",
                 id="data.incident a string"),
    pytest.param(_note_about(["PGR0VU2"]), r"event\.data\.incident is a list, not an object",
                 id="data.incident a list"),
    pytest.param(_note_about({"id": 7}), r"event\.data\.incident\.id is 7, not a string", id="incident id a number"),
    pytest.param(_with_agent("PLH1HKV"), r"event\.agent is a string, not an object", id="agent a string"),
]


@pytest.mark.parametrize(("body", "reason"), UNREADABLE_CONTENT)
def test_content_that_does_not_read_is_stored_then_a_delivery_error_naming_the_field(body: dict[str, Any],
                                                                                     reason: str) -> None:
    webhook = PagerDutyWebhook([SECRET])
    delivery = webhook.read_delivery(json.dumps(body).encode(), {})  # the door lets it in...
    with pytest.raises(DeliveryError, match=f"^{reason}"):  # ...the worker cannot read it, and says why
        webhook.read_event(delivery.body, delivery.event_id)


@pytest.mark.parametrize("data", [{"id": {"id": "PGR0VU2"}, "type": "incident"}, {"id": 7, "type": "incident"},
                                  {"incident": "PGR0VU2"}, {"incident": ["PGR0VU2"]}, {"incident": {"id": 7}},
                                  {"incident": {"id": "x" * 300}}],
                         ids=["id an object", "id a number", "incident a string", "incident a list",
                              "incident id a number", "incident id too long"])
def test_the_incident_a_delivery_is_ordered_by_is_only_an_id_that_is_a_string(data: dict[str, Any]) -> None:
    body = envelope("incident.annotated", data, occurred_at="2026-11-27T10:00:00Z")
    assert PagerDutyWebhook([SECRET]).read_delivery(json.dumps(body).encode(), {}).incident_id is None


def test_an_event_type_we_do_not_handle_is_not_read_further() -> None:
    body = envelope("incident.custom_field_values.updated", {"id": {"x": 1}, "type": "incident", "number": 1e30,
                                                             "incident": ["odd"]}, occurred_at="2026-11-27T10:00:00Z")
    event = PagerDutyWebhook([SECRET]).read_event(json.dumps(body), "E1")
    assert (event.type, event.handled, event.incident_id) == ("incident.custom_field_values.updated", False, None)


def test_the_stored_body_is_the_cleaned_json() -> None:
    raw = json.dumps(incident_event("incident.triggered", title="S\ud83d\x00 down")).encode()
    assert b"\\ud83d" in raw and b"\\u0000" in raw
    delivery = PagerDutyWebhook([SECRET]).read_delivery(b"\xef\xbb\xbf" + raw, {})
    assert json.loads(delivery.body)["event"]["data"]["title"] == "S\ufffd down"
    event = PagerDutyWebhook([SECRET]).read_event(delivery.body, delivery.event_id)
    assert event.snapshot is not None and event.snapshot.title == "S\ufffd down"


@pytest.mark.parametrize(("header", "reason"), [("D\u00e9", "X-Webhook-Id is not a delivery id"),
                                                ("D\udcff", "X-Webhook-Id is not a delivery id"),
                                                ("D" * 256, "X-Webhook-Id is not a delivery id")])
def test_a_delivery_id_header_that_is_not_printable_ascii_is_refused(header: str, reason: str) -> None:
    body = json.dumps(incident_event("incident.triggered")).encode()
    with pytest.raises(DeliveryError, match=reason):
        PagerDutyWebhook([SECRET]).read_delivery(body, {"X-Webhook-Id": header})


@pytest.mark.parametrize(("event", "reason"), [
    ({"id": "x" * 256, "event_type": "incident.triggered", "occurred_at": "2026-01-01T00:00:00Z"},
     "event.id is longer than 255 characters"),
    ({"id": 5, "event_type": "incident.triggered", "occurred_at": "2026-01-01T00:00:00Z"},
     "event.id is 5, not a string"),
    ({"id": "1", "event_type": ["incident.triggered"], "occurred_at": "2026-01-01T00:00:00Z"},
     "event.event_type is a list, not a string"),
    ({"id": "1", "event_type": "incident.triggered", "occurred_at": 1767225600},
     "event.occurred_at is 1767225600, not a string"),
    ({"id": "", "event_type": "incident.triggered", "occurred_at": "2026-01-01T00:00:00Z"}, "event.id is empty"),
    ({"id": "1", "event_type": "incident.triggered", "occurred_at": "9999-12-31T23:59:59-23:59"},
     "event.occurred_at is not an ISO 8601 timestamp with a time zone"),
    ({"id": "1", "event_type": "incident.triggered", "occurred_at": "2026-01-01T00:00:00Z", "data": "x"},
     "event.data is a string, not an object"),
])
def test_a_broken_envelope_is_refused_naming_the_field(event: dict[str, Any], reason: str) -> None:
    with pytest.raises(DeliveryError, match=f"^{re.escape(reason)}$"):
        PagerDutyWebhook([SECRET]).read_delivery(json.dumps({"event": event}).encode(), {})
