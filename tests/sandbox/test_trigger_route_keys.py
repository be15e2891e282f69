"""`POST /sandbox/pagerduty/incidents` refuses what it does not take, naming it: a key it ignored silently (`service`
for `service_id`) triggered the incident on the first service, and the newcomer looked for it on the wrong one."""

from __future__ import annotations

import aiohttp

from tests.sandbox.pagerduty_env import PdSandbox


async def test_an_unknown_key_is_refused_naming_it_and_the_keys_it_takes(pd: PdSandbox) -> None:
    async with aiohttp.ClientSession() as session, session.post(
            pd.url("/sandbox/pagerduty/incidents"), json={"title": "Slots empty", "service": "PDELIVS"}) as refused:
        assert refused.status == 400
        body = await refused.json()
    said = " ".join(body["error"]["errors"])
    assert "'service'" in said and "title, service_id, urgency" in said, said
    assert pd.emulator.account.incidents == {}  # nothing triggered on another service meanwhile


async def test_the_keys_it_takes_still_trigger(pd: PdSandbox) -> None:
    async with aiohttp.ClientSession() as session, session.post(
            pd.url("/sandbox/pagerduty/incidents"),
            json={"title": "Slots empty", "service_id": "PDELIVS", "urgency": "low"}) as made:
        assert made.status == 201
        assert (await made.json())["incident"]["service"]["id"] == "PDELIVS"
