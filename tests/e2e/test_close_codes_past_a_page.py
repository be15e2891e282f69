"""The instance's close codes read past the Table API's first page: sys_choice holds a row per code per language, and
an instance with many languages installed and codes of its own holds more than the 1,000 rows the bot asked for. It
read one page only: the configured code, on a later page, looked missing — the resolve set another code in its place
and the operators were told the instance lacks it. Every page is read now (sysparm_offset), up to a bound."""

from __future__ import annotations

import hashlib

from sandbox.world import RunningSandbox
from tests.e2e.sandbox_helpers import messages, state
from tests.e2e.servicenow_helpers import incident_data, settle_all, ticket_for, triggered

ASHA = "asha.patel@example.com"
READS = "GET /api/now/table/sys_choice"
LANGUAGES = ("en", "de", "fr", "es", "it", "nl", "pt", "sv", "da", "fi", "nb", "pl", "cs", "hu", "ja", "ko", "zh",
             "he", "tr", "ru")


def with_codes_of_its_own(running: RunningSandbox, codes: int) -> None:
    """`codes` active close codes of the instance's own, each in every one of LANGUAGES, ordered before the release's
    (their sequence lower)."""
    rows = running.sandbox.servicenow.tables["sys_choice"]
    for n in range(codes):
        for language in LANGUAGES:
            sys_id = hashlib.sha256(f"custom:{n}:{language}".encode()).hexdigest()[:32]
            rows[sys_id] = {"sys_id": sys_id, "name": "incident", "element": "close_code", "value": f"Custom {n}",
                            "label": f"Custom {n} ({language})", "language": language, "sequence": "1",
                            "inactive": "false", "dependent_value": ""}


async def test_the_configured_close_code_past_the_first_page_is_found(sandbox: RunningSandbox) -> None:
    with_codes_of_its_own(sandbox, 60)  # 1,200 rows before the release's own codes
    incident = await triggered(sandbox, "Checkout returns 500s", "PCHECKO")
    sandbox.sandbox.pagerduty.emit_event("incident.resolved", incident["id"], user_email=ASHA, data=incident_data(
        sandbox, incident["id"], status="resolved"))
    await settle_all(sandbox)

    assert ticket_for(sandbox, incident["id"])["close_code"] == "Solved (Permanently)"  # the catalogue's, offered
    ops = next(c for c in state(sandbox)["slack"]["channels"] if c["name"] == "paved-road-ops")
    assert not [m["text"] for m in messages(sandbox, ops["id"]) if "ServiceNow close codes" in m["text"]]
    assert state(sandbox)["servicenow"]["calls"][READS] == 2  # two pages, read once
