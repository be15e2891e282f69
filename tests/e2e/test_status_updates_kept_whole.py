"""Review of status updates, reminders and stakeholders' communication, as an incident manager meets them at 3 a.m.:
each test is a bug found in review, end to end through the emulators.

- An update of the length the bot accepts (3,000 characters in all) reached the stakeholders' channel and the
  incident channel clipped in one section block: the impact, written last, was cut off with an ellipsis.
- An update after the resolve (the all-clear) promised stakeholders a "Next update by …" that nobody would send.
- The form's "Next update due" was not what the reminders went by: a commander who told stakeholders "in 2 hours"
  was nagged after 30 minutes, and one who promised 15 minutes was reminded only after 30.
- A reminder in an incident channel someone archived while the incident was open died (an operators' alert at every
  interval) instead of following the incident to a new channel as its timeline does.
- `/incident update #12 …` typed in another channel answered that the update was on its way "to this channel".
- `/incident update <text>` refused (too long, not theirs to post) lost the text: Slack keeps no command once sent.
- More than 20 updates waiting on PagerDuty, or on ServiceNow (PagerDuty confirming each at once): the oldest was
  never published, or never commented on the ticket, and nobody was told.
"""

from __future__ import annotations

import asyncio
import html
from typing import Any

from bot.domain.coordination import KEPT_UPDATES
from bot.services.dispatcher import RetryPolicy
from sandbox.faults import Fault
from sandbox.world import RunningSandbox
from tests.e2e.sandbox_helpers import (
    act,
    as_user,
    channel_id,
    command,
    messages,
    move_clock,
    opened,
    replies,
    settle,
    slack_user,
    state,
)
from tests.helpers import StartSandbox

ERIN = "erin.walsh@example.com"
REMINDER = "status update for stakeholders is due"


async def submit_form(running: RunningSandbox, channel: str, what: str, impact: str = "", next_in: str = "30") -> None:
    """`/incident update` alone opens the form; Erin fills it in and posts it."""
    await command(running, "update", channel, user=ERIN)
    view = [v for v in state(running)["slack"]["views"] if v["callback_id"] == "incident_update_modal"][-1]
    await as_user(running, "view_submission", user=ERIN, view_id=view["id"], values={
        "update_what": {"text": what}, "update_impact": {"text": impact}, "update_next": {"choice": next_in}})
    await settle(running)


def said(message: dict[str, Any]) -> str:
    """A message as people read it: its text, then its sections' and context's texts, Slack's escapes undone."""
    blocks = message.get("blocks") or []
    texts = [str(b["text"].get("text", "")) for b in blocks if isinstance(b.get("text"), dict)]
    texts += [str(e.get("text", "")) for b in blocks if b["type"] == "context" for e in b["elements"]]
    return html.unescape("\n".join(texts) if texts else message["text"])


def public(running: RunningSandbox, channel: str) -> list[dict[str, Any]]:
    """The channel's posts everyone sees, but the pinned card."""
    pins = {p for c in state(running)["slack"]["channels"] if c["id"] == channel for p in c["pins"]}
    return [m for m in messages(running, channel) if m["ephemeral_to"] is None and m["ts"] not in pins]


def stakeholders(running: RunningSandbox) -> list[str]:
    return [said(m) for m in public(running, channel_id(running, "incident-updates"))]


def reminders(running: RunningSandbox, channel: str) -> list[dict[str, Any]]:
    return [m for m in public(running, channel) if REMINDER in said(m)]


async def test_a_long_update_reaches_stakeholders_and_the_incident_channel_whole_with_its_impact(
        sandbox: RunningSandbox) -> None:
    _, channel = await opened(sandbox)
    # 2,940 characters in all, within the 3,000 an update may hold: R&D's own words, with their ampersands.
    what = "R&D rolled back the 10:02 pricing deploy & are re-warming the caches. " * 40
    impact = "IMPACT: 1 in 5 card payments fail at checkout, all regions"
    await submit_form(sandbox, channel["id"], what, impact)
    [posted] = stakeholders(sandbox)
    assert impact in posted and "…" not in posted
    assert posted.count("re-warming") == 40
    [in_channel] = [said(m) for m in public(sandbox, channel["id"]) if "pricing deploy" in said(m)]
    assert impact in in_channel and in_channel.count("re-warming") == 40


