"""Reminders, invitations and App Homes after the incident moves or Slack fails (found in the review of session 26's
stale-button, App Home, status-update, refused-command and incident-channel commits): each test is a bug found in
review, end to end through the emulators."""

from __future__ import annotations

import html
from typing import Any

from bot.adapters.slack.chat import SlackChat
from bot.metrics import Metrics
from bot.services.home import AppHome
from bot.services.people import People
from sandbox.faults import Fault
from sandbox.world import RunningSandbox
from tests.e2e.sandbox_helpers import (
    act,
    answers,
    as_user,
    channel_id,
    command,
    eventually,
    messages,
    move_clock,
    open_home,
    opened,
    publishes,
    settle,
    slack_user,
    state,
    trigger,
)

ASHA, BEN, DEV = "asha.patel@example.com", "ben.okafor@example.com", "dev.sharma@example.com"
ERIN = "erin.walsh@example.com"
REMINDER = "status update for stakeholders is due"


def said(message: dict[str, Any]) -> str:
    blocks = message.get("blocks") or []
    texts = [str(b["text"].get("text", "")) for b in blocks if isinstance(b.get("text"), dict)]
    return html.unescape("\n".join(texts) if texts else message["text"])


def public(running: RunningSandbox, channel: str) -> list[dict[str, Any]]:
    return [m for m in messages(running, channel) if m["ephemeral_to"] is None]


def ops_alerts(running: RunningSandbox) -> list[str]:
    ops = next(c for c in state(running)["slack"]["channels"] if c["name"] == "paved-road-ops")
    return [str(m["text"]) for m in messages(running, ops["id"]) if str(m["text"]).startswith("🚨")]


# ----- reminders and a channel deleted in Slack ---------------------------------------------------------------------

async def test_a_reminder_due_in_a_channel_an_admin_deleted_follows_the_incident_to_a_new_channel(
        sandbox: RunningSandbox) -> None:
    """The incident channel is deleted by a workspace admin while the incident is open, and nothing else happens
    until a status update is due: the card and the timeline now follow a deleted channel to a new one, but the
    reminder died on `channel_not_found` (a dead effect, an operators' alert), and nobody was asked for the update."""
    incident, channel = await opened(sandbox)
    await command(sandbox, "role commander me", channel["id"], user=ERIN)
    sandbox.sandbox.slack.delete_channel_as_admin(channel["id"])
    await move_clock(sandbox, advance_seconds=31 * 60)
    await settle(sandbox)
    assert await sandbox.bot.store.dead_effects(incident["id"]) == []
    assert ops_alerts(sandbox) == []
    moved = (await sandbox.bot.store.footprint(incident["id"])).channel_id
    assert moved is not None and moved != channel["id"]
    [reminder] = [m for m in public(sandbox, moved) if REMINDER in said(m)]
    assert f"<@{slack_user(sandbox, ERIN)}>" in said(reminder)


async def test_the_commander_is_in_the_new_channel_an_incident_moves_to_when_an_admin_deleted_its_own(
        sandbox: RunningSandbox) -> None:
    """Erin leads the incident (`/incident role commander me`: she is no assignee). An admin deletes the channel and
    the incident moves to a new one: its assignees were invited there, its commander was not — the card named her
    as commander of a channel she was not in, and the reminders mentioned her where she could not read them."""
    incident, channel = await opened(sandbox)
    await command(sandbox, "role commander me", channel["id"], user=ERIN)
    erin = slack_user(sandbox, ERIN)
    assert erin in next(c for c in state(sandbox)["slack"]["channels"] if c["id"] == channel["id"])["members"]
    sandbox.sandbox.slack.delete_channel_as_admin(channel["id"])
    await as_user(sandbox, "command", user=ASHA, channel=channel_id(sandbox, "team-basket"),
                  text=f"ack {incident['incident_number']}")
    await settle(sandbox)
    moved = (await sandbox.bot.store.footprint(incident["id"])).channel_id
    assert moved is not None and moved != channel["id"]
    members = next(c for c in state(sandbox)["slack"]["channels"] if c["id"] == moved)["members"]
    assert slack_user(sandbox, ASHA) in members
    assert erin in members, members


