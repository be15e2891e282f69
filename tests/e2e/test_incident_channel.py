"""A PagerDuty incident opens a ready public Slack channel: end to end through the sandbox's emulators."""

from __future__ import annotations

import asyncio
from typing import Any

from bot.catalogue import Catalogue
from bot.services.retries import RetryPolicy
from sandbox.faults import Fault
from sandbox.world import RunningSandbox
from tests.e2e.sandbox_helpers import (
    act,
    buttons,
    card,
    deliver,
    eventually,
    incident_channels,
    messages,
    move_clock,
    settle,
    slack_user,
    state,
    trigger,
)
from tests.helpers import StartSandbox, incident_event


async def test_trigger_opens_a_ready_public_channel(sandbox: RunningSandbox) -> None:
    incident = await trigger(sandbox, "Checkout returns 500s", "PBASKET")
    [channel] = incident_channels(sandbox)
    assert channel["name"] == f"inc-{incident['incident_number']}-checkout-returns-500s"
    assert channel["is_private"] is False
    assert channel["topic"].startswith("🔴 Triggered · Basket API · ")
    assert incident["html_url"] in channel["topic"]
    # Asha is on call for Basket and in Slack: invited. Fatima is on call but not in Slack: named instead.
    assert slack_user(sandbox, "asha.patel@example.com") in channel["members"]
    lines = [m["text"] for m in messages(sandbox, channel["id"])]
    assert any("Could not find Fatima Noor in Slack" in line for line in lines)
    assert any("Triggered on Basket API" in line for line in lines)
    pinned = card(sandbox, channel)
    assert buttons(pinned) == ["incident_acknowledge", "incident_resolve", "incident_page_im"]
    card_text = str(pinned["blocks"])
    for expected in ("Checkout returns 500s", "Basket API", "high / none", "Asha Patel", "Basket on-call",
                     incident["html_url"]):
        assert expected in card_text
    # Announced once in the owning team's channel, linking to the incident channel.
    team = next(c for c in state(sandbox)["slack"]["channels"] if c["name"] == "team-basket")
    [announcement] = messages(sandbox, team["id"])
    assert f"<#{channel['id']}>" in announcement["text"]
    assert (await sandbox.bot.readiness())["dead_effects"] == []


async def test_responders_whose_names_no_store_takes_as_they_are_still_get_their_channel(
        sandbox: RunningSandbox) -> None:
    # PagerDuty gives the on-call people's names with half an emoji (a JSON "\ud800") and a NUL in them: remembering
    # who they are failed, and the channel's opening with it, at every try until it was dead.
    for user in sandbox.sandbox.pagerduty.account.users.values():
        user.name = f"{user.name} \ud800\x00"
    incident = await trigger(sandbox, "Checkout returns 500s", "PBASKET")
    await settle(sandbox)
    [channel] = incident_channels(sandbox)
    assert slack_user(sandbox, "asha.patel@example.com") in channel["members"]
    lines = [m["text"] for m in messages(sandbox, channel["id"])]
    assert any("Could not find Fatima Noor \ufffd in Slack" in line for line in lines)
    assert incident["html_url"] in str(card(sandbox, channel)["blocks"])
    assert (await sandbox.bot.readiness())["dead_effects"] == []


async def test_an_assignee_pagerduty_no_longer_knows_is_named_as_the_webhook_named_them(
        sandbox: RunningSandbox) -> None:
    """Reassigned to a user PagerDuty's API answers 404 for (deleted since): the channel said "Could not find PGHOST1
    in Slack (no Slack account with their PagerDuty email)" — an id for a name, and a reason that was not the one. The
    webhook named them: that name, and the reason PagerDuty gives."""
    incident = await trigger(sandbox, "Checkout returns 500s", "PBASKET")
    pd = sandbox.sandbox.pagerduty
    data = dict(pd.shapes.webhook_incident(pd.account.incident(incident["id"])), assignees=[
        {"id": "PGHOST1", "type": "user_reference", "summary": "Gwen Host"}])
    pd.emit_event("incident.reassigned", incident["id"], user_email="asha.patel@example.com", data=data)
    await settle(sandbox)
    [channel] = incident_channels(sandbox)
    [told] = [m["text"] for m in messages(sandbox, channel["id"]) if "Gwen Host" in m["text"]
              and "Could not find" in m["text"]]
    assert "PGHOST1" not in told and "PagerDuty no longer knows their user" in told, told
    assert "Gwen Host in Slack (no Slack account" not in told, told


