"""The ticket description's "Slack: #…" line rewritten when the incident's channel is renamed
(bot/services/ticket_description.py `channel_renamed`), over descriptions the desk edited: their words above and
below the bot's lines, lines of their own starting "Slack: #", Windows line ends, any script, descriptions longer than
the field's 4,000 characters (ServiceNow does not enforce that length on a description: sandbox/servicenow/emulator.py).
Read and written through the real adapter and the sandbox's ServiceNow.

Whatever the description, nothing escapes, and the update rewrites the bot's own line alone — the one under the
incident's "PagerDuty: <link>" line, else the first "Slack: #" line — to name the channel as Slack has it, every other
character of the description as the desk left it; never a description past 4,000 characters (the desk's text is
never cut to make room: the rename's work note tells the ticket then); and nothing when the ticket was told the name
already (its line names it, or the rename's note says so).
"""

from __future__ import annotations

import re

from hypothesis import event as outcome
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.services.ticket_description import LONG_TEXT, SLACK, channel_renamed
from sandbox.world import RunningSandbox
from tests.property.loop_bridge import OnTheLoop, run_property

PAGERDUTY = "PagerDuty: https://acme.pagerduty.com/incidents/PGR0VU2"
CHANNEL = "C0PROPERTY"  # the renamed channel's Slack id
LINK_FOLLOWS = " (its link follows in the work notes as soon as the channel exists)"
# Names Slack would have (conversations.rename's rules): what the footprint holds, read from Slack.
SLACK_NAME = st.from_regex(r"[a-z0-9_-]{0,79}[a-z0-9]", fullmatch=True)
DESK_TEXT = st.one_of(
    st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=40),
    st.sampled_from(["Slack: #it-help for questions", "Slack: #", "Slack: #inc-2-old", "Slack:#inc-2-old",
                     "slack: #inc-2-old", "Slack: # spaced", "PagerDuty: https://acme.pagerduty.com/incidents/PX",
                     "Caller says: \u202eevil\u202c", "Ünïcödé 😀 ‮", "\r", "", " ", "\t", "Slack: #é😀"]),
    st.builds(lambda piece, times: piece * times, st.sampled_from(["a", "é😀", " ", "Slack: #x "]),
              st.integers(0, 4_500)))


@st.composite
def desk_edited(draw: st.DrawFn) -> tuple[str, str]:
    """(A description as the bot wrote it, then edited by the desk; the name its Slack line gives the channel.)"""
    old = draw(st.one_of(SLACK_NAME, st.sampled_from(["", "inc-2-old\r", "INC-2-OLD", "inc-2-old…"])))
    tail = draw(st.sampled_from([LINK_FOLLOWS, "", " ", LINK_FOLLOWS + "\r", " — the desk's note on it"]))
    lines = ["Checkout returns 500s", "Service: Basket API", PAGERDUTY, f"{SLACK}{old}{tail}",
             "Opened by Paved Road; the incident's timeline follows as work notes."]
    if draw(st.integers(0, 9)) == 0:
        lines = draw(st.permutations(lines))  # the desk's layout
    for _ in range(draw(st.integers(0, 4))):
        lines.insert(draw(st.integers(0, len(lines))), draw(DESK_TEXT))
    return draw(st.sampled_from(["\n", "\r\n"])).join(lines), old


def bot_line(lines: list[str]) -> int | None:
    """Where the bot's Slack line is: under the incident's PagerDuty line, else the first Slack line."""
    under = [i for i in range(1, len(lines)) if lines[i].startswith(SLACK) and lines[i - 1].startswith("PagerDuty: ")]
    return next(iter(under), next((i for i, line in enumerate(lines) if line.startswith(SLACK)), None))


async def test_the_slack_line_rewrite_keeps_the_desks_text_and_the_fields_length(sandbox: RunningSandbox) -> None:
    on_loop = OnTheLoop()
    instance, tickets = sandbox.sandbox.servicenow, sandbox.bot.tickets
    assert tickets is not None  # (the sandbox's bot has ServiceNow)

    @settings(max_examples=80)  # each example reads a ticket through the adapter and the emulator, and writes it
    @given(edited=desk_edited(), name=SLACK_NAME, link_told=st.booleans())
    def prop(edited: tuple[str, str], name: str, link_told: bool) -> None:
        description, _ = edited
        sys_id = instance.create_incident({"short_description": "[PagerDuty #2] Checkout returns 500s",
                                           "description": description}, user="jane.agent")["sys_id"]
        told = on_loop.run(channel_renamed(tickets, sys_id, name, channel=CHANNEL, link_told=link_told))
        lines = description.split("\n")
        at = bot_line(lines)
        if at is None:
            assert told == {}, told  # the desk's layout: theirs
            outcome("no Slack line")
            return
        old = re.match(r"\S*", lines[at].removeprefix(SLACK))
        assert old is not None
        if old.group() == name:
            assert told == {}, told
            outcome("named so already")
            return
        assert set(told) <= {"description", "work_notes"} and f"renamed #{name}" in told["work_notes"], told
        rewritten = "\n".join([*lines[:at], SLACK + name + lines[at].removeprefix(SLACK)[old.end():], *lines[at + 1:]])
        if len(rewritten) <= LONG_TEXT:
            assert told.get("description") == rewritten, (description[:300], told.get("description", "")[:300])
            outcome("line rewritten")
        else:
            assert "description" not in told, len(told["description"])  # never cut the desk's text
            outcome("too long: noted only")
        on_loop.run(tickets.update(sys_id, told))
        assert instance.tables["incident"][sys_id]["description"] == told.get("description", description)
        # Told again (a retry of the sync, a later event of the same rename): nothing more, the line rewritten or not
        # (too long: the note's mark says the ticket was told).
        again = on_loop.run(channel_renamed(tickets, sys_id, name, channel=CHANNEL, link_told=link_told))
        assert again == {}, again

    await run_property(prop)
