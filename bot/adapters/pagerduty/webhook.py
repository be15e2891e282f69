"""PagerDuty Webhooks v3, read: the signature (`X-PagerDuty-Signature`), the envelope, and the event in it as the
domain's `IncidentEvent` (bot/domain/events.py). The only code that knows the webhook's JSON.

`PagerDutyWebhook` is the `Webhook` the intake checks and stores deliveries with, and the `EventReader` the worker
applies them with (bot/ports.py). Two typed readings, both pydantic models of what PagerDuty documents:

- at the door (`read_delivery`), the v3 envelope: what does not follow it (not UTF-8, not JSON, too deep, no
  `event`, `event.id`/`event_type`/`occurred_at` missing or of the wrong type, `data` not an object) is refused
  with a one-line reason and never stored. The body stored is the cleaned JSON (bot/adapters/wire.py).
- when applying (`read_event`), the content of a handled event: the incident snapshot or the timeline event's
  fields, with integers within 64 bits and finite numbers. What does not read is a DeliveryError naming the field,
  never a TypeError: the worker quarantines that delivery. An event type we do not handle is read no further.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, Field, ValidationError

from bot.adapters import wire
from bot.domain.events import HANDLED_EVENTS, IncidentEvent, IncidentSnapshot, Person
from bot.errors import DeliveryError
from bot.ports import Delivery

_M = TypeVar("_M", bound=BaseModel)
ENVELOPE_MISSING = "missing the 'event' envelope: expected {\"event\": {...}} as PagerDuty Webhooks v3 send"


class PagerDutyWebhook:
    """Deliveries of PagerDuty's v3 webhooks, signed with any of `secrets` (several while a secret is rotated)."""

    def __init__(self, secrets: Sequence[str]) -> None:
        self._secrets = list(secrets)
        self._read = _ReadAtTheDoor()

    def check_signature(self, body: bytes, headers: Mapping[str, str]) -> None:
        if not signature_matches(self._secrets, body, headers.get("X-PagerDuty-Signature")):
            raise DeliveryError("X-PagerDuty-Signature does not match any configured PAGERDUTY_WEBHOOK_SECRETS")

    def read_delivery(self, body: bytes, headers: Mapping[str, str]) -> Delivery:
        document, stored, numbers_fit = wire.read_to_store_checked(body)
        envelope = read_envelope(document)
        self._read.keep(stored, (document, numbers_fit, envelope))
        return Delivery(delivery_id=wire.header_id(headers, "X-Webhook-Id") or envelope.id, event_id=envelope.id,
                        event_type=envelope.event_type, incident_id=_ordering_incident(envelope.data or {}),
                        occurred_at=envelope.occurred_at, body=stored)

    def read_event(self, body: str, event_id: str) -> IncidentEvent:
        """The stored body's event (`event_id` is in the body too). Whatever does not read is a DeliveryError."""
        read = self._read.take(body)
        if read is not None:  # this text as the door read it moments ago: the same document and envelope
            document, numbers_fit, envelope = read
            return read_event(document, numbers_fit=numbers_fit, envelope=envelope)
        document, numbers_fit = wire.read_stored_checked(body)
        return read_event(document, numbers_fit=numbers_fit)


# How many deliveries the door's readings are kept for, and the largest body kept (a delivery the applier does not
# take at once — stored pending, or applied in another process — only waits to be forgotten).
KEPT_READINGS = 64
KEPT_BODY_CHARS = 16 * 1024
Reading = tuple[Any, bool, "Envelope"]


class _ReadAtTheDoor:
    """The door's reading of the last deliveries (document, whether its numbers fit, envelope), by the text stored,
    for the applier to take instead of parsing and validating that text again. A delivery is mostly applied as it
    is stored (bot/services/intake.py), on the store's thread: a reading is taken once, and then forgotten. The same
    text always reads into the same document (tests/property/test_stored_bodies.py), so a reading found by its text
    is the one parsing it would give; one not found (forgotten, or another process's) is parsed as before."""

    def __init__(self) -> None:
        self._readings: OrderedDict[str, Reading] = OrderedDict()
        self._lock = threading.Lock()  # kept on the event loop's thread, taken on the store's

    def keep(self, text: str, reading: Reading) -> None:
        if len(text) > KEPT_BODY_CHARS:
            return
        with self._lock:
            self._readings[text] = reading
            if len(self._readings) > KEPT_READINGS:
                self._readings.popitem(last=False)

    def take(self, text: str) -> Reading | None:
        with self._lock:
            return self._readings.pop(text, None)