async def test_the_card_follows_acknowledge_then_resolve(sandbox: RunningSandbox) -> None:
    incident = await trigger(sandbox)
    [channel] = incident_channels(sandbox)
    await act(sandbox, incident["id"], "acknowledge", user="asha.patel@example.com")
    pinned = card(sandbox, incident_channels(sandbox)[0])
    assert pinned["edited"] and "Acknowledged" in str(pinned["blocks"])
    assert buttons(pinned) == ["incident_resolve", "incident_page_im"]
    await act(sandbox, incident["id"], "resolve", user="asha.patel@example.com")
    [channel] = incident_channels(sandbox)
    pinned = card(sandbox, channel)
    assert buttons(pinned) == []
    assert "Resolved" in str(pinned["blocks"]) and "Time to acknowledge" in str(pinned["blocks"])
    assert channel["topic"].startswith("✅ Resolved · Basket API · INC") and " · TTA " in channel["topic"]
    assert " · TTR " in channel["topic"]
    lines = [m["text"] for m in messages(sandbox, channel["id"])]
    assert any("Acknowledged by Asha Patel" in line for line in lines)
    assert any("Resolved by Asha Patel" in line for line in lines)


async def test_every_incident_event_type_reaches_the_channel(sandbox: RunningSandbox) -> None:
    incident = await trigger(sandbox)
    iid = incident["id"]
    await act(sandbox, iid, "acknowledge", user="asha.patel@example.com")
    await act(sandbox, iid, "unacknowledge")
    await act(sandbox, iid, "escalate", user="asha.patel@example.com")
    await act(sandbox, iid, "reassign", user="asha.patel@example.com", to=["dev.sharma@example.com"])
    await act(sandbox, iid, "delegate", user="dev.sharma@example.com", escalation_policy_id="PPAYMEP")
    await act(sandbox, iid, "priority", user="dev.sharma@example.com", priority="P1")
    await act(sandbox, iid, "note", user="dev.sharma@example.com", content="Rolled back the 10:02 deploy")
    pd = sandbox.sandbox.pagerduty
    for event_type in ("incident.responder.added", "incident.responder.replied",
                       "incident.status_update_published"):
        pd.emit_event(event_type, iid, user_email="dev.sharma@example.com")
    await settle(sandbox)
    await act(sandbox, iid, "resolve", user="dev.sharma@example.com")
    reopened = dict(pd.shapes.webhook_incident(pd.account.incident(iid)), status="triggered")
    pd.emit_event("incident.reopened", iid, user_email="dev.sharma@example.com", data=reopened)
    await settle(sandbox)
    [channel] = incident_channels(sandbox)
    assert channel["topic"].startswith("🔴 Triggered")
    text = "\n".join(m["text"] for m in messages(sandbox, channel["id"]))
    for expected in ("Acknowledged by Asha Patel", "Unacknowledged", "Escalated", "Reassigned", "Delegated",
                     "Priority set to P1", "Note by Dev Sharma: Rolled back the 10:02 deploy", "asked to respond",
                     "the request to respond", "Status update", "Resolved by Dev Sharma", "Reopened by Dev Sharma"):
        assert expected in text, expected
    # Dev was reassigned the incident: he is invited.
    assert slack_user(sandbox, "dev.sharma@example.com") in channel["members"]
    assert (await sandbox.bot.readiness())["dead_effects"] == []


async def test_duplicate_deliveries_make_one_channel(sandbox: RunningSandbox) -> None:
    event = incident_event("incident.triggered", incident_id="QDUP0001", number=901, title="Duplicated")
    statuses = [await deliver(sandbox, event, delivery_id="same") for _ in range(3)]
    # The same incident triggered under three different event ids (PagerDuty re-sent it) and concurrently.
    others = [incident_event("incident.triggered", incident_id="QDUP0001", number=901, title="Duplicated")
              for _ in range(3)]
    statuses += await asyncio.gather(*(deliver(sandbox, e) for e in others))
    await settle(sandbox)
    assert statuses[0] == 202 and statuses[1:3] == [200, 200] and statuses[3:] == [202, 202, 202]
    channels = incident_channels(sandbox)
    assert [c["name"] for c in channels] == ["inc-901-duplicated"]
    assert len(channels[0]["pins"]) == 1
    cards = [m for m in messages(sandbox, channels[0]["id"]) if m["blocks"]]
    assert len(cards) == 1


