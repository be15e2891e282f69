"""One Friday day shift of the Basket rota and the incidents around it: the handover report's example, shared by its
data (tests/domain/test_handover.py) and its wording (tests/render/test_handover_post.py)."""

from __future__ import annotations

from datetime import UTC, datetime, time

from bot.domain.events import Person
from bot.domain.incident import Incident, Status

LONDON = "Europe/London"


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


START, END = utc("2026-11-27T09:00"), utc("2026-11-27T17:30")  # a Friday, GMT
WORKING = (time(9), time(17, 30))


def incident(number: int, triggered: str, acknowledged: str | None = None, resolved: str | None = None,
             status: Status | None = None, title: str = "Checkout slow") -> Incident:
    derived = Status.RESOLVED if resolved else Status.ACKNOWLEDGED if acknowledged else Status.TRIGGERED
    return Incident(
        id=f"P{number}", number=number, title=title, status=status or derived, urgency="high", priority=None,
        service_id="PSVC", service_name="Basket API", escalation_policy_id=None, escalation_policy_name=None,
        html_url=f"https://acme.pagerduty.com/incidents/P{number}", assignees=(), triggered_at=utc(triggered),
        acknowledged_at=utc(acknowledged) if acknowledged else None, resolved_at=utc(resolved) if resolved else None,
        state_as_of=utc(triggered), dedicated_channel=True)


INCIDENTS = [
    incident(1, "2026-11-26T22:00", "2026-11-26T22:05"),  # last night, still open: open now, not this shift's
    incident(2, "2026-11-27T10:00", "2026-11-27T10:04", "2026-11-27T11:02"),  # during, resolved
    incident(3, "2026-11-27T17:00"),  # during, unacknowledged, still open
    incident(4, "2026-11-27T16:00", "2026-11-27T16:10", "2026-11-27T18:00"),  # resolved after the shift's end
    incident(5, "2026-11-27T08:00", "2026-11-27T08:01", "2026-11-27T08:30"),  # before the shift, closed
    incident(6, "2026-11-27T17:30"),  # the next shift's (and at 17:30, out of hours)
    incident(7, "2026-11-27T07:00", status=Status.RESOLVED),  # first seen resolved, no resolve time
]


def on_call(*names: str) -> list[Person]:
    """PagerDuty users on call, by name: each its own id, "P" and the name."""
    return [Person(f"P{name}", name) for name in names]
