"""Slack will not add someone to an incident channel: their account was deactivated (or removed) since PagerDuty's
email was looked up, or they are a guest. Without `force`, conversations.invite fails the whole call for one such id,
so nobody was added — the on-call engineers included — and the effect died. Now everyone else is added, and the
channel is told who was not and why. Found in review of session 21."""

from __future__ import annotations

import pytest

from bot.ports.people_cache import CachedPerson
from sandbox.faults import Fault
from sandbox.world import RunningSandbox
from tests.e2e.sandbox_helpers import incident_channels, messages, slack_user, trigger

ASHA, FATIMA = "PMZZ8GX", "P15L2UV"  # the sandbox's basket on-call engineers, whom a trigger assigns


async def looked_up_before(running: RunningSandbox, pagerduty_id: str, name: str, slack_id: str) -> None:
    """Who `pagerduty_id` was in Slack when last looked up (the bot keeps that a while: bot/services/people.py)."""
    await running.bot.store.save_person(CachedPerson(pagerduty_id, name, None, slack_id,
                                                     running.sandbox.clock.timestamp()))


async def test_one_person_slack_will_not_add_does_not_keep_the_others_out(sandbox: RunningSandbox) -> None:
    await looked_up_before(sandbox, FATIMA, "Fatima Noor", "UGONE00001")  # her account since removed
    await looked_up_before(sandbox, ASHA, "Asha Patel", slack_user(sandbox, "asha.patel@example.com"))
    incident = await trigger(sandbox)
    await sandbox.bot.settle(30)
    [channel] = incident_channels(sandbox)
    assert slack_user(sandbox, "asha.patel@example.com") in channel["members"]
    told = [m["text"] for m in messages(sandbox, channel["id"]) if "would not add" in str(m["text"])]
    assert len(told) == 1 and "Fatima Noor (`user_not_found`)" in told[0] and "Asha" not in told[0]
    assert await sandbox.bot.store.dead_effects(incident["id"]) == []


async def test_nobody_slack_will_add_is_told_not_dead(sandbox: RunningSandbox) -> None:
    await looked_up_before(sandbox, ASHA, "Asha Patel", "UGONE00002")
    await looked_up_before(sandbox, FATIMA, "Fatima Noor", "UGONE00003")
    incident = await trigger(sandbox)
    await sandbox.bot.settle(30)
    [channel] = incident_channels(sandbox)
    [told] = [m["text"] for m in messages(sandbox, channel["id"]) if "would not add" in str(m["text"])]
    assert "Asha Patel (`user_not_found`)" in told and "Fatima Noor (`user_not_found`)" in told
    assert await sandbox.bot.store.dead_effects(incident["id"]) == []
    card = [m for m in messages(sandbox, channel["id"]) if m["ts"] in channel["pins"]]
    assert len(card) == 1  # the channel is otherwise opened as usual


async def test_someone_in_the_channel_already_is_not_said_to_be_refused(sandbox: RunningSandbox) -> None:
    """Found in review of session 21: when nobody could be added, everyone asked for was said to be refused — the
    on-call engineer already in the channel too."""
    await trigger(sandbox)
    await sandbox.bot.settle(30)
    [channel] = incident_channels(sandbox)
    asha = slack_user(sandbox, "asha.patel@example.com")
    assert asha in channel["members"]
    assert await sandbox.bot.chat.invite(channel["id"], [asha, "UGONE00009"]) == {"UGONE00009": "user_not_found"}


@pytest.mark.parametrize("after", [False, True], ids=["refused", "answer lost"])
async def test_the_channel_is_told_once_though_slack_failed_its_posts(sandbox: RunningSandbox, after: bool) -> None:
    """Left alone in session 21: the "would not add" message had no marker, so a retry after a lost answer posted it
    again — or, the people already recorded as invited, never (lost with the post's failure)."""
    await looked_up_before(sandbox, FATIMA, "Fatima Noor", "UGONE00004")
    await looked_up_before(sandbox, ASHA, "Asha Patel", slack_user(sandbox, "asha.patel@example.com"))
    sandbox.sandbox.faults.add(Fault("slack", "chat.postMessage", status=500, times=3, after=after,
                                     retry_after=0))  # the opening's three posts: card, announcement, the message
    incident = await trigger(sandbox)
    await sandbox.bot.settle(60)
    [channel] = incident_channels(sandbox)
    told = [m["text"] for m in messages(sandbox, channel["id"]) if "would not add" in str(m["text"])]
    assert len(told) == 1 and "Fatima Noor (`user_not_found`)" in told[0]
    assert await sandbox.bot.store.dead_effects(incident["id"]) == []