async def test_out_of_order_delivery_ends_in_the_right_state(sandbox: RunningSandbox) -> None:
    def out_of_order(event_type: str, occurred_at: str) -> dict[str, Any]:
        return incident_event(event_type, occurred_at=occurred_at, incident_id="QORDER01", number=902,
                              title="Out of order")
    resolved = out_of_order("incident.resolved", "2026-11-27T10:30:00Z")
    acknowledged = out_of_order("incident.acknowledged", "2026-11-27T10:04:00Z")
    triggered = out_of_order("incident.triggered", "2026-11-27T10:00:00Z")
    # Ack arrives first (opens the channel: the bot may have missed the trigger), then resolve, then the trigger.
    for event in (acknowledged, resolved, triggered):
        assert await deliver(sandbox, event) == 202
    await settle(sandbox)
    incident = await sandbox.bot.store.incident("QORDER01")
    assert incident is not None and incident.status.value == "resolved"
    assert incident.time_to_acknowledge_seconds == 240 and incident.time_to_resolve_seconds == 1800
    [channel] = incident_channels(sandbox)
    assert channel["topic"].startswith("✅ Resolved")
    assert buttons(card(sandbox, channel)) == []


async def test_slack_429s_and_5xx_end_consistent_without_duplicates(sandbox: RunningSandbox) -> None:
    faults = sandbox.sandbox.faults
    from sandbox.faults import Fault
    faults.add(Fault("slack", "conversations.create", status=429, times=2, retry_after=0))
    faults.add(Fault("slack", "chat.postMessage", status=503, times=3))
    faults.add(Fault("slack", "pins.add", status=500, times=1))
    faults.add(Fault("slack", "conversations.setTopic", status=429, times=1, retry_after=0))
    await trigger(sandbox, "Flaky Slack")
    channels = incident_channels(sandbox)
    assert [c["name"] for c in channels] == ["inc-1-flaky-slack"]
    pinned = card(sandbox, channels[0])
    assert buttons(pinned)
    texts = [m["text"] for m in messages(sandbox, channels[0]["id"])]
    assert len(texts) == len(set(texts)), texts
    team = next(c for c in state(sandbox)["slack"]["channels"] if c["name"] == "team-basket")
    assert len(messages(sandbox, team["id"])) == 1
    assert faults.snapshot() == []  # every fault spent, and no longer listed


async def test_a_name_taken_by_someone_else_gets_a_suffix(sandbox: RunningSandbox) -> None:
    # Someone made a channel with the name the bot will want.
    sandbox.sandbox.slack.create_channel_as("chloe.martin@example.com", "inc-1-db-is-down")
    await trigger(sandbox, "DB is down")
    names = sorted(c["name"] for c in incident_channels(sandbox))
    assert names == ["inc-1-db-is-down", "inc-1-db-is-down-2"]
    ours = next(c for c in incident_channels(sandbox) if c["name"] == "inc-1-db-is-down-2")
    assert card(sandbox, ours)


async def test_a_channel_the_bot_made_but_never_recorded_is_adopted_not_made_twice(sandbox: RunningSandbox) -> None:
    # A replica's conversations.create reached Slack, then the replica died before the channel's id was saved (or
    # before Slack's answer reached it). Whoever performs the effect next meets name_taken and must take the channel
    # up as the incident's: no second channel, and its card, pin and announcement once.
    sandbox.sandbox.slack.new_channel("inc-1-db-is-down", is_private=False)
    await trigger(sandbox, "DB is down")
    [channel] = incident_channels(sandbox)
    assert channel["name"] == "inc-1-db-is-down"
    pinned = card(sandbox, channel)
    assert channel["pins"] == [pinned["ts"]]
    assert len([m for m in messages(sandbox, channel["id"]) if m["blocks"]]) == 1
    team = next(c for c in state(sandbox)["slack"]["channels"] if c["name"] == "team-basket")
    [announcement] = messages(sandbox, team["id"])
    assert channel["id"] in announcement["text"]


async def test_a_dead_effect_is_visible_and_alerts_the_operators(sandbox: RunningSandbox) -> None:
    from sandbox.faults import Fault
    sandbox.sandbox.faults.add(Fault("slack", "conversations.create", status=500, times=100))
    await trigger(sandbox, "Slack is down")
    readiness = await sandbox.bot.readiness()
    dead = readiness["dead_effects"]
    assert isinstance(dead, list)
    kinds = [d["kind"] for d in dead]
    assert "open_incident_channel" in kinds
    sandbox.sandbox.faults.clear()
    await settle(sandbox)
    ops = next(c for c in state(sandbox)["slack"]["channels"] if c["name"] == "paved-road-ops")
    alerts = [m["text"] for m in messages(sandbox, ops["id"])]
    assert any("could not open incident channel" in a for a in alerts)
    assert incident_channels(sandbox) == []
    # Slack is back: the next scheduled card refresh opens the channel after all, once.
    assert await sandbox.bot.refresh_open_cards() == 1
    await settle(sandbox)
    [channel] = incident_channels(sandbox)
    assert card(sandbox, channel) and channel["topic"].startswith("🔴 Triggered")


