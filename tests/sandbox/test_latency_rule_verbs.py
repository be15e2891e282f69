"""Held latency rules with an HTTP verb ("POST /incidents": hold the writes to a path, not its reads) match as the
failure rules do, in every emulator: PagerDuty's API called `Faults.delay` without the verb, so such a rule never
held a PagerDuty call while a failure rule naming the same verb failed it (found in review of session 23)."""

from __future__ import annotations

import asyncio
import json

import aiohttp

from sandbox.faults import Fault
from tests.sandbox.pagerduty_env import ASHA, TOKEN, PdSandbox

ACCEPT = "application/vnd.pagerduty+json;version=2"
HEADERS = {"Accept": ACCEPT, "Authorization": f"Token token={TOKEN}", "Content-Type": "application/json",
           "From": ASHA}


async def test_a_latency_rule_naming_a_verb_holds_pagerdutys_writes_to_its_path(pd: PdSandbox) -> None:
    pd.faults.add(Fault("pagerduty", "POST /incidents", times=0, latency_ms=60_000))
    body = {"incident": {"type": "incident", "title": "Basket API 5xx",
                         "service": {"id": "PBASKET", "type": "service_reference"}}}

    async def create() -> int:
        async with aiohttp.ClientSession() as session, session.post(
                pd.url("/sandbox/pagerduty/api/incidents"), headers=HEADERS, data=json.dumps(body)) as response:
            return response.status

    creating = asyncio.create_task(create())
    try:
        for _ in range(100):
            if pd.faults.held["pagerduty"] or creating.done():
                break
            await asyncio.sleep(0.02)
        assert pd.faults.held["pagerduty"] == 1 and not creating.done(), (
            f"POST /incidents under a 60 s latency rule 'POST /incidents': held {pd.faults.held['pagerduty']}, "
            f"answered {creating.result() if creating.done() else 'not yet'}")
    finally:
        pd.faults.release_held()
        await creating
