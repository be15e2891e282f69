"""The incident channel when Slack or people surprise it (found in session 26's review of the channel's life): the
incident coming back to someone who left the channel, or going to someone Slack will not add; two incidents named
alike at the same second; Slack refusing an invitation as a whole; the bot removed from the channel; the channel
deleted. Each test failed before its fix (bot/services/invitations.py, coordination_effects.py, channel_creation.py,
archived_channels.py)."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from bot.catalogue import Catalogue
from sandbox.faults import Fault
from sandbox.world import RunningSandbox
from tests.e2e.sandbox_helpers import (
    act,
    as_user,
    card,
    incident_channels,
    messages,
    settle,
    slack_user,
    state,
    trigger,
)
from tests.helpers import StartSandbox

ASHA, DEV, ERIN = "asha.patel@example.com", "dev.sharma@example.com", "erin.walsh@example.com"


def slack_channel(running: RunningSandbox, channel_id: str) -> dict[str, Any]:
    return next(c for c in state(running)["slack"]["channels"] if c["id"] == channel_id)


def leaves(running: RunningSandbox, channel_id: str, user_id: str) -> None:
    """`user_id` leaves the channel (or is removed from it), as Slack's "Leave channel" / "Remove from channel" do."""
    channel = running.sandbox.slack.find_channel(channel_id)
    assert channel is not None
    channel.members.remove(user_id)


async def invites(running: RunningSandbox, user: str, channel_id: str, invitee: str) -> None:
    """`user` invites `invitee` into the channel (`/invite @pavedroad`): Slack sends the app member_joined_channel."""
    async with aiohttp.ClientSession() as session, session.post(
            f"{running.url}/sandbox/slack/invite",
            json={"user": user, "channel": channel_id, "invitee": invitee}) as response:
        assert response.status == 200, await response.json()
    await settle(running)


async def role(running: RunningSandbox, channel_id: str, name: str, user_id: str) -> None:
    """Asha gives `user_id` the role in the incident channel (`/incident role <name> @them`, as Slack sends it)."""
    await as_user(running, "command", user=ASHA, channel=channel_id, text=f"role {name} <@{user_id}|someone>")
    await settle(running)


def texts(running: RunningSandbox, channel_id: str) -> list[str]:
    return [str(m["text"]) for m in messages(running, channel_id)]


def ops_lines(running: RunningSandbox) -> list[str]:
    ops = next(c for c in state(running)["slack"]["channels"] if c["name"] == "paved-road-ops")
    return texts(running, ops["id"])


async def test_an_engineer_who_left_the_channel_is_added_again_when_the_incident_comes_back_to_them(
        sandbox: RunningSandbox) -> None:
    """Asha, on call, is invited; the incident is reassigned to Dev and she leaves the channel; at 3 a.m. it is
    reassigned back to her. She was remembered as "invited" and never added again: the incident's only assignee was
    not in its channel, and nothing there said so."""
    incident = await trigger(sandbox)
    [channel] = incident_channels(sandbox)
    asha = slack_user(sandbox, ASHA)
    assert asha in channel["members"]
    await act(sandbox, incident["id"], "reassign", user=ASHA, to=[DEV])
    leaves(sandbox, channel["id"], asha)
    await act(sandbox, incident["id"], "reassign", user=DEV, to=[ASHA])
    assert asha in slack_channel(sandbox, channel["id"])["members"]
    assert slack_user(sandbox, DEV) in slack_channel(sandbox, channel["id"])["members"]
    assert await sandbox.bot.store.dead_effects(incident["id"]) == []


async def test_a_commander_who_left_the_channel_is_added_again_when_given_the_role(sandbox: RunningSandbox) -> None:
    incident = await trigger(sandbox)
    [channel] = incident_channels(sandbox)
    erin = slack_user(sandbox, ERIN)
    await role(sandbox, channel["id"], "communications", erin)
    assert erin in slack_channel(sandbox, channel["id"])["members"]
    leaves(sandbox, channel["id"], erin)
    await role(sandbox, channel["id"], "commander", erin)
    assert erin in slack_channel(sandbox, channel["id"])["members"]
    assert await sandbox.bot.store.dead_effects(incident["id"]) == []


