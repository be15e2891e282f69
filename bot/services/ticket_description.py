"""What an incident's ServiceNow ticket says of it in its own fields: the short description ("[PagerDuty #<number>]
<title>") and the description's lines — the title, the service, the links, why the ticket has no group —, made for a
new ticket and followed when the incident is renamed or moved to another service.

The description is the ticket's body, the first thing a desk agent reads: a stale title or "Service: <the old one>"
there sends them to a team no longer on it. It is written whole once, at the ticket's opening; later only the bot's own
lines are rewritten — the title and "Service:" lines just above the incident's "PagerDuty: <link>" line, and an
"Assignment group: none" line — so whatever else it holds (the desk's words, a follow-on's first line) stays. A
description whose layout the desk changed is theirs, left as it is: the short description, the group and the work
notes still say what became of the incident.
"""

from __future__ import annotations

from bot.catalogue import Catalogue
from bot.domain.incident import Incident
from bot.domain.naming import channel_name
from bot.ports import Tickets
from bot.render.format import TITLE_IN_TEXT, clip, full_text_at
from bot.services.ticket_groups import group_of, why_no_group

# The incident table's field lengths (its dictionary's max_length): a longer short description is cut by the database
# without a word, and the long texts are kept readable in ServiceNow's forms.
SHORT_DESCRIPTION, LONG_TEXT = 160, 4_000
IN_PAGERDUTY = full_text_at("PagerDuty")
SERVICE, NO_GROUP, SLACK = "Service: ", "Assignment group: none — ", "Slack: #"


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


async def channel_renamed(tickets: Tickets, sys_id: str, name: str, *, link_told: bool) -> dict[str, str]:
    """The update telling the ticket its incident's channel is #`name` now (renamed in Slack): the description's
    "Slack: #…" line names it so, and a work note says the rename — in one update, so that a retry finds the line
    changed and writes nothing again. {} when the line names it so already, or is gone (the desk's layout: theirs).
    `link_told`: the ticket has the channel's link (the note says it still leads there; found in review: it said so
    to a ticket given no link yet)."""
    if (named := _slack_line_naming(await tickets.description(sys_id), name)) is None:
        return {}
    description, old = named
    note = f"Paved Road: the incident's Slack channel #{old} was renamed #{name} in Slack" + (
        " (its link is the same)." if link_told else ".")
    # A description the desk made too long to take the new name: theirs, never cut (found by a property: clipped, the
    # desk's last words were lost) — the note alone tells the ticket.
    return {"work_notes": note} if description is None else {"description": description, "work_notes": note}


async def channel_moved(tickets: Tickets, sys_id: str, name: str, description: str | None = None) -> dict[str, str]:
    """The description (`description`, else read) with its "Slack: #…" line naming #`name`, the channel the incident
    moved to (its own archived), the move's note giving its link: {"description": …}, or {} when it names it so or is
    gone. Left naming the archived channel, a later rename's note called that one "renamed" (found in review)."""
    named = _slack_line_naming(description if description is not None else await tickets.description(sys_id), name)
    return {} if named is None or named[0] is None else {"description": named[0]}


def _slack_line_naming(description: str, name: str) -> tuple[str | None, str] | None:
    """(`description` with the bot's "Slack: #…" line naming #`name` — None when that would take it past LONG_TEXT —,
    the name the line had), or None when it names it so already or is gone. The bot's line is the one under the
    incident's "PagerDuty: <link>" line, else the first: a line of the desk's own above it ("Slack: #it-help …") is
    theirs. Every other character stays as it was, a Windows line end included (found by a property)."""
    lines = description.split("\n")
    at = next((i for i in range(1, len(lines)) if lines[i].startswith(SLACK) and lines[i - 1].startswith(
        "PagerDuty: ")), None)
    if at is None and (at := next((i for i, line in enumerate(lines) if line.startswith(SLACK)), None)) is None:
        return None
    after = lines[at].removeprefix(SLACK)
    old = after.split(maxsplit=1)[0] if after[:1].strip() else ""  # up to the first whitespace ("\r" too)
    if old == name:
        return None
    lines[at] = f"{SLACK}{_one_line(name)}{after[len(old):]}"
    now = "\n".join(lines)
    return (now if len(now) <= LONG_TEXT else None), old


def _title_line(incident: Incident) -> str:
    return _one_line(clip(incident.title, TITLE_IN_TEXT, IN_PAGERDUTY))


def _service_line(incident: Incident) -> str:
    return f"{SERVICE}{_one_line(clip(incident.service_name, 200))}"


def _no_group_line(catalogue: Catalogue, incident: Incident) -> str:
    return f"{NO_GROUP}{_one_line(why_no_group(catalogue, incident))}: assign the ticket by hand."


def _one_line(text: str) -> str:
    return " ".join(text.splitlines())


def _channel_name(catalogue: Catalogue, incident: Incident) -> str:
    """The incident channel's name (known before the channel exists: it follows the catalogue's pattern), or
    the team channel where its card goes."""
    if not incident.dedicated_channel:
        return catalogue.announce_channel_for(incident.service_id)
    return channel_name(catalogue.channels.pattern, number=incident.number, title=incident.title,
                        service=incident.service_name, incident_id=incident.id)
