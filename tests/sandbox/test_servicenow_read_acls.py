"""The sandbox ServiceNow's journal authors and read ACLs, over the Table API as any client reads them: each journal
entry's `sys_created_by` is the user_name of whoever wrote it (the user the request authenticated as, or the person a
control route acts as), answered when `sysparm_fields` asks for it; a field a field-level read ACL hides comes back
empty; and sys_choice's rows hidden by their read ACL answer 200 with no rows, not a refusal."""

from __future__ import annotations

from typing import Any

import aiohttp

from sandbox.world import SERVICENOW_USER, RunningSandbox

TABLE = "/sandbox/servicenow/api/now/table"


async def table_api(running: RunningSandbox, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
    """A Table API call authenticated as the bot's integration user: (status, JSON)."""
    auth = aiohttp.encode_basic_auth(SERVICENOW_USER, running.sandbox.keys.servicenow_password)
    async with aiohttp.ClientSession(headers={"Authorization": auth}) as session, session.request(
            method, f"{running.url}{TABLE}{path}", **kwargs) as answer:
        return answer.status, await answer.json()


async def test_journal_entries_say_who_wrote_them(sandbox: RunningSandbox) -> None:
    instance = sandbox.sandbox.servicenow
    sys_id = instance.create_incident({"short_description": "Basket errors"}, user="jane.agent")["sys_id"]
    status, _ = await table_api(sandbox, "PATCH", f"/incident/{sys_id}", json={"work_notes": "Paved Road: paged"})
    assert status == 200
    async with aiohttp.ClientSession() as session, session.post(
            f"{sandbox.url}/sandbox/servicenow/incidents/{sys_id}/work_notes",
            json={"text": "Paved Road: copied", "user": "jane.agent"}) as answer:
        assert answer.status == 201
    query = {"sysparm_query": f"element_id={sys_id}^element=work_notes^ORDERBYsys_created_on",
             "sysparm_fields": "value,sys_created_by"}
    status, found = await table_api(sandbox, "GET", "/sys_journal_field", params=query)
    assert (status, found["result"]) == (200, [{"value": "Paved Road: paged", "sys_created_by": SERVICENOW_USER},
                                               {"value": "Paved Road: copied", "sys_created_by": "jane.agent"}])

    instance.unreadable_fields.add("sys_journal_field.sys_created_by")  # a field ACL hides who wrote them
    status, found = await table_api(sandbox, "GET", "/sys_journal_field", params=query)
    assert [entry["sys_created_by"] for entry in found["result"]] == ["", ""]


async def test_close_code_rows_hidden_by_their_read_acl_answer_no_rows(sandbox: RunningSandbox) -> None:
    query = {"sysparm_query": "name=incident^element=close_code^inactive=false", "sysparm_fields": "value,label"}
    status, found = await table_api(sandbox, "GET", "/sys_choice", params=query)
    assert status == 200 and found["result"]
    sandbox.sandbox.servicenow.choice_rows_readable = False
    assert await table_api(sandbox, "GET", "/sys_choice", params=query) == (200, {"result": []})
