"""The `/incident` subcommands: one table drives dispatch, `help`, and the manifest test.

Each entry carries its handler and how it behaves: `acts_once` (the same person sending the same subcommand with the
same text about the same incident — or, for one that names none, in the same channel — within `REPEAT_WINDOW_SECONDS`
is answered "already on it", not done twice; without text only if `acts_bare`, as a bare `resolve` only opens a form
and a bare `role` only lists; or only when `acts_once_if` says the text acts, as `handover … post` posts where a
plain `handover` only shows the asker), `may_open_modal` (runs at once, not queued: a form's trigger expires
three seconds after the command), `needs_incident` (the incident is found, from the channel or the first word,
before the handler runs), `takes_text` (free text follows, so inside an incident channel a bare number is text),
`keeps_text` (what was typed is words someone wrote — a note, a message, an update: quoted back should the command
fail, since Slack keeps no command once sent) and `answered_in_ack` (nothing slow: the answer is the acknowledgement
itself).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from commands import handlers, toolkit
from commands.answers import Reply
from commands.handlers import Asked, Handler, Services
from commands.parsing import take_ref
from commands.repeats import ALREADY_COMMANDED

SLASH_COMMAND = "/incident"


@dataclass(frozen=True)
class Subcommand:
    name: str
    usage: str
    summary: str
    handler: Handler
    acts_once: bool = False
    acts_bare: bool = False
    may_open_modal: bool = False
    needs_incident: bool = False
    takes_text: bool = False
    keeps_text: bool = False
    answered_in_ack: bool = False
    acts_once_if: Callable[[str], bool] | None = None

    def guarded(self, text: str) -> bool:
        """Whether this text, sent again within the repeat window, is answered "already on it"."""
        if not self.acts_once:
            return False
        if self.acts_once_if is not None:
            return self.acts_once_if(text)
        return bool(text) or self.acts_bare


async def _help(s: Services, asked: Asked) -> Reply:
    return usage_text()


SUBCOMMANDS: tuple[Subcommand, ...] = (
    Subcommand("ack", "ack", "Acknowledge the incident in PagerDuty", handlers.acknowledge,
               acts_once=True, acts_bare=True, needs_incident=True),
    Subcommand("resolve", "resolve [note]", "Resolve in PagerDuty with a resolution note", handlers.resolve,
               acts_once=True, may_open_modal=True, needs_incident=True, takes_text=True, keeps_text=True),
    Subcommand("page-im", "page-im [message]", "Page the incident-manager rota", handlers.page_incident_manager,
               acts_once=True, may_open_modal=True, needs_incident=True, takes_text=True, keeps_text=True),
    Subcommand("page", "page <team|escalation policy|@user> [message]", "Add other responders", handlers.page,
               acts_once=True, needs_incident=True, takes_text=True, keeps_text=True),
    Subcommand("note", "note <text>", "Add a note to the timeline and to PagerDuty", handlers.note,
               acts_once=True, needs_incident=True, takes_text=True, keeps_text=True),
    Subcommand("status", "status", "Summary: state, who is on it, elapsed time, latest timeline", handlers.status,
               needs_incident=True),
    Subcommand("timeline", "timeline", "The full timeline", handlers.timeline, needs_incident=True),
    Subcommand("role", "role [<role> <@someone|me>]",
               "Who holds each incident role; or give a role (commander, communications…) to someone", toolkit.role,
               needs_incident=True, takes_text=True),  # not acts_once: giving a role twice is harmless, and A, B, A
               # within seconds must end with A
    Subcommand("update", "update [text]",
               "Post a status update to this channel, the stakeholders' channel, PagerDuty and ServiceNow (no text: "
               "a form)", toolkit.update, acts_once=True, may_open_modal=True, needs_incident=True, takes_text=True,
               keeps_text=True),
    Subcommand("priority", "priority <P1…P5>", "Set the incident's priority in PagerDuty", toolkit.priority,
               needs_incident=True, takes_text=True),  # not acts_once, as `role`: P1, P2, P1 within seconds must end
               # with P1; setting it twice is harmless (the second change is no news on the timeline)
    Subcommand("oncall", "oncall [service|team|rota]", "Who is on call now (for a rota: now and next shift)",
               handlers.oncall),
    Subcommand("service", "service [name]",
               "A service's exposure band, availability target, error budget and who is on call for it",
               handlers.service),
    Subcommand("handover", "handover [rota] [post]",
               "The on-call handover so far (only you see it; `post` puts it in the rota's channel)",
               handlers.handover, acts_once=True, acts_once_if=handlers.posts_handover),  # posted twice is noise
    Subcommand("handover-note", "handover-note [rota] <text>",
               "Leave a note for the next handover (the rota is implied in its channel)", handlers.handover_note,
               acts_once=True, keeps_text=True),
    Subcommand("new", "new <title> [--service S] [--urgency high|low]",
               "Declare an incident from Slack (the service is needed outside an incident channel)", handlers.declare,
               acts_once=True, keeps_text=True),
    Subcommand("report", "report [--by service|team|domain|year|period|model] [--from YYYY-MM-DD] [--to YYYY-MM-DD]",
               "Post MTTA, MTTR and revenue protection (table and chart) in this channel", handlers.report,
               acts_once=True, acts_bare=True),  # a double Enter must not post the report twice
    Subcommand("followup", "followup <text> [@owner]",
               "Record a follow-up action (into the review and onto the ServiceNow ticket)", handlers.follow_up,
               acts_once=True, needs_incident=True, takes_text=True, keeps_text=True),
    Subcommand("followups", "followups", "The incident's follow-ups", handlers.follow_ups, needs_incident=True),
    Subcommand("review", "review", "Write the review draft: posted in the incident channel, attached to the ticket",
               handlers.review, acts_once=True, acts_bare=True, needs_incident=True),
    Subcommand("help", "help", "This list", _help, answered_in_ack=True),
)
BY_NAME = {s.name: s for s in SUBCOMMANDS}


def usage_text() -> str:
    lines = [f"*Usage:* `{SLASH_COMMAND} <subcommand>` — inside an incident channel the incident is implied; "
             "elsewhere give the PagerDuty incident number or id (`#1234` when words follow it)."]
    for sub in SUBCOMMANDS:
        lines.append(f"• `{SLASH_COMMAND} {sub.usage}` — {sub.summary}")
    return "\n".join(lines)


async def run(entry: Subcommand, services: Services, asked: Asked) -> Reply:
    """Run an entry's handler: with the incident (from the channel, or the first word) for `needs_incident`, and
    once per repeat for `acts_once` (decided in the store, shared by every replica). The incident is found first, so
    `/incident ack` in its channel and `/incident ack 42` elsewhere are the same command."""
    if entry.needs_incident:
        in_channel = await services.actions.in_incident_channel(asked.channel)
        ref, text = take_ref(asked.text, in_channel, text_follows=entry.takes_text, words_follow=entry.keeps_text,
                             subcommand=entry.name)
        asked = replace(asked, text=text, incident=await services.actions.incident(asked.channel, ref,
                                                                                    entry.name))
    if not entry.guarded(asked.text):
        return await entry.handler(services, asked)
    done = await services.repeats.command_once(lambda: entry.handler(services, asked), asked.user, entry.name,
                                               asked.text, asked.incident.id if asked.incident else asked.channel)
    return ALREADY_COMMANDED if done is None else done
