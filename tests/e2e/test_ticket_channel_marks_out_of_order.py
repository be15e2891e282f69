"""A ticket told two renames of its channel in one second (bot/services/ticket_description.py `channel_renamed`), its
journal read back with that second's entries the other way round — ServiceNow orders the journal by `sys_created_on`,
to the second, and hands one second's entries back in no set order (the sandbox's `journal_ties_newest_first`). The
next rename is told from the name last told, and a retry of the second writes nothing; and a name no Slack channel has,
too long for a note, never cuts the rename's note's mark off. Read and written through the real adapter."""

from __future__ import annotations

from bot.services.ticket_description import channel_mark, channel_renamed
from sandbox.world import SERVICENOW_USER, RunningSandbox

CHANNEL = "C0RENAMED"
# The desk's words made it too long to take a rename: the work notes' marks alone say what the ticket was told.
DESCRIPTION = ("Checkout returns 500s\nService: Basket API\nPagerDuty: https://acme.pagerduty.com/incidents/PGR0VU2\n"
               "Slack: #inc-2-old (its link follows)\nOpened by Paved Road.\n" + "a" * 3_990)


async def test_two_renames_told_in_one_second_read_back_out_of_order(sandbox: RunningSandbox) -> None:
    instance, tickets = sandbox.sandbox.servicenow, sandbox.bot.tickets
    assert tickets is not None
    instance.journal_ties_newest_first = True
    sys_id = instance.create_incident({"description": DESCRIPTION}, user="jane.agent")["sys_id"]
    for name in ["inc-2-db", "inc-2-db-pool"]:  # the sandbox's clock stands still: one second
        await tickets.update(sys_id, await channel_renamed(tickets, sys_id, name, channel=CHANNEL, link_told=True))
    assert await tickets.work_notes(sys_id) == [  # (newest first: the second's order is the instance's)
        "Paved Road: the incident's Slack channel #inc-2-db was renamed #inc-2-db-pool in Slack (its link is the "
        "same). (The description, too long to rewrite, still names #inc-2-old.)\n"
        f"{channel_mark(CHANNEL, 'inc-2-db-pool', 2)}",
        "Paved Road: the incident's Slack channel #inc-2-old was renamed #inc-2-db in Slack (its link is the same). "
        f"(The description, too long to rewrite, still names #inc-2-old.)\n{channel_mark(CHANNEL, 'inc-2-db', 1)}"]

    assert await channel_renamed(tickets, sys_id, "inc-2-db-pool", channel=CHANNEL, link_told=True) == {}  # a retry
    told = await channel_renamed(tickets, sys_id, "inc-2-new", channel=CHANNEL, link_told=True)
    assert told["work_notes"].startswith("Paved Road: the incident's Slack channel #inc-2-db-pool was renamed "
                                         "#inc-2-new in Slack"), told
    assert told["work_notes"].endswith(f"\n{channel_mark(CHANNEL, 'inc-2-new', 3)}")


async def test_a_marks_name_too_long_for_a_note_never_cuts_the_renames_mark_off(sandbox: RunningSandbox) -> None:
    instance, tickets = sandbox.sandbox.servicenow, sandbox.bot.tickets
    assert tickets is not None
    sys_id = instance.create_incident({"description": DESCRIPTION}, user="jane.agent")["sys_id"]
    huge = "x" * 1_000_001  # a mark of the bot's own user's (a desk's counts for nothing): said whole, the note went
    # past the limit
    instance.update_incident(sys_id, {"work_notes": f"Paved Road: x\n{channel_mark(CHANNEL, huge)}"},
                             user=SERVICENOW_USER)
    told = await channel_renamed(tickets, sys_id, "inc-2-new", channel=CHANNEL, link_told=False)
    await tickets.update(sys_id, told)
    assert (await tickets.work_notes(sys_id))[-1].endswith(f"\n{channel_mark(CHANNEL, 'inc-2-new', 1)}")
    assert await channel_renamed(tickets, sys_id, "inc-2-new", channel=CHANNEL, link_told=False) == {}