def signature_matches(secrets: Sequence[str], body: bytes, header: str | None) -> bool:
    """True if any `v1=` signature in the header is the HMAC-SHA256 of the body under any configured secret.
    The secret is used as raw bytes; every comparison is constant-time. A header that is not ASCII matches nothing."""
    if not header or not secrets or not header.isascii():
        return False
    # Hex is hex in either case: a proxy or a library that upper-cases the digest must not make every delivery a 401.
    offered = [part.strip()[3:].lower() for part in header.split(",") if part.strip().startswith("v1=")]
    # hmac.new, not the one-shot hmac.digest: the one-shot lets go of the GIL for every body, however small, and the
    # event loop then waits for the store's thread to hand it back (tens of microseconds a delivery in a burst, an
    # eighth of the loop's time); hmac.new's update lets go of it only for bodies of 2 KiB or more. The same digest.
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
    return parsed.astimezone(UTC)  # one zone for every time kept: a review labels them UTC


def _timestamp(text: str) -> str:
    try:
        parse_time(text).astimezone(UTC)  # in range in every time zone, so every later step can convert it
    except (ValueError, OverflowError):
        raise ValueError("is not an ISO 8601 timestamp with a time zone") from None
    return text


Id = wire.Identifier
Timestamp = Annotated[str, AfterValidator(_timestamp)]
_STRICT = wire.STRICT_MODEL


class Envelope(BaseModel):
    """The v3 `event`: what makes a body a delivery."""

    model_config = _STRICT
    id: Id
    event_type: Id
    occurred_at: Timestamp
    data: dict[str, Any] | None = None


class Ref(BaseModel):
    """A PagerDuty reference (`{"id", "type", "summary", ...}`): a user, service, policy, priority, incident."""

    model_config = _STRICT
    id: str | None = None
    summary: str | None = None
    name: str | None = None
    type: str | None = None  # "user_reference", "service_reference", ...: read for the event's agent only


class IncidentData(BaseModel):
    """`data` of type `incident`: the incident as PagerDuty describes it (tests/fixtures/.../data.incident.json)."""

    model_config = _STRICT
    id: Id
    number: Annotated[int, Field(ge=0, le=wire.INT64_MAX)] | None = None
    title: str | None = None
    status: str | None = None
    urgency: str | None = None
    priority: Ref | None = None
    service: Ref | None = None
    escalation_policy: Ref | None = None
    html_url: str | None = None
    assignees: list[Ref] | None = None
    created_at: Timestamp | None = None
    incident_key: str | None = None


class RoleAssignment(BaseModel):
    """One of `data.incident_role_assignments` (incident.role.assigned): it alone names the incident."""

    model_config = _STRICT
    incident: Ref | None = None


class TimelineData(BaseModel):
    """`data` of a note, responder request or reply, status update, role assignment: the fields the timeline reads."""

    model_config = _STRICT
    incident: Ref | None = None
    user: Ref | None = None
    content: str | None = None
    message: str | None = None
    state: str | None = None
    incident_role_assignments: list[RoleAssignment] | None = None

    def incident_id(self) -> str | None:
        """The incident named: `data.incident`, or (a role assignment's event has none) its assignments'."""
        refs = [self.incident, *(a.incident for a in self.incident_role_assignments or ())]
        return next((ref.id for ref in refs if ref is not None and ref.id), None)


def read_envelope(body: Any) -> Envelope:
    """Check the v3 envelope's shape; return `event`. Raises DeliveryError with the reason."""
    if not isinstance(body, dict) or not isinstance(body.get("event"), dict):
        raise DeliveryError(ENVELOPE_MISSING)
    return _valid(Envelope, body["event"], "event")


