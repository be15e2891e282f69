"""Rendering answers for Slack: status summaries, timelines, on-call lists and the modals. Pure functions."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from bot.domain.incident import Incident
from bot.domain.timeline import TimelineEntry
from bot.ports import OnCall
from bot.render.card import full_entry_at, name_text, title_text
from bot.render.format import ENTRY_TEXT, MESSAGE_TEXT, SECTION_TEXT, clip_mrkdwn, duration, escape, link
from bot.render.roles import holder_text, last_update_text, role_label

RESOLVE_MODAL = "incident_resolve_modal"
PAGE_IM_MODAL = "incident_page_im_modal"
TIMELINE_PAGE_CHARS = 3500  # each answer stays well inside what Slack shows without truncating


def entry_line(incident: Incident, entry: TimelineEntry, limit: int = ENTRY_TEXT) -> str:
    text = clip_mrkdwn(escape(entry.text), limit, full_entry_at(incident, entry.kind))
    return f"`{entry.occurred_at.strftime('%d %b %H:%M:%S')}Z` {text}"


def status_text(incident: Incident, entries: list[TimelineEntry], dead: list[dict[str, Any]], now: datetime) -> str:
    elapsed = (incident.resolved_at or now) - incident.triggered_at
    lines = [
        f"*#{incident.number} {title_text(incident)}* — {incident.status.value} on "
        f"{name_text(incident.service_name)} ({name_text(incident.urgency)} urgency, priority "
        f"{name_text(incident.priority or 'none')})",
        f"On it: {', '.join(name_text(p.name) for p in incident.assignees) or 'nobody yet'} · "
        f"Escalation policy: {name_text(incident.escalation_policy_name or '—')} · "
        f"Elapsed {duration(elapsed.total_seconds())}"
        + (f" · TTA {duration(incident.time_to_acknowledge_seconds)}" if incident.acknowledged_at else "")
        + (f" · TTR {duration(incident.time_to_resolve_seconds)}" if incident.resolved_at else ""),
        link(incident.html_url, "Open in PagerDuty"),
    ]
    roles = " · ".join(f"{role_label(h.role)}: {holder_text(h)}" for h in incident.roles)
    lines.append(f"{roles or 'Commander: nobody yet'} · " + (last_update_text(incident, now) or "No status update yet "
                                                             "(`/incident update`)"))
    if entries:
        lines.append("*Latest:*")
        lines += [entry_line(incident, e) for e in entries[-5:]]
    if dead:
        lines.append(f"⚠️ {len(dead)} update(s) for this incident could not be made and need an operator: "
                     + ", ".join(str(d["kind"]).replace("_", " ") for d in dead)
                     + ". The platform team can see why in the bot's /readyz and logs.")
    return clip_mrkdwn("\n".join(lines), MESSAGE_TEXT)


def timeline_pages(incident: Incident, entries: list[TimelineEntry], max_pages: int = 4) -> list[str]:
    """The whole timeline in pages Slack will show; beyond `max_pages`, say how many lines are left out."""
    if not entries:
        return [f"#{incident.number} has no timeline yet."]
    lines = [entry_line(incident, e, TIMELINE_PAGE_CHARS - 30) for e in entries]
    pages: list[list[str]] = [[]]
    for line in lines:
        if pages[-1] and sum(len(x) + 1 for x in pages[-1]) + len(line) > TIMELINE_PAGE_CHARS:
            pages.append([])
        pages[-1].append(line)
    shown = pages[:max_pages]
    texts = [f"*Timeline of #{incident.number}* ({len(lines)} entries)\n" + "\n".join(shown[0])]
    texts += ["\n".join(page) for page in shown[1:]]
    left = sum(len(p) for p in pages[max_pages:])
    if left:
        texts[-1] += f"\n… and {left} later entries — see {link(incident.html_url, 'PagerDuty')}."
    return texts


def oncall_text(what: str, oncalls: list[OnCall]) -> str:
    if not oncalls:
        return f"Nobody is on call for {what} right now."
    by_level: dict[int, list[str]] = {}
    for o in oncalls:
        by_level.setdefault(o.level, []).append(name_text(o.user.name))
    levels = "; ".join(f"level {level}: {', '.join(names)}" for level, names in sorted(by_level.items()))
    return clip_mrkdwn(f"On call for {what} now ({name_text(oncalls[0].escalation_policy)}) — {levels}.",
                       MESSAGE_TEXT)


def resolve_modal(incident: Incident, channel_id: str) -> dict[str, Any]:
    return _modal(RESOLVE_MODAL, f"Resolve #{incident.number}", "Resolve", incident, channel_id, "resolution",
                  "Resolution note", "What fixed it? This goes on the timeline and into PagerDuty.")


def page_im_modal(incident: Incident, channel_id: str) -> dict[str, Any]:
    return _modal(PAGE_IM_MODAL, "Page incident manager", "Page", incident, channel_id, "message",
                  "Message for the incident manager", "What do you need from them?")


def _modal(callback_id: str, title: str, submit: str, incident: Incident, channel_id: str, block_id: str,
           label: str, hint: str) -> dict[str, Any]:
    return {
        "type": "modal", "callback_id": callback_id,
        "title": {"type": "plain_text", "text": title[:24]},
        "submit": {"type": "plain_text", "text": submit}, "close": {"type": "plain_text", "text": "Cancel"},
        "private_metadata": json.dumps({"incident_id": incident.id, "channel_id": channel_id}),
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*#{incident.number} "
                                                                   f"{title_text(incident, SECTION_TEXT - 40)}*"}},
            {"type": "input", "block_id": block_id, "label": {"type": "plain_text", "text": label},
             "hint": {"type": "plain_text", "text": hint},
             "element": {"type": "plain_text_input", "action_id": "text", "multiline": True, "max_length": 3000}},
        ],
    }
