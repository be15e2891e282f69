"""The incident card, topic and announcement, rendered as Slack Block Kit from an Incident. Pure functions.

The buttons' action ids are a stable contract with commands/ (and with cards already posted in Slack):
never rename them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.domain.exposure import IncidentExposure, live_loss
from bot.domain.incident import Incident, Status
from bot.render.format import (
    CONTEXT_TEXT,
    ENTRY_TEXT,
    FIELD_TEXT,
    HEADER_TEXT,
    TITLE_IN_TEXT,
    TOPIC_TEXT,
    clip,
    clip_mrkdwn,
    duration,
    escape,
    full_text_at,
    link,
    minutes,
    money,
)
from bot.render.roles import roles_section

ACKNOWLEDGE = "incident_acknowledge"
RESOLVE = "incident_resolve"
PAGE_INCIDENT_MANAGER = "incident_page_im"
CARD_ACTIONS = (ACKNOWLEDGE, RESOLVE, PAGE_INCIDENT_MANAGER)

_STATUS_LABEL = {Status.TRIGGERED: "🔴 Triggered", Status.ACKNOWLEDGED: "🟠 Acknowledged",
                 Status.RESOLVED: "✅ Resolved"}
NAME_IN_TEXT = 200  # a service's or person's name in a sentence


@dataclass(frozen=True)
class TicketView:
    """The incident's ServiceNow ticket as the card shows it; `pending` while updates wait for ServiceNow."""

    number: str | None
    link: str | None
    pending: bool


def topic(incident: Incident, ticket: TicketView | None = None) -> str:
    # The service's name is kept short, so the PagerDuty link (how the bot knows its channel again) always fits.
    parts = [_STATUS_LABEL[incident.status], clip(incident.service_name or incident.service_id, 80)]
    if incident.priority:  # set from Slack or in PagerDuty: the topic says it at a glance
        parts.insert(1, clip(incident.priority, 20))
    if ticket is not None and ticket.number:
        parts.append(ticket.number)
    if incident.status is Status.RESOLVED:
        parts += [f"TTA {duration(incident.time_to_acknowledge_seconds)}",
                  f"TTR {duration(incident.time_to_resolve_seconds)}"]
    parts.append(incident.html_url)
    return clip(" · ".join(p for p in parts if p), TOPIC_TEXT)


def card_text(incident: Incident) -> str:
    """The notification/fallback text of the card."""
    # Escaped: an alert titled "<!channel> is down" must not ping the whole channel.
    return (f"#{incident.number} {title_text(incident)} — {_STATUS_LABEL[incident.status]} on "
            f"{name_text(incident.service_name)}")


def title_text(incident: Incident, limit: int = TITLE_IN_TEXT) -> str:
    """The incident's title as Slack markup: escaped, and past `limit` characters clipped with a link to the whole
    title in PagerDuty."""
    return clip_mrkdwn(escape(incident.title), limit, full_text_at("PagerDuty", incident.html_url, "title"))


def full_entry_at(incident: Incident, kind: str) -> str:
    """Where the whole of a clipped timeline entry is: a ServiceNow work note in ServiceNow, the rest in PagerDuty."""
    if kind.startswith("servicenow"):
        return full_text_at("ServiceNow")
    return full_text_at("PagerDuty", incident.html_url)


def name_text(name: str) -> str:
    """A name from outside (a service, a person, an escalation policy) as Slack markup: escaped, and short."""
    return escape(clip(name, NAME_IN_TEXT))


def loss_text(incident: Incident, exposure: IncidentExposure, now: datetime) -> str:
    """The money at stake: "£210K at risk so far · 18 min left of a 45 min window" while the window runs, "£750K
    lost — exposure window passed 12 min ago" after it, the realised loss (the reports' figure) once resolved (see
    `bot/domain/exposure.py` for the formula). Minutes are whole: time left counts down like a timer (17.5 minutes
    left shows 18), time gone counts up (12.5 minutes ago shows 12)."""
    loss = live_loss(exposure, incident.triggered_at, now, incident.resolved_at)
    amount, window = money(loss.loss, exposure.currency), minutes(exposure.window_minutes)
    if loss.restored:
        restored = minutes(int(loss.elapsed_minutes)) if loss.elapsed_minutes >= 1 else "under a minute"
        return f"{amount} realised loss — restored after {restored}, of a {window} window"
    if loss.window_passed:
        return f"{amount} lost — exposure window passed {minutes(int(loss.minutes_over))} ago"
    return f"{amount} at risk so far · {minutes(math.ceil(loss.minutes_left))} left of a {window} window"


