"""The instance's incident close codes hidden from the bot by a read ACL (bot/services/close_code_choices.py):
ServiceNow answers such a read 200 with no rows — it leaves out the rows a user may not read rather than refuse the
query —, so the bot hears no refusal. The operators are told once a month while it lasts, in words that say what to
do: which table, what to grant, what the bot does meanwhile (it was only logged: nobody knew why every ticket got the
catalogue's code as it was, an invalid choice on a current release). Resolves go on meanwhile, with the codes the last
read found, else the catalogue's."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from bot.services.close_code_choices import GRANT, REFRESH_SECONDS, TOLD_SECONDS
from sandbox.world import RunningSandbox
from tests.e2e.sandbox_helpers import state
from tests.e2e.servicenow_helpers import close_code_alerts, incident_data, settle_all, ticket_for, triggered

ASHA = "asha.patel@example.com"
READS = "GET /api/now/table/sys_choice"
README = (Path(__file__).parents[2] / "README.md").read_text()


async def resolved(running: RunningSandbox, incident: dict[str, Any]) -> dict[str, Any]:
    running.sandbox.pagerduty.emit_event("incident.resolved", incident["id"], user_email=ASHA, data=incident_data(
        running, incident["id"], status="resolved"))
    await settle_all(running)
    return ticket_for(running, incident["id"])


async def test_close_codes_hidden_by_an_acl_are_told_to_the_operators_with_what_to_do(
        sandbox: RunningSandbox) -> None:
    sandbox.sandbox.servicenow.use_close_codes("utah")
    sandbox.sandbox.servicenow.choice_rows_readable = False
    first = await triggered(sandbox, "Checkout returns 500s", "PCHECKO")
    second = await triggered(sandbox, "Basket errors spike")
    assert ((await resolved(sandbox, first))["state"], ticket_for(sandbox, first["id"])["close_code"]) == (
        "6", "Solved (Permanently)")
    assert (await resolved(sandbox, second))["close_code"] == "Solved (Permanently)"
    [alert] = close_code_alerts(sandbox)
    said = " ".join(alert.split())
    assert "no incident close codes" in said and "`sys_choice`" in said and "comes back empty" in said, alert
    assert "`close_code`" in said and "`SERVICENOW_USERNAME`" in said, alert  # which rows, for whom
    assert f"grant the integration user {GRANT}" in said and "`security_admin`" in said, alert  # what to grant, how
    assert " ".join(GRANT.split()) in " ".join(README.split())  # as the README's ServiceNow setup says it
    assert "`servicenow.close_code` 'Solved (Permanently)'" in said, alert  # what the bot does meanwhile
    assert "Choice Lists" in said and "within 6 hours, nothing to restart" in said, alert
    assert state(sandbox)["servicenow"]["calls"][READS] == 1  # not read again at every resolve
    sandbox.sandbox.clock.advance(timedelta(seconds=TOLD_SECONDS))  # a month on, hidden still: told again
    third = await triggered(sandbox, "Search is slow")
    assert (await resolved(sandbox, third))["close_code"] == "Solved (Permanently)"
    assert len(close_code_alerts(sandbox)) == 2, close_code_alerts(sandbox)


async def test_codes_read_before_they_were_hidden_are_kept(sandbox: RunningSandbox) -> None:
    """Read once, then hidden (an ACL tightened): the resolves keep setting the instance's own code, as after a refused
    read — reading "no rows" as "no codes" set the catalogue's, an invalid choice on this release."""
    sandbox.sandbox.servicenow.use_close_codes("utah")
    first = await triggered(sandbox, "Checkout returns 500s", "PCHECKO")
    assert (await resolved(sandbox, first))["close_code"] == "Solution provided"
    sandbox.sandbox.servicenow.choice_rows_readable = False
    sandbox.sandbox.clock.advance(timedelta(seconds=REFRESH_SECONDS + 60))  # read again, and hidden now
    second = await triggered(sandbox, "Basket errors spike")
    assert (await resolved(sandbox, second))["close_code"] == "Solution provided"
    assert state(sandbox)["servicenow"]["calls"][READS] == 2
    hidden = [a for a in close_code_alerts(sandbox) if "no incident close codes" in a]
    assert len(hidden) == 1 and "the codes its close-code choices gave when they could last be read" in hidden[0], \
        close_code_alerts(sandbox)