async def test_an_update_after_the_resolve_promises_stakeholders_no_next_one(sandbox: RunningSandbox) -> None:
    incident, channel = await opened(sandbox)
    await act(sandbox, incident["id"], "resolve", user=ERIN)
    answer = await command(sandbox, "update All clear: card payments are back to normal", channel["id"], user=ERIN)
    assert "on its way" in replies(answer) and "Next one due" not in replies(answer)
    [posted] = stakeholders(sandbox)
    assert "All clear" in posted and "Next update" not in posted
    [published] = [u for u in state(sandbox)["pagerduty"]["status_updates"] if u["incident_id"] == incident["id"]]
    assert "Next update" not in published["message"]


async def test_the_form_for_a_resolved_incidents_update_asks_for_no_next_one(sandbox: RunningSandbox) -> None:
    """The all-clear promises no next update: its form asked "Next update due" and ignored the answer."""
    incident, channel = await opened(sandbox)
    open_form = await command(sandbox, "update", channel["id"], user=ERIN)
    assert "Next update due" in str(open_form["views_opened"])
    await act(sandbox, incident["id"], "resolve", user=ERIN)
    resolved_form = await command(sandbox, "update", channel["id"], user=ERIN)
    [view] = resolved_form["views_opened"]
    assert "What is happening" in str(view) and "Next update due" not in str(view)


async def test_the_reminder_comes_when_the_last_update_said_the_next_one_would(sandbox: RunningSandbox) -> None:
    _, channel = await opened(sandbox)
    await command(sandbox, "role commander me", channel["id"], user=ERIN)
    # Erin tells stakeholders the next update comes in 2 hours: no reminder at 31 minutes.
    await submit_form(sandbox, channel["id"], "Rolled back; watching error rates", next_in="120")
    await move_clock(sandbox, advance_seconds=31 * 60)
    await settle(sandbox)
    assert reminders(sandbox, channel["id"]) == []
    # Two hours on, it is due.
    await move_clock(sandbox, advance_seconds=90 * 60)
    await settle(sandbox)
    assert len(reminders(sandbox, channel["id"])) == 1
    # Now she promises the next in 15 minutes: reminded at 16, not only at 30.
    await submit_form(sandbox, channel["id"], "Errors are back: failing over to the second region", next_in="15")
    await move_clock(sandbox, advance_seconds=16 * 60)
    await settle(sandbox)
    assert len(reminders(sandbox, channel["id"])) == 2
    assert f"<@{slack_user(sandbox, ERIN)}>" in said(reminders(sandbox, channel["id"])[-1])


async def test_a_reminder_in_a_channel_someone_archived_follows_the_open_incident_to_a_new_channel(
        sandbox: RunningSandbox) -> None:
    incident, channel = await opened(sandbox)
    await command(sandbox, "role commander me", channel["id"], user=ERIN)
    archived = sandbox.sandbox.slack.find_channel(channel["name"])
    assert archived is not None
    archived.is_archived = True  # someone archived it in Slack, thinking it was over
    await move_clock(sandbox, advance_seconds=31 * 60)
    await settle(sandbox)
    assert await sandbox.bot.store.dead_effects() == []
    assert not [m for m in public(sandbox, channel_id(sandbox, "paved-road-ops")) if "status reminder" in said(m)]
    moved = (await sandbox.bot.store.footprint(incident["id"])).channel_id
    assert moved is not None and moved != channel["id"]
    [reminder] = reminders(sandbox, moved)
    assert f"<@{slack_user(sandbox, ERIN)}>" in said(reminder)


async def test_an_update_sent_from_another_channel_does_not_say_it_went_to_that_one(sandbox: RunningSandbox) -> None:
    incident, _ = await opened(sandbox)
    answer = await command(sandbox, f"update #{incident['incident_number']} Rolling back the pricing deploy",
                           channel_id(sandbox, "team-basket"), user=ERIN)
    assert "on its way" in replies(answer) and "this channel" not in replies(answer)
    assert len(stakeholders(sandbox)) == 1