def read_event(body: Any, *, numbers_fit: bool = False, envelope: Envelope | None = None) -> IncidentEvent:
    """Read a whole webhook body (already JSON-decoded) into an IncidentEvent. `numbers_fit`: the parser found no
    number out of bounds in it (`wire.read_stored_checked`), so they need not be checked one by one. `envelope`: the
    body's, read already (`read_envelope`)."""
    envelope = read_envelope(body) if envelope is None else envelope
    occurred_at = parse_time(envelope.occurred_at)
    if envelope.event_type not in HANDLED_EVENTS:  # kept, changes nothing: its content is not ours to judge
        return IncidentEvent(id=envelope.id, type=envelope.event_type, occurred_at=occurred_at, incident_id=None,
                             agent=None)
    data = envelope.data or {}
    if not numbers_fit:
        wire.check_numbers(data, "event.data")
    # The agent alone is read (not the whole event again): the same checks, the same reasons, a fraction of the work.
    agent_ref = None if body["event"].get("agent") is None else _valid(Ref, body["event"]["agent"], "event.agent")
    agent = _person(agent_ref)
    snapshot: IncidentSnapshot | None = None
    if data.get("type") == "incident":
        snapshot = _snapshot(_valid(IncidentData, data, "event.data"), envelope.event_type)
        incident_id: str | None = snapshot.id
    else:
        incident_id = _valid(TimelineData, data, "event.data").incident_id()
    if incident_id is None:
        # Every incident event PagerDuty sends names its incident: one that does not cannot be applied, and is kept
        # (quarantined, the operators told) rather than skipped as if its type were not ours.
        raise DeliveryError(f"event.data: a {envelope.event_type} event names no incident (neither data.type "
                            "'incident' with an id, nor data.incident.id)")
    return IncidentEvent(id=envelope.id, type=envelope.event_type, occurred_at=occurred_at, incident_id=incident_id,
                         agent=agent, snapshot=snapshot, detail=data,
                         agent_is_person=agent_ref is None or (agent_ref.type or "user").startswith("user"))


def _valid(model: type[_M], value: Any, root: str) -> _M:
    try:
        return model.model_validate(value)
    except ValidationError as error:
        raise DeliveryError(wire.reason(error, root)) from None


def _ordering_incident(data: dict[str, Any]) -> str | None:
    """The incident a delivery concerns, for the inbox's order per incident: only an id that is a string."""
    assignments = data.get("incident_role_assignments")
    first = assignments[0] if isinstance(assignments, list) and assignments else None
    incident = data.get("incident") if isinstance(data.get("incident"), dict) else \
        first.get("incident") if isinstance(first, dict) else None  # a role assignment names it there
    candidate = data.get("id") if data.get("type") == "incident" else \
        incident.get("id") if isinstance(incident, dict) else None
    return candidate if isinstance(candidate, str) and 0 < len(candidate) <= wire.MAX_HEADER_ID else None


def _person(ref: Ref | None) -> Person | None:
    if ref is None or not ref.id:
        return None
    return Person(id=ref.id, name=ref.summary or ref.name or ref.id)


# The status an event of these types leaves its incident in, for one whose `data.status` is missing.
_STATUS_AFTER = {"incident.triggered": "triggered", "incident.acknowledged": "acknowledged",
                 "incident.unacknowledged": "triggered", "incident.resolved": "resolved",
                 "incident.reopened": "triggered"}
# What an incident's snapshot may leave out, and the domain then keeps as it knew it (IncidentSnapshot.absent).
_MAY_BE_ABSENT = ("title", "urgency", "priority")


def _snapshot(data: IncidentData, event_type: str) -> IncidentSnapshot:
    service, policy = data.service or Ref(), data.escalation_policy or Ref()
    status = data.status or _STATUS_AFTER.get(event_type)
    absent = frozenset(name for name in _MAY_BE_ABSENT if name not in data.model_fields_set)
    return IncidentSnapshot(
        id=data.id, number=data.number or 0, title=data.title or "(untitled)", status=status or "triggered",
        absent=absent | ({"status"} if status is None else set()),
        urgency=data.urgency or "high", priority=data.priority.summary if data.priority and data.priority.summary
        else None, service_id=service.id or "", service_name=service.summary or service.id or "",
        escalation_policy_id=policy.id, escalation_policy_name=policy.summary, html_url=data.html_url or "",
        assignees=tuple(p for p in (_person(a) for a in data.assignees or ()) if p),
        created_at=parse_time(data.created_at) if data.created_at else None, incident_key=data.incident_key or None,
    )
