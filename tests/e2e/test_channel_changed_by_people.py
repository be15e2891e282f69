"""People change the incident channel under the bot: remove the bot from it and invite it back, unpin its card,
rename the channel. Each test failed before its fix (bot/services/channel_events.py and the events the app now
subscribes to: `member_joined_channel`, `pin_removed`, `channel_rename`, `group_rename`)."""

from __future__ import annotations

from typing import Any

import aiohttp

from sandbox.slack.channel_acts import rename_as_person
from sandbox.slack.person import deliver_envelope, event_envelope
from sandbox.slack.workspace import BOT_SCOPES
from sandbox.world import RunningSandbox
from tests.e2e.sandbox_helpers import act, card, incident_channels, messages, state, trigger
from tests.e2e.servicenow_helpers import settle_all, ticket_for

ASHA = "asha.patel@example.com"


async def in_slack(running: RunningSandbox, act_name: str, **body: str) -> dict[str, Any]:
    """A person's act on the channel in the sandbox Slack (sandbox/slack/channel_acts.py), then the bot settled."""
    async with aiohttp.ClientSession() as session, session.post(f"{running.url}/sandbox/slack/{act_name}",
                                                                json=body) as response:
        answer: dict[str, Any] = await response.json()
        assert response.status == 200, answer
    await running.bot.settle(20)
    return answer


def slack_channel(running: RunningSandbox, channel_id: str) -> dict[str, Any]:
    return next(c for c in state(running)["slack"]["channels"] if c["id"] == channel_id)


def ops_lines(running: RunningSandbox) -> list[str]:
    ops = next(c for c in state(running)["slack"]["channels"] if c["name"] == "paved-road-ops")
    return [str(m["text"]) for m in messages(running, ops["id"])]


def removes_the_bot(running: RunningSandbox, channel_id: str) -> None:
    """Someone removes the app from the channel ("Remove from channel": Slack sends the app no event for it)."""
    channel = running.sandbox.slack.find_channel(channel_id)
    assert channel is not None
    channel.members.remove(running.sandbox.slack.bot.id)


async def test_a_channel_the_bot_was_removed_from_costs_no_topic_call_until_it_is_invited_back(
        sandbox: RunningSandbox) -> None:
    """Removed from its incident's channel, the bot spent one failing conversations.setTopic (Tier 2, 20 a minute
    for the whole app) at every later change and card refresh, for as long as the incident stayed open; invited back,
    the topic stayed stale until the next change."""
    incident = await trigger(sandbox)
    [channel] = incident_channels(sandbox)
    removes_the_bot(sandbox, channel["id"])
    calls = sandbox.sandbox.slack.calls
    await act(sandbox, incident["id"], "acknowledge", user=ASHA)  # its topic refused once: the bot learns it
    refused = calls["conversations.setTopic"]
    await act(sandbox, incident["id"], "priority", user=ASHA, priority="P1")
    await sandbox.bot.refresh_open_cards()
    await sandbox.bot.settle(20)
    assert calls["conversations.setTopic"] == refused
    assert "Acknowledged" in str(card(sandbox, slack_channel(sandbox, channel["id"]))["text"])  # the card follows
    assert await sandbox.bot.store.dead_effects(incident["id"]) == []

    answer = await in_slack(sandbox, "invite", user=ASHA, channel=channel["id"], invitee="pavedroad")
    assert [e["type"] for e in answer["events"]] == ["member_joined_channel"]
    assert slack_channel(sandbox, channel["id"])["topic"].startswith("🟠 Acknowledged · P1 · ")
    assert await sandbox.bot.store.dead_effects(incident["id"]) == []


