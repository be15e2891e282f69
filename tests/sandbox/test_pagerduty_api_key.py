"""The check of PAGERDUTY_API_TOKEN (bot/adapters/pagerduty/api_key.py) against the PagerDuty emulator: refused, it
is asked again, and once PagerDuty takes the key (an admin restored it) the refusal ends by itself, the operators
told once."""

from __future__ import annotations

import asyncio

from bot.adapters.pagerduty.api_key import PagerDutyApiKey
from bot.adapters.pagerduty.paging import PagerDutyPaging
from bot.metrics import Metrics
from sandbox.faults import Fault
from tests.e2e.sandbox_helpers import eventually
from tests.sandbox.pagerduty_env import TOKEN, PdSandbox


async def test_a_key_pagerduty_takes_again_ends_the_refusal(pd: PdSandbox) -> None:
    told: list[str] = []

    async def tell(text: str) -> None:
        told.append(text)
    paging = PagerDutyPaging(TOKEN, str(pd.server.make_url("/sandbox/pagerduty/api")), Metrics(), timeout=5)
    pd.emulator.api_token = "the-key-before-rotation"
    key = PagerDutyApiKey(paging.priorities, tell, recheck_seconds=0.05)
    watching = asyncio.create_task(key.watch())
    try:
        await eventually(lambda: key.refused is not None)
        assert key.state()["api_key"] == "refused"
        pd.emulator.api_token = TOKEN  # the admin restores the key the bot has
        await asyncio.wait_for(watching, 5)  # the watch ends once PagerDuty takes it
        assert key.state() == {"api_key": "accepted"} and len(told) == 1
    finally:
        watching.cancel()
        await paging.close()


async def test_pagerduty_out_of_reach_at_start_is_asked_again_until_it_answers(pd: PdSandbox) -> None:
    """Found in review of session 21: one failed ask ended the watch, and /readyz said "not yet checked" for good."""
    pd.faults.add(Fault("pagerduty", "*", status=503, times=2))
    paging = PagerDutyPaging(TOKEN, str(pd.server.make_url("/sandbox/pagerduty/api")), Metrics(), timeout=5)
    told: list[str] = []

    async def tell(text: str) -> None:
        told.append(text)
    key = PagerDutyApiKey(paging.priorities, tell, recheck_seconds=0.05)
    try:
        await asyncio.wait_for(key.watch(), 5)
        assert key.state() == {"api_key": "accepted"} and told == []
    finally:
        await paging.close()