async def test_a_commander_slack_will_not_add_is_named_in_the_channel(sandbox: RunningSandbox) -> None:
    """`/incident role commander @erin` when Slack will not add Erin (a guest, say: `cant_invite`): the channel read
    "Erin Walsh is now commander", the card named her, and she was not in it — the refusal was only logged."""
    incident = await trigger(sandbox)
    [channel] = incident_channels(sandbox)
    erin = slack_user(sandbox, ERIN)
    sandbox.sandbox.faults.add(Fault("slack", "conversations.invite", status=200, error="cant_invite", times=1))
    await role(sandbox, channel["id"], "commander", erin)
    assert erin not in slack_channel(sandbox, channel["id"])["members"]
    told = [t for t in texts(sandbox, channel["id"]) if "would not add" in t]
    assert len(told) == 1 and "Erin Walsh (`cant_invite`)" in told[0], texts(sandbox, channel["id"])
    assert await sandbox.bot.store.dead_effects(incident["id"]) == []


async def test_two_incidents_named_alike_at_the_same_second_get_a_channel_each(start_sandbox: StartSandbox,
                                                                               catalogue: Catalogue) -> None:
    """A pattern without `{number}` (`inc-{slug}`) and two alerts with the same title at once, Slack slow to set a
    topic: the second opening met the first's channel (made by the bot, no topic yet) and took it for its own. Two
    incidents shared one channel, two cards pinned in it, and the second incident's responders were pulled in."""
    policy = catalogue.channels.model_copy(update={"pattern": "inc-{slug}"})
    running = await start_sandbox(catalogue.model_copy(update={"channels": policy}))
    running.sandbox.faults.add(Fault("slack", "conversations.setTopic", times=0, latency_ms=500))
    pagerduty = running.sandbox.pagerduty
    first = await pagerduty.trigger(title="Database is down", service_id="PBASKET")
    second = await pagerduty.trigger(title="Database is down", service_id="PCHECKO")
    await settle(running)
    channels = {(await running.bot.store.footprint(i["id"])).channel_id for i in (first, second)}
    assert None not in channels and len(channels) == 2
    assert sorted(c["name"] for c in incident_channels(running)) == ["inc-database-is-down", "inc-database-is-down-2"]
    for channel in incident_channels(running):
        assert len(channel["pins"]) == 1
        assert card(running, channel)
    for incident in (first, second):
        assert await running.bot.store.dead_effects(incident["id"]) == []


@pytest.mark.parametrize("code", ["ekm_access_denied", "restricted_action"])
async def test_an_invitation_slack_refuses_as_a_whole_is_said_in_the_channel_and_the_opening_completes(
        sandbox: RunningSandbox, code: str) -> None:
    """conversations.invite refused for everyone by the workspace's rules: the channel's opening died at once (the
    operators told "could not open incident channel" of a channel that was open, with its card), and the channel
    never said that its on-call engineer could not be added."""
    sandbox.sandbox.faults.add(Fault("slack", "conversations.invite", status=200, error=code, times=1))
    incident = await trigger(sandbox)
    [channel] = incident_channels(sandbox)
    assert card(sandbox, channel)
    told = [t for t in texts(sandbox, channel["id"]) if "would not let me add" in t]
    assert len(told) == 1 and "Asha Patel" in told[0] and f"`{code}`" in told[0], texts(sandbox, channel["id"])
    assert await sandbox.bot.store.dead_effects(incident["id"]) == []
    assert not [line for line in ops_lines(sandbox) if line.startswith("🚨")], ops_lines(sandbox)


