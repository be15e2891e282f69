"""A ticket whose journal holds more work notes than one read of it returns (the Table API's page, 1,000 rows; a long
incident's timeline notes and the desk's): what the bot looks for there — the name its channel was last told by, a
note a lost attempt already wrote — is read from the whole journal, not its first page. Read from the oldest 1,000,
the newest rename's note went unseen: the next rename was told from a name two renames old, and Slack's retry of an
event wrote its note twice (found in review)."""

from __future__ import annotations

from sandbox.world import SERVICENOW_USER, RunningSandbox
from tests.e2e.sandbox_helpers import incident_channels, trigger
from tests.e2e.servicenow_helpers import bot_notes, renamed_in_slack, settle_all, tickets

PAGE = 1_000  # the rows one journal read asks for (sysparm_limit)


async def test_a_rename_is_told_from_the_newest_name_past_the_journals_first_page(sandbox: RunningSandbox) -> None:
    incident = await trigger(sandbox)
    await settle_all(sandbox)
    [channel] = incident_channels(sandbox)
    [ticket] = [t for t in tickets(sandbox) if t["correlation_id"] == incident["id"]]
    await renamed_in_slack(sandbox, channel["id"], "inc-checkout-db")
    for i in range(PAGE):  # days of timeline notes (the bot's own: no business rule delivery for them)
        sandbox.sandbox.servicenow.update_incident(ticket["sys_id"], {"work_notes": f"timeline {i}"},
                                                   user=SERVICENOW_USER)
    await renamed_in_slack(sandbox, channel["id"], "inc-checkout-db-pool")
    await renamed_in_slack(sandbox, channel["id"], "inc-checkout-db-pool-exhausted")
    await renamed_in_slack(sandbox, channel["id"], "inc-checkout-db-pool-exhausted")  # Slack's retry of the event
    [ticket] = [t for t in tickets(sandbox) if t["correlation_id"] == incident["id"]]
    said = [n for n in bot_notes(ticket) if "was renamed" in n]
    assert [n.splitlines()[0] for n in said] == [
        f"Paved Road: the incident's Slack channel #{channel['name']} was renamed #inc-checkout-db in Slack "
        "(its link is the same).",
        "Paved Road: the incident's Slack channel #inc-checkout-db was renamed #inc-checkout-db-pool in Slack "
        "(its link is the same).",
        "Paved Road: the incident's Slack channel #inc-checkout-db-pool was renamed #inc-checkout-db-pool-exhausted "
        "in Slack (its link is the same)."], said
