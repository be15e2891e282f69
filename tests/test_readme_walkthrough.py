"""The README's "Try it in two minutes", run as a newcomer runs it: its curl script, in a sandbox where the page's
walkthrough (which the README puts first) has already made an incident, and the answers a mistyped channel gets."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import aiohttp

from sandbox.world import RunningSandbox
from tests.e2e.sandbox_helpers import act, state, trigger

README = (Path(__file__).parent.parent / "README.md").read_text()


def two_minute_script(url: str) -> str:
    """The README's curl script ("The same with curl"), pointed at `url`, without `make sandbox` (the test's sandbox
    runs already) and with the state read to the end instead of paged through `less`."""
    section = README[README.index("## Try it in two minutes"):README.index("## What it does today")]
    script = section[section.index("```sh\n") + len("```sh\n"):]
    script = script[:script.index("```")]
    assert script.startswith("make sandbox\n") and "| python3 -m json.tool | less" in script
    host = url.removeprefix("http://")
    return (script.removeprefix("make sandbox\n").replace("localhost:3000", host)
            .replace("| python3 -m json.tool | less", "> /dev/null"))


async def test_the_two_minute_curl_script_acts_on_the_incident_it_triggered(sandbox: RunningSandbox) -> None:
    # The page's walkthrough first, as the README orders it: #1 triggered and resolved.
    first = await trigger(sandbox, "Checkout returns 500s", service_id="PCHECKO")
    await act(sandbox, first["id"], "resolve", user="ben.okafor@example.com")
    sandbox.sandbox.slack.settle_seconds = 0.2
    process = await asyncio.create_subprocess_exec("bash", "-euc", two_minute_script(sandbox.url),
                                                   stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, err.decode()
    printed = out.decode()
    # The script named the channel the trigger made (not #1's, written into it by hand), and every answer is #2's.
    assert printed.splitlines()[0] == "inc-2-checkout-returns-500s", printed
    assert "already resolved" not in printed and len(re.findall(r"#2\b", printed)) == 4, printed
    world = state(sandbox)
    second = next(i for i in world["pagerduty"]["incidents"] if i["number"] == 2)
    ben = next(u["id"] for u in world["pagerduty"]["users"] if u["email"] == "ben.okafor@example.com")
    assert (second["status"], second["acknowledged_by"], second["resolved_by"]) == ("resolved", ben, ben)
    assert [n["content"] for n in world["pagerduty"]["notes"] if n["incident_id"] == second["id"]] == [
        "Rolled back the 10:02 deploy", "Resolution: Rolled back to 4.2.0"]


async def test_a_command_in_a_channel_that_is_not_there_says_where_channel_names_are(sandbox: RunningSandbox) -> None:
    # It answered only "no channel 'inc-1-checkout-returns-500s'": a script that wrote a fresh sandbox's first channel
    # by hand was not told where the real one is named.
    async with aiohttp.ClientSession() as session, session.post(
            f"{sandbox.url}/sandbox/slack/command",
            json={"user": "ben.okafor@example.com", "channel": "inc-1-checkout-returns-500s", "text": "ack"}) as answer:
        assert answer.status == 404
        error = (await answer.json())["error"]
    assert error.startswith("no channel 'inc-1-checkout-returns-500s': ")
    assert '"slack_channel"' in error and "GET /sandbox/state" in error
