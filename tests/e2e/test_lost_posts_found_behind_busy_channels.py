"""A post whose answer was lost is looked for before it is tried again — through as many pages of the channel's history
as its retry needs, not the newest 200 only: an hour of retries in a busy incident or stakeholders' channel is more
than a page, and a post found on none of them is posted twice."""

from __future__ import annotations

from typing import Any

from sandbox.faults import Fault
from sandbox.world import RunningSandbox
from tests.e2e.sandbox_helpers import (
    act,
    as_user,
    channel_id,
    eventually,
    messages,
    move_clock,
    opened,
    settle,
    slack_user,
    state,
)
from tests.e2e.servicenow_helpers import settle_all

ERIN = "erin.walsh@example.com"
UPDATE = "Card payments fail for 1 in 5 customers; rolling back the 10:02 deploy"


async def test_a_stakeholders_post_whose_answer_was_lost_is_found_behind_three_hundred_messages(
        sandbox: RunningSandbox) -> None:
    """The update's post in the stakeholders' channel is made, its answer lost (a gateway's 502); while the retry
    looks for it, 300 people's messages arrive there. It is found, two pages back, and not posted again."""
    _, channel = await opened(sandbox)
    faults, slack = sandbox.sandbox.faults, sandbox.sandbox.slack
    faults.add(Fault("slack", "chat.postMessage", status=502, after=True, with_field="metadata",
                     with_text="stakeholders:"))
    faults.add(Fault("slack", "conversations.history", times=0, latency_ms=60_000))
    await as_user(sandbox, "command", user=ERIN, channel=channel["id"], text=f"update {UPDATE}")
    await eventually(lambda: faults.held["slack"] >= 1)  # the retry is looking for its first attempt
    stakeholders = slack.find_channel("incident-updates")
    assert stakeholders is not None
    for n in range(300):
        slack.post(stakeholders, f"Any news on checkout? ({n})", [], user=slack_user(sandbox, ERIN))
    faults.clear()
    faults.release_held()
    await settle(sandbox)
    shared = [m for m in messages(sandbox, channel_id(sandbox, "incident-updates")) if UPDATE in str(m["text"])
              or UPDATE in str(m["blocks"])]
    assert len(shared) == 1, f"posted {len(shared)} times"


async def test_the_review_drafted_at_the_resolve_is_found_behind_three_hundred_messages_when_the_channel_is_archived(
        sandbox: RunningSandbox) -> None:
    """The review draft is shared in the incident channel once resolved (`/incident review`); the responders talk on
    there, 300 messages, before the channel is archived a week later. Its last message looked for the review on the
    newest 200 messages only, found none, and drafted and shared the review a second time."""
    incident, channel = await opened(sandbox)
    await act(sandbox, incident["id"], "resolve", user=ERIN)
    await as_user(sandbox, "command", user=ERIN, channel=channel["id"], text="review")
    await settle_all(sandbox)
    assert len(reviews(sandbox)) == 1
    slack = sandbox.sandbox.slack
    incident_channel = slack.find_channel(channel["id"])
    assert incident_channel is not None
    for n in range(300):
        slack.post(incident_channel, f"What about the retries? ({n})", [], user=slack_user(sandbox, ERIN))
    await move_clock(sandbox, advance_seconds=8 * 86400)
    await settle_all(sandbox)
    assert slack_channel_archived(sandbox, channel["id"])
    assert len(reviews(sandbox)) == 1, "the review was drafted again"


def reviews(running: RunningSandbox) -> list[dict[str, Any]]:
    return [f for f in state(running)["slack"]["files"] if str(f["name"]).startswith("review-incident-")]


def slack_channel_archived(running: RunningSandbox, channel_id: str) -> bool:
    return bool(next(c for c in state(running)["slack"]["channels"] if c["id"] == channel_id)["is_archived"])