async def test_the_bot_removed_from_its_incident_channel_asks_to_be_invited_back_and_no_update_dies(
        sandbox: RunningSandbox) -> None:
    """Someone removes the app from the incident channel. Every card refresh then died at once on the topic
    (`not_in_channel`), an operators' alert each, and every reassignment died on its invitation; the people in the
    channel were never told why the topic stood still or how to bring the bot back."""
    incident = await trigger(sandbox)
    [channel] = incident_channels(sandbox)
    bot_user = sandbox.sandbox.slack.bot.id
    leaves(sandbox, channel["id"], bot_user)
    await act(sandbox, incident["id"], "acknowledge", user=ASHA)
    assert "Acknowledged" in str(card(sandbox, slack_channel(sandbox, channel["id"]))["text"])  # the card still follows
    await act(sandbox, incident["id"], "reassign", user=ASHA, to=[DEV])
    assert await sandbox.bot.store.dead_effects(incident["id"]) == []
    assert not [line for line in ops_lines(sandbox) if line.startswith("🚨")], ops_lines(sandbox)
    asked = [t for t in texts(sandbox, channel["id"]) if "/invite @pavedroad" in t]
    assert len(asked) == 2, asked  # once for the channel, once for Dev who could not be added
    assert any("could not add Dev Sharma" in t for t in asked), asked

    # Invited back: the topic is brought up to date, and the next change's too.
    await invites(sandbox, ASHA, channel["id"], "pavedroad")
    assert slack_channel(sandbox, channel["id"])["topic"].startswith("🔴 Triggered · ")  # (reassigned: triggered)
    await act(sandbox, incident["id"], "priority", user=DEV, priority="P1")
    assert slack_channel(sandbox, channel["id"])["topic"].startswith("🔴 Triggered · P1 · ")  # (reassigned: triggered)
    assert await sandbox.bot.store.dead_effects(incident["id"]) == []


async def test_an_incident_channel_deleted_in_slack_moves_to_a_new_one(sandbox: RunningSandbox) -> None:
    """A workspace admin deletes the open incident's channel. Every later line and card refresh died at once
    (`channel_not_found`), an operators' alert each, and the incident had no channel in Slack any more."""
    incident = await trigger(sandbox)
    [deleted] = incident_channels(sandbox)
    sandbox.sandbox.slack.delete_channel_as_admin(deleted["id"])
    await act(sandbox, incident["id"], "acknowledge", user=ASHA)
    [channel] = incident_channels(sandbox)
    assert channel["id"] != deleted["id"] and channel["name"] == deleted["name"]
    pinned = card(sandbox, channel)
    assert "Acknowledged" in str(pinned["text"])
    assert slack_user(sandbox, ASHA) in channel["members"]
    assert any("Acknowledged by Asha Patel" in t for t in texts(sandbox, channel["id"]))
    team = next(c for c in state(sandbox)["slack"]["channels"] if c["name"] == "team-basket")
    assert any(f"<#{channel['id']}>" in t for t in texts(sandbox, team["id"]))  # announced where the team looks
    assert (await sandbox.bot.store.footprint(incident["id"])).channel_id == channel["id"]
    assert await sandbox.bot.store.dead_effects(incident["id"]) == []
    assert not [line for line in ops_lines(sandbox) if line.startswith("🚨")], ops_lines(sandbox)




async def test_the_eleventh_incident_of_a_storm_named_alike_still_gets_a_channel(start_sandbox: StartSandbox,
                                                                                 catalogue: Catalogue) -> None:
    """A pattern without `{number}` (`inc-{service}`) and an alert storm on one service: eleven incidents open at
    once (or earlier ones' channels archived, which keep their names in Slack). The name and its ten suffixes taken,
    the eleventh incident's opening died — no channel, no card anywhere in Slack, and every later card refresh spent
    ten more conversations.create calls of Slack's twenty a minute failing again."""
    policy = catalogue.channels.model_copy(update={"pattern": "inc-{service}"})
    running = await start_sandbox(catalogue.model_copy(update={"channels": policy}))
    pagerduty = running.sandbox.pagerduty
    storm = [await pagerduty.trigger(title=f"Basket alert {n}", service_id="PBASKET") for n in range(11)]
    await settle(running)
    channels = [(await running.bot.store.footprint(incident["id"])).channel_id for incident in storm]
    assert None not in channels and len(set(channels)) == 11, channels
    named = {c["id"]: c for c in incident_channels(running)}
    # The ten suffixes, then the incident's own id for the one that came last.
    [last] = [named[c] for i, c in zip(storm, channels, strict=True)
              if named[c]["name"] == f"inc-basket-api-{i['id'].lower()}"]
    assert card(running, last) and "Basket alert" in str(card(running, last)["text"])
    for incident in storm:
        assert await running.bot.store.dead_effects(incident["id"]) == []
