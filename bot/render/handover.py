"""The on-call handover post, as Slack mrkdwn: the rota's handover (or the handover "so far"), from the data
`bot.domain.handover.handover_report` gathers. Pure: report in, text out.

A busy shift stays readable, and within what Slack accepts in one message (40,000 characters): each list shows at
most `SHOWN` incidents — all of them, in the order they happened, when they fit; else the most pressing first (high
urgency, still open or unacknowledged, the longest) with a count of the rest and a link to PagerDuty's incident list,
where they all are — and "During the shift" opens with its figures counted. An engineer taking over at 3 a.m. after
an outage reads the worst ten and the totals, not ten thousand lines.

Everything that came from outside (rota and service names, incident titles, people's names, notes, pending lines)
is escaped, so a title like "<!channel> is down" cannot ping a channel; the only mentions and links are the ones
built here (the engineers handing over, each incident's PagerDuty page and channel).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from bot.domain.events import Person
from bot.domain.handover import (
    HandoverReport,
    Note,
    ShiftIncident,
    acknowledged_by,
    most_pressing_during,
    most_pressing_open,
    shift_counts,
    zone,
)
from bot.domain.incident import Incident
from bot.render.format import (
    ENTRY_TEXT,
    MESSAGE_TEXT,
    clip,
    clip_mrkdwn,
    duration,
    escape,
    link,
    local_time,
    web_url,
)

TITLE_IN_POST = 300  # an incident's title in the post: its link leads to the whole of it
URGENCY_IN_POST = 20  # PagerDuty's urgency is "high" or "low"; anything else is shown, short
PENDING_IN_POST = 500  # a pending line (the bot's own words about an incident's updates)
# Incidents (and pending lines) listed per section; past it, the most pressing and a count of the rest.
SHOWN = 10
TOO_LONG = " (cut: the handover is longer than Slack shows in one message; PagerDuty has the rest)"
# The pending line when PagerDuty could not say who is on call: the follow-up edits the post once it answers.
NAMES_LATER = "Who is on call could not be read from PagerDuty; this post is updated when it answers."


def schedule_gone(schedule_ids: Sequence[str], operators_channel: str) -> str:
    """The pending line when PagerDuty has no schedule by the rota's id (replaced or deleted there): no answer will
    fill the names in until the catalogue names the schedule PagerDuty has now, so none is promised."""
    return (f"Who is on call could not be read: PagerDuty has no schedule by this rota's `pagerduty_schedule_id` "
            f"({', '.join(schedule_ids)}) — replaced there? The platform team was alerted in #{operators_channel}.")


def too_late_text(rota_id: str, rota_name: str, boundary: datetime, time_zone: str, now: datetime,
                  grace: timedelta) -> str:
    """What a handover that could not go out within `grace` of its boundary (the bot or Slack down that long) posts
    instead of itself: who was on call then, and that shift's story, are hours stale — the people who would read it
    have already taken over. It says what happened and how to get the handover as of now; its notes wait for the next
    handover."""
    tz = zone(time_zone)
    return (f"*Handover: {escape(rota_name)} — not posted (late by {_duration(now - boundary)})*\n"
            f"The handover for the shift change at {local_time(boundary, tz)} ({escape(time_zone)}) could not be "
            f"posted within {_duration(grace)} of it (the bot or Slack was down), and an old handover is history, not "
            f"news. `/incident oncall {escape(rota_id)}` says who is on call now, and `/incident handover "
            f"{escape(rota_id)}` shows the shift so far; notes left for this handover wait for the next one.")


def handover_text(report: HandoverReport, *, late: bool = False, on_demand: bool = False,
                  mentions: Mapping[str, str] | None = None, channels: Mapping[str, str] | None = None) -> str:
    """The handover as a Slack mrkdwn message. `mentions` maps a person's PagerDuty user id to their Slack user id
    (by id, not name: two engineers may share one), so the outgoing and incoming engineers are mentioned (notified);
    `channels` maps an incident id to its Slack channel id, linked from "Open now"; `late`: posted after its minute
    (the bot was down, or the post was held up); `on_demand`: asked for mid-shift, "so far" rather than a handover."""
    in_channel = channels or {}
    tz = zone(report.tz)
    end = report.shift_end
    title = "Handover so far" if on_demand else "Handover"
    lines = [
        f"*{title}: {escape(report.rota_name)} — {_people(report.outgoing, mentions)} → "
        f"{_people(report.incoming, mentions)}*" + (" (late)" if late else ""),
        f"Shift {local_time(report.shift_start, tz)} → {local_time(end, tz)} ({report.tz})",
    ]
    everything = _incident_list(report)

    def open_line(i: Incident) -> str:
        return (f"{_link(i)} — {_name(i.service_name)}, {escape(clip(i.urgency, URGENCY_IN_POST))} urgency, "
                f"{_state_at(i, end)}, open {_duration(end - i.triggered_at)}"
                + (f" · <#{in_channel[i.id]}>" if i.id in in_channel else "") + _last_update(i, end))

    lines += _section("Open now", [open_line(i) for i in shown_open(report)], len(report.open_now),
                      f"more still open — {everything}", pressing=True)
    during = report.during_shift if len(report.during_shift) <= SHOWN else most_pressing_during(report)
    lines += _section("During the shift", [f"{_link(s.incident)} — {_name(s.incident.service_name)}, {_figures(s)}"
                                           for s in during[:SHOWN]], len(report.during_shift),
                      f"more this shift — {everything}", pressing=True,
                      summary=_counts(report) if len(during) > SHOWN else None)
    if report.resolved_from_before:
        lines += _section("Resolved this shift, open at its start", [
            f"{_link(i)} — {_name(i.service_name)}, resolved {local_time(i.resolved_at, tz)}, open "
            f"{_duration(i.resolved_at - i.triggered_at)}" for i in report.resolved_from_before[:SHOWN]
            if i.resolved_at is not None], len(report.resolved_from_before), "more resolved")
    if report.out_of_hours is not None:
        lines += _section("Pages out of hours", [f"{_link(i)} — {local_time(i.triggered_at, tz)}"
                                                 for i in report.out_of_hours[:SHOWN]], len(report.out_of_hours),
                          "more out of hours")
    lines += _section("Notes", [_note(note) for note in report.notes])
    lines += _section("Pending", [escape(clip(item, PENDING_IN_POST)) for item in report.pending[:SHOWN]],
                      len(report.pending), "more pending")
    return clip_mrkdwn("\n".join(lines), MESSAGE_TEXT, TOO_LONG)


def shown_open(report: HandoverReport) -> list[Incident]:
    """The open incidents the post lists: all of them in the order they were triggered, when they fit; else the
    most pressing `SHOWN` (the service reads the channels of these only)."""
    if len(report.open_now) <= SHOWN:
        return list(report.open_now)
    return most_pressing_open(report)[:SHOWN]


def _figures(shift_incident: ShiftIncident) -> str:
    acknowledged, resolved = shift_incident.time_to_acknowledge, shift_incident.time_to_resolve
    return (("not acknowledged" if acknowledged is None else f"acknowledged in {_duration(acknowledged)}") + ", "
            + ("still open" if resolved is None else f"resolved in {_duration(resolved)}"))


def _section(title: str, items: list[str], total: int | None = None, rest: str = "", *, pressing: bool = False,
             summary: str | None = None) -> list[str]:
    """A titled list of `total` items of which `items` are shown (all, unless the list is cut), then what was left
    out, counted ("…and 9,990 more still open — …"). `pressing`: a cut list shows the most pressing, and says so."""
    count = len(items) if total is None else total
    cut = count > len(items)
    heading = f"*{title} ({count:,})*" + (f" — the {len(items)} most pressing first" if cut and pressing else "")
    more = [f"…and {count - len(items):,} {rest}"] if cut else []
    return ["", heading, *([summary] if summary else []), *([f"• {item}" for item in items] or ["none"]), *more]


def _counts(report: HandoverReport) -> str:
    counts = shift_counts(report)
    return (f"{counts.triggered:,} triggered: {counts.high_urgency:,} high urgency · {counts.resolved:,} resolved · "
            f"{counts.still_open:,} still open ({counts.unacknowledged:,} never acknowledged)")


def _incident_list(report: HandoverReport) -> str:
    """Where every incident is: PagerDuty's incident list (a link, from an incident's own page), else its name."""
    for incident in (*report.open_now, *(s.incident for s in report.during_shift)):
        url = incident.html_url or ""
        if web_url(url) and "/incidents/" in url:
            return link(url[: url.index("/incidents/")] + "/incidents", "PagerDuty's incident list has them all")
    return "PagerDuty's incident list has them all"


def _people(people: tuple[Person, ...] | None, mentions: Mapping[str, str] | None = None) -> str:
    if people is None:
        return "(unknown: PagerDuty unreachable)"
    known = mentions or {}
    return ", ".join(f"<@{known[p.id]}>" if p.id in known else _name(p.name) for p in people) or "nobody"


def _note(note: Note) -> str:
    return f"{escape(clip(note.text, ENTRY_TEXT))} — {_name(note.author)}"


def _name(name: str) -> str:
    return escape(clip(name, 200))


def _state_at(incident: Incident, moment: datetime) -> str:
    return "acknowledged" if acknowledged_by(incident, moment) else "unacknowledged"


def _last_update(incident: Incident, moment: datetime) -> str:
    """The last status update stakeholders had, so the next shift knows what they were told."""
    update = incident.last_update
    if update is None:
        return ""
    return (f" · last update {_duration(max(moment - update.at, timedelta()))} ago by {_name(update.author)}: "
            f"“{escape(clip(' '.join(update.what.split()), TITLE_IN_POST))}”")


def _link(incident: Incident) -> str:
    label = f"#{incident.number} {escape(clip(incident.title, TITLE_IN_POST))}"
    return link(incident.html_url, label) if incident.html_url else label


def _duration(span: timedelta) -> str:
    # The post reads minutes without seconds ("open 4m"): a handover is read hours later, seconds are noise.
    return duration(span.total_seconds(), minute_seconds=False)
