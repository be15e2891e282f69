"""What an incident's ServiceNow ticket says of it in its own fields: the short description ("[PagerDuty #<number>]
<title>") and the description's lines — the title, the service, the links, why the ticket has no group —, made for a
new ticket and followed when the incident is renamed or moved to another service.

The description is the ticket's body, the first thing a desk agent reads: a stale title or "Service: <the old one>"
there sends them to a team no longer on it. It is written whole once, at the ticket's opening; later only the bot's own
lines are rewritten — the title and "Service:" lines just above the incident's "PagerDuty: <link>" line, and an
"Assignment group: none" line — so whatever else it holds (the desk's words, a follow-on's first line) stays. A
description whose layout the desk changed is theirs, left as it is: the short description, the group and the work
notes still say what became of the incident.

A channel renamed in Slack (or moved to, when the description cannot take its name) is told in a work note whose last
line marks the name (`channel_mark`): read back, that is the name the ticket knows, even when the desk made the
description too long to take it (never cut) — a retry finds it told, and the next rename is told from it, not from
the stale line. Only the notes the bot's own ServiceNow user wrote are read for marks (`Tickets.work_notes(own=True)`:
their `sys_created_by`), and of those the ones that read as the bot's: a desk agent's note, however it begins and
ends, is theirs — read as the bot's, a copied mark named the channel wrongly in the next rename's note, or kept a
note the ticket was never told from being written.
"""

from __future__ import annotations

import re

from bot.catalogue import Catalogue
from bot.domain.incident import Incident
from bot.domain.naming import channel_name, names_to_try
from bot.ports import Tickets
from bot.render.format import TITLE_IN_TEXT, clip, full_text_at
from bot.services.ticket_groups import group_of, why_no_group

# The incident table's field lengths (its dictionary's max_length): a longer short description is cut by the database
# without a word, and the long texts are kept readable in ServiceNow's forms.
SHORT_DESCRIPTION, LONG_TEXT = 160, 4_000
IN_PAGERDUTY = full_text_at("PagerDuty")
SERVICE, NO_GROUP, SLACK = "Service: ", "Assignment group: none — ", "Slack: #"
# What starts the last line of a work note telling the ticket its channel's name (`channel_mark`).
CHANNEL_MARK = "[paved-road channel "
BOTS_NOTE = "Paved Road: "  # how the bot's notes that carry a mark begin
_COUNT = re.compile(r"[1-9][0-9]{0,8}")  # a mark's count (ASCII digits: int() takes any script's, and no huge one)
# A name said in a note's words (the mark holds it whole): Slack's are 80 characters at most; a longer one (a desk's
# "mark", a description's line) said whole could push the note past what the adapter sends, cutting its mark off.
NAME_IN_NOTE = 200


def short_description(incident: Incident) -> str:
    return clip(f"[PagerDuty #{incident.number}] {incident.title}", SHORT_DESCRIPTION,
                full_text_at("PagerDuty", what="title"))


def new_description(catalogue: Catalogue, incident: Incident, channel: str | None = None) -> str:
    """A new ticket's description (each of the bot's lines one line, so that `followed` finds them again). `channel`:
    the incident's channel's name as Slack has it now, when it exists (renamed, or suffixed as it was made: a
    follow-on made later names it so; found in review: it named the catalogue pattern's name)."""
    group = group_of(catalogue, incident.service_id)
    return clip(f"{_title_line(incident)}\n{_service_line(incident)}\nPagerDuty: {incident.html_url}\n"
                f"{SLACK}{_one_line(channel or _channel_name(catalogue, incident))} (its link follows in the work "
                "notes as soon "
                "as the channel exists)\n" + ("" if group else f"{_no_group_line(catalogue, incident)}\n")
                + "Opened by Paved Road; the incident's timeline follows as work notes.", LONG_TEXT)


def followed(description: str, catalogue: Catalogue, incident: Incident) -> str | None:
    """The description with the bot's lines saying the incident as it now is (its title, its service, why it has no
    group), or None when they say so already or are not found where the bot wrote them."""
    lines = description.split("\n")
    at = next((i for i, line in enumerate(lines) if line == f"PagerDuty: {incident.html_url}"), None)
    if at is None or at < 2 or not lines[at - 1].startswith(SERVICE):
        return None
    lines[at - 2:at] = [_title_line(incident), _service_line(incident)]
    reason = next((i for i, line in enumerate(lines) if i > at and line.startswith(NO_GROUP)), None)
    if reason is not None:
        # Moved to a service whose team has a group: the ticket goes to it (ticket_sync.py), the reason is moot.
        lines[reason:reason + 1] = [] if group_of(catalogue, incident.service_id) else [
            _no_group_line(catalogue, incident)]
    now = clip("\n".join(lines), LONG_TEXT)
    return None if now == description else now


