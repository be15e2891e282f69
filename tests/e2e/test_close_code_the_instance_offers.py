"""The close codes a resolve sets are ones the instance offers: the bot reads its incident close_code choices
(sys_choice) and sets the equivalent of a configured code it lacks — "Solution provided" for the default "Solved
(Permanently)" on Utah and later, the ordinary resolve's code for "Duplicate" before Utah —, telling the operators once.
A read the instance refuses (sys_choice's ACL) holds up no resolve: the catalogue's codes are set as they are, and
the operators are told what to grant."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from bot.catalogue import Catalogue
from bot.services.close_code_choices import GRANT, TOLD_SECONDS
from sandbox.world import RunningSandbox
from tests.e2e.sandbox_helpers import state
from tests.e2e.servicenow_helpers import (
    close_code_alerts,
    incident_data,
    merge_reason,
    settle_all,
    ticket_for,
    triggered,
)
from tests.helpers import StartSandbox

ASHA = "asha.patel@example.com"
READS = "GET /api/now/table/sys_choice"
README = (Path(__file__).parents[2] / "README.md").read_text()


async def resolved(running: RunningSandbox, incident: dict[str, Any], **data: Any) -> dict[str, Any]:
    """The incident resolved in PagerDuty (`data`: more of the webhook's incident, e.g. a merge's resolve_reason)."""
    running.sandbox.pagerduty.emit_event("incident.resolved", incident["id"], user_email=ASHA, data=incident_data(
        running, incident["id"], status="resolved", **data))
    await settle_all(running)
    return ticket_for(running, incident["id"])


async def test_a_current_release_gets_solution_provided_and_the_operators_hear_once(
        sandbox: RunningSandbox) -> None:
    """On a Utah instance every resolved ticket got "Solved (Permanently)", stored as an invalid choice: the desk's
    reports and its close-code UI policy did not recognise it, and nobody was told why."""
    sandbox.sandbox.servicenow.use_close_codes("utah")
    first = await triggered(sandbox, "Checkout returns 500s", "PCHECKO")
    second = await triggered(sandbox, "Basket errors spike")
    assert (await resolved(sandbox, first))["close_code"] == "Solution provided"
    assert (await resolved(sandbox, second))["close_code"] == "Solution provided"
    [alert] = close_code_alerts(sandbox)
    assert "`servicenow.close_code` is 'Solved (Permanently)'" in alert, alert
    assert "get 'Solution provided' instead" in alert and "'Workaround provided'" in alert, alert
    assert "Solved (Work Around)" not in alert, alert  # an inactive choice is not offered
    assert state(sandbox)["servicenow"]["calls"][READS] == 1  # read once, not at every resolve


async def test_an_older_release_resolves_a_merged_ticket_with_the_ordinary_code(sandbox: RunningSandbox) -> None:
    """Before Utah there is no "Duplicate": the merged incident's ticket was stored with an invalid close code."""
    sandbox.sandbox.servicenow.use_close_codes("tokyo")
    kept = await triggered(sandbox, "Checkout returns 500s", "PCHECKO")
    merged = await triggered(sandbox, "Basket errors spike")
    gone = await resolved(sandbox, merged, resolve_reason=merge_reason(sandbox, kept))
    there = ticket_for(sandbox, kept["id"])
    assert (gone["state"], gone["close_code"], gone["parent_incident"]) == ("6", "Solved (Permanently)",
                                                                            there["sys_id"])
    [alert] = close_code_alerts(sandbox)
    assert "`servicenow.merged_close_code` is 'Duplicate'" in alert, alert
    assert "merged away get 'Solved (Permanently)' instead" in alert and "servicenow.close_code`" not in alert, alert


async def test_a_refused_read_of_the_choices_sets_the_catalogues_codes(sandbox: RunningSandbox) -> None:
    """sys_choice's read ACL refusing the integration user must not keep a ticket open: the configured code is set,
    and the read is not tried again at every resolve. The operators are told once a month while it lasts, with the
    ACL to grant as the README's ServiceNow setup says it (the refusal was only logged: nobody knew why every ticket
    got an invalid close code)."""
    sandbox.sandbox.servicenow.use_close_codes("utah")
    sandbox.sandbox.servicenow.choices_readable = False
    first = await triggered(sandbox, "Checkout returns 500s", "PCHECKO")
    second = await triggered(sandbox, "Basket errors spike")
    assert ((await resolved(sandbox, first))["state"], ticket_for(sandbox, first["id"])["close_code"]) == (
        "6", "Solved (Permanently)")
    assert (await resolved(sandbox, second))["close_code"] == "Solved (Permanently)"
    [alert] = close_code_alerts(sandbox)
    assert "refuses the bot's integration user" in alert and f"Grant it {GRANT}" in alert, alert
    assert "`servicenow.close_code` 'Solved (Permanently)'" in alert, alert
    assert "Insufficient rights to query records" in alert, alert  # ServiceNow's own words
    assert " ".join(GRANT.split()) in " ".join(README.split())  # what to grant, as the README's setup says
    assert state(sandbox)["servicenow"]["calls"][READS] == 1
    sandbox.sandbox.clock.advance(timedelta(seconds=TOLD_SECONDS))  # a month on, refused still: told again
    third = await triggered(sandbox, "Search is slow")
    assert (await resolved(sandbox, third))["close_code"] == "Solved (Permanently)"
    assert len(close_code_alerts(sandbox)) == 2, close_code_alerts(sandbox)


async def test_a_configured_code_the_instance_offers_is_set_as_it_is(start_sandbox: StartSandbox,
                                                                     catalogue: Catalogue) -> None:
    """No false alarm: a catalogue that names current codes, on a current instance, is neither changed nor told."""
    running = await start_sandbox(catalogue.model_copy(update={"servicenow": catalogue.servicenow.model_copy(
        update={"close_code": "Workaround provided"})}))
    running.sandbox.servicenow.use_close_codes("utah")
    incident = await triggered(running, "Basket errors spike")
    assert (await resolved(running, incident))["close_code"] == "Workaround provided"
    assert close_code_alerts(running) == []
