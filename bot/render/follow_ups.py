"""`/incident followups`: an incident's follow-ups as a Slack answer. Pure."""

from __future__ import annotations

from bot.domain.incident import Incident
from bot.render.card import title_text
from bot.render.format import MESSAGE_TEXT, clip_mrkdwn, escape


def follow_ups_text(incident: Incident) -> str:
    if not incident.follow_ups:
        return (f"#{incident.number} has no follow-ups yet. Record one with `/incident followup <what needs doing> "
                "[@owner]`.")
    lines = [f"*Follow-ups of #{incident.number} {title_text(incident)}* ({len(incident.follow_ups)}):"]
    for f in incident.follow_ups:
        owner = (f"<@{f.owner_id}>" if f.owner_id else escape(f.owner)) if f.owner else "no owner yet"
        lines.append(f"• *#{f.number}* {escape(f.text)} — {owner} (recorded by {escape(f.added_by)}, "
                     f"{f.added_at:%d %b %H:%M}Z)")
    lines.append("They are in the review (`/incident review`) and on the ServiceNow ticket.")
    return clip_mrkdwn("\n".join(lines), MESSAGE_TEXT)
