"""What engineers type in Slack reaches PagerDuty and ServiceNow readable by people who are not in Slack: a mention
arrives as `@Chloe Martin`, not as Slack's `<@U…|chloe.martin>` nor as a Slack user id, on every route by which
typed text leaves — a note, a resolution note, a page's message, a status update, a declared incident's title, a key
message and a follow-up (the last two reach the ticket's work notes). Typed as the README says (`@chloe.martin`):
the sandbox's Slack client sends the mention as Slack's does. Each test reads back PagerDuty's and ServiceNow's
emulators; a name Slack cannot give (rate-limited) falls back to what Slack sent, and the note still goes."""

from __future__ import annotations

import asyncio
from typing import Any

from bot.domain.contributions import KEY_MESSAGE_CHARS
from bot.services.slack_text import SlackText
from sandbox.faults import Fault
from sandbox.world import RunningSandbox
from tests.e2e.sandbox_helpers import (
    as_user,
    eventually,
    incident_channels,
    replies,
    slack_user,
    state,
    trigger,
)
from tests.e2e.servicenow_helpers import bot_notes, note_lines, settle_all, ticket_for

ASHA, BEN, ERIN = "asha.patel@example.com", "ben.okafor@example.com", "erin.walsh@example.com"
# Typed in Slack: a person, a channel, Slack's own link markup and characters Slack escapes (&amp; &lt; &gt;).
TYPED = "Asked @chloe.martin to check #team-basket & <https://wiki.example/checkout?a=1&b=2|the runbook> <now>"
READABLE = ("Asked @Chloe Martin to check #team-basket & the runbook (https://wiki.example/checkout?a=1&b=2) "
            "<now>")


async def command(running: RunningSandbox, channel: str, text: str, user: str = ASHA) -> str:
    answer = await as_user(running, "command", user=user, channel=channel, text=text)
    await settle_all(running)
    return replies(answer)


async def opened(running: RunningSandbox, title: str = "Checkout returns 500s") -> tuple[dict[str, Any], str]:
    incident = await trigger(running, title)
    await settle_all(running)
    [channel] = [c for c in incident_channels(running) if c["name"].startswith(f"inc-{incident['incident_number']}-")]
    return incident, str(channel["id"])


def pagerduty(running: RunningSandbox, kind: str, incident_id: str) -> list[dict[str, Any]]:
    return [found for found in state(running)["pagerduty"][kind] if found["incident_id"] == incident_id]


async def work_note_lines(running: RunningSandbox, incident_id: str) -> list[str]:
    """The timeline lines the bot has written on the incident's ticket, once the batch waiting is flushed."""
    await running.bot.flush_work_notes()
    await settle_all(running)
    return note_lines(bot_notes(ticket_for(running, incident_id)))


async def test_a_note_reaches_pagerduty_and_the_ticket_with_the_persons_name(sandbox: RunningSandbox) -> None:
    incident, channel = await opened(sandbox)
    assert "Note added" in await command(sandbox, channel, f"note {TYPED}")
    assert [n["content"] for n in pagerduty(sandbox, "notes", incident["id"])] == [READABLE]
    assert f"Note by Asha Patel: {READABLE}" in await work_note_lines(sandbox, incident["id"])


async def test_a_resolution_note_reaches_pagerduty_and_the_tickets_close_notes_readable(
        sandbox: RunningSandbox) -> None:
    incident, channel = await opened(sandbox)
    await command(sandbox, channel, "ack")
    await command(sandbox, channel, "resolve Rolled back 4.2.1 with @chloe.martin & @ben.okafor")
    resolution = "Resolution: Rolled back 4.2.1 with @Chloe Martin & @Ben Okafor"
    assert [n["content"] for n in pagerduty(sandbox, "notes", incident["id"])] == [resolution]
    ticket = ticket_for(sandbox, incident["id"])
    assert ticket["state"] == "6" and resolution in ticket["close_notes"]


async def test_a_page_carries_its_message_readable(sandbox: RunningSandbox) -> None:
    incident, channel = await opened(sandbox)
    await command(sandbox, channel, "page-im Need a decision: @chloe.martin wants to roll back")
    await command(sandbox, channel, "page payments Is #team-basket right that @chloe.martin's refunds fail?")
    assert [r["message"] for r in pagerduty(sandbox, "responder_requests", incident["id"])] == [
        "Need a decision: @Chloe Martin wants to roll back",
        "Is #team-basket right that @Chloe Martin's refunds fail?"]


