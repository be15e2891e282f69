"""Slack refusing to let the bot create channels for good (`restricted_action`: the workspace lets only some members
create channels; `missing_scope`: installed without channels:manage). The incident that should have had a channel of
its own had no card anywhere in Slack — invisible but in PagerDuty — and the operators got an alert for its
opening, another for each timeline line, and another at every five-minute card refresh (each also one more
conversations.create spent of Slack's 20 a minute). Now its card goes to its team channel, kept up to date there
with its timeline in the card's thread, and the operators are told once a day what to change in Slack."""

from __future__ import annotations

import pytest

from bot.catalogue import Catalogue
from sandbox.faults import Fault
from sandbox.world import RunningSandbox
from tests.e2e.sandbox_helpers import act, messages, move_clock, state, thread
from tests.e2e.servicenow_helpers import bot_notes, settle_all, ticket_for
from tests.helpers import StartSandbox

ASHA = "asha.patel@example.com"


def refused(code: str) -> Fault:
    return Fault("slack", "conversations.create", status=200, error=code, times=10_000)


def ops_lines(running: RunningSandbox) -> list[str]:
    ops = next(c for c in state(running)["slack"]["channels"] if c["name"] == "paved-road-ops")
    return [str(m["text"]) for m in messages(running, ops["id"])]


def cards_of(running: RunningSandbox, incident_id: str) -> list[dict[str, object]]:
    marker = {"event_type": "pavedroad_posted", "event_payload": {"marker": f"card:{incident_id}"}}
    return [m for m in state(running)["slack"]["messages"] if m["metadata"] == marker]


async def triggered(running: RunningSandbox, title: str, urgency: str = "high") -> str:
    incident = await running.sandbox.pagerduty.trigger(title=title, service_id="PBASKET", urgency=urgency)
    await settle_all(running)
    return str(incident["id"])


@pytest.mark.parametrize(("code", "advice"), [("restricted_action", "Channel Management"),
                                              ("missing_scope", "channels:manage")])
async def test_an_incident_slack_will_not_give_a_channel_has_its_card_in_its_team_channel(
        start_sandbox: StartSandbox, catalogue: Catalogue, code: str, advice: str) -> None:
    running = await start_sandbox(catalogue, faults=[refused(code)])
    first = await triggered(running, "Checkout returns 500s")
    team = running.sandbox.slack.find_channel("team-basket")
    assert team is not None
    footprint = await running.bot.store.footprint(first)
    assert footprint.channel_id == team.id and footprint.shared_channel and footprint.card_ts is not None
    [card] = cards_of(running, first)
    assert card["channel"] == team.id and "Triggered" in str(card["text"]), card
    assert await running.bot.store.dead_effects(first) == []

    await act(running, first, "acknowledge", user=ASHA)
    await running.bot.flush_work_notes()
    await settle_all(running)
    [card] = cards_of(running, first)
    assert "Acknowledged" in str(card["text"]), card
    lines = [str(m["text"]) for m in thread(running, str(footprint.card_ts))]
    assert any("acknowledged" in line.lower() for line in lines), lines  # the timeline, in the card's thread
    assert f"channel={team.id}" in "\n".join(bot_notes(ticket_for(running, first)))  # the ticket has its link

    second = await triggered(running, "Basket images missing")
    for _ in range(2):
        await running.bot.refresh_open_cards()
        await settle_all(running)
    assert [c["channel"] for c in cards_of(running, second)] == [team.id]
    calls = state(running)["slack"]["calls"]
    assert calls.get("conversations.create", 0) == 2  # once per incident, not at every refresh
    assert calls.get("conversations.setTopic", 0) == 0 and calls.get("pins.add", 0) == 0  # the team's own
    assert calls.get("conversations.invite", 0) == 0
    told = [line for line in ops_lines(running) if line.startswith("⚠️ Slack refuses")]
    assert len(told) == 1, ops_lines(running)
    assert f"`{code}`" in told[0] and advice in told[0] and "#team-basket" not in told[0], told
    assert not [line for line in ops_lines(running) if line.startswith("🚨")], ops_lines(running)
    for incident in (first, second):
        assert await running.bot.store.dead_effects(incident) == []

    await act(running, first, "resolve", user=ASHA)
    await settle_all(running)
    await move_clock(running, advance_seconds=8 * 86400)  # when its own channel would be archived
    await settle_all(running)
    still = running.sandbox.slack.find_channel(team.id)
    assert still is not None and not still.is_archived  # the team's channel is not the incident's to archive


async def test_an_incident_upgraded_while_slack_refuses_channels_keeps_its_one_card(
        start_sandbox: StartSandbox, catalogue: Catalogue) -> None:
    """Its priority raised to P1 (the policy then wants it a channel of its own) while Slack refuses: the card it
    has in its team channel stays, and goes on being kept up to date; no second card."""
    policy = catalogue.channels.model_copy(update={"dedicated_channel_for": ["P1"]})
    running = await start_sandbox(catalogue.model_copy(update={"channels": policy}),
                                  faults=[refused("restricted_action")])
    iid = await triggered(running, "Slow basket page", urgency="low")
    await act(running, iid, "priority", priority="P1")
    await act(running, iid, "acknowledge", user=ASHA)
    await settle_all(running)
    team = running.sandbox.slack.find_channel("team-basket")
    assert team is not None
    [card] = cards_of(running, iid)
    assert card["channel"] == team.id and "Acknowledged" in str(card["text"]), card
    assert await running.bot.store.dead_effects(iid) == []