async def test_the_bot_invited_back_unheard_keeps_the_topic_up_to_date_again(sandbox: RunningSandbox) -> None:
    """Invited back into the channel with no `member_joined_channel` reaching it (an app installed from the earlier
    manifest, which subscribes to no such event; or the event lost): the bot took itself as removed for good, and the
    topic stayed as it was for the rest of the incident, whatever changed."""
    incident = await trigger(sandbox)
    [channel] = incident_channels(sandbox)
    removes_the_bot(sandbox, channel["id"])
    await act(sandbox, incident["id"], "acknowledge", user=ASHA)  # its topic refused once: the bot learns it
    slack = sandbox.sandbox.slack
    slack.bot_events = slack.bot_events - {"member_joined_channel"}
    answer = await in_slack(sandbox, "invite", user=ASHA, channel=channel["id"], invitee="pavedroad")
    assert answer["events"] == []

    await act(sandbox, incident["id"], "priority", user=ASHA, priority="P1")
    assert slack_channel(sandbox, channel["id"])["topic"].startswith("🟠 Acknowledged · P1 · ")
    assert not (await sandbox.bot.store.footprint(incident["id"])).bot_removed
    assert await sandbox.bot.store.dead_effects(incident["id"]) == []


async def test_a_late_retry_of_the_bots_join_when_it_made_the_channel_leaves_it_removed(
        sandbox: RunningSandbox) -> None:
    """Slack's retry of the bot's own `member_joined_channel` from when it made the channel (its first delivery failed)
    arrived after someone removed the bot: taken as the bot invited back, it let go of the removal, and the next change
    spent a refused topic call and told the channel a second time that day that the bot was removed."""
    incident = await trigger(sandbox)
    [channel] = incident_channels(sandbox)
    slack = sandbox.sandbox.slack
    # The join Slack sent as the bot made the channel, whose delivery failed: retried later, the same envelope.
    joined = event_envelope(slack, {"type": "member_joined_channel", "user": slack.bot.id, "channel": channel["id"],
                                    "channel_type": "C", "team": slack.team_id, "event_ts": slack.next_ts()})
    removes_the_bot(sandbox, channel["id"])
    calls = slack.calls
    await act(sandbox, incident["id"], "acknowledge", user=ASHA)  # its topic refused once: the bot learns it
    refused = calls["conversations.setTopic"]
    assert (await deliver_envelope(slack, joined, retry=3))["status"] == 200
    await sandbox.bot.settle(20)

    await act(sandbox, incident["id"], "priority", user=ASHA, priority="P1")
    assert calls["conversations.setTopic"] == refused
    assert (await sandbox.bot.store.footprint(incident["id"])).bot_removed
    told = [m for m in messages(sandbox, channel["id"]) if "I am no longer a member of this channel" in m["text"]]
    assert len(told) == 1, told
    # Invited back for real, its topic is set at once.
    await in_slack(sandbox, "invite", user=ASHA, channel=channel["id"], invitee="pavedroad")
    assert slack_channel(sandbox, channel["id"])["topic"].startswith("🟠 Acknowledged · P1 · ")


async def test_a_card_unpinned_by_someone_is_pinned_again_once(sandbox: RunningSandbox) -> None:
    """Someone unpins the card (by mistake, or tidying the channel's pins): it was never pinned again, the card
    remembered as pinned for good."""
    incident = await trigger(sandbox)
    [channel] = incident_channels(sandbox)
    pinned = card(sandbox, channel)
    calls = sandbox.sandbox.slack.calls
    pins_before = calls["pins.add"]

    answer = await in_slack(sandbox, "unpin", user=ASHA, channel=channel["id"], ts=pinned["ts"])
    assert [e["type"] for e in answer["events"]] == ["pin_removed"]
    assert pinned["ts"] in slack_channel(sandbox, channel["id"])["pins"]
    assert calls["pins.add"] == pins_before + 1
    # Pinned once: the refreshes that follow pin nothing more.
    await act(sandbox, incident["id"], "acknowledge", user=ASHA)
    await sandbox.bot.refresh_open_cards()
    await sandbox.bot.settle(20)
    assert calls["pins.add"] == pins_before + 1
    assert (await sandbox.bot.store.footprint(incident["id"])).card_pinned
    assert await sandbox.bot.store.dead_effects(incident["id"]) == []


