"""A post whose answer was lost is looked for before it is tried again — through as many pages of the channel's history
as its retry needs, not the newest 200 only: an hour of retries in a busy incident or stakeholders' channel is more
than a page, and a post found on none of them is posted twice."""

from __future__ import annotations

from sandbox.faults import Fault
from sandbox.world import RunningSandbox
from tests.e2e.sandbox_helpers import as_user, channel_id, eventually, messages, opened, settle, slack_user

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
