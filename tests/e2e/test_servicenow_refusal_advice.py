"""A ServiceNow effect refused with HTTP 403 for good: the operators' alert advises what the refusal's own words say —
an ACL's refusal the integration user's roles, a data policy's the policy and its field, a business rule's that rule —
not the `itil` role for every 403."""

from __future__ import annotations

from sandbox.faults import Fault
from sandbox.world import RunningSandbox
from tests.e2e.sandbox_helpers import channel_id, messages
from tests.e2e.servicenow_helpers import settle_all

FOREVER = 10 * 86400


async def refused_alert(running: RunningSandbox, detail: str) -> str:
    """An incident whose ticket ServiceNow refuses to make (403, `detail` its error's words): the operators' alert."""
    running.sandbox.faults.add(Fault("servicenow", "POST /api/now/table/incident", status=403, error=detail,
                                     until=running.sandbox.clock.timestamp() + FOREVER))
    await running.sandbox.pagerduty.trigger(title="Basket totals are wrong", service_id="PBASKET")
    await settle_all(running)
    said = [m["text"] for m in messages(running, channel_id(running, "paved-road-ops")) if "HTTP 403" in m["text"]]
    assert said, "no alert"
    return str(said[0])


async def test_a_data_policys_refusal_is_not_sent_after_the_itil_role(sandbox: RunningSandbox) -> None:
    """The instance's data policy made Category mandatory: the alert asked for the `itil` role (which the user had),
    and the operators spent the night on ACLs."""
    alert = await refused_alert(sandbox, "Data Policy Exception: \\n The following fields are mandatory: Category")
    assert "data policy" in alert and "Category" in alert
    assert "`itil` role" not in alert


async def test_a_business_rules_refusal_names_the_rule_not_the_acls(sandbox: RunningSandbox) -> None:
    alert = await refused_alert(sandbox, "Operation against file 'incident' was aborted by Business Rule "
                                         "'Block API inserts^3f1c'. Business Rule Stack:Block API inserts")
    assert "business rule" in alert and "Block API inserts" in alert
    assert "`itil` role" not in alert


async def test_an_acls_refusal_keeps_the_acl_advice(sandbox: RunningSandbox) -> None:
    alert = await refused_alert(sandbox, "ACL Exception Insert Failed due to security constraints")
    assert "`itil` role" in alert and "does not say an ACL" not in alert
