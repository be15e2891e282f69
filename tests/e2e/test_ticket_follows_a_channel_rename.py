"""The responders rename the incident's Slack channel: the ticket's description, whose "Slack: #…" line is how the
desk finds the channel, names it by its new name, and a work note says so — on the ticket the incident goes on in,
a follow-on of a closed one included (made after a rename, a follow-on names the channel as Slack has it)."""

from __future__ import annotations

from typing import Any

from sandbox.world import RunningSandbox
from tests.e2e.sandbox_helpers import act, incident_channels, trigger
from tests.e2e.servicenow_helpers import bot_notes, renamed_in_slack, resolved_and_archived, settle_all, tickets

ASHA, DEV = "asha.patel@example.com", "dev.sharma@example.com"


def slack_line(ticket: dict[str, Any]) -> str:
    return next(line for line in str(ticket["description"]).splitlines() if line.startswith("Slack: #"))


def tickets_of(running: RunningSandbox, incident_id: str) -> list[dict[str, Any]]:
    return sorted((t for t in tickets(running) if t["correlation_id"] == incident_id), key=lambda t: t["number"])


async def test_the_ticket_names_a_renamed_channel_by_its_new_name(sandbox: RunningSandbox) -> None:
    """The description still sent the desk to #inc-1-…, a name Slack no longer has: nobody found the channel."""
    incident = await trigger(sandbox)
    iid = incident["id"]
    await settle_all(sandbox)
    [channel] = incident_channels(sandbox)
    renamed = f"{channel['name']}-checkout-db"
    await renamed_in_slack(sandbox, channel["id"], renamed)
    [ticket] = tickets_of(sandbox, iid)
    assert slack_line(ticket).startswith(f"Slack: #{renamed} ("), slack_line(ticket)
    said = [n for n in bot_notes(ticket) if "renamed" in n]
    assert len(said) == 1 and f"#{channel['name']} was renamed #{renamed}" in said[0]
    # The same rename's event again (Slack's retry) writes nothing more.
    await renamed_in_slack(sandbox, channel["id"], renamed)
    assert len([n for n in bot_notes(tickets_of(sandbox, iid)[0]) if "renamed" in n]) == 1


async def test_a_follow_on_ticket_hears_of_renames_and_names_the_channel_as_it_is(sandbox: RunningSandbox) -> None:
    """The incident went on in a follow-on ticket (its first was Closed): renames reached no ticket, and the
    follow-on's description named the channel by the name the bot first gave it."""
    incident = await trigger(sandbox)
    iid = incident["id"]
    await settle_all(sandbox)
    [channel] = incident_channels(sandbox)
    await act(sandbox, iid, "acknowledge", user=ASHA)
    await act(sandbox, iid, "resolve", user=ASHA)
    await sandbox.bot.flush_work_notes()
    await settle_all(sandbox)
    [first] = tickets_of(sandbox, iid)
    sandbox.sandbox.servicenow.update_incident(first["sys_id"], {"state": "7"}, user="system")  # the auto-close
    await settle_all(sandbox)
    await renamed_in_slack(sandbox, channel["id"], f"{channel['name']}-db")  # resolved: its ticket closed
    sandbox.sandbox.pagerduty.account.allow_reopen = True
    await act(sandbox, iid, "acknowledge", user=DEV)
    await sandbox.bot.flush_work_notes()
    await settle_all(sandbox)
    [_, follow_on] = tickets_of(sandbox, iid)
    assert slack_line(follow_on).startswith(f"Slack: #{channel['name']}-db ("), slack_line(follow_on)
    await renamed_in_slack(sandbox, channel["id"], f"{channel['name']}-checkout-db")
    [_, follow_on] = tickets_of(sandbox, iid)
    assert slack_line(follow_on).startswith(f"Slack: #{channel['name']}-checkout-db (")
    assert [n for n in bot_notes(follow_on) if f"renamed #{channel['name']}-checkout-db" in n]
    assert (await sandbox.bot.readiness())["dead_effects"] == []


async def test_after_a_move_the_ticket_names_the_new_channel_and_a_rename_of_it_as_such(
        sandbox: RunningSandbox) -> None:
    """Reopened after its channel was archived, the incident went on in a new channel: the ticket's note gave its link,
    but its "Slack: #…" line kept the archived channel's name — and a rename of the new channel was noted as the
    archived one's, "#<archived> was renamed #…" (found in review)."""
    iid, old = await resolved_and_archived(sandbox, ASHA)
    archived = sandbox.sandbox.slack.find_channel(old)
    assert archived is not None
    sandbox.sandbox.pagerduty.account.allow_reopen = True
    await act(sandbox, iid, "acknowledge", user=DEV)
    await sandbox.bot.flush_work_notes()
    await settle_all(sandbox)
    footprint = await sandbox.bot.store.footprint(iid)
    assert footprint.channel_id not in (None, old) and footprint.channel_name, footprint
    [ticket] = tickets_of(sandbox, iid)
    assert slack_line(ticket).startswith(f"Slack: #{footprint.channel_name} ("), slack_line(ticket)
    # Renamed by Dev, who acknowledged the reopened incident: Asha, assigned when it reopened, is invited only if its
    # new channel opened before Dev's acknowledgement was applied (PagerDuty's assignment then is Dev's alone).
    await renamed_in_slack(sandbox, str(footprint.channel_id), "inc-basket-totals-again", by=DEV)
    said = [n for n in bot_notes(tickets_of(sandbox, iid)[0]) if "renamed" in n]
    assert len(said) == 1 and f"#{footprint.channel_name} was renamed #inc-basket-totals-again" in said[0], said
    assert f"#{archived.name} was renamed" not in said[0], said