async def test_a_status_update_reaches_pagerduty_and_the_ticket_readable(sandbox: RunningSandbox) -> None:
    incident, channel = await opened(sandbox)
    assert "on its way" in await command(sandbox, channel, "update Refunds fail; @chloe.martin is rolling back",
                                         user=ERIN)
    [published] = pagerduty(sandbox, "status_updates", incident["id"])
    assert published["message"].splitlines()[0] == "Refunds fail; @Chloe Martin is rolling back"
    comments = [str(c) for c in ticket_for(sandbox, incident["id"])["comments"]]
    assert sum("Refunds fail; @Chloe Martin is rolling back" in c for c in comments) == 1


async def test_a_declared_incident_gets_its_title_readable(sandbox: RunningSandbox) -> None:
    await command(sandbox, "team-payments", "new Refunds fail for @chloe.martin & co --service checkout")
    assert [i["title"] for i in state(sandbox)["pagerduty"]["incidents"]] == ["Refunds fail for @Chloe Martin & co"]


async def test_a_key_message_reaches_the_ticket_with_the_persons_name(sandbox: RunningSandbox) -> None:
    # A message's mention carries no name at all (`<@U…>`): without the lookup the ticket read a Slack user id.
    incident, channel = await opened(sandbox)
    sandbox.sandbox.slack.settle_seconds = 0.2
    posted = await as_user(sandbox, "message", user=BEN, channel=channel,
                           text="@chloe.martin rolled back 4.2.1 & errors are < 0.1%")
    await as_user(sandbox, "reaction", user=ASHA, channel=channel, ts=posted["ts"], name="pushpin")
    await settle_all(sandbox)
    line = "📌 Ben Okafor: @Chloe Martin rolled back 4.2.1 & errors are < 0.1%"
    assert line in await work_note_lines(sandbox, incident["id"])


async def test_a_key_message_is_cut_to_its_limit_after_the_names_are_in(sandbox: RunningSandbox) -> None:
    # Slack's `<@U…>` is shorter than "@Chloe Martin": the limit holds for what is read, not for what Slack sent.
    incident, channel = await opened(sandbox)
    typed = "x" * (KEY_MESSAGE_CHARS - 13) + " @chloe.martin"
    sandbox.sandbox.slack.settle_seconds = 0.2
    posted = await as_user(sandbox, "message", user=BEN, channel=channel, text=typed)
    assert len(posted["message"]["text"]) == KEY_MESSAGE_CHARS  # as Slack sent it: within the limit
    await as_user(sandbox, "reaction", user=ASHA, channel=channel, ts=posted["ts"], name="pushpin")
    await settle_all(sandbox)
    cut = "x" * (KEY_MESSAGE_CHARS - 13) + " @Chloe Mart…"  # as read, one over the limit: cut to it
    assert f"📌 Ben Okafor: {cut}" in await work_note_lines(sandbox, incident["id"])


async def test_a_follow_up_reaches_the_ticket_with_the_persons_name(sandbox: RunningSandbox) -> None:
    incident, channel = await opened(sandbox)
    answer = await command(sandbox, channel, "followup Ask @chloe.martin for a refunds alert @ben.okafor", user=BEN)
    assert "Follow-up recorded" in answer
    assert ("Follow-up #1 by Ben Okafor: Ask @Chloe Martin for a refunds alert (owner: Ben Okafor)"
            in await work_note_lines(sandbox, incident["id"]))


async def test_a_name_slack_will_not_give_falls_back_to_what_slack_sent_and_the_note_goes(
        sandbox: RunningSandbox) -> None:
    incident, channel = await opened(sandbox)
    await command(sandbox, channel, "note Asked @chloe.martin to check")  # Asha's identity and Chloe's name: known
    sandbox.sandbox.faults.add(Fault("slack", "users.info", status=429, times=100))
    assert "Note added" in await command(sandbox, channel, "note @chloe.martin and @ben.okafor agree")
    # Chloe's name as Slack gave it a moment ago; Ben's is rate-limited: his mention as Slack sent it (his handle).
    readable = "@Chloe Martin and @ben.okafor agree"
    assert [n["content"] for n in pagerduty(sandbox, "notes", incident["id"])][1:] == [readable]
    assert f"Note by Asha Patel: {readable}" in await work_note_lines(sandbox, incident["id"])
    assert sandbox.sandbox.faults.rules[0].times < 100  # Slack was asked for Ben's name, and said no


async def test_a_name_slack_is_slow_to_give_falls_back_without_holding_the_text(sandbox: RunningSandbox) -> None:
    chloe = slack_user(sandbox, "chloe.martin@example.com")
    sandbox.sandbox.faults.add(Fault("slack", "users.info", times=0, latency_ms=2_000))
    names = SlackText(sandbox.bot.chat, within=0.1)
    assert await names.readable(f"ask <@{chloe}|chloe.martin> or <@{chloe}>") == "ask @chloe.martin or @" + chloe


