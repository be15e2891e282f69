"""Slack's `channel_rename` and `group_rename` events, hostile, delivered signed to the bot through the sandbox's
Slack (commands/listeners.py, bot/services/channel_events.py): a `channel` that is no object, an id the bot does not
know or of the wrong type, a name Slack would never give (markup, control and bidirectional characters, huge, empty,
another type) — for the incident's own channel, renamed in Slack meanwhile or not; and the channel objects' own
`previous_names` (bot/adapters/slack/chat.py `_channel`, `channels_formerly_named`) with odd items.

Whatever comes, the delivery is answered 200, the bot keeps serving (nothing dead in its outbox, a new incident still
gets its channel), and the name it keeps for the channel — and the ticket's "Slack: #…" line — is one Slack has:
the channel's name as conversations.info gives it, never the event's.
"""

from __future__ import annotations

import itertools
import re
from typing import Any

import pytest
from hypothesis import Phase, given, settings
from hypothesis import event as outcome
from hypothesis import strategies as st

from bot.errors import IntegrationError
from sandbox.slack.person import deliver_envelope, event_envelope
from sandbox.world import RunningSandbox
from tests.e2e.sandbox_helpers import incident_channels, trigger
from tests.e2e.servicenow_helpers import settle_all, ticket_for
from tests.property.loop_bridge import OnTheLoop, run_property

pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")
SLACK_NAME = re.compile(r"[a-z0-9_-]{1,80}")
HOSTILE_NAME = st.one_of(
    st.text(max_size=20),
    st.sampled_from(["", " ", "<!channel>", "<#C0HOSTILE>", "inc 2", "INC-2", "inc-2\nService: evil", "\u202eevil",
                     "x\x00y", "\ud83d", "é😀", "#general", "Slack: #evil"]),
    st.builds(lambda piece, times: piece * times, st.sampled_from(["a", "é😀", "<!here>"]), st.integers(81, 5_000)))
JUNK = st.one_of(st.none(), st.booleans(), st.integers(-(2 ** 63), 2 ** 63), st.floats(allow_nan=False),
                 st.lists(st.text(max_size=3), max_size=2),
                 st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=2))


def not_i_json(value: Any) -> bool:
    """Whether a lone surrogate (half a character) is anywhere in `value`, its keys included."""
    if isinstance(value, str):
        return any(0xD800 <= ord(c) <= 0xDFFF for c in value)
    if isinstance(value, dict):
        return any(not_i_json(k) or not_i_json(v) for k, v in value.items())
    if isinstance(value, list):
        return any(not_i_json(item) for item in value)
    return False


async def test_hostile_rename_events_keep_only_names_slack_has(sandbox: RunningSandbox) -> None:
    on_loop = OnTheLoop()
    slack = sandbox.sandbox.slack
    incident = await trigger(sandbox)
    await settle_all(sandbox)
    [own] = incident_channels(sandbox)
    channel = slack.channels[own["id"]]
    renames = itertools.count()

    async def one(event: dict[str, Any], renamed: str | None, previous: list[Any] | None) -> int:
        if renamed is not None:  # renamed in Slack; the event that comes is the hostile one below
            slack.channels.rename(channel.id, slack.check_channel_name(renamed))
        if previous is not None:
            channel.previous_names = previous
            try:
                info = await sandbox.bot.chat.channel(channel.id)
                formerly = await sandbox.bot.chat.channels_formerly_named(["inc-2-old", "None", "1"])
            except IntegrationError as refused:
                assert str(refused).strip()
            else:
                assert info is not None and all(isinstance(n, str) and n for n in info.previous_names), info
                assert all(all(isinstance(n, str) and n for n in c.previous_names) for c in formerly), formerly
        status = (await deliver_envelope(slack, event_envelope(slack, event)))["status"]
        await slack.settled()
        await settle_all(sandbox)
        return int(status or 0)

    # Each example is a delivery to the bot and the ticket sync it may set off: shrinking one took over five minutes
    # (past the suite's hang watch), and the labelled draws of an unshrunk example are readable as they are.
    @settings(max_examples=25, phases=[Phase.explicit, Phase.reuse, Phase.generate])
    @given(data=st.data())
    def prop(data: st.DataObject) -> None:
        kind = data.draw(st.sampled_from(["channel_rename", "group_rename"]), label="kind")
        own_id = data.draw(st.integers(0, 3), label="own id") > 0
        body: Any = {"id": channel.id if own_id else data.draw(st.one_of(HOSTILE_NAME, JUNK), label="id"),
                     "name": data.draw(st.one_of(HOSTILE_NAME, JUNK), label="name"),
                     "name_normalized": data.draw(st.one_of(HOSTILE_NAME, JUNK), label="name_normalized"),
                     "created": data.draw(JUNK, label="created")}
        if data.draw(st.integers(0, 5), label="no object") == 0:
            body = data.draw(st.one_of(HOSTILE_NAME, JUNK), label="channel")
        renamed = f"inc-2-renamed-{next(renames)}" if data.draw(st.booleans(), label="renamed in Slack") else None
        previous = data.draw(st.one_of(st.none(), st.lists(st.one_of(HOSTILE_NAME, JUNK), max_size=4)),
                             label="previous_names")
        status = on_loop.run(one({"type": kind, "channel": body, "event_ts": slack.next_ts()}, renamed, previous))
        named = isinstance(body, dict) and isinstance(body.get("id"), str)
        own = isinstance(body, dict) and body.get("id") == channel.id
        # Refused at the door: a channel no id names, and a body that is not I-JSON (a lone surrogate, which Slack
        # never sends — bot/app/web.py says which field).
        assert status == 200 or (status == 400 and (not named or not_i_json(body))), status
        kept = on_loop.run(sandbox.bot.store.footprint(incident["id"])).channel_name
        assert kept is not None and SLACK_NAME.fullmatch(kept), kept
        # The bot learns a rename from its event: an event for the own channel leaves the name Slack has (asked of
        # conversations.info); a rename whose event named another channel, or none, is not known until one does.
        assert kept == channel.name or not own or status == 400, (kept, channel.name)
        line = next(line for line in str(ticket_for(sandbox, incident["id"])["description"]).split("\n")
                    if line.startswith("Slack: #"))
        assert line.startswith(f"Slack: #{kept} "), line
        outcome(f"{kind}: {'own channel' if own else 'not the own channel'}, {status}")

    await run_property(prop)
    assert (await sandbox.bot.readiness())["dead_effects"] == []
    # Still serving: a new incident gets its channel.
    await trigger(sandbox, title="Basket totals are wrong")
    await settle_all(sandbox)
    assert len(incident_channels(sandbox)) == 2
