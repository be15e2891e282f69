"""The post-incident review document: a Markdown draft people edit, written from what the bot knows.

Sections: summary; service and exposure band; impact (the money at stake realised, the reports' figure); time to
acknowledge and to restore against the band's window; responders and roles; the whole timeline, key messages
marked; status updates; follow-ups; links to PagerDuty, ServiceNow and the channel. Text from outside is written
as Markdown text (its markup characters escaped), one line per entry. Pure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.domain.contributions import KEY_MESSAGE
from bot.domain.exposure import IncidentExposure, live_loss
from bot.domain.incident import Incident
from bot.domain.timeline import TimelineEntry, resolution
from bot.domain.toolkit import ROLE_KIND, UPDATE_KIND
from bot.render.format import NONE, duration, minutes, money

STATUS_UPDATE = "status_update_published"  # the timeline kind of one published in PagerDuty directly


@dataclass(frozen=True)
class ReviewLinks:
    """Where the incident lives: PagerDuty, its ServiceNow ticket (number, link) and Slack channel (name, link)."""

    pagerduty: str
    ticket: tuple[str, str] | None = None
    channel: tuple[str, str] | None = None


def review_prefix(incident: Incident) -> str:
    """How every review file of the incident's is named, up to when it was drafted."""
    return f"review-incident-{incident.number}-"


def review_filename(incident: Incident, drafted_at: datetime) -> str:
    return f"{review_prefix(incident)}{drafted_at:%Y%m%dT%H%M%SZ}.md"


def review_markdown(incident: Incident, timeline: list[TimelineEntry], *, exposure: IncidentExposure | None,
                    links: ReviewLinks, drafted_at: datetime) -> str:
    lines = [f"# Post-incident review: #{incident.number} {_md(incident.title)}", "",
             f"_Draft written by Paved Road at {_at(drafted_at)}"
             + ("" if incident.resolved_at else " — the incident is still open; this is the story so far")
             + ". Edit it: it is where the review starts, not where it ends._", ""]
    lines += _summary(incident, timeline)
    lines += _service(incident, exposure)
    lines += _times(incident, exposure)
    lines += ["## Responders and roles", "", *people_lines(incident, timeline), ""]
    lines += ["## Timeline", "", "Times are UTC; 📌 marks the key messages people pinned from the channel.", ""]
    lines += [f"- {_at(e.occurred_at)} — {_md(e.text)}" for e in timeline] or ["- (nothing recorded)"]
    key = [e for e in timeline if e.kind == KEY_MESSAGE]
    lines += ["", "## Key messages", ""] + ([f"- {_at(e.occurred_at)} — {_md(e.text)}" for e in key]
                                          or ["- (none marked: react with the timeline reaction to add one)"])
    lines += ["", "## Status updates", "", *status_update_lines(incident, timeline)]
    lines += ["", "## Follow-ups", ""] + ([
        f"- [ ] #{f.number} {_md(f.text)}" + (f" — owner: {_md(f.owner)}" if f.owner else " — owner: (none yet)")
        + f" (recorded by {_md(f.added_by)}, {_at(f.added_at)})" for f in incident.follow_ups]
        or ["- (none yet: `/incident followup <what needs doing> [@owner]`)"])
    lines += ["", "## Links", "", f"- PagerDuty: {links.pagerduty}"]
    if links.ticket:
        lines.append(f"- ServiceNow: {_md(links.ticket[0])} — {links.ticket[1]}")
    if links.channel:
        lines.append(f"- Slack: #{_md(links.channel[0])} — {links.channel[1]}")
    return "\n".join(lines) + "\n"


def people_lines(incident: Incident, timeline: list[TimelineEntry]) -> list[str]:
    """Who held each incident role at the end (`/incident role`), the handoffs on the way, then everyone who
    responded: the assignees, the role holders and whoever acted on the timeline."""
    lines = [f"- **{_md(holder.role.capitalize())}**: {_md(holder.name)}" for holder in incident.roles] \
        or ["- Roles: nobody held one (`/incident role commander me`)"]
    lines += [f"- {_at(e.occurred_at)} — {_md(e.text)}" for e in timeline if e.kind == ROLE_KIND]
    lines.append("- Responders: " + (", ".join(_md(name) for name in responders(incident, timeline))
                                     or "(nobody recorded)"))
    return lines