async def description_followed(tickets: Tickets, catalogue: Catalogue, incident: Incident,
                               sys_id: str) -> dict[str, str]:
    """The ticket's description to write (read from ServiceNow, the desk may have added to it) after a rename or a
    move: {"description": …}, or {} when it needs no change."""
    now = followed(await tickets.description(sys_id), catalogue, incident)
    return {"description": now} if now is not None else {}


async def channel_renamed(tickets: Tickets, sys_id: str, name: str, *, channel: str,
                          link_told: bool) -> dict[str, str]:
    """The update telling the ticket its incident's channel (Slack id `channel`) is #`name` now (renamed in Slack): the
    description's "Slack: #…" line names it so, and a work note says the rename, from the name the ticket was last told
    — in one update. {} when the ticket knows the name already (a retry, or Slack's retry of the event: nothing
    written twice), or the line is gone (the desk's layout: theirs). `link_told`: the ticket has the channel's link
    (the note says it still leads there; found in review: it said so to a ticket given no link yet).

    The name the ticket was last told is the latest of the bot's own notes marked as telling it (`channel_mark`,
    `told_name`), else the line's. A description the desk made too long to take the new name is theirs, never cut
    (found by a property: clipped, the desk's last words were lost): the note alone tells the ticket then, and its mark
    is what a retry finds — the line still naming the old name, a retry wrote the note again, and a later rename's
    note called the channel by that stale name. Once the desk shortens it, the next rename's update brings the line up
    to date."""
    description = await tickets.description(sys_id)
    if (line := _slack_line(description)) is None:
        return {}
    told = _told(await tickets.work_notes(sys_id, own=True), channel)
    old = line[2] if told is None else told[0]
    fields = {} if (named := _naming(*line, name)) is None else {"description": named}
    if old != name:
        link = " (its link is the same)." if link_told else "."
        stale = "" if named is not None or line[2] == name else (
            f" (The description, too long to rewrite, still names #{_said(line[2])}.)")
        count = 1 + (told[1] if told is not None else 0)
        fields["work_notes"] = (f"{BOTS_NOTE}the incident's Slack channel #{_said(old)} was renamed #{_said(name)} in "
                                f"Slack{link}{stale}\n{channel_mark(channel, name, count)}")
    return fields


async def channel_made_as(tickets: Tickets, catalogue: Catalogue, incident: Incident, sys_id: str, name: str,
                          description: str | None = None) -> dict[str, str]:
    """A ticket opened before its incident's channel existed names the catalogue pattern's name in its `Slack: #…`
    line; the channel, made as #`name`, got a suffix (the pattern's name was taken: someone's channel, an archived
    one). As the ticket is first told the channel's link: the description (`description`, else read) naming
    #`name`, {"description": …}, or {} — read only when `name` is not the pattern's name for the incident as it is
    now, and rewritten only when `name` is one of the suffixed names an opening tries after the line's own (the
    incident's title may have changed since; a channel renamed since is told as a rename, with its note:
    `channel_renamed`; a line too long to take the name, or gone, is left: the link names the channel)."""
    if not incident.dedicated_channel or name == _channel_name(catalogue, incident):
        return {}
    line = _slack_line(description if description is not None else await tickets.description(sys_id))
    if line is None or name not in names_to_try(line[2], incident.id, incident.number)[1:]:
        return {}
    named = _naming(*line, name)
    return {} if named is None else {"description": named}


async def channel_moved(tickets: Tickets, sys_id: str, name: str, description: str | None = None, *,
                        channel: str) -> dict[str, str]:
    """The description (`description`, else read) with its "Slack: #…" line naming #`name`, the channel (Slack id
    `channel`) the incident moved to (its own archived), the move's note giving its link: {"description": …}, or {}
    when it names it so or is gone. Left naming the archived channel, a later rename's note called that one "renamed"
    (found in review). A description too long to take the name (the desk's, never cut) keeps it: the ticket is told
    the name in a note of its own (marked, so that the new channel's renames are told from it; not written again
    once a mark tells it — a retry's counter would differ, so the note's text is not what is looked for), written
    here, before the move's update."""
    line = _slack_line(description if description is not None else await tickets.description(sys_id))
    if line is None or line[2] == name:
        return {}
    if (named := _naming(*line, name)) is not None:
        return {"description": named}
    told = _told(await tickets.work_notes(sys_id, own=True), channel)
    if told is None or told[0] != name:
        await tickets.update(sys_id, {"work_notes": (
            f"{BOTS_NOTE}the incident goes on in a new Slack channel, #{_said(name)} (the description, too long to "
            f"rewrite, still names #{_said(line[2])}).\n{channel_mark(channel, name, 1 + (told[1] if told else 0))}")})
    return {}


