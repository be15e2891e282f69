"""An incident reopened after its channel was archived, and resolved again before its new channel opened (the
channel's creation refused for a while): it gets no new channel — a resolved incident's card refresh opens none, nor
do its lines — so the "♻️ continues here" message (SayChannelMoved, queued as the move begins) has nowhere to go,
and the ticket's sync of the move no new link to give. Neither may wait for a channel that will not come: retried
as "not open yet" until dead, each was an operators' alert, and the first held up the incident's Slack queue. Yet
such an incident may be reopened once more, and its channel open after all: its ticket must then hear the new
channel's link, though the archived one's was told (the opening asks for a sync only of a ticket not yet told one).
Both found in review of session 23's SayChannelMoved; each test failed before its fix."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from sandbox.faults import Fault
from sandbox.world import RunningSandbox
from tests.e2e.sandbox_helpers import eventually, messages, move_clock
from tests.e2e.servicenow_helpers import bot_notes, resolved_and_archived, settle_all, ticket_for

ASHA, DEV = "asha.patel@example.com", "dev.sharma@example.com"
REFUSED_FOR = 600  # Slack's Retry-After on the new channel's creation: the incident is resolved meanwhile


async def in_pagerduty(running: RunningSandbox, incident_id: str, action: str, **fields: Any) -> None:
    """Act in PagerDuty's own UI and deliver its webhooks; the bot is not waited for (an effect waits out a 429)."""
    async with aiohttp.ClientSession() as session, session.post(
            f"{running.url}/sandbox/pagerduty/incidents/{incident_id}/{action}", json=fields) as response:
        assert response.status == 200, await response.text()
    await running.sandbox.pagerduty.drain_webhooks()


async def moved_then_resolved(running: RunningSandbox) -> tuple[str, str]:
    """An incident of its own resolved and its channel archived, reopened (the move begins, the new channel's
    creation refused for REFUSED_FOR), resolved again meanwhile, and its Slack and ServiceNow queues worked through
    once the refusal is over. (incident, its archived channel)."""
    iid, old = await resolved_and_archived(running, ASHA)
    refusal = Fault("slack", "conversations.create", status=429, times=1, retry_after=REFUSED_FOR)
    running.sandbox.faults.add(refusal)
    running.sandbox.pagerduty.account.allow_reopen = True
    await in_pagerduty(running, iid, "acknowledge", user=DEV)  # reopened: the move begins, its creation refused
    await eventually(lambda: refusal.times == 0)
    await in_pagerduty(running, iid, "resolve", user=DEV)  # resolved again before the new channel opens
    await move_clock(running, advance_seconds=REFUSED_FOR + 60)
    for _ in range(300):
        if not await running.bot.store.pending_in_queue(f"slack:{iid}") \
                and not await running.bot.store.pending_in_queue(f"servicenow:{iid}"):
            break
        await asyncio.sleep(0.05)
    assert not await running.bot.store.pending_in_queue(f"servicenow:{iid}")
    assert (await running.bot.store.footprint(iid)).channel_id is None  # (no new channel: resolved first)
    return iid, old


async def test_a_move_whose_incident_is_resolved_before_its_new_channel_opens_leaves_no_dead_effect(
        sandbox: RunningSandbox) -> None:
    iid, _ = await moved_then_resolved(sandbox)
    dead = [(d["kind"], d["last_error"]) for d in await sandbox.bot.store.dead_effects(iid)]
    assert dead == [], dead


async def test_a_move_resolved_then_reopened_again_tells_the_ticket_its_new_channel(sandbox: RunningSandbox) -> None:
    iid, old = await moved_then_resolved(sandbox)
    await in_pagerduty(sandbox, iid, "acknowledge", user=ASHA)  # reopened once more: now it goes on in a channel
    await settle_all(sandbox)
    await sandbox.bot.flush_work_notes()
    await settle_all(sandbox)
    new = (await sandbox.bot.store.footprint(iid)).channel_id
    assert new is not None and new != old, (old, new)
    notes = bot_notes(ticket_for(sandbox, iid))
    link = f"https://slack.com/app_redirect?channel={new}"
    assert any(link in note for note in notes), (
        f"the ticket was never told the new channel {new} (old {old}); its bot notes: {notes}")


async def test_a_move_resolved_then_reopened_again_says_where_the_earlier_story_is(sandbox: RunningSandbox) -> None:
    """Left by session 23: the "♻️ continues here" message of the first move gave up when the incident was resolved
    before its new channel opened, and the second reopening is no move (the archived channel was already
    forgotten): the channel that finally opened never said where the earlier story is. The opening now learns it
    from the name the archived channel still holds."""
    iid, old = await moved_then_resolved(sandbox)
    await in_pagerduty(sandbox, iid, "acknowledge", user=ASHA)
    await settle_all(sandbox)
    new = (await sandbox.bot.store.footprint(iid)).channel_id
    assert new is not None and new != old
    said = [str(m["text"]) for m in messages(sandbox, new) if str(m["text"]).startswith("♻️")]
    assert len(said) == 1 and f"<#{old}>" in said[0], said
    assert await sandbox.bot.store.dead_effects(iid) == []
