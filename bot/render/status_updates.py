"""Status updates and incident roles in Slack: the update as posted in the incident channel and in the
stakeholders' channel, the reminder that one is due, the offer of command to a paged incident manager, the update
form, and `/incident role`'s list. Pure functions.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bot.domain.coordination import StatusUpdate, holder_of
from bot.domain.incident import Incident, Status
from bot.render.card import name_text, title_text
from bot.render.format import MESSAGE_TEXT, SECTION_TEXT, clip, clip_mrkdwn, escape, link, minutes, split_mrkdwn
from bot.render.roles import OPEN_UPDATE_FORM, TAKE_COMMAND, button, holder_text, role_label, update_age

UPDATE_MODAL = "incident_update_modal"
WHAT, IMPACT, NEXT = "update_what", "update_impact", "update_next"
NEXT_UPDATE_CHOICES = (15, 30, 60, 120, 240)


def _update_fields(update: StatusUpdate) -> str:
    lines = [escape(update.what.strip())]
    if update.impact.strip():
        lines.append(f"*Impact:* {escape(update.impact.strip())}")
    if update.next_due is not None:
        lines.append(f"*Next update:* by {update.next_due:%H:%M} UTC")
    return "\n".join(lines)


def update_message(incident: Incident, update: StatusUpdate) -> tuple[str, list[dict[str, Any]]]:
    """The update in the incident channel: it is the timeline's line for it, formatted as an update."""
    heading = f"📣 *Status update* by {name_text(update.author)} · `{update.at:%H:%M}Z`"
    return (escape(clip(f"Status update on #{incident.number}: {update.what}", 300)),
            _sections(f"{heading}\n{_update_fields(update)}"))


def stakeholder_message(incident: Incident, update: StatusUpdate,
                        channel_id: str | None) -> tuple[str, list[dict[str, Any]]]:
    """The update in the stakeholders' channel, linking back to the incident channel (and PagerDuty)."""
    where = f"<#{channel_id}>" if channel_id else link(incident.html_url, "PagerDuty")
    heading = (f"📣 *#{incident.number} {title_text(incident, 300)}* — {name_text(incident.service_name)} · "
               f"{incident.status.value}, priority {name_text(incident.priority or 'none')}")
    context = f"Update by {name_text(update.author)} at {update.at:%H:%M} UTC · follow it in {where}"
    return escape(clip(f"Status update on #{incident.number}: {update.what}", 300)), [
        *_sections(f"{heading}\n{_update_fields(update)}"),
        {"type": "context", "elements": [{"type": "mrkdwn", "text": context}]}]


def _sections(text: str) -> list[dict[str, Any]]:
    """An update in as many sections as it takes (its 3,000 characters, escaped, and its heading outgrow one):
    stakeholders read all of it, its impact last, rather than an ellipsis where the impact was."""
    return [{"type": "section", "text": {"type": "mrkdwn", "text": part}} for part in split_mrkdwn(text, SECTION_TEXT)]


def reminder_message(incident: Incident, mentions: Sequence[str], since: datetime,
                     now: datetime) -> tuple[str, list[dict[str, Any]]]:
    """A status update is due: whom it asks (mentions, Slack markup already), and the button to write it."""
    who = ", ".join(mentions) or "Incident team"
    last = incident.last_update
    heard = (f"the last update was {update_age(last, now)}" if last
             else f"stakeholders have had no update since it began {update_age_since(since, now)}")
    text = (f"⏰ {who}: a status update for stakeholders is due on #{incident.number} — {heard}. "
            "Post one with `/incident update &lt;what is happening&gt;` or the button.")
    return text, [{"type": "section", "text": {"type": "mrkdwn", "text": text}},
                  {"type": "actions", "block_id": f"status_reminder:{incident.id}"[:255],
                   "elements": [button("Post an update", OPEN_UPDATE_FORM, incident.id, style="primary")]}]


def update_age_since(since: datetime, now: datetime) -> str:
    return f"{minutes(max(int((now - since).total_seconds() // 60), 0))} ago"


def offer_message(incident: Incident, mention: str) -> tuple[str, list[dict[str, Any]]]:
    text = (f"🧭 {mention}, you were paged as incident manager for #{incident.number}. Nobody leads it yet — take "
            "command?")
    return text, [{"type": "section", "text": {"type": "mrkdwn", "text": text}},
                  {"type": "actions", "block_id": f"command_offer:{incident.id}"[:255],
                   "elements": [button("Take command", TAKE_COMMAND, incident.id, style="primary")]}]


def roles_text(incident: Incident, roles: Sequence[str]) -> str:
    """`/incident role`: each role from the catalogue and who holds it."""
    lines = [f"*Roles on #{incident.number}:*"]
    lines += [f"• {role_label(r)} (`{r}`): {holder_text(holder_of(incident.roles, r))}" for r in roles]
    lines.append("Assign one with `/incident role &lt;role&gt; &lt;@someone|me&gt;`.")
    return clip_mrkdwn("\n".join(lines), MESSAGE_TEXT)


def update_modal(incident: Incident, channel_id: str, default_minutes: int) -> dict[str, Any]:
    """The form `/incident update` (without text) and the reminder's button open. A resolved incident's (the
    all-clear) asks for no next update: none will be due."""
    choices = sorted(set(NEXT_UPDATE_CHOICES) | {default_minutes})
    options = [{"text": {"type": "plain_text", "text": f"in {minutes(m)}"}, "value": str(m)} for m in choices]
    initial = next(o for o in options if o["value"] == str(default_minutes))
    return {
        "type": "modal", "callback_id": UPDATE_MODAL,
        "title": {"type": "plain_text", "text": f"Update #{incident.number}"[:24]},
        "submit": {"type": "plain_text", "text": "Post update"}, "close": {"type": "plain_text", "text": "Cancel"},
        "private_metadata": json.dumps({"incident_id": incident.id, "channel_id": channel_id}),
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*#{incident.number} "
                                                                   f"{title_text(incident, SECTION_TEXT - 40)}*"}},
            _input(WHAT, "What is happening", "What we know and what we are doing. Stakeholders read this.", True),
            _input(IMPACT, "Impact", "Who or what is affected, e.g. 'card payments fail for about 1 in 5 "
                                     "customers'.", False),
            *([] if incident.status is Status.RESOLVED else [
                {"type": "input", "block_id": NEXT, "label": {"type": "plain_text", "text": "Next update due"},
                 "element": {"type": "static_select", "action_id": "choice", "options": options,
                             "initial_option": initial}}]),
        ],
    }


def _input(block_id: str, label: str, hint: str, required: bool) -> dict[str, Any]:
    return {"type": "input", "block_id": block_id, "optional": not required,
            "label": {"type": "plain_text", "text": label}, "hint": {"type": "plain_text", "text": hint},
            "element": {"type": "plain_text_input", "action_id": "text", "multiline": True, "max_length": 3000}}
