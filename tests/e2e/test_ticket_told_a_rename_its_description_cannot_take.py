"""The desk lengthened the ticket's description so far that naming the renamed channel in its "Slack: #…" line would
take it past ServiceNow's 4,000 characters: the description stays whole (the desk's text is never cut) and a work note
alone tells the rename. That note is told once however the update is retried (ServiceNow applied it and its answer
was lost), and a later rename's note names the channel by the name it had — not the description's stale one. The
same holds for a rename the description can take, and for a channel the incident moved to while the description
could not name it."""

from __future__ import annotations

from typing import Any

from bot.services.ticket_description import LONG_TEXT
from sandbox.faults import Fault
from sandbox.world import RunningSandbox
from tests.e2e.sandbox_helpers import act, incident_channels, trigger
from tests.e2e.servicenow_helpers import bot_notes, renamed_in_slack, resolved_and_archived, settle_all, ticket_for

ASHA, DEV = "asha.patel@example.com", "dev.sharma@example.com"


async def desk_writes_description(running: RunningSandbox, incident_id: str, description: str) -> None:
    """An agent edits the ticket's description in ServiceNow (its business rule tells the bot)."""
    running.sandbox.servicenow.update_incident(ticket_for(running, incident_id)["sys_id"],
                                               {"description": description}, user="jane.agent")
    await settle_all(running)


async def lengthened(running: RunningSandbox, incident_id: str) -> str:
    """The desk's words added under the bot's lines, up to one character short of 4,000: the description as it was."""
    before = str(ticket_for(running, incident_id)["description"])
    words = "\nCaller's account, as the desk took it down: " + "the basket shows yesterday's prices. " * 120
    await desk_writes_description(running, incident_id, (before + words)[:LONG_TEXT - 1])
    return before


def renames_told(running: RunningSandbox, incident_id: str) -> list[str]:
    return [n for n in bot_notes(ticket_for(running, incident_id)) if "renamed" in n]


def lost_answer(service_applies: str) -> Fault:
    """ServiceNow applies the ticket's update whose work note says `service_applies`, and its answer is lost: a 503
    (a gateway's, after the instance acted), as a timeout would lose it."""
    return Fault("servicenow", "PATCH /api/now/table/incident/", status=503, times=1, after=True,
                 with_field="work_notes", with_text=service_applies)


async def opened(running: RunningSandbox) -> tuple[str, dict[str, Any]]:
    incident = await trigger(running)
    await settle_all(running)
    [channel] = incident_channels(running)
    return str(incident["id"]), channel


async def test_a_rename_retried_after_servicenow_took_it_is_noted_once_though_the_description_is_too_long(
        sandbox: RunningSandbox) -> None:
    """The retry read the description, found it still naming the old name (it was too long to rewrite) and wrote the
    rename's note a second time."""
    iid, channel = await opened(sandbox)
    await lengthened(sandbox, iid)
    desks = str(ticket_for(sandbox, iid)["description"])
    sandbox.sandbox.faults.add(fault := lost_answer("was renamed"))
    renamed = f"{channel['name']}-checkout-db"
    await renamed_in_slack(sandbox, channel["id"], renamed)
    assert fault.times == 0  # the update was applied and its answer lost: the sync was retried
    said = renames_told(sandbox, iid)
    assert len(said) == 1, said
    assert f"#{channel['name']} was renamed #{renamed}" in said[0], said
    assert ticket_for(sandbox, iid)["description"] == desks  # the desk's text whole
    assert (await sandbox.bot.readiness())["dead_effects"] == []


async def test_a_rename_retried_after_servicenow_took_it_is_noted_once(sandbox: RunningSandbox) -> None:
    """The description takes the new name: the line and the note went in one update, which the retry finds."""
    iid, channel = await opened(sandbox)
    sandbox.sandbox.faults.add(fault := lost_answer("was renamed"))
    renamed = f"{channel['name']}-checkout-db"
    await renamed_in_slack(sandbox, channel["id"], renamed)
    assert fault.times == 0
    assert len(renames_told(sandbox, iid)) == 1, renames_told(sandbox, iid)
    assert f"Slack: #{renamed} (" in ticket_for(sandbox, iid)["description"]


