"""Two people pressing Take command on the same card at the same moment: one leads, and the other is told who — not
both told they lead while the last one applied silently wins. End to end through the emulators."""

from __future__ import annotations

import asyncio
import html

from sandbox.faults import Fault
from sandbox.world import RunningSandbox
from tests.e2e.sandbox_helpers import as_user, card, incident_channels, messages, replies, settle, slack_user, trigger

ASHA, ERIN = "asha.patel@example.com", "erin.walsh@example.com"
NAMES = {ASHA: "Asha Patel", ERIN: "Erin Walsh"}
TAKE_COMMAND = "incident_take_command"


async def test_two_takes_at_once_make_one_commander_and_tell_the_other_who_leads(sandbox: RunningSandbox) -> None:
    """Asha and Erin both see "Commander: nobody yet" and press Take command within the same second. Both were told
    "… is now commander"; the channel announced both, Erin "taking over" from Asha without either meaning it. The
    first take fills the seat; the second is told who leads and how to take over if that is what they want."""
    incident = await trigger(sandbox, "Checkout returns 500s", "PBASKET")
    channel = next(c for c in incident_channels(sandbox) if c["name"].startswith(f"inc-{incident['incident_number']}-"))
    pinned = card(sandbox, channel)["ts"]
    # Slack is slow to say who each of them is: both clicks have read the card's empty seat before either is recorded.
    sandbox.sandbox.faults.add(Fault("slack", "users.info", times=0, latency_ms=300))
    answers = await asyncio.gather(*(as_user(sandbox, "action", user=who, channel=channel["id"], message_ts=pinned,
                                             action_id=TAKE_COMMAND) for who in (ASHA, ERIN)))
    sandbox.sandbox.faults.clear()
    await settle(sandbox)
    told = {who: html.unescape(replies(answer)) for who, answer in zip((ASHA, ERIN), answers, strict=True)}
    leaders = [who for who, text in told.items() if "is now commander" in text]
    assert len(leaders) == 1, told
    [other] = [who for who in told if who not in leaders]
    assert f"{NAMES[leaders[0]]} took command" in told[other] and "/incident role commander me" in told[other], told
    public = [html.unescape(m["text"]) for m in messages(sandbox, channel["id"]) if m["ephemeral_to"] is None]
    assert not any("took over as commander" in line for line in public), public
    assert sum("is now commander" in line for line in public) == 1, public
    shown = card(sandbox, channel)["blocks"]
    assert f"<@{slack_user(sandbox, leaders[0])}>" in str(shown) and slack_user(sandbox, other) not in str(shown)
