"""Half a character (a lone UTF-16 surrogate, `"\\ud83d"` escaped alone in JSON) sent to the sandbox: a slash command,
which Slack sends the app as a form that cannot carry one, is answered 400 naming the field (it answered a bare 500);
where the services' JSON carries one (a person's message, a PagerDuty note, a ServiceNow work note, a fault's words)
it is kept, and the pages that show it (the sandbox page, PagerDuty's and ServiceNow's incident pages) still render,
with U+FFFD where it was (they answered 500)."""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from sandbox.lone_surrogates import lone_surrogate, shown
from sandbox.world import RunningSandbox
from tests.e2e.sandbox_helpers import settle, state, trigger

LONE = "rolled back \ud83d now"
ASHA = "asha.patel@example.com"


async def send(running: RunningSandbox, method: str, path: str, body: Any) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session, session.request(
            method, running.url + path, data=json.dumps(body), headers={"Content-Type": "application/json"}) as r:
        return r.status, await r.json()


async def page(running: RunningSandbox, path: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.get(running.url + path) as response:
        return response.status, await response.text()


def test_a_lone_surrogate_is_found_where_it_is_and_shown_as_a_replacement() -> None:
    paired = json.loads('{"text": "page \\ud83d\\udea8 now", "n": 1, "list": ["ok"]}')  # a pair is one character
    assert paired["text"] == "page \U0001f6a8 now" and lone_surrogate(paired) is None
    assert lone_surrogate({"values": {"block": {"action": LONE}}}) == "/values/block/action"
    assert lone_surrogate({"to": ["x", LONE]}) == "/to/1"
    assert lone_surrogate({"bad\udc00key": 1}) == "/bad\\udc00key"
    assert shown(LONE) == "rolled back \ufffd now" and shown("page \U0001f6a8") == "page \U0001f6a8"


async def test_a_command_holding_half_a_character_is_refused_naming_the_field(sandbox: RunningSandbox) -> None:
    await trigger(sandbox)
    channel = next(c for c in state(sandbox)["slack"]["channels"] if c["name"].startswith("inc-"))
    for body, field in (({"text": f"note {LONE}"}, "/text"), ({"text": "help", "command": "/inc\ud83d"}, "/command")):
        status, answer = await send(sandbox, "POST", "/sandbox/slack/command",
                                    {"user": ASHA, "channel": channel["name"], **body})
        assert status == 400 and answer["error"].startswith(f"{field} holds a lone UTF-16 surrogate"), answer
    # A well-formed pair is the character it encodes, and goes through.
    status, answer = await send(sandbox, "POST", "/sandbox/slack/command",
                                {"user": ASHA, "channel": channel["name"], "text": "note on it \ud83d\udea8"})
    assert status == 200 and answer["status"] == 200, answer


async def test_half_a_character_kept_where_the_services_carry_it_leaves_every_page_rendering(
        sandbox: RunningSandbox) -> None:
    incident = await trigger(sandbox)
    channel = next(c for c in state(sandbox)["slack"]["channels"] if c["name"].startswith("inc-"))
    ticket = state(sandbox)["servicenow"]["incidents"][0]["sys_id"]
    kept = [("/sandbox/slack/message", {"user": ASHA, "channel": channel["id"], "text": LONE}),
            (f"/sandbox/pagerduty/incidents/{incident['id']}/note", {"content": LONE}),
            (f"/sandbox/servicenow/incidents/{ticket}/work_notes", {"text": LONE}),
            ("/sandbox/faults", {"service": "pagerduty", "method": "POST /nothing", "error": LONE})]
    for path, body in kept:
        status, answer = await send(sandbox, "POST", path, body)
        assert status in (200, 201), (path, answer)
    await settle(sandbox)
    assert any(m["text"] == LONE for m in state(sandbox)["slack"]["messages"])  # as Slack gives it back
    person = state(sandbox)["slack"]["users"][0]["id"]
    for path in (f"/?as={person}&channel={channel['id']}", f"/sandbox/pagerduty/incidents/{incident['id']}",
                 f"/sandbox/servicenow/incident.do?sys_id={ticket}"):
        status, text = await page(sandbox, path)
        assert status == 200 and "rolled back \ufffd now" in text, path