async def test_a_later_rename_names_the_channel_by_the_name_it_had_though_the_description_is_too_long(
        sandbox: RunningSandbox) -> None:
    """The second rename's note said "#<the first name> was renamed …", from the description's stale line: the desk
    looked for a channel that had not had that name since the first rename."""
    iid, channel = await opened(sandbox)
    await lengthened(sandbox, iid)
    first, second = f"{channel['name']}-checkout-db", f"{channel['name']}-db-again"
    await renamed_in_slack(sandbox, channel["id"], first)
    sandbox.sandbox.faults.add(fault := lost_answer(f"renamed #{second}"))
    await renamed_in_slack(sandbox, channel["id"], second)
    assert fault.times == 0
    said = renames_told(sandbox, iid)
    assert f"#{channel['name']} was renamed #{first}" in said[0], said
    assert f"#{first} was renamed #{second}" in said[1], said
    assert len(said) == 2, said  # the retry wrote nothing more


async def test_once_the_desk_shortens_the_description_a_rename_back_is_told_and_the_line_follows(
        sandbox: RunningSandbox) -> None:
    """Renamed back to the name the stale line still gave, the ticket heard nothing: its notes last said the channel
    was the first rename's name."""
    iid, channel = await opened(sandbox)
    before = await lengthened(sandbox, iid)
    first = f"{channel['name']}-checkout-db"
    await renamed_in_slack(sandbox, channel["id"], first)
    await desk_writes_description(sandbox, iid, before)  # the desk takes its words out again
    await renamed_in_slack(sandbox, channel["id"], channel["name"])
    said = renames_told(sandbox, iid)
    assert len(said) == 2 and f"#{first} was renamed #{channel['name']}" in said[1], said
    await renamed_in_slack(sandbox, channel["id"], first)
    said = renames_told(sandbox, iid)
    assert len(said) == 3 and f"#{channel['name']} was renamed #{first}" in said[2], said
    assert f"Slack: #{first} (" in ticket_for(sandbox, iid)["description"]


async def test_a_channel_moved_to_while_the_description_is_too_long_is_named_and_its_rename_told_from_it(
        sandbox: RunningSandbox) -> None:
    """Reopened after its channel was archived, the incident went on in a new channel the too-long description could
    not name: a rename of the new channel was noted as the archived one's, "#<archived> was renamed #…"."""
    iid, old = await resolved_and_archived(sandbox, ASHA)
    archived = sandbox.sandbox.slack.find_channel(old)
    assert archived is not None
    await lengthened(sandbox, iid)
    desks = str(ticket_for(sandbox, iid)["description"])
    sandbox.sandbox.pagerduty.account.allow_reopen = True
    await act(sandbox, iid, "acknowledge", user=DEV)
    await sandbox.bot.flush_work_notes()
    await settle_all(sandbox)
    footprint = await sandbox.bot.store.footprint(iid)
    assert footprint.channel_id not in (None, old) and footprint.channel_name, footprint
    assert ticket_for(sandbox, iid)["description"] == desks  # the desk's text whole
    moved = [n for n in bot_notes(ticket_for(sandbox, iid)) if "new Slack channel" in n]
    assert len(moved) == 1 and f"#{footprint.channel_name} " in moved[0], moved
    # By the one who took it up again (whether the new channel has Asha depends on what PagerDuty assigned).
    await renamed_in_slack(sandbox, str(footprint.channel_id), "inc-basket-totals-again", by=DEV)
    said = renames_told(sandbox, iid)
    assert len(said) == 1 and f"#{footprint.channel_name} was renamed #inc-basket-totals-again" in said[0], said
    assert f"#{archived.name} was renamed" not in said[0], said
