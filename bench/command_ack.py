"""Slash-command acknowledgement latency: `/incident status` at 32 concurrent commands, beside a bare Bolt
AsyncApp that only acks, measured in the same run. Each app runs in its own process (the bot with its emulators,
as `pavedroad sandbox` runs); the signed commands and the response_url receiver are in this one. Prints JSON.

    python bench/command_ack.py [--commands 3000] [--concurrency 32] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import aiohttp
from slack_sdk.signature import SignatureVerifier

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import emit, start_server, summary

SECRET = "bench-signing-secret"

BARE = r'''
import asyncio, sys
from aiohttp import web
from slack_bolt.async_app import AsyncApp
from slack_bolt.adapter.aiohttp import to_bolt_request, to_aiohttp_response
from slack_bolt.authorization import AuthorizeResult
async def authorize(**kwargs):  # what the bot's cached auth.test gives it: no Slack call per request
    return AuthorizeResult(enterprise_id=None, team_id="T1", bot_token="xoxb-bare", bot_user_id="U0", bot_id="B0")
app = AsyncApp(signing_secret=sys.argv[2], authorize=authorize)
@app.command("/incident")
async def only_ack(ack):
    await ack()
async def events(request):
    return await to_aiohttp_response(await app.async_dispatch(await to_bolt_request(request)))
async def main():
    web_app = web.Application(); web_app.router.add_post("/slack/events", events)
    runner = web.AppRunner(web_app, access_log=None); await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", int(sys.argv[1])).start()
    print("ready", flush=True); await asyncio.Event().wait()
asyncio.run(main())
'''

RECEIVER = r'''
import asyncio, sys
from aiohttp import web
answers = []
async def receive(request):
    answers.append(await request.json())
    return web.json_response({"ok": True})
async def count(request):
    return web.json_response({"status_answers": sum("Bench incident" in str(a.get("text", "")) for a in answers)})
async def main():
    app = web.Application(); app.router.add_post("/respond", receive); app.router.add_get("/count", count)
    runner = web.AppRunner(app, access_log=None); await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", int(sys.argv[1])).start()
    print("ready", flush=True); await asyncio.Event().wait()
asyncio.run(main())
'''

BOT = r'''
import asyncio, logging, sys, tempfile
from pathlib import Path
from bot.catalogue import load_catalogue, example_catalogue_path
from sandbox.world import serve_sandbox
async def main():
    logging.basicConfig(level=logging.ERROR)
    tmp = tempfile.mkdtemp()
    running = await serve_sandbox(load_catalogue(example_catalogue_path()), Path(tmp) / "b.db", port=int(sys.argv[1]),
                                  rate_limit_scale=100)
    incident = await running.sandbox.pagerduty.trigger(title="Bench incident", service_id="PBASKET")
    await running.sandbox.pagerduty.drain_webhooks()
    await running.bot.settle(30)
    channel = next(c for c in running.sandbox.state()["slack"]["channels"] if c["name"].startswith("inc-"))
    user = running.sandbox.slack.resolve_user("asha.patel@example.com")
    print("ready", channel["id"], user.id, flush=True)
    await asyncio.Event().wait()
asyncio.run(main())
'''


def start(code: str) -> tuple[subprocess.Popen[str], str, list[str]]:
    process, port, values = start_server(code, SECRET, env={"SLACK_SIGNING_SECRET": SECRET})
    return process, f"http://127.0.0.1:{port}/slack/events", values


async def load(url: str, channel: str, user: str, response_url: str, n: int, concurrency: int) -> dict[str, float]:
    verifier = SignatureVerifier(SECRET)
    latencies: list[float] = []
    remaining = [n]
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
        async def worker() -> None:
            while remaining[0] > 0:
                remaining[0] -= 1
                body = urllib.parse.urlencode({
                    "token": "x", "team_id": "T1", "team_domain": "acme", "channel_id": channel, "channel_name": "x",
                    "user_id": user, "user_name": "asha", "command": "/incident", "text": "status",
                    "response_url": response_url, "trigger_id": "1.2.3", "api_app_id": "A1"})
                ts = str(int(time.time()))
                headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Slack-Request-Timestamp": ts,
                           "X-Slack-Signature": verifier.generate_signature(timestamp=ts, body=body)}
                started = time.perf_counter()
                async with session.post(url, data=body, headers=headers) as response:
                    await response.read()
                    assert response.status == 200, response.status
                latencies.append(time.perf_counter() - started)
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - started
    return summary(latencies, wall)


async def answers_count(count_url: str) -> int:
    async with aiohttp.ClientSession() as session, session.get(count_url) as response:
        return int((await response.json())["status_answers"])


async def settle_answers(count_url: str, expected: int) -> float | None:
    """Seconds from now (the load's end) until `expected` answers have arrived; None if they stopped short."""
    started, last, still = time.perf_counter(), -1, 0.0
    while True:
        count = await answers_count(count_url)
        if count >= expected:
            return round(time.perf_counter() - started, 2)
        if count == last:
            if time.perf_counter() - still > 10:
                return None
        else:
            last, still = count, time.perf_counter()
        await asyncio.sleep(0.05)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--commands", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    # The bot's answers go to a receiver in a process of its own, so that taking them does not slow the load.
    receiver, receiver_url, _ = start(RECEIVER)
    response_url = receiver_url.replace("/slack/events", "/respond")
    results: dict[str, list[dict[str, float]]] = {"bare_bolt": [], "bot": []}
    # Per bot round: from the last ack until the last answer arrived (every command is answered via response_url).
    answers_after_load: list[float | None] = []
    count_url = receiver_url.replace("/slack/events", "/count")
    try:
        for round_number in range(args.rounds):
            order = ("bare_bolt", "bot") if round_number % 2 == 0 else ("bot", "bare_bolt")
            for name in order:
                process, url, extra = start(BARE if name == "bare_bolt" else BOT)
                channel, user = ("C1", "U1") if name == "bare_bolt" else extra
                try:
                    before = await answers_count(count_url)
                    await load(url, channel, user, response_url, 200, args.concurrency)  # warm-up
                    results[name].append(await load(url, channel, user, response_url, args.commands,
                                                    args.concurrency))
                    if name == "bot":  # let the last answers (sent after each ack) arrive before stopping it
                        answers_after_load.append(await settle_answers(count_url, before + args.commands + 200))
                finally:
                    process.terminate()
                    process.wait()
        async with aiohttp.ClientSession() as session, session.get(
                receiver_url.replace("/slack/events", "/count")) as response:
            statuses = (await response.json())["status_answers"]
    finally:
        receiver.terminate()
        receiver.wait()

    def best(name: str) -> dict[str, float]:
        return max(results[name], key=lambda r: r["throughput_per_s"])
    bot, bare = best("bot"), best("bare_bolt")
    emit("slash_command_ack", {
        "concurrency": args.concurrency, "commands": args.commands, "rounds": args.rounds,
        "bare_bolt": bare, "bot": bot, "all_rounds": results,
        "throughput_ratio": round(bot["throughput_per_s"] / bare["throughput_per_s"], 2),
        "status_commands_sent": sum(r["n"] + 200 for r in results["bot"]),
        "status_answers_received": statuses,
        # From the last ack until every answer had arrived, per round (None: some never came).
        "answers_after_load_s": answers_after_load,
        "targets": {"throughput_ratio_min": 0.7, "p99_ms_max": 50},
    })


if __name__ == "__main__":
    asyncio.run(main())