async def test_the_bots_own_policy_outlasts_a_slack_outage_with_the_channel_and_every_line(
        start_sandbox: StartSandbox) -> None:
    """Slack answering 503 to everything for longer than an effect's attempts (here 3; the bot's own policy, 8 — a
    few minutes): the channel's opening and the lines behind it died, the lines never to be posted (a card refresh
    opens the channel later, not the lines). With the bot's own policy, Slack's effects are retried through an hour's
    outage: once Slack answers, the channel opens and every line is in it, nothing dead."""
    outlasting = RetryPolicy(max_attempts=3, base_seconds=0.02, max_seconds=0.1, slack_outage_seconds=3600)
    running = await start_sandbox(retry_policy=outlasting)
    running.sandbox.faults.add(Fault("slack", "*", status=503, times=40))
    incident = await trigger(running, "Slack is down")
    await act(running, incident["id"], "acknowledge", user="asha.patel@example.com")

    def told() -> list[str]:
        return [m["text"] for c in incident_channels(running) for m in messages(running, c["id"])]
    await eventually(lambda: any("Acknowledged by" in line for line in told()), within=60)
    await settle(running)
    assert len(incident_channels(running)) == 1 and any("Triggered on" in line for line in told()), told()
    assert (await running.bot.readiness())["dead_effects"] == []


async def test_incidents_without_their_own_channel_get_a_card_in_the_team_channel(
        start_sandbox: StartSandbox, catalogue: Catalogue) -> None:
    policy = catalogue.channels.model_copy(update={"dedicated_channel_for": "high_urgency"})
    running = await start_sandbox(catalogue.model_copy(update={"channels": policy}))
    incident = await trigger(running, "Slow basket page", "PBASKET", urgency="low")
    await act(running, incident["id"], "acknowledge", user="asha.patel@example.com")
    assert incident_channels(running) == []
    team = next(c for c in state(running)["slack"]["channels"] if c["name"] == "team-basket")
    posted = messages(running, team["id"])
    [the_card] = [m for m in posted if m["blocks"]]
    assert the_card["edited"] and "Acknowledged" in str(the_card["blocks"])
    thread = [m["text"] for m in posted if m["thread_ts"] == the_card["ts"]]
    assert any("Triggered on Basket API" in t for t in thread)
    assert any("Acknowledged by Asha Patel" in t for t in thread)


async def test_open_cards_are_refreshed_on_schedule_so_elapsed_time_stays_true(sandbox: RunningSandbox) -> None:
    await trigger(sandbox, "Still burning")
    resolved = await trigger(sandbox, "Already over")
    await act(sandbox, resolved["id"], "resolve", user="asha.patel@example.com")
    await settle(sandbox)
    assert await sandbox.bot.refresh_open_cards() == 0  # just drawn: its elapsed time is still true
    await move_clock(sandbox, advance_seconds=5 * 60)
    calls_before = dict(state(sandbox)["slack"]["calls"])
    assert await sandbox.bot.refresh_open_cards() == 1  # only the open incident's card
    assert await sandbox.bot.refresh_open_cards() == 0  # one already waiting: not queued twice
    await settle(sandbox)
    calls = state(sandbox)["slack"]["calls"]
    assert calls["chat.update"] == calls_before.get("chat.update", 0) + 1
    assert sandbox.bot.scheduler is not None
    assert {job.id for job in sandbox.bot.scheduler.get_jobs()} == {
        "flush-work-notes", "refresh-money-at-stake", "refresh-open-cards", "archive-channels",
        "remind-status-updates", "prune-store",
        *(f"handover:{rota.id}" for rota in sandbox.bot.catalogue.rotas)}
    assert {"handover:basket", "handover:delivery", "handover:payments", "handover:retail-nights"} <= {
        job.id for job in sandbox.bot.scheduler.get_jobs()}


async def test_a_note_that_arrives_before_the_incident_is_posted_once_the_channel_opens(
        sandbox: RunningSandbox) -> None:
    from tests.helpers import note_event
    note = note_event("Customer reports started at 09:55", incident_id="QEARLY01",
                      occurred_at="2026-11-27T10:01:00Z")
    assert await deliver(sandbox, note) == 202
    await settle(sandbox)
    assert incident_channels(sandbox) == []
    triggered = incident_event("incident.triggered", incident_id="QEARLY01", number=903, title="Early note",
                               occurred_at="2026-11-27T10:00:00Z")
    assert await deliver(sandbox, triggered) == 202
    await settle(sandbox)
    [channel] = incident_channels(sandbox)
    lines = [m["text"] for m in messages(sandbox, channel["id"])]
    assert sum("Customer reports started at 09:55" in line for line in lines) == 1
