"""The App Home tab, rendered as a Block Kit `home` view from what the Home service gathered. Pure.

Sections, in the order a responder looks: the person's own open incidents, every open incident (each linked to its
channel), who is on call now for their teams and rotas, and the handover notes waiting on their rotas. Everything
from outside (titles, names, notes) is escaped and clipped; the view stays within Slack's 100 blocks and 250 KB,
and a list cut short says how many it left out and, for incidents, where they all are (PagerDuty's incident list).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.domain.incident import Incident, Status
from bot.render.format import (
    CONTEXT_TEXT,
    HEADER_TEXT,
    HOME_BLOCKS,
    SECTION_TEXT,
    clip,
    clip_mrkdwn,
    duration,
    escape,
    link,
    web_url,
)

# Each list shows at most this many lines, so the view keeps within its blocks whatever the day brings.
MOST_INCIDENTS = 20
MOST_LINES = 15
_STATUS = {Status.TRIGGERED: "🔴", Status.ACKNOWLEDGED: "🟠", Status.RESOLVED: "✅"}
# Slack refuses a view over 250 KB (`view_too_large`), counted on its JSON, where a character of an emoji or of
# Chinese or Japanese takes 6 to 12 bytes: 2,000 titles in emoji fit its 3,000 characters and not its bytes. Each
# text is kept within LINE_BYTES, so that the most blocks a Home has, with their own JSON around, fit.
VIEW_BYTES = 250 * 1024
LINE_BYTES = VIEW_BYTES // HOME_BLOCKS - 160


@dataclass(frozen=True)
class HomeIncident:
    incident: Incident
    channel_id: str | None  # its channel (or the team channel its card is in), once known


@dataclass(frozen=True)
class OnCallNow:
    """Who is on call now for one of the person's teams or rotas; `names` None when PagerDuty could not say.
    `as_of`: PagerDuty could not say now, and these are the names it gave when last asked, then."""

    label: str
    names: tuple[str, ...] | None
    as_of: datetime | None = None


@dataclass(frozen=True)
class WaitingNote:
    rota: str
    author: str
    text: str


@dataclass(frozen=True)
class HomeContent:
    name: str                        # how the person is greeted
    mine: tuple[HomeIncident, ...]   # open incidents they are assigned to or hold a role in
    open: tuple[HomeIncident, ...]   # every open incident
    on_call: tuple[OnCallNow, ...]
    notes: tuple[WaitingNote, ...]
    now: datetime
    problem: str | None = None       # why part of the Home could not be filled in (no PagerDuty account…)
    # The incidents assigned to them, their teams and rotas, could not be looked up (`problem` says why): an empty
    # list is then no fact, and does not say "none".
    mine_unknown: bool = False
    rotas_unknown: bool = False


def home_view(content: HomeContent) -> dict[str, Any]:
    blocks: list[dict[str, Any]] = [_header(f"Paved Road — {content.name}" if content.name else "Paved Road")]
    if content.problem:
        blocks.append(_context(f"⚠️ {content.problem}"))
    every = _all_listed(content)
    blocks += _list("Your open incidents", [_incident_line(i, content.now) for i in content.mine],
                    "None with a role of yours; those assigned to you could not be looked up (see above)."
                    if content.mine_unknown else "None assigned to you or with a role of yours.", MOST_INCIDENTS,
                    pressing=True, rest=f"of yours: {every}")
    blocks += _list("All open incidents", [_incident_line(i, content.now) for i in content.open],
                    "No open incidents. 🎉", MOST_INCIDENTS, pressing=True, rest=f"open incidents: {every}")
    blocks += _list("On call now for your teams and rotas", [_on_call_line(o, content.now) for o in content.on_call],
                    "Your teams and rotas could not be looked up (see above)." if content.rotas_unknown
                    else "You are in no team or rota of the catalogue.", MOST_LINES)
    blocks += _list("Handover notes waiting on your rotas", [_note_line(n) for n in content.notes],
                    "Your rotas, and so their notes, could not be looked up (see above)." if content.rotas_unknown
                    else "No notes waiting.", MOST_LINES)
    return {"type": "home", "callback_id": "pavedroad_home", "blocks": blocks[:HOME_BLOCKS]}


def _incident_line(item: HomeIncident, now: datetime) -> str:
    incident = item.incident
    title = escape(clip(incident.title, 150))
    where = f"<#{item.channel_id}>" if item.channel_id else "channel opening…"
    since = duration((now - incident.triggered_at).total_seconds(), minute_seconds=False)
    service = escape(clip(incident.service_name or incident.service_id, 80))
    return (f"{_STATUS[incident.status]} {link(incident.html_url, f'#{incident.number}')} {title} · {service} · "
            f"{where} · open {since}")


def looked_up_when(at: datetime, now: datetime) -> str:
    """When PagerDuty gave an answer the Home still shows: the time alone the same day, else its day too (kept in
    memory while PagerDuty stays down, yesterday's "09:41" would read as this morning's)."""
    return f"at {at:%H:%M} UTC" if at.date() == now.date() else f"on {at:%Y-%m-%d} at {at:%H:%M} UTC"


def _on_call_line(on_call: OnCallNow, now: datetime) -> str:
    names = ("unknown: PagerDuty did not answer" if on_call.names is None
             else ", ".join(escape(clip(n, 100)) for n in on_call.names) or "nobody")
    if on_call.as_of is not None and on_call.names is not None:
        names += f" _(as looked up {looked_up_when(on_call.as_of, now)}: PagerDuty is not answering now)_"
    return f"*{escape(clip(on_call.label, 100))}*: {names}"


def _note_line(note: WaitingNote) -> str:
    return f"*{escape(clip(note.rota, 100))}* — {escape(clip(note.author, 100))}: {escape(clip(note.text, 500))}"


def _all_listed(content: HomeContent) -> str:
    """Where every open incident is, for a list cut short: PagerDuty's incident list (linked, from an incident's own
    page), as a handover says it. There is no `/incident` command listing them."""
    for item in (*content.mine, *content.open):
        url = item.incident.html_url or ""
        if web_url(url) and "/incidents/" in url:
            return link(url[: url.index("/incidents/")] + "/incidents", "PagerDuty's incident list has them all")
    return "PagerDuty's incident list has them all"


def _list(title: str, lines: Sequence[str], empty: str, most: int, *, pressing: bool = False,
          rest: str = "") -> list[dict[str, Any]]:
    """A titled list, cut at `most` with a count of the rest (and `rest`: what they are, where to see them);
    `pressing`: a cut list shows the most pressing first (services/home.py orders it so), and says so."""
    shown = list(lines[:most]) or [empty]
    if len(lines) > most:
        shown.append(f"…and {len(lines) - most:,} more {rest}" if rest else f"…and {len(lines) - most:,} more.")
        title += f" — the {most} most pressing first" if pressing else ""
    return [{"type": "divider"}, _section(f"*{title}*"), *(_section(line) for line in shown)]


def _header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": {"type": "plain_text", "text": clip(text, HEADER_TEXT), "emoji": True}}


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _fitted(text, SECTION_TEXT)}}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": _fitted(escape(text), CONTEXT_TEXT)}]}


def _fitted(text: str, limit: int) -> str:
    """Markup clipped to `limit` characters and to LINE_BYTES of JSON: the most characters that fit both."""
    clipped = clip_mrkdwn(text, limit)
    if _json_bytes(clipped) <= LINE_BYTES:
        return clipped
    fits, over = 1, len(clipped)  # an ellipsis alone fits; the text clipped to `limit` does not
    while over - fits > 1:
        middle = (fits + over) // 2
        fits, over = (middle, over) if _json_bytes(clip_mrkdwn(text, middle)) <= LINE_BYTES else (fits, middle)
    return clip_mrkdwn(text, fits)


def _json_bytes(text: str) -> int:
    return len(json.dumps(text))  # ASCII: a character outside it as \uXXXX, as slack_sdk sends the view