async def test_a_follow_up_is_recorded_while_slack_will_not_give_names(sandbox: RunningSandbox) -> None:
    # Its author's and owner's names were asked for unguarded: a rate-limited users.info lost the follow-up
    # ("something went wrong").
    incident, channel = await opened(sandbox)
    sandbox.sandbox.faults.add(Fault("slack", "users.info", status=429, times=100))
    answer = await command(sandbox, channel, "followup Ask @chloe.martin for a refunds alert @ben.okafor", user=BEN)
    assert "Follow-up recorded" in answer, answer
    assert ("Follow-up #1 by ben.okafor: Ask @chloe.martin for a refunds alert (owner: ben.okafor)"
            in await work_note_lines(sandbox, incident["id"]))


async def test_a_follow_ups_names_are_asked_for_together_not_one_after_another(sandbox: RunningSandbox) -> None:
    # Its owner's name, the names in its text and its author's were asked for in turn, each allowed 3 s: a slow Slack
    # held the person's answer up to 9 s. Held here until released: all three are asked for at once. (Asked in turn,
    # the third is asked for only once the first two have each been given up, after 3 s apiece: 6 s at the least.)
    _, channel = await opened(sandbox)
    sandbox.sandbox.faults.add(Fault("slack", "users.info", times=0, latency_ms=60_000))
    sent = asyncio.ensure_future(command(sandbox, channel, "followup Ask @chloe.martin for an alert @ben.okafor",
                                         user=ERIN))
    try:
        await eventually(lambda: sandbox.sandbox.faults.held["slack"] >= 3, within=5.0)
    finally:
        sandbox.sandbox.faults.release_held()
        sandbox.sandbox.faults.clear()
    assert "Follow-up recorded" in await sent


async def test_a_key_message_is_recorded_while_slack_will_not_give_names(sandbox: RunningSandbox) -> None:
    # The reaction is acknowledged before the message is read: a lookup failing after it lost the key message.
    incident, channel = await opened(sandbox)
    sandbox.sandbox.slack.settle_seconds = 0.2
    posted = await as_user(sandbox, "message", user=BEN, channel=channel, text="Rolled back 4.2.1")
    sandbox.sandbox.faults.add(Fault("slack", "users.info", status=429, times=100))
    await as_user(sandbox, "reaction", user=ASHA, channel=channel, ts=posted["ts"], name="pushpin")
    await settle_all(sandbox)
    # Slack gave no name for its author: the line says who by Slack's id, and keeps what they said.
    line = f"📌 {slack_user(sandbox, BEN)}: Rolled back 4.2.1"
    assert line in await work_note_lines(sandbox, incident["id"])


async def test_a_name_with_slack_markup_in_it_is_never_markup_back_in_slack(sandbox: RunningSandbox) -> None:
    # A Slack name is the person's to write, and users.info gives it as written: the names now put into a note, an
    # update, a follow-up, a page's message and a title come back into Slack (the answer, the channel's and the
    # stakeholders' posts, the card, the follow-ups list) escaped, so "<!channel>" in a name pings nobody.
    chloe = sandbox.sandbox.slack.resolve_user("chloe.martin")
    assert chloe is not None
    chloe.real_name = "<!channel> *Chloe* <https://evil.example|login>"
    _, channel = await opened(sandbox)
    said = [await command(sandbox, channel, "note asked @chloe.martin"),
            await command(sandbox, channel, "update @chloe.martin is rolling back", user=ERIN),
            await command(sandbox, channel, "followup Ask @chloe.martin for an alert @chloe.martin", user=BEN),
            await command(sandbox, channel, "followups"),
            await command(sandbox, channel, "page payments @chloe.martin needs you"),
            await command(sandbox, "team-payments", "new Refunds fail for @chloe.martin --service checkout")]
    assert [i["title"] for i in state(sandbox)["pagerduty"]["incidents"]][-1] == (
        "Refunds fail for @<!channel> *Chloe* <https://evil.example|login>")  # PagerDuty's readers: as named
    await settle_all(sandbox)
    shown_in_slack = [*said, *(text for m in state(sandbox)["slack"]["messages"] for text in _markup_read(m))]
    assert not [s for s in shown_in_slack if "<!channel>" in s or "<https://evil" in s], shown_in_slack


def _markup_read(found: Any) -> list[str]:
    """The texts of a message Slack reads markup in: all but a `plain_text` object's (a header, a button)."""
    if isinstance(found, dict):
        if found.get("type") == "plain_text":
            return []
        return [t for key, value in found.items() if key != "metadata" for t in _markup_read(value)]
    if isinstance(found, list):
        return [t for value in found for t in _markup_read(value)]
    return [found] if isinstance(found, str) else []
