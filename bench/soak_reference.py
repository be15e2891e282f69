"""The soak's reference (bench/soak.py runs it): a bare script making the outside calls the bot made per incident,
with the same clients used the same way — slack_sdk's AsyncWebClient on one HTTP session (JSON bodies for the
methods the bot sends JSON, GET for the ones it reads), the `pagerduty` package's REST client on a thread pool,
aiohttp with basic auth for ServiceNow's Table API — and nothing else: no store, no webhooks, no rendering. The
clients are set up as the bot sets them up (JSON bodies written by bot/adapters/json_body.py; slack_sdk's client
loggers given a level of their own, so that it does not format DEBUG lines it drops), so that what the bot saves in
how it calls them is not counted as the bot's gain over the reference (`"stock": true` in the spec: the libraries'
defaults instead, the second reference bench/soak.py reports). Its CPU per incident (from /proc/self/stat, after a
warm-up) is what the bot's is compared with.

    python bench/soak_reference.py SPEC.json   (written by bench/soak.py: emulators' env, call mix, samples)
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import aiohttp
from slack_sdk.web.async_client import AsyncWebClient

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.soak import cpu_seconds
from bot.adapters.json_body import json_text
from bot.adapters.pagerduty.client import rest_client
from bot.adapters.slack.chat import _GET_METHODS, _JSON_METHODS
from bot.app.cli.main import SDK_SELF_LEVEL_LOGGERS

WARM_UP = 10


class Reference:
    def __init__(self, env: dict[str, str], sample: dict[str, Any], stock: bool = False) -> None:
        self.sample = sample
        # `stock`: the clients' JSON as their libraries default to (the standard library's), not the bot's.
        serialize: dict[str, Any] = {} if stock else {"json_serialize": json_text}
        # One HTTP session for every call, as the bot's Slack adapter keeps (bot/adapters/slack/chat.py).
        self.slack = AsyncWebClient(token=env["SLACK_BOT_TOKEN"], base_url=env["SLACK_API_URL"], retry_handlers=[],
                                    session=aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10),
                                                                  **serialize))
        self.pagerduty = rest_client(env["PAGERDUTY_API_TOKEN"], env["PAGERDUTY_API_URL"], timeout=10)
        self.threads = ThreadPoolExecutor(4)
        credentials = base64.b64encode(
            f"{env['SERVICENOW_USERNAME']}:{env['SERVICENOW_PASSWORD']}".encode()).decode()
        self.servicenow = aiohttp.ClientSession(headers={"Accept": "application/json",
                                                         "Authorization": f"Basic {credentials}"},
                                                **serialize)
        self.instance = env["SERVICENOW_INSTANCE_URL"]
        self.skipped: Counter[str] = Counter()
        self.channel: str | None = None
        self.unpinned: list[str] = []
        self.card: str | None = None
        self.invited: set[str] = set()
        self.ticket: str | None = None

    async def slack_call(self, method: str, **kwargs: Any) -> dict[str, Any]:
        if method in _JSON_METHODS:
            response = await self.slack.api_call(method, json=kwargs)
        elif method in _GET_METHODS:
            response = await self.slack.api_call(method, http_verb="GET", params=kwargs)
        else:
            response = await self.slack.api_call(method, data=kwargs)
        return dict(response.data) if isinstance(response.data, dict) else {}

    async def slack_method(self, method: str, n: int, serial: int) -> None:
        s = self.sample
        if method == "conversations.create":
            created = await self.slack_call(method, name=f"ref-{serial}-{time.time_ns() % 10**9}")
            self.channel, self.unpinned, self.card, self.invited = created["channel"]["id"], [], None, set()
        elif method == "chat.postMessage":
            if self.channel is None or (n > 0 and self.card is not None and n % 3 == 2):
                await self.slack_call(method, channel=s["announce_channel"], text=s["card_text"],
                                      blocks=s["card_blocks"])
                return
            posted = await self.slack_call(method, channel=self.channel, text=s["card_text"], blocks=s["card_blocks"])
            self.unpinned.append(posted["ts"])
            self.card = self.card or posted["ts"]
        elif method == "pins.add" and self.channel and self.unpinned:
            await self.slack_call(method, channel=self.channel, timestamp=self.unpinned.pop(0))
        elif method == "chat.update" and self.channel and self.card:
            await self.slack_call(method, channel=self.channel, ts=self.card, text=s["card_text"],
                                  blocks=s["card_blocks"])
        elif method == "conversations.setTopic" and self.channel:
            await self.slack_call(method, channel=self.channel, topic=f"Reference incident {serial} · n={n}")
        elif method == "conversations.invite" and self.channel:
            todo = [u for u in s["slack_users"] if u not in self.invited][:2]
            if not todo:
                self.skipped[method] += 1
                return
            self.invited.update(todo)
            await self.slack_call(method, channel=self.channel, users=",".join(todo))
        elif method == "users.lookupByEmail":
            await self.slack_call(method, email=s["emails"][(serial + n) % len(s["emails"])])
        elif method == "conversations.history" and self.channel:
            await self.slack_call(method, channel=self.channel, limit=20)
        elif method == "auth.test":
            await self.slack_call(method)
        elif method == "users.info":
            await self.slack_call(method, user=s["slack_users"][(serial + n) % len(s["slack_users"])])
        elif method == "views.publish" and s.get("home_views"):
            home = s["home_views"][(serial + n) % len(s["home_views"])]
            await self.slack_call(method, user_id=home["user_id"], view=home["view"])
        else:
            self.skipped[method] += 1

    async def pagerduty_call(self, call: str, serial: int) -> None:
        s = self.sample
        pools = {"GET /users/{id}": ("/users/", s["pagerduty_users"]),
                 "GET /schedules/{id}": ("/schedules/", s["pagerduty_schedules"]),
                 "GET /incidents/{id}": ("/incidents/", s["pagerduty_incidents"])}
        if call not in pools or not pools[call][1]:
            self.skipped[call] += 1
            return
        prefix, ids = pools[call]
        path = prefix + ids[serial % len(ids)]
        await asyncio.get_running_loop().run_in_executor(self.threads, lambda: self.pagerduty.rget(path))

    async def servicenow_call(self, call: str, serial: int) -> None:
        table = f"{self.instance}/api/now/table"
        if call == "POST /api/now/table/incident":
            body = {"short_description": f"Reference incident {serial}", "description": "x" * 400,
                    "correlation_id": f"QREF{serial}", "correlation_display": "PagerDuty", "urgency": "1",
                    "impact": "1", "assignment_group": self.sample["group"], "category": "software"}
            async with self.servicenow.post(f"{table}/incident", json=body) as response:
                self.ticket = (await response.json())["result"]["sys_id"]
        elif call == "GET /api/now/table/incident":
            params = {"sysparm_query": f"correlation_id=QREF{serial}", "sysparm_fields": "sys_id,number,state",
                      "sysparm_limit": "1"}
            async with self.servicenow.get(f"{table}/incident", params=params) as response:
                await response.json()
        elif call == "GET /api/now/table/sys_journal_field" and self.ticket:
            params = {"sysparm_query": f"element_id={self.ticket}^element=work_notes^ORDERBYsys_created_on",
                      "sysparm_fields": "value", "sysparm_limit": "1000"}
            async with self.servicenow.get(f"{table}/sys_journal_field", params=params) as response:
                await response.json()
        elif call == "PATCH /api/now/table/incident/{sys_id}" and self.ticket:
            body = {"work_notes": f"Reference note {serial}: acknowledged by someone, card refreshed."}
            async with self.servicenow.patch(f"{table}/incident/{self.ticket}", json=body) as response:
                await response.json()
        else:
            self.skipped[call] += 1

    async def incident(self, serial: int, mix: dict[str, dict[str, float]]) -> None:
        """One incident's calls: for each method, as many as the bot made on average (spread so that the totals
        over the run match), creations first so that later calls have a channel, a card and a ticket to act on."""
        def count(rate: float) -> int:
            return int((serial + 1) * rate) - int(serial * rate)
        first = ("conversations.create", "users.lookupByEmail", "chat.postMessage", "pins.add")
        for method in sorted(mix["slack"], key=lambda m: (m not in first, first.index(m) if m in first else 0)):
            for n in range(count(mix["slack"][method])):
                await self.slack_method(method, n, serial)
        for call, rate in mix["pagerduty"].items():
            for _ in range(count(rate)):
                await self.pagerduty_call(call, serial)
        for call in sorted(mix["servicenow"], key=lambda c: not c.startswith("POST")):
            for _ in range(count(mix["servicenow"][call])):
                await self.servicenow_call(call, serial)

    async def close(self) -> None:
        await self.servicenow.close()
        if self.slack.session is not None:
            await self.slack.session.close()
        self.threads.shutdown()


async def main(spec: dict[str, Any]) -> None:
    stock = bool(spec.get("stock"))
    if not stock:
        for gated in SDK_SELF_LEVEL_LOGGERS:  # as the bot's configure_logging sets them
            logging.getLogger(gated).setLevel(logging.INFO)
    reference = Reference(spec["env"], spec["sample"], stock)
    try:
        for serial in range(WARM_UP):
            await reference.incident(serial, spec["mix"])
        reference.skipped.clear()
        cpu, started = cpu_seconds(_self()), time.monotonic()
        for serial in range(WARM_UP, WARM_UP + spec["incidents"]):
            await reference.incident(serial, spec["mix"])
        used, wall = cpu_seconds(_self()) - cpu, time.monotonic() - started
    finally:
        await reference.close()
    print(json.dumps({"incidents": spec["incidents"], "cpu_ms_per_incident": round(used * 1000 / spec["incidents"], 1),
                      "wall_s": round(wall, 1), "skipped_calls": dict(reference.skipped)}))


def _self() -> int:
    return os.getpid()


if __name__ == "__main__":
    asyncio.run(main(json.loads(Path(sys.argv[1]).read_text())))
