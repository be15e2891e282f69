"""The name a ticket was last told its channel has, read back from its journal (bot/services/ticket_description.py
`told_name`, `channel_renamed`), over journals the desk and ServiceNow hand back: desk notes quoting the bot's marks,
marks naming odd things (brackets, " #", any script, lone surrogates, line breaks, a name of a million characters),
marks for other channels, notes starting "Paved Road: " that carry no mark, Windows line ends, trailing whitespace,
desk agents' notes written word for word as the bot's are. Written into the sandbox's ServiceNow as the desk (or the
bot's user) would, read through the real adapter.

Whatever the journal, nothing escapes; the rename's note is told from the name the newest of the bot's marks for the
channel gives — of the notes the bot's own ServiceNow user wrote, never a desk agent's — (else the description's
"Slack: #…" line); and told again, nothing more is written.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import event as outcome
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bot.services.ticket_description import SLACK, channel_renamed
from sandbox.world import SERVICENOW_USER, RunningSandbox
from tests.property.loop_bridge import OnTheLoop, run_property

PAGERDUTY = "PagerDuty: https://acme.pagerduty.com/incidents/PGR0VU2"
CHANNEL = "C0PROPERTY"
OTHERS = ["C0OTHER", "C0PROPERTYX", "C0PROPERT", "c0property", ""]
DESK = "jane.agent"
BOT = SERVICENOW_USER  # the user the sandbox's bot authenticates as: ServiceNow stamps its entries with it
POOL = ["inc-2-old", "inc-2-new", "inc-2-db", "inc-2-db-pool"]  # names Slack would give, some told more than once
SLACK_NAME = st.one_of(st.sampled_from(POOL), st.from_regex(r"[a-z0-9_-]{0,20}[a-z0-9]", fullmatch=True))
# Names as a mark may hold them (the bot's, a desk's copy, an older release's): never a "\n" — a line break in a
# mark's name makes its last line something else, drawn apart (`broken`).
ODD_NAME = st.one_of(
    SLACK_NAME,
    st.text(st.characters(exclude_characters="\n"), max_size=30),  # lone surrogates, "\r", "\u2028" included
    st.sampled_from(["inc-2-db]", "inc 2 #db", "inc-2-é😀", "#", "", " ", "inc-2]]", "inc-2-old ", "\r", "\ud83d",
                     "[paved-road channel C0PROPERTY #x]", "inc-2-old 7", " #inc-2-old", "\u2028", "\x85"]),
    st.builds(lambda piece, times: piece * times, st.sampled_from(["x", "é😀", "] #"]),
              st.sampled_from([5_000, 1_000_001])))
EOL = st.sampled_from(["\n", "\r\n"])
TRAILING = st.sampled_from(["", " ", "\n", "\r\n", " \t\r\n\n", "\u2028"])


@dataclass(frozen=True)
class Note:
    """A journal entry to write, and the name it tells the bot channel CHANNEL has (None: it tells nothing)."""

    text: str
    user: str
    tells: tuple[int, str] | None = None  # (the mark's count, the name)


def mark(channel: str, name: str, count: str = "") -> str:
    """A mark as the bot writes it: with a count (a later release), or without (an older one)."""
    return f"[paved-road channel {channel}{f' {count}' if count else ''} #{name}]"


@st.composite
def note(draw: st.DrawFn) -> Note:
    kind = draw(st.sampled_from(["bot", "bot", "bot", "desk-quote", "desk-as-bot", "not-a-mark", "broken", "odd-count",
                                      "text"]))
    eol, trailing, name = draw(EOL), draw(TRAILING), draw(ODD_NAME)
    channel = draw(st.sampled_from([CHANNEL, CHANNEL, *OTHERS]))
    said = f"the incident's Slack channel #{draw(ODD_NAME)} was renamed #{name} in Slack."
    count = draw(st.sampled_from(["", "1", "2", "3", "12"]))
    if kind in ("bot", "desk-as-bot"):  # only the bot's own user's note counts: a desk's, word for word, does not
        return Note(f"Paved Road: {said}{eol}{mark(channel, name, count)}{trailing}", BOT if kind == "bot" else DESK,
                    (int(count or 0), name) if channel == CHANNEL and kind == "bot" else None)
    if kind == "odd-count":  # no count the bot writes: not a mark
        odd = draw(st.sampled_from(["0", "007", "\u0663", "\uff13", "-1", "1 2", "9" * 5_000, "x", " ", "1.5"]))
        return Note(f"Paved Road: {said}{eol}{mark(channel, name, odd)}{trailing}", BOT)
    if kind == "desk-quote":
        lead = draw(st.sampled_from(["Copied from above:", " Paved Road: quoted", "paved road: ", "Paved Road:", ""]))
        return Note(f"{lead}{eol}{mark(channel, name)}{trailing}", DESK)
    if kind == "not-a-mark":
        text = draw(st.sampled_from([
            f"Paved Road: {said}", f"Paved Road: {said}{eol}{mark(channel, name)}{eol}and more",
            f"Paved Road: {said}{eol}{mark(channel, name)[:-1]}", f"Paved Road: {mark(channel, name)}",
            f"Paved Road: {said}{eol} {mark(channel, name)}", f"Paved Road: {said}{eol}[Paved-road channel {channel} "
            f"#{name}]", f"Paved Road: {said}{eol}[paved-road channel {channel}#{name}]"]))
        return Note(text + trailing, draw(st.sampled_from([BOT, DESK])))
    if kind == "broken":  # a line break in the name: its last line is no mark
        tail = draw(st.text(st.characters(exclude_characters="[\n"), max_size=10))
        return Note(f"Paved Road: {said}{eol}{mark(channel, name + eol + tail)}{trailing}", BOT)
    return Note(draw(st.text(max_size=60)), draw(st.sampled_from([BOT, DESK])))


async def test_a_rename_is_told_once_from_the_name_the_ticket_was_last_told(sandbox: RunningSandbox) -> None:
    on_loop = OnTheLoop()
    instance, tickets = sandbox.sandbox.servicenow, sandbox.bot.tickets
    assert tickets is not None  # (the sandbox's bot has ServiceNow)

    @settings(max_examples=60)  # each example writes a journal, reads it through the adapter, and writes a note
    @given(lined=st.one_of(SLACK_NAME, st.sampled_from(["", "inc-2-é😀"])), journal=st.lists(note(), max_size=6),
           name=SLACK_NAME, too_long=st.integers(0, 5), link_told=st.booleans())
    # A mark's name longer than a note the adapter sends: said whole, the rename's note was cut, its mark lost.
    @example(lined="inc-2-old", journal=[Note(f"Paved Road: x\n{mark(CHANNEL, 'x' * 1_000_001)}", BOT,
                                              (0, "x" * 1_000_001))], name="inc-2-new", too_long=1, link_told=False)
    def prop(lined: str, journal: list[Note], name: str, too_long: int, link_told: bool) -> None:
        padding = "\n" + "a" * 3_990 if too_long == 0 else ""  # the desk's: too long to take a rename
        description = (f"Checkout returns 500s\nService: Basket API\n{PAGERDUTY}\n{SLACK}{lined} (its link follows)\n"
                       f"Opened by Paved Road.{padding}")
        sys_id = instance.create_incident({"short_description": "[PagerDuty #2] Checkout returns 500s",
                                           "description": description}, user=DESK)["sys_id"]
        for entry in journal:
            instance.update_incident(sys_id, {"work_notes": entry.text}, user=entry.user)
        written = [entry for entry in journal if entry.text.strip()]  # (ServiceNow keeps no blank note)
        told = [entry.tells for entry in written if entry.tells is not None]
        # The highest count's name, the latest of equal counts (the journal's order: the emulator keeps a second's
        # entries in the order written, and its clock stands still here).
        old = max(reversed(told), key=lambda said: said[0])[1] if told else lined
        outcome("told by a mark" if told else "told by the line")

        answer = on_loop.run(channel_renamed(tickets, sys_id, name, channel=CHANNEL, link_told=link_told))
        assert set(answer) <= {"description", "work_notes"}, answer
        if old == name:
            assert "work_notes" not in answer, answer["work_notes"][:300]
            outcome("told so already")
        else:
            first = answer["work_notes"].split("\n")[0]
            said = " ".join(old.splitlines())  # on the note's one line; a name no Slack name is as long as, clipped
            start = f"Paved Road: the incident's Slack channel #{said}" if len(said) <= 80 else (
                f"Paved Road: the incident's Slack channel #{said[:100]}")
            assert first.startswith(start) and f" was renamed #{name} in Slack" in first, (first[:300], said[:300])
            assert len(first) < 1_000, len(first)
        on_loop.run(tickets.update(sys_id, answer))
        again = on_loop.run(channel_renamed(tickets, sys_id, name, channel=CHANNEL, link_told=link_told))
        assert again == {}, {field: text[-300:] for field, text in again.items()}

    await run_property(prop)
