"""PagerDuty Webhooks v3, read: the signature (`X-PagerDuty-Signature`), the envelope, and the event in it as the
domain's `IncidentEvent` (bot/domain/events.py). The only code that knows the webhook's JSON.

`PagerDutyWebhook` is the `Webhook` the intake checks and stores deliveries with, and the `EventReader` the worker
applies them with (bot/ports.py). Reading never rejects an event type we do not handle: those are kept (the inbox
stores everything, and PagerDuty disables a subscription after dropped deliveries) and simply change nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from bot.domain.events import IncidentEvent, IncidentSnapshot, Person
from bot.errors import DeliveryError
from bot.ports import Delivery


class PagerDutyWebhook:
    """Deliveries of PagerDuty's v3 webhooks, signed with any of `secrets` (several while a secret is rotated)."""

    def __init__(self, secrets: Sequence[str]) -> None:
        self._secrets = list(secrets)

    def check_signature(self, body: bytes, headers: Mapping[str, str]) -> None:
        if not signature_matches(self._secrets, body, headers.get("X-PagerDuty-Signature")):
            raise DeliveryError("X-PagerDuty-Signature does not match any configured PAGERDUTY_WEBHOOK_SECRETS")

    def read_delivery(self, body: bytes, headers: Mapping[str, str]) -> Delivery:
        try:
            document = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise DeliveryError(f"body is not JSON ({error.__class__.__name__} at position "
                                f"{getattr(error, 'pos', 0)})") from None
        event = read_envelope(document)
        data: dict[str, Any] = event["data"] if isinstance(event.get("data"), dict) else {}
        incident_id = (str(data["id"]) if data.get("id") else None) if data.get("type") == "incident" \
            else _incident_ref(data)
        return Delivery(delivery_id=headers.get("X-Webhook-Id") or event["id"], event_id=event["id"],
                        event_type=event["event_type"], incident_id=incident_id, occurred_at=event["occurred_at"])

    def read_event(self, body: str, event_id: str) -> IncidentEvent:
        """The stored body's event (`event_id` is in the body too). Whatever does not read is a DeliveryError."""
        try:
            return read_event(json.loads(body))
        except DeliveryError:
            raise
        except (ValueError, KeyError, TypeError) as error:  # a body that passed the envelope but not the snapshot
            raise DeliveryError(str(error)) from error


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


def parse_time(text: str) -> datetime:
    """PagerDuty timestamps: ISO 8601 with 'Z' (or an offset) and optional fractional seconds."""
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError(f"timestamp {text!r} has no time zone")
    return parsed


def read_envelope(body: Any) -> dict[str, Any]:
    """Check the v3 envelope's shape; return `event`. Raises DeliveryError with the reason."""
    if not isinstance(body, dict) or not isinstance(body.get("event"), dict):
        raise DeliveryError("missing the 'event' envelope: expected {\"event\": {...}} as PagerDuty Webhooks v3 send")
    event: dict[str, Any] = body["event"]
    for key in ("id", "event_type", "occurred_at"):
        if not isinstance(event.get(key), str) or not event[key]:
            raise DeliveryError(f"event.{key} is missing or not a string")
    try:
        parse_time(event["occurred_at"])
    except ValueError:
        raise DeliveryError("event.occurred_at is not an ISO 8601 timestamp with a time zone") from None
    if "data" in event and not isinstance(event["data"], (dict, type(None))):
        raise DeliveryError("event.data is not an object")
    return event


def read_event(body: Any) -> IncidentEvent:
    """Read a whole webhook body (already JSON-decoded) into an IncidentEvent."""
    event = read_envelope(body)
    data = event.get("data") or {}
    event_type = event["event_type"]
    snapshot = _snapshot(data) if data.get("type") == "incident" else None
    incident_id = snapshot.id if snapshot else _incident_ref(data)
    return IncidentEvent(
        id=event["id"], type=event_type, occurred_at=parse_time(event["occurred_at"]),
        incident_id=incident_id if event_type.startswith("incident.") else None,
        agent=_person(event.get("agent")), snapshot=snapshot, detail=data,
    )


def _person(ref: Any) -> Person | None:
    if not isinstance(ref, dict) or not ref.get("id"):
        return None
    return Person(id=str(ref["id"]), name=str(ref.get("summary") or ref.get("name") or ref["id"]))


def _incident_ref(data: dict[str, Any]) -> str | None:
    incident = data.get("incident")
    if isinstance(incident, dict) and incident.get("id"):
        return str(incident["id"])
    return None


def _snapshot(data: dict[str, Any]) -> IncidentSnapshot:
    if not data.get("id"):
        raise DeliveryError("event.data.id is missing for an incident event")
    service = data.get("service") or {}
    policy = data.get("escalation_policy") or {}
    priority = data.get("priority") or {}
    assignees = tuple(p for p in (_person(a) for a in data.get("assignees") or []) if p)
    created = data.get("created_at")
    return IncidentSnapshot(
        id=str(data["id"]), number=int(data.get("number") or 0), title=str(data.get("title") or "(untitled)"),
        status=str(data.get("status") or "triggered"), urgency=str(data.get("urgency") or "high"),
        priority=str(priority["summary"]) if priority.get("summary") else None,
        service_id=str(service.get("id") or ""), service_name=str(service.get("summary") or service.get("id") or ""),
        escalation_policy_id=policy.get("id"), escalation_policy_name=policy.get("summary"),
        html_url=str(data.get("html_url") or ""), assignees=assignees,
        created_at=parse_time(created) if isinstance(created, str) else None,
        incident_key=str(data["incident_key"]) if data.get("incident_key") else None,
    )
