"""The `/incident` subcommands: one table drives registration, `help`, and the manifest test."""

from __future__ import annotations

from dataclasses import dataclass

SLASH_COMMAND = "/incident"


@dataclass(frozen=True)
class Subcommand:
    name: str
    usage: str
    summary: str


SUBCOMMANDS: tuple[Subcommand, ...] = (
    Subcommand("ack", "ack", "Acknowledge the incident in PagerDuty"),
    Subcommand("resolve", "resolve [note]", "Resolve in PagerDuty with a resolution note"),
    Subcommand("page-im", "page-im [message]", "Page the incident-manager rota"),
    Subcommand("page", "page <team|escalation policy|@user> [message]", "Add other responders"),
    Subcommand("note", "note <text>", "Add a note to the timeline and to PagerDuty"),
    Subcommand("status", "status", "Summary: state, who is on it, elapsed time, latest timeline"),
    Subcommand("timeline", "timeline", "The full timeline"),
    Subcommand("oncall", "oncall [service|team|rota]", "Who is on call now (for a rota: now and next shift)"),
    Subcommand("service", "service [name]",
               "A service's exposure band, availability target, error budget and who is on call for it"),
    Subcommand("handover", "handover [rota] [post]",
               "The on-call handover so far (only you see it; `post` puts it in the rota's channel)"),
    Subcommand("handover-note", "handover-note [rota] <text>",
               "Leave a note for the next handover (the rota is implied in its channel)"),
    Subcommand("new", "new <title> [--service S] [--urgency high|low]",
               "Declare an incident from Slack (the service is needed outside an incident channel)"),
    Subcommand("report", "report [--by service|team|domain|year|period] [--from YYYY-MM-DD] [--to YYYY-MM-DD]",
               "Post MTTA, MTTR and revenue protection (table and chart) in this channel"),
    Subcommand("help", "help", "This list"),
)
BY_NAME = {s.name: s for s in SUBCOMMANDS}


def usage_text() -> str:
    lines = [f"*Usage:* `{SLASH_COMMAND} <subcommand>` — inside an incident channel the incident is implied; "
             "elsewhere give the PagerDuty incident number or id."]
    for sub in SUBCOMMANDS:
        lines.append(f"• `{SLASH_COMMAND} {sub.usage}` — {sub.summary}")
    return "\n".join(lines)
