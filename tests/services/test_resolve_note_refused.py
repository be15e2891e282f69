"""A resolve whose note PagerDuty then refuses: the answer says the incident was resolved and what to do about the
note, and what it advises fits why the note failed (asking to try `/incident note` "when PagerDuty answers again"
only when PagerDuty was not answering or was rate-limiting us)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.adapters.clock import SettableClock
from bot.catalogue import Catalogue
from bot.domain.events import Person
from bot.domain.incident import Incident, Status
from bot.errors import IntegrationError
from bot.ports import PagingUser
from bot.services.actions import IncidentActions

T0 = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)
BEN = PagingUser("P1", "Ben Okafor", "ben@example.com")


class NoteRefused:
    def __init__(self, error: IntegrationError) -> None:
        self.error = error

    async def resolve(self, *_: Any) -> None:
        return None

    async def add_note(self, *_: Any) -> None:
        raise self.error

    async def oncalls(self, *_: Any) -> list[Any]:
        return []


def incident() -> Incident:
    return Incident(id="Q1", number=7, title="Checkout returns 500s", status=Status.TRIGGERED, urgency="high",
                    priority=None, service_id="PCHECKO", service_name="Checkout", escalation_policy_id=None,
                    escalation_policy_name=None, html_url="https://pd/incidents/Q1",
                    assignees=(Person("P1", "Ben Okafor"),), triggered_at=T0, acknowledged_at=None,
                    resolved_at=None, state_as_of=T0, dedicated_channel=True)


async def told(catalogue: Catalogue, error: IntegrationError) -> str:
    actions = IncidentActions(None, NoteRefused(error), None, catalogue, SettableClock())  # type: ignore[arg-type]
    actions._identities["U1"] = (time.monotonic(), BEN)
    return (await actions.resolve("U1", incident(), "rolled back")).text


@pytest.mark.parametrize("error", [
    IntegrationError("PagerDuty", "POST /incidents/Q1/notes: 403 Forbidden", retryable=False, status=403),
    IntegrationError("PagerDuty", "POST /incidents/Q1/notes: Note content is too long", retryable=False, status=400),
])
async def test_a_note_refused_for_good_is_not_to_be_tried_again_once_pagerduty_answers(
        catalogue: Catalogue, error: IntegrationError) -> None:
    text = await told(catalogue, error)
    assert text.startswith("✅ Resolved #7")
    assert "nothing was changed" not in text
    assert "when PagerDuty answers again" not in text, text  # it did answer: it refused


@pytest.mark.parametrize("error", [
    IntegrationError("PagerDuty", "POST /incidents/Q1/notes: 503", retryable=True, status=503),
    IntegrationError("PagerDuty", "POST /incidents/Q1/notes: 429", retryable=True, status=429),
])
async def test_a_note_pagerduty_could_not_take_now_is_to_be_added_later(catalogue: Catalogue,
                                                                         error: IntegrationError) -> None:
    text = await told(catalogue, error)
    assert "nothing was changed" not in text
    assert "/incident note" in text, text
