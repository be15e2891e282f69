"""Only the bot's own work notes tell it what a ticket was told of its channel (bot/services/ticket_description.py
`channel_renamed`, `channel_moved`; bot/adapters/servicenow/tickets.py `work_notes(own=True)`): a desk agent's note
written word for word as the bot's are — beginning "Paved Road: ", ending with a `[paved-road channel …]` mark — is the
agent's, told apart by the journal entry's author (`sys_created_by`, the user_name ServiceNow stamps on it), not by its
text. Read as the bot's, such a note named the channel by the agent's name in the next rename's note, and kept the bot
from telling a rename or a move the ticket had never been told. The bot's own marks still count; and where the
instance hides the entries' authors (a field ACL), a note is read by its text, as before. Written into the sandbox's
ServiceNow as the agent and the bot would, read through the real adapter."""

from __future__ import annotations

from bot.services.ticket_description import channel_mark, channel_moved, channel_renamed
from sandbox.world import SERVICENOW_USER, RunningSandbox
from tests.e2e.sandbox_helpers import incident_channels, trigger
from tests.e2e.servicenow_helpers import bot_notes, renamed_in_slack, settle_all, ticket_for

CHANNEL, DESK = "C0RENAMED", "jane.agent"
# The desk's words made it too long to take a rename: the work notes' marks alone say what the ticket was told.
DESCRIPTION = ("Checkout returns 500s\nService: Basket API\nPagerDuty: https://acme.pagerduty.com/incidents/PGR0VU2\n"
               "Slack: #inc-2-old (its link follows)\nOpened by Paved Road.\n" + "a" * 3_990)


def as_the_bots(name: str, count: int) -> str:
    """A note as the bot writes one telling a rename: an agent's copy of one, or one typed to look like it."""
    return (f"Paved Road: the incident's Slack channel #inc-2-old was renamed #{name} in Slack.\n"
            f"{channel_mark(CHANNEL, name, count)}")


async def test_a_desk_note_written_as_the_bots_does_not_name_the_channel_in_the_next_rename(
        sandbox: RunningSandbox) -> None:
    instance, tickets = sandbox.sandbox.servicenow, sandbox.bot.tickets
    assert tickets is not None
    sys_id = instance.create_incident({"description": DESCRIPTION}, user=DESK)["sys_id"]
    await tickets.update(sys_id, await channel_renamed(tickets, sys_id, "inc-2-db", channel=CHANNEL, link_told=True))
    instance.update_incident(sys_id, {"work_notes": as_the_bots("inc-2-fake", 7)}, user=DESK)

    told = await channel_renamed(tickets, sys_id, "inc-2-new", channel=CHANNEL, link_told=True)
    assert told["work_notes"].startswith("Paved Road: the incident's Slack channel #inc-2-db was renamed #inc-2-new "
                                         "in Slack"), told  # the bot's own mark's name, not the agent's
    assert told["work_notes"].endswith(f"\n{channel_mark(CHANNEL, 'inc-2-new', 2)}"), told  # counted from its own
    await tickets.update(sys_id, told)
    assert await channel_renamed(tickets, sys_id, "inc-2-new", channel=CHANNEL, link_told=True) == {}  # a retry


async def test_a_desk_note_naming_the_new_name_does_not_keep_the_rename_from_being_told(
        sandbox: RunningSandbox) -> None:
    instance, tickets = sandbox.sandbox.servicenow, sandbox.bot.tickets
    assert tickets is not None
    sys_id = instance.create_incident({"description": DESCRIPTION}, user=DESK)["sys_id"]
    instance.update_incident(sys_id, {"work_notes": as_the_bots("inc-2-new", 1)}, user=DESK)

    told = await channel_renamed(tickets, sys_id, "inc-2-new", channel=CHANNEL, link_told=True)
    assert told.get("work_notes", "").startswith("Paved Road: the incident's Slack channel #inc-2-old was renamed "
                                                 "#inc-2-new in Slack"), told
    assert told["work_notes"].endswith(f"\n{channel_mark(CHANNEL, 'inc-2-new', 1)}"), told


