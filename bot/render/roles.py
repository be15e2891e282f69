"""The incident roles and the latest status update as the card shows them, and the buttons that act on them.
Pure functions; imports nothing else of bot/render but format.py, so the card (card.py) can include it.

The action ids are a stable contract with commands/ (and with messages already posted in Slack): never rename them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.domain.coordination import COMMANDER, RoleHolder, StatusUpdate
from bot.domain.incident import Incident, Status
from bot.render.format import SECTION_TEXT, clip, clip_mrkdwn, duration, escape

TAKE_COMMAND = "incident_take_command"
OPEN_UPDATE_FORM = "incident_update_open"
TOOLKIT_ACTIONS = (TAKE_COMMAND, OPEN_UPDATE_FORM)
UPDATE_PREVIEW = 200  # characters of the last update the card shows


def role_label(role: str) -> str:
    return role.replace("-", " ").capitalize()


def holder_text(holder: RoleHolder | None) -> str:
    return f"<@{holder.slack_user_id}>" if holder else "nobody yet"


def update_age(update: StatusUpdate, now: datetime) -> str:
    return f"{duration((now - update.at).total_seconds(), minute_seconds=False)} ago"


def roles_section(incident: Incident, now: datetime) -> dict[str, Any]:
    """Who leads (and holds the other roles), and the last status update with its age; while nobody leads an open
    incident, the Take command button beside them."""
    held = [h for h in incident.roles if h.role != COMMANDER]
    lines = [" · ".join([f"*{role_label(COMMANDER)}:* {holder_text(incident.commander)}"]
                        + [f"*{role_label(h.role)}:* {holder_text(h)}" for h in held])]
    update = incident.last_update
    if update is None:
        lines.append("*Last update:* none yet — `/incident update &lt;what is happening&gt;`")
    else:
        lines.append(f"*Last update:* {update_age(update, now)} by {escape(clip(update.author, 200))} — "
                     f"“{escape(clip(' '.join(update.what.split()), UPDATE_PREVIEW))}”")
    section: dict[str, Any] = {"type": "section", "block_id": "incident_roles",
                               "text": {"type": "mrkdwn", "text": clip_mrkdwn("\n".join(lines), SECTION_TEXT)}}
    take = take_command_button(incident)
    if take:  # beside "Commander: nobody yet"
        section["accessory"] = take[0]
    return section


def last_update_text(incident: Incident, now: datetime) -> str | None:
    """The last update in one line (for `/incident status`), or None."""
    update = incident.last_update
    if update is None:
        return None
    return (f"Last update {update_age(update, now)} by {escape(clip(update.author, 200))}: "
            f"“{escape(clip(' '.join(update.message.split()), 300))}”")


def take_command_button(incident: Incident) -> list[dict[str, Any]]:
    """While nobody leads an open incident: the button to take command."""
    if incident.status is Status.RESOLVED or incident.commander is not None:
        return []
    return [button("Take command", TAKE_COMMAND, incident.id)]


def button(label: str, action_id: str, value: str, style: str | None = None) -> dict[str, Any]:
    made: dict[str, Any] = {"type": "button", "action_id": action_id, "value": value,
                            "text": {"type": "plain_text", "text": label}}
    if style:
        made["style"] = style
    return made