def responders(incident: Incident, timeline: list[TimelineEntry]) -> list[str]:
    """The people who responded, each once: the assignees, the role holders, then whoever acted on the timeline. The
    review and the ticket's close notes both name these, so the two agree.

    Not counted: an agent PagerDuty says is no person — a service or an integration acting by itself (an alert's
    trigger, an auto-resolve): its lines have no actor — nor, on lines stored before the bot read the agent's type,
    the incident's own service by name; and the authors of pinned messages (someone else marked the message: its
    author did not act on the incident)."""
    service = incident.service_name.casefold()
    acted = [e.actor for e in timeline if e.actor and e.kind != KEY_MESSAGE and e.actor.casefold() != service]
    return list(dict.fromkeys([p.name for p in incident.assignees] + [h.name for h in incident.roles] + acted))


def status_update_lines(incident: Incident, timeline: list[TimelineEntry]) -> list[str]:
    """The status updates published for stakeholders, oldest first: the incident's own record of them (its latest
    ones, from Slack and from PagerDuty directly: author, what, impact, next update), then any older ones only the
    timeline still has. Each once: an update's timeline line has the update's id."""
    kept = {update.id for update in incident.status_updates}
    dated = [(u.at, f"- {_at(u.at)} — {_md(u.author)}"
                    + (" (in PagerDuty)" if u.source == "pagerduty" else "") + ": " + _md(" · ".join(
                        u.message.splitlines()))) for u in incident.status_updates]
    dated += [(e.occurred_at, f"- {_at(e.occurred_at)} — {_md(e.text)}") for e in timeline
              if e.kind in (STATUS_UPDATE, UPDATE_KIND) and e.id not in kept]
    return [line for _, line in sorted(dated, key=lambda pair: pair[0])] or ["- (none published)"]


def _summary(incident: Incident, timeline: list[TimelineEntry]) -> list[str]:
    said = resolution(timeline)  # PagerDuty's resolution note, not a line merely holding the words
    return ["## Summary", "",
            f"- Status: {incident.status.value}; urgency {_md(incident.urgency)}, priority "
            f"{_md(incident.priority or 'none')}",
            f"- Triggered {_at(incident.triggered_at)}"
            + (f", acknowledged {_at(incident.acknowledged_at)}" if incident.acknowledged_at else "")
            + (f", resolved {_at(incident.resolved_at)}" if incident.resolved_at else ""),
            f"- Resolution: {_md(said) if said else '(no resolution note)'}", ""]


def _service(incident: Incident, exposure: IncidentExposure | None) -> list[str]:
    lines = ["## Service and exposure band", "",
             f"- Service: {_md(incident.service_name)} ({_md(incident.service_id)})"]
    if exposure is None:
        lines.append("- Exposure band: (the service declares no financial exposure in the catalogue)")
    else:
        lines.append(f"- Exposure band: {_md(exposure.band)} — up to {money(exposure.amount, exposure.currency)} "
                     f"within {minutes(exposure.window_minutes)}" + (" (above the highest band)"
                                                                      if exposure.above_highest else ""))
    lines += ["", "## Impact", ""]
    if exposure is None:
        lines.append("- Money at stake: not known (no exposure declared for the service)")
    elif incident.resolved_at is None:
        lines.append("- Money at stake realised: not yet known (the incident is still open)")
    else:
        loss = live_loss(exposure, incident.triggered_at, incident.resolved_at, incident.resolved_at)
        lines.append(f"- Money at stake realised: {money(loss.loss, exposure.currency)} (the exposure, times the "
                     f"time to restore over the band's {minutes(exposure.window_minutes)} window)")
    return [*lines, ""]


def _times(incident: Incident, exposure: IncidentExposure | None) -> list[str]:
    window = exposure.window_minutes * 60 if exposure else None
    rows = [("Time to acknowledge (TTA)", incident.time_to_acknowledge_seconds),
            ("Time to restore (TTR)", incident.time_to_resolve_seconds)]
    header = f"against the band's {minutes(exposure.window_minutes)} window" if exposure else "against the window"
    lines = ["## Time to acknowledge and restore", "", f"| | time | {header} |", "| --- | --- | --- |"]
    for label, seconds in rows:
        shown = duration(seconds) if seconds is not None else NONE
        lines.append(f"| {label} | {shown} | {_against(seconds, window)} |")
    return [*lines, ""]


def _against(seconds: float | None, window: float | None) -> str:
    if seconds is None or not window:
        return NONE
    share = seconds / window * 100
    if seconds <= window:
        return f"within it ({share:.0f}% of the window)"
    return f"over it by {duration(seconds - window)}"


def _at(moment: datetime) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M:%S}Z"  # labelled UTC: in UTC, whatever zone it came in


_MARKDOWN = re.compile(r"([\\`*_\[\]<>|])")


def _md(text: str) -> str:
    """Outside text as Markdown text: one line, its markup characters escaped."""
    return _MARKDOWN.sub(r"\\\1", " ".join(text.split()))