# ----- an assignee PagerDuty no longer knows ------------------------------------------------------------------------

async def test_a_reminder_names_an_assignee_pagerduty_no_longer_knows_as_the_webhook_named_them(
        sandbox: RunningSandbox) -> None:
    """Reassigned to a user PagerDuty's API no longer knows (deleted since): the channel now names them as the webhook
    did, "Gwen Host" — but the status reminder, with nobody leading, still asked "PGHOST1" for the update: an id for a
    name."""
    incident, channel = await opened(sandbox)
    pd = sandbox.sandbox.pagerduty
    data = dict(pd.shapes.webhook_incident(pd.account.incident(incident["id"])), assignees=[
        {"id": "PGHOST1", "type": "user_reference", "summary": "Gwen Host"}])
    pd.emit_event("incident.reassigned", incident["id"], user_email=ASHA, data=data)
    await settle(sandbox)
    await move_clock(sandbox, advance_seconds=31 * 60)
    await settle(sandbox)
    [reminder] = [said(m) for m in public(sandbox, channel["id"]) if REMINDER in said(m)]
    assert "Gwen Host" in reminder and "PGHOST1" not in reminder, reminder


# ----- people Slack will not add ------------------------------------------------------------------------------------

def would_not_add(running: RunningSandbox, channel: str) -> list[str]:
    return [str(m["text"]) for m in public(running, channel) if "would not add" in str(m["text"])]


async def test_someone_slack_would_not_add_is_named_once_not_again_when_the_incident_comes_back_to_them(
        sandbox: RunningSandbox) -> None:
    """Slack will not add Asha, the on-call engineer (a guest, say): the channel says so once. The incident goes to
    Dev, then back to Asha with Ben beside her, and Slack will not add Ben either. Whoever the incident comes back to
    is invited again now (they may have left), so the channel was told again that Slack would not add Asha, in the
    same breath as Ben — the module's promise is "each is told once"."""
    sandbox.sandbox.faults.add(Fault("slack", "conversations.invite", status=200, error="cant_invite", times=1))
    incident, channel = await opened(sandbox)
    [first] = would_not_add(sandbox, channel["id"])
    assert "Asha Patel" in first
    await act(sandbox, incident["id"], "reassign", user=ASHA, to=[DEV])
    sandbox.sandbox.faults.add(Fault("slack", "conversations.invite", status=200, error="cant_invite", times=1))
    await act(sandbox, incident["id"], "reassign", user=DEV, to=[ASHA, BEN])
    told = would_not_add(sandbox, channel["id"])
    assert sum("Ben Okafor" in t for t in told) == 1, told
    assert sum("Asha Patel" in t for t in told) == 1, told


# ----- the App Home -------------------------------------------------------------------------------------------------

def home_part(running: RunningSandbox, email: str, title: str) -> str:
    view = state(running)["slack"]["home_views"][slack_user(running, email)]
    text = "\n".join(str(b.get("text", {}).get("text", "")) + str(b.get("elements", "")) for b in view["blocks"])
    return text.split(f"*{title}*", 1)[1].split("\n*", 1)[0]


async def test_a_home_that_could_not_find_your_rotas_does_not_say_no_notes_are_waiting_on_them(
        sandbox: RunningSandbox) -> None:
    """Slack does not say who Ben is as he opens his Home (users.info failing), so his rotas could not be found: the
    Home said so for his rotas' on-call list, and beside it "No notes waiting." — while Dev's note for the Payments
    handover, Ben's rota, was waiting on it."""
    ben = slack_user(sandbox, "ben.okafor@example.com")
    sandbox.sandbox.faults.add(Fault("slack", "users.info", status=503, times=1000, with_field="user", with_text=ben))
    noted = await as_user(sandbox, "command", user=DEV, channel="team-payments",
                          text="handover-note watch the refunds queue")
    await eventually(lambda: "Noted for the *Payments* handover" in answers(sandbox, noted))
    await open_home(sandbox, "ben.okafor@example.com")
    assert "could not be looked up" in home_part(sandbox, "ben.okafor@example.com",
                                                 "On call now for your teams and rotas")
    notes = home_part(sandbox, "ben.okafor@example.com", "Handover notes waiting on your rotas")
    assert "No notes waiting" not in notes, notes