def card_blocks(incident: Incident, now: datetime, ticket: TicketView | None = None,
                exposure: IncidentExposure | None = None, *, page_im: bool = True) -> list[dict[str, Any]]:
    """The pinned card: what is happening, who is on it, how long it has run, what it is costing, and what can be
    done. `exposure` is what the incident's service puts at stake (None when its exposure is unknown); `page_im`:
    whether an incident-manager rota is configured (no button that cannot work otherwise)."""
    elapsed_label, elapsed = ("Time to resolve", incident.time_to_resolve_seconds) \
        if incident.status is Status.RESOLVED else ("Elapsed", (now - incident.triggered_at).total_seconds())
    fields = [
        ("Status", _STATUS_LABEL[incident.status]),
        ("Service", incident.service_name or incident.service_id),
        ("Urgency / priority", f"{incident.urgency} / {incident.priority or 'none'}" + (
            " — raising the page to high urgency failed: raise it in PagerDuty by hand"
            if incident.urgency_raise_failed else "")),
        ("Assignees", ", ".join(p.name for p in incident.assignees) or "nobody yet"),
        ("Escalation policy", incident.escalation_policy_name or "—"),
        (elapsed_label, duration(elapsed)),
    ]
    if incident.acknowledged_at is not None:
        fields.append(("Time to acknowledge", duration(incident.time_to_acknowledge_seconds)))
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": clip(
            f"#{incident.number} {incident.title}", HEADER_TEXT, " (full title in PagerDuty)")}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": clip_mrkdwn(f"*{k}*\n{escape(v)}", FIELD_TEXT)}
                                       for k, v in fields]},
        roles_section(incident, now),
        *([] if exposure is None else [{"type": "section", "block_id": "money_at_stake", "text": {
            "type": "mrkdwn", "text": f"💸 *{escape(loss_text(incident, exposure, now))}*  ·  {exposure.band} "
                                      "exposure band" + (" (above the highest band)" if exposure.above_highest
                                                         else "")}}]),
        {"type": "context", "elements": [{"type": "mrkdwn", "text": clip_mrkdwn(
            f"{link(incident.html_url, 'Open in PagerDuty')} · {escape(incident.id)}" + _ticket_text(ticket),
            CONTEXT_TEXT)}]},
    ]
    buttons = _buttons(incident, page_im)
    if buttons:
        blocks.append({"type": "actions", "block_id": f"incident_actions:{incident.id}"[:255], "elements": buttons})
    return blocks


def _ticket_text(ticket: TicketView | None) -> str:
    if ticket is None:
        return ""
    text = f" · ServiceNow {link(ticket.link, escape(ticket.number))}" if ticket.number and ticket.link else ""
    return text + (" · ⏳ ServiceNow sync pending" if ticket.pending else "")


def _buttons(incident: Incident, page_im: bool) -> list[dict[str, Any]]:
    if incident.status is Status.RESOLVED:
        return []
    buttons: list[dict[str, Any]] = []
    if incident.status is Status.TRIGGERED:
        buttons.append(_button("Acknowledge", ACKNOWLEDGE, incident.id, style="primary"))
    buttons.append(_button("Resolve", RESOLVE, incident.id, confirm=(
        "Resolve this incident?", "This resolves it in PagerDuty for everyone on it.")))
    if page_im:
        buttons.append(_button("Page incident manager", PAGE_INCIDENT_MANAGER, incident.id, style="danger", confirm=(
            "Page the incident manager?", "This pages whoever is on call on the incident-manager rota now.")))
    return buttons


def _button(label: str, action_id: str, value: str, style: str | None = None,
            confirm: tuple[str, str] | None = None) -> dict[str, Any]:
    button: dict[str, Any] = {"type": "button", "action_id": action_id, "value": value,
                              "text": {"type": "plain_text", "text": label}}
    if style:
        button["style"] = style
    if confirm:
        button["confirm"] = {"title": {"type": "plain_text", "text": confirm[0]},
                             "text": {"type": "mrkdwn", "text": confirm[1]},
                             "confirm": {"type": "plain_text", "text": "Yes"},
                             "deny": {"type": "plain_text", "text": "Cancel"}}
    return button


def announcement(incident: Incident, channel_id: str) -> str:
    return (f"{_STATUS_LABEL[incident.status]} #{incident.number} {title_text(incident)} on "
            f"{name_text(incident.service_name)} ({name_text(incident.urgency)} urgency) — join <#{channel_id}>")


def moved_away(incident: Incident, channel_id: str) -> str:
    """A team channel's card once its incident has a channel of its own: where to follow it (the card there)."""
    return (f"➡️ #{incident.number} {title_text(incident)} on {name_text(incident.service_name)} moved to a channel "
            f"of its own: <#{channel_id}>. Its card and timeline are there.")


def timeline_line(actor_time: datetime, text: str, full_text: str = "") -> str:
    """One line of the channel's timeline; an entry past ENTRY_TEXT characters (a pasted log) is clipped and ends
    with `full_text`, where the whole of it is (see `full_text_at`)."""
    return f"`{actor_time.strftime('%H:%M:%S')}Z` {clip_mrkdwn(escape(text), ENTRY_TEXT, full_text)}"