def channel_mark(channel: str, name: str, count: int = 0) -> str:
    """The last line of a work note telling the ticket that channel `channel` (a Slack id) is #`name`: read back by
    `told_name`, since the description may be too long to say it. `count`: one more than the channel's latest mark's
    (`told_name` takes the highest: the journal's same-second entries come back in no set order); 0 writes the older
    releases' mark, which had none (and reads as 0). It goes between the id and the name: the name, read to the
    closing bracket, may hold anything, and a release without counters reads "<id> <count>" as another channel's."""
    return f"{CHANNEL_MARK}{channel}{f' {count}' if count else ''} #{_one_line(name)}]"


def told_name(notes: list[str], channel: str) -> str | None:
    """The name the ticket was last told channel `channel` has, by its work notes (`notes`, as the journal reads) marked
    so (`channel_mark`): the highest count's, the latest in `notes` of equal ones; None when none is (told by its
    description alone). Only the bot's own notes count: `notes` are those its own ServiceNow user wrote
    (`Tickets.work_notes(own=True)`), and of them those beginning as the bot's do (BOTS_NOTE) — a desk's note quoting
    a mark does not tell the bot what the ticket was told."""
    told = _told(notes, channel)
    return None if told is None else told[0]


def _told(notes: list[str], channel: str) -> tuple[str, int] | None:
    """(`told_name`'s name, its mark's count)."""
    best: tuple[str, int] | None = None
    for note in notes:
        if not note.startswith(BOTS_NOTE):
            continue
        last = note.rstrip().rpartition("\n")[2]
        if not (last.startswith(CHANNEL_MARK) and last.endswith("]")):
            continue
        said, _, name = last.removeprefix(CHANNEL_MARK)[:-1].partition(" #")
        which, _, count = said.partition(" ")
        if which != channel or not (count == "" or _COUNT.fullmatch(count)):
            continue
        if best is None or int(count or 0) >= best[1]:
            best = name, int(count or 0)
    return best


def _slack_line(description: str) -> tuple[list[str], int, str] | None:
    """(`description`'s lines, where the bot's "Slack: #…" line is, the name it gives), or None when it is gone. The
    bot's line is the one under the incident's "PagerDuty: <link>" line, else the first: a line of the desk's own above
    it ("Slack: #it-help …") is theirs."""
    lines = description.split("\n")
    at = next((i for i in range(1, len(lines)) if lines[i].startswith(SLACK) and lines[i - 1].startswith(
        "PagerDuty: ")), None)
    if at is None and (at := next((i for i, line in enumerate(lines) if line.startswith(SLACK)), None)) is None:
        return None
    after = lines[at].removeprefix(SLACK)
    return lines, at, after.split(maxsplit=1)[0] if after[:1].strip() else ""  # up to the first whitespace ("\r" too)


def _naming(lines: list[str], at: int, old: str, name: str) -> str | None:
    """The description (`lines`) with its Slack line (`at`, naming #`old`) naming #`name`, or None when it names it so
    already or that would take it past LONG_TEXT. Every other character stays as it was, a Windows line end included
    (found by a property)."""
    if old == name:
        return None
    now = "\n".join([*lines[:at], f"{SLACK}{_one_line(name)}{lines[at].removeprefix(SLACK)[len(old):]}",
                     *lines[at + 1:]])
    return now if len(now) <= LONG_TEXT else None


def _title_line(incident: Incident) -> str:
    return _one_line(clip(incident.title, TITLE_IN_TEXT, IN_PAGERDUTY))


def _service_line(incident: Incident) -> str:
    return f"{SERVICE}{_one_line(clip(incident.service_name, 200))}"


def _no_group_line(catalogue: Catalogue, incident: Incident) -> str:
    return f"{NO_GROUP}{_one_line(why_no_group(catalogue, incident))}: assign the ticket by hand."


def _said(name: str) -> str:
    return clip(_one_line(name), NAME_IN_NOTE)


def _one_line(text: str) -> str:
    return " ".join(text.splitlines())


def _channel_name(catalogue: Catalogue, incident: Incident) -> str:
    """The incident channel's name (known before the channel exists: it follows the catalogue's pattern), or
    the team channel where its card goes."""
    if not incident.dedicated_channel:
        return catalogue.announce_channel_for(incident.service_id)
    return channel_name(catalogue.channels.pattern, number=incident.number, title=incident.title,
                        service=incident.service_name, incident_id=incident.id)