async def test_a_renamed_channel_is_named_by_its_new_name_in_the_tickets_close_notes(sandbox: RunningSandbox) -> None:
    """The responders rename the channel once they know what it is about; the ticket's close notes still named the
    channel by its first name, which no longer exists in Slack."""
    incident = await trigger(sandbox)
    [channel] = incident_channels(sandbox)
    renamed = f"{channel['name']}-checkout-db"
    answer = await in_slack(sandbox, "rename", user=ASHA, channel=channel["id"], name=renamed)
    assert [e["type"] for e in answer["events"]] == ["channel_rename"]
    await act(sandbox, incident["id"], "resolve", user=ASHA)
    await settle_all(sandbox)
    notes = ticket_for(sandbox, incident["id"])["close_notes"]
    assert f"Slack channel: #{renamed} " in notes, notes


async def test_a_renamed_channel_keeps_its_latest_name_when_an_earlier_renames_event_is_retried_late(
        sandbox: RunningSandbox) -> None:
    """Renamed twice, the first rename's event failing to reach the bot: Slack's retry of it came after the second's
    event, and the ticket's close notes named the channel by the name it had in between, gone from Slack."""
    incident = await trigger(sandbox)
    [channel] = incident_channels(sandbox)
    slack = sandbox.sandbox.slack
    first = rename_as_person(slack, ASHA, channel["id"], f"{channel['name']}-db")  # its delivery failed
    latest = f"{channel['name']}-checkout-db"
    await in_slack(sandbox, "rename", user=ASHA, channel=channel["id"], name=latest)
    [event] = first.events
    assert (await deliver_envelope(slack, event_envelope(slack, event), retry=1))["status"] == 200
    await sandbox.bot.settle(20)
    await act(sandbox, incident["id"], "resolve", user=ASHA)
    await settle_all(sandbox)
    notes = ticket_for(sandbox, incident["id"])["close_notes"]
    assert f"Slack channel: #{latest} " in notes, notes


async def test_a_channel_made_private_then_renamed_is_named_by_its_new_name_in_the_tickets_close_notes(
        sandbox: RunningSandbox) -> None:
    """A workspace admin made the incident's channel private, then it was renamed: Slack sends `group_rename` for a
    private channel, which the app did not subscribe to, and the ticket's close notes named a channel gone."""
    incident = await trigger(sandbox)
    [channel] = incident_channels(sandbox)
    made_private = sandbox.sandbox.slack.find_channel(channel["id"])
    assert made_private is not None
    made_private.is_private = True  # (an admin's "Change to a private channel": its id and members kept)
    renamed = f"{channel['name']}-checkout-db"
    answer = await in_slack(sandbox, "rename", user=ASHA, channel=channel["id"], name=renamed)
    assert [e["type"] for e in answer["events"]] == ["group_rename"]
    await act(sandbox, incident["id"], "resolve", user=ASHA)
    await settle_all(sandbox)
    notes = ticket_for(sandbox, incident["id"])["close_notes"]
    assert f"Slack channel: #{renamed} " in notes, notes


async def test_a_channel_the_bot_was_removed_from_and_cannot_post_in_is_told_to_the_operators(
        sandbox: RunningSandbox) -> None:
    """The app installed without `chat:write.public` (an older manifest's scopes), the bot removed from the incident's
    channel: Slack refuses its posts there too (`not_in_channel`), so its ask to be invited back died, and with it
    every timeline line — a dead effect and an operators' alert each, none saying what to do."""
    incident = await trigger(sandbox)
    [channel] = incident_channels(sandbox)
    sandbox.sandbox.slack.bot_scopes = BOT_SCOPES - {"chat:write.public"}
    removes_the_bot(sandbox, channel["id"])
    await act(sandbox, incident["id"], "acknowledge", user=ASHA)
    await act(sandbox, incident["id"], "reassign", user=ASHA, to=["dev.sharma@example.com"])
    assert await sandbox.bot.store.dead_effects(incident["id"]) == []
    told = [line for line in ops_lines(sandbox) if "/invite @pavedroad" in line]
    assert len(told) == 1 and f"<#{channel['id']}>" in told[0], ops_lines(sandbox)
    assert not [line for line in ops_lines(sandbox) if line.startswith("🚨")], ops_lines(sandbox)
