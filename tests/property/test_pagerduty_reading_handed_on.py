"""The PagerDuty door hands its reading of a delivery (document, number check, envelope) to the applier, which takes
it instead of parsing the stored text again (bot/adapters/pagerduty/webhook.py): property-based, whatever the event's
content, the applier reads from the hand-off exactly what it reads from the stored text alone — the same event, or
the same reason it cannot be read."""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from bot.adapters.pagerduty.webhook import PagerDutyWebhook
from bot.errors import DeliveryError
from tests.helpers import WEBHOOK_SECRET, incident_event, note_event

characters = st.characters(codec=None, blacklist_categories=())
JSON = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(-(2 ** 70), 2 ** 70),
                              st.floats(allow_nan=True, allow_infinity=True), st.text(characters, max_size=8)),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                                 max_size=3), max_leaves=10)
SAMPLES = [incident_event("incident.triggered"), incident_event("incident.acknowledged"),
           incident_event("incident.priority_updated"), note_event("a note"), incident_event("incident.custom")]


def read(webhook: PagerDutyWebhook, body: str, event_id: str) -> str:
    """The event read, or the reason it cannot be, as text (NaN in an event's detail equals itself there)."""
    try:
        return repr(webhook.read_event(body, event_id))
    except DeliveryError as error:
        return f"DeliveryError: {error}"


@given(sample=st.sampled_from(SAMPLES), changes=st.lists(st.tuples(
    st.sampled_from(["id", "number", "title", "status", "urgency", "priority", "assignees", "created_at",
                     "incident", "content", "type", "service"]), JSON), max_size=3),
    agent=st.one_of(st.just(...), JSON), ascii_only=st.booleans())
def test_the_applier_reads_from_the_hand_off_what_it_reads_from_the_text(
        sample: dict[str, Any], changes: list[tuple[str, Any]], agent: Any, ascii_only: bool) -> None:
    document = copy.deepcopy(sample)
    for key, value in changes:
        document["event"]["data"][key] = value
    if agent is not ...:
        document["event"]["agent"] = agent
    body = json.dumps(document, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
    door = PagerDutyWebhook([WEBHOOK_SECRET])
    try:
        delivery = door.read_delivery(body, {})
    except DeliveryError:
        return  # refused at the door: nothing stored, nothing to apply
    handed_on = read(door, delivery.body, delivery.event_id)
    assert handed_on == read(PagerDutyWebhook([WEBHOOK_SECRET]), delivery.body, delivery.event_id)
    # Taken once: read again, the text is parsed, to the same event.
    assert read(door, delivery.body, delivery.event_id) == handed_on