async def test_an_update_typed_too_long_is_refused_with_what_was_typed_quoted_back(sandbox: RunningSandbox) -> None:
    """Slack keeps no slash command's text once sent: refused for its length with only "keep it short", the 3,200
    characters typed at 3 a.m. were gone, to be typed again."""
    incident, channel = await opened(sandbox)
    typed = "Checkout fails for card payments in every region; " * 62 + "LAST-WORDS"
    answer = await command(sandbox, f"update {typed}", channel["id"], user=ERIN)
    told = html.unescape(replies(answer))
    assert "too long" in told and typed in told
    assert [u for u in state(sandbox)["pagerduty"]["status_updates"] if u["incident_id"] == incident["id"]] == []


async def test_updates_piled_up_while_pagerduty_is_down_are_all_published_when_it_is_back(
        start_sandbox: StartSandbox) -> None:
    """More than KEPT_UPDATES (20) updates while PagerDuty is down: the incident kept only the last 20, and the oldest
    update's PublishStatusUpdate found no update by its id and did nothing, silently (ShareStatusUpdate and
    CommentOnTicket read it the same way); and PagerDuty's confirmation of it would have been taken for an update
    published there directly. Updates still awaiting PagerDuty are kept (coordination.kept_updates)."""
    running = await start_sandbox(retry_policy=RetryPolicy(max_attempts=10_000, base_seconds=0.05, max_seconds=0.1))
    incident, channel = await opened(running)
    running.sandbox.faults.add(Fault("pagerduty", f"POST /incidents/{incident['id']}/status_updates", status=503,
                                     times=1_000_000))
    for step in range(21):
        await as_user(running, "command", user=ERIN, channel=channel["id"], text=f"update Still rolling back, {step}")
    running.sandbox.faults.clear()
    await settle(running)
    published = [u for u in state(running)["pagerduty"]["status_updates"] if u["incident_id"] == incident["id"]]
    assert len(published) == 21
    kept = await running.bot.store.incident(incident["id"])
    assert kept is not None
    assert [(u.source, u.in_pagerduty) for u in kept.status_updates] == [("slack", True)] * 21, \
        "each confirmation matched its own update, none taken for an update made in PagerDuty"


async def test_updates_piled_up_while_servicenow_is_down_all_reach_the_ticket_when_it_is_back(
        start_sandbox: StartSandbox) -> None:
    """More than KEPT_UPDATES (20) updates while ServiceNow is down (or refuses the bot's credentials, when its
    effects wait however long) and PagerDuty is up: PagerDuty confirmed each at once, so the incident let the oldest
    go, and its CommentOnTicket found no update by its id — the desk never had that customer-visible comment."""
    running = await start_sandbox(retry_policy=RetryPolicy(max_attempts=10_000, base_seconds=0.05, max_seconds=0.1))
    incident, channel = await opened(running)
    await settle(running)
    [ticket] = [t for t in state(running)["servicenow"]["incidents"] if t["correlation_id"] == incident["id"]]
    running.sandbox.faults.add(Fault("servicenow", f"/api/now/table/incident/{ticket['sys_id']}", status=503,
                                     times=1_000_000))
    for step in range(21):
        await as_user(running, "command", user=ERIN, channel=channel["id"], text=f"update Still rolling back, {step}")
    for _ in range(200):  # PagerDuty has each, and its webhooks said so (the comments wait on ServiceNow meanwhile)
        await running.sandbox.pagerduty.drain_webhooks()
        kept = await running.bot.store.incident(incident["id"])
        if kept is not None and sum(u.in_pagerduty for u in kept.status_updates) >= KEPT_UPDATES:
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("PagerDuty never confirmed the updates")
    running.sandbox.faults.clear()
    await settle(running)
    [ticket] = [t for t in state(running)["servicenow"]["incidents"] if t["correlation_id"] == incident["id"]]
    said_there = "\n".join(str(c["value"]) for c in ticket["comments"]).splitlines()
    commented = [step for step in range(21) if f"Still rolling back, {step}" in said_there]
    assert commented == list(range(21))
