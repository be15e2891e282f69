"""A ServiceNow time that says its offset is the same instant in UTC, end to end: the README's business rule sends
`sys_updated_on` as GlideRecord keeps it (UTC, "YYYY-MM-DD HH:MM:SS"), but a rule or a middleware sending ISO 8601
with the instance's offset ("…T12:07:00+02:00") must not have the desk's line shown at 12:07 "Z" in Slack, nor kept
(and sorted, as text) two hours off among the incident's UTC lines."""

from __future__ import annotations

from sandbox.world import RunningSandbox
from tests.e2e.sandbox_helpers import incident_channels, messages
from tests.e2e.servicenow_helpers import send_rule_delivery, settle_all, ticket_for

ASHA = "asha.patel@example.com"


async def test_a_desk_update_stamped_with_an_offset_is_shown_in_utc(sandbox: RunningSandbox) -> None:
    incident = await sandbox.sandbox.pagerduty.trigger(title="Basket totals are wrong", service_id="PBASKET",
                                                       urgency="high")
    await settle_all(sandbox)
    ticket = ticket_for(sandbox, incident["id"])
    assert await send_rule_delivery(sandbox, ticket, updated_on="2026-11-27T12:07:00+02:00",
                                    work_notes="Store 12 reports the same") == 202
    await settle_all(sandbox)
    [channel] = incident_channels(sandbox)
    [line] = [m["text"] for m in messages(sandbox, channel["id"]) if "Store 12 reports the same" in m["text"]]
    assert line.startswith("`10:07:00Z`"), f"12:07 at UTC+2 was shown as {line[:12]}"