async def test_a_desk_note_naming_the_channel_moved_to_does_not_keep_the_move_from_being_told(
        sandbox: RunningSandbox) -> None:
    instance, tickets = sandbox.sandbox.servicenow, sandbox.bot.tickets
    assert tickets is not None
    sys_id = instance.create_incident({"description": DESCRIPTION}, user=DESK)["sys_id"]
    instance.update_incident(sys_id, {"work_notes": as_the_bots("inc-2-again", 1)}, user=DESK)

    assert await channel_moved(tickets, sys_id, "inc-2-again", channel=CHANNEL) == {}  # (the description can't say it)
    [moved] = [e for e in instance.entries_on(sys_id) if "new Slack channel" in e.value]
    assert moved.created_by == SERVICENOW_USER and moved.value.endswith(
        f"\n{channel_mark(CHANNEL, 'inc-2-again', 1)}"), moved
    await channel_moved(tickets, sys_id, "inc-2-again", channel=CHANNEL)  # a retry: told already, by the bot's own
    assert len([e for e in instance.entries_on(sys_id) if "new Slack channel" in e.value]) == 1


async def test_where_the_instance_hides_the_entries_authors_a_note_is_read_by_its_text(
        sandbox: RunningSandbox) -> None:
    """A read ACL on sys_journal_field.sys_created_by answers every entry's author empty: the bot's own notes must
    still be found (read as someone else's, a retry wrote the rename's note again, and the next rename was told from
    the description's stale line) — a desk's copy then counts too, as it did before authors were read."""
    instance, tickets = sandbox.sandbox.servicenow, sandbox.bot.tickets
    assert tickets is not None
    instance.unreadable_fields.add("sys_journal_field.sys_created_by")
    sys_id = instance.create_incident({"description": DESCRIPTION}, user=DESK)["sys_id"]
    await tickets.update(sys_id, await channel_renamed(tickets, sys_id, "inc-2-db", channel=CHANNEL, link_told=True))
    assert await channel_renamed(tickets, sys_id, "inc-2-db", channel=CHANNEL, link_told=True) == {}  # a retry
    told = await channel_renamed(tickets, sys_id, "inc-2-new", channel=CHANNEL, link_told=True)
    assert told["work_notes"].startswith("Paved Road: the incident's Slack channel #inc-2-db was renamed"), told
    assert told["work_notes"].endswith(f"\n{channel_mark(CHANNEL, 'inc-2-new', 2)}"), told


async def test_a_channel_renamed_in_slack_after_a_desk_note_written_as_the_bots_is_told_by_its_real_name(
        sandbox: RunningSandbox) -> None:
    """The whole way: the ticket opened by the bot, an agent's note copying the look of the bot's, the channel renamed
    in Slack — the ticket's rename note names the channel as it was, not as the agent's note had it."""
    incident = await trigger(sandbox)
    await settle_all(sandbox)
    [channel] = incident_channels(sandbox)
    ticket = ticket_for(sandbox, str(incident["id"]))
    fake = (f"Paved Road: the incident's Slack channel #{channel['name']} was renamed #inc-made-up in Slack.\n"
            f"[paved-road channel {channel['id']} 5 #inc-made-up]")
    sandbox.sandbox.servicenow.update_incident(ticket["sys_id"], {"work_notes": fake}, user=DESK)
    await settle_all(sandbox)

    renamed = f"{channel['name']}-checkout-db"
    await renamed_in_slack(sandbox, channel["id"], renamed)
    said = [n for n in bot_notes(ticket_for(sandbox, str(incident["id"]))) if "renamed" in n]
    assert len(said) == 1 and f"#{channel['name']} was renamed #{renamed} in Slack" in said[0], said
    assert said[0].endswith(f"[paved-road channel {channel['id']} 1 #{renamed}]"), said