async def test_a_home_published_while_slack_does_not_say_who_you_are_is_not_headed_with_your_user_id(
        sandbox: RunningSandbox) -> None:
    """The Home published when users.info fails was headed "Paved Road — U5MPKBPGS": a Slack user id for a name."""
    ben = slack_user(sandbox, "ben.okafor@example.com")
    sandbox.sandbox.faults.add(Fault("slack", "users.info", status=503, times=1000, with_field="user", with_text=ben))
    await open_home(sandbox, "ben.okafor@example.com")
    [header] = [b for b in state(sandbox)["slack"]["home_views"][ben]["blocks"] if b["type"] == "header"]
    assert ben not in header["text"]["text"], header


async def test_an_assignee_who_left_the_channel_is_not_pulled_back_in_when_someone_else_is_added(
        sandbox: RunningSandbox) -> None:
    """Asha, on call, leaves the incident channel while it stays hers (she handed the work to the responders there).
    Dev is added as a second assignee: Dev is invited — and Asha was pulled back in, as at every later assignee.
    Invited again is whoever the incident newly comes to (README: "someone the incident comes back to"), not everyone
    it already had."""
    incident, channel = await opened(sandbox)
    asha = slack_user(sandbox, ASHA)
    slack_channel = sandbox.sandbox.slack.find_channel(channel["id"])
    assert slack_channel is not None and asha in slack_channel.members
    slack_channel.members.remove(asha)
    await act(sandbox, incident["id"], "reassign", user=ASHA, to=[ASHA, DEV])
    assert slack_user(sandbox, DEV) in slack_channel.members
    assert asha not in slack_channel.members


async def test_a_refresh_while_slack_does_not_say_who_you_are_keeps_the_home_you_had(
        sandbox: RunningSandbox) -> None:
    """Ben's Home lists his incident. A change refreshes it on the other replica (its users.info answers are its own),
    just as Slack rate-limits users.info in the storm: the refresh published a Home without his own incidents or
    rotas ("Slack did not say who you are… open the tab again") over the good one he had — a refresh nobody asked
    for made his Home worse, where before it failed and left his Home as it was. Only his opening the tab publishes
    that one (it tells him to open the tab again)."""
    incident = await trigger(sandbox, "Card payments failing", "PCHECKO")
    await open_home(sandbox, "ben.okafor@example.com")
    number = f"#{incident['incident_number']}"
    assert number in home_part(sandbox, "ben.okafor@example.com", "Your open incidents")
    ben = slack_user(sandbox, "ben.okafor@example.com")
    bot = sandbox.bot
    await eventually(lambda: bot.home.publishing == 0)  # this replica's refreshes of his Home are all done
    sandbox.sandbox.faults.add(Fault("slack", "users.info", status=429, times=1000, with_field="user", with_text=ben))
    other_replica = SlackChat(bot.settings.slack_bot_token, bot.settings.slack_api_url, Metrics(), rate_scale=0)
    home = AppHome(bot.store, other_replica, bot.paging, People(bot.store, bot.paging, other_replica, bot.clock),
                   bot.catalogue, bot.clock, settle_seconds=0)
    try:
        before = publishes(sandbox)
        await home.refresh_for([], [ben])
        await eventually(lambda: home.publishing == 0)
        await settle(sandbox)
    finally:
        await home.close()
        await other_replica.close()
    mine = home_part(sandbox, "ben.okafor@example.com", "Your open incidents")
    assert number in mine and publishes(sandbox) == before, mine
