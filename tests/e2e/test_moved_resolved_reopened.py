"""A move's SyncTicket (channel_moved) goes on without a link once its incident is resolved before the new channel
opened. But a resolved incident may be reopened again: its new channel then opens after all, and the opening asks
for a sync only of a ticket whose `channel_told` is not LINK_TOLD (executor.py `_tell_ticket_the_channel`) — the
archived channel's link had been told, so the ticket never heard the new channel's (found in review of session 23;
failed before its fix)."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from sandbox.faults import Fault
from sandbox.world import RunningSandbox
from tests.e2e.sandbox_helpers import eventually, move_clock
from tests.e2e.servicenow_helpers import bot_notes, resolved_and_archived, settle_all, ticket_for

ASHA, DEV = "asha.patel@example.com", "dev.sharma@example.com"
REFUSED_FOR = 600


async def in_pagerduty(running: RunningSandbox, incident_id: str, action: str, **fields: Any) -> None:
    async with aiohttp.ClientSession() as session, session.post(
            f"{running.url}/sandbox/pagerduty/incidents/{incident_id}/{action}", json=fields) as response:
        assert response.status == 200, await response.text()
    await running.sandbox.pagerduty.drain_webhooks()


async def test_a_move_resolved_then_reopened_again_tells_the_ticket_its_new_channel(sandbox: RunningSandbox) -> None:
    iid, old = await resolved_and_archived(sandbox, ASHA)
    refusal = Fault("slack", "conversations.create", status=429, times=1, retry_after=REFUSED_FOR)
    sandbox.sandbox.faults.add(refusal)
    sandbox.sandbox.pagerduty.account.allow_reopen = True
    await in_pagerduty(sandbox, iid, "acknowledge", user=DEV)  # reopened: the move begins, its creation refused
    await eventually(lambda: refusal.times == 0)
    await in_pagerduty(sandbox, iid, "resolve", user=DEV)  # resolved again before the new channel opens
    await move_clock(sandbox, advance_seconds=REFUSED_FOR + 60)
    for _ in range(300):
        if not await sandbox.bot.store.pending_in_queue(f"slack:{iid}") \
                and not await sandbox.bot.store.pending_in_queue(f"servicenow:{iid}"):
            break
        await asyncio.sleep(0.05)
    assert (await sandbox.bot.store.footprint(iid)).channel_id is None
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
