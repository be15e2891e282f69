"""One small handler per `/incident` subcommand (and one for the card's buttons), each calling one service.

A handler gets the services and what was asked; it returns what to tell the person (commands/answers.py says it)
or raises a `UserError`. Entries marked `needs_incident` in commands/table.py get the incident before they run.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from bot.domain.incident import Incident
from bot.domain.slack_text import blank, readable, unescaped
from bot.errors import IntegrationError, UserError
from bot.ports import CHANNEL_NOT_FOUND, Interactions
from bot.render import replies as render
from bot.render.follow_ups import follow_ups_text
from bot.render.format import escape
from bot.services.actions import IncidentActions, Outcome
from bot.services.channel_events import ChannelEvents
from bot.services.contributions import FOLLOW_UP_USAGE, Contributions
from bot.services.handovers import Handovers
from bot.services.home import AppHome
from bot.services.reports.incident_reports import IncidentReports
from bot.services.reviews import Reviews
from bot.services.toolkit import IncidentToolkit
from commands.answers import Reply
from commands.modals import BY_BUTTON, PAGE_MESSAGE, RESOLUTION, Prompt, ask_or_act
from commands.parsing import parse_declare, split_target
from commands.repeats import ALREADY_CLICKED, Repeats


@dataclass(frozen=True)
class Services:
    actions: IncidentActions
    slack: Interactions
    repeats: Repeats
    handovers: Handovers | None = None
    reports: IncidentReports | None = None
    contributions: Contributions | None = None
    reviews: Reviews | None = None
    toolkit: IncidentToolkit | None = None
    home: AppHome | None = None
    channels: ChannelEvents | None = None


@dataclass(frozen=True)
class Asked:
    """One `/incident` command: who asked, where, and what they wrote after the subcommand."""

    user: str
    user_name: str
    channel: str
    channel_name: str
    trigger_id: str
    text: str
    incident: Incident | None = None

    @classmethod
    def from_command(cls, command: dict[str, Any], text: str) -> Asked:
        return cls(user=str(command["user_id"]), user_name=str(command.get("user_name") or ""),
                   channel=str(command["channel_id"]), channel_name=str(command.get("channel_name") or ""),
                   trigger_id=str(command.get("trigger_id") or ""), text=text)

    @property
    def on(self) -> Incident:
        """The incident acted on (the table gives it to every entry marked needs_incident)."""
        if self.incident is None:
            raise RuntimeError("this subcommand is not marked needs_incident in commands/table.py")
        return self.incident


Handler = Callable[[Services, Asked], Awaitable[Reply]]


async def acknowledge(s: Services, asked: Asked) -> Reply:
    return await s.actions.acknowledge(asked.user, asked.on)


async def resolve(s: Services, asked: Asked) -> Reply:
    return await _ask_or_act(RESOLUTION, s, asked)


async def page_incident_manager(s: Services, asked: Asked) -> Reply:
    s.actions.incident_manager_policy()  # none configured: said now, not after the form is filled in
    return await _ask_or_act(PAGE_MESSAGE, s, asked)


async def _ask_or_act(prompt: Prompt, s: Services, asked: Asked) -> Reply:
    return await ask_or_act(prompt, s.actions, s.slack, asked.on, user=asked.user, channel=asked.channel,
                            trigger_id=asked.trigger_id, text=await s.actions.readable(asked.text))


async def page(s: Services, asked: Asked) -> Reply:
    target, message = split_target(asked.text)
    if not target:
        raise UserError("Who should I page? `/incident page <team|escalation policy|@someone> [message]`.")
    return await s.actions.page(asked.user, asked.on, target, await s.actions.readable(message))


async def note(s: Services, asked: Asked) -> Reply:
    return await s.actions.add_note(asked.user, asked.on, await s.actions.readable(asked.text))


async def status(s: Services, asked: Asked) -> Reply:
    timeline, dead = await s.actions.report(asked.on.id)
    return render.status_text(asked.on, timeline, dead, s.actions.now())


async def timeline(s: Services, asked: Asked) -> Reply:
    entries, _ = await s.actions.report(asked.on.id)
    return render.timeline_pages(asked.on, entries)


async def oncall(s: Services, asked: Asked) -> Reply:
    named = unescaped(asked.text)  # a name as typed, to look up: Slack sends a typed & as &amp;
    what = asked.text or "this incident's service"  # shown as Slack sent it: escaped, nothing in it is markup
    rota = s.handovers.find_rota(named) if s.handovers is not None and named else None
    if rota is None or s.handovers is None:
        return render.oncall_text(what, await s.actions.oncall(named, asked.channel))
    # A rota (who now, who next); when a team shares its name, its escalation policy's levels too.
    answers = [await s.handovers.on_call_now(rota.id)]
    with contextlib.suppress(UserError):  # not a team or service too: the rota's answer is the answer
        answers.append(render.oncall_text(what, await s.actions.oncall(named, asked.channel)))
    return answers


async def service(s: Services, asked: Asked) -> Reply:
    return await s.actions.service_coverage(unescaped(asked.text), asked.channel)


async def handover(s: Services, asked: Asked) -> Reply:
    """`/incident handover [rota] [post]`: in a rota's channel the rota is implied; elsewhere the first word names
    it."""
    handovers = _handovers(s)
    words = unescaped(asked.text).split()
    post = posts_handover(asked.text)
    rota = handovers.rota_for(" ".join(words[:-1] if post else words), asked.channel_name)
    if not post:
        return await handovers.so_far(rota.id)
    # Posted once for the rota and its shift whoever asks, on any replica: two people asking at once (in the
    # rota's channel, or naming it from elsewhere) make one post, and the second is pointed to it.
    marker = handovers.so_far_marker(rota.id)
    done = await s.repeats.post_once(lambda: handovers.post_so_far(rota.id, marker), marker)
    return await handovers.so_far_posted(rota.id, marker) if done is None else done


def posts_handover(text: str) -> bool:
    """`handover … post` puts the handover in the rota's channel; without `post` only the asker sees it."""
    words = text.split()
    return bool(words) and words[-1].lower() in ("post", "--post")


async def handover_note(s: Services, asked: Asked) -> Reply:
    """`/incident handover-note [rota] <text>`: a first word naming another rota leaves the note for that one; so does
    one naming a rota of a channel several rotas share (which the bot asks for there)."""
    handovers = _handovers(s)
    words = asked.text.split(maxsplit=1)  # any whitespace ends the rota's name: a newline after it too
    first, after = (words[0] if words else ""), (words[1] if len(words) > 1 else "")
    named = handovers.find_rota(unescaped(first)) if first else None
    here = handovers.rotas_of_channel(asked.channel_name)
    # In a channel of one rota, a first word naming it is the note's own ("payments are queueing"), not a choice.
    if named is not None and (named not in here or len(here) > 1):
        rota, text = named, after  # another rota's note left from here, or the one named of those sharing it
    else:
        rota, text = handovers.rota_for("", asked.channel_name, usage="handover-note"), asked.text
    author = asked.user_name or asked.user or "someone"
    return await handovers.leave_note(rota.id, author, readable(text))  # for Slack only: no names looked up


def _handovers(s: Services) -> Handovers:
    if s.handovers is None:
        raise UserError("Handovers are not available in this deployment.")
    return s.handovers


async def declare(s: Services, asked: Asked) -> Reply:
    # The flags are read from the text as Slack sent it, so a person's name cannot be read as one.
    title, service_ref, urgency = parse_declare(asked.text)
    return await s.actions.declare(asked.user, await s.actions.readable(title),
                                   readable(service_ref) if service_ref else None, readable(urgency), asked.channel)


async def report(s: Services, asked: Asked) -> Reply:
    """`/incident report`: the table and the chart, posted in the channel for everyone there (a report is for
    sharing); the person who asked is told where it went."""
    if s.reports is None:
        raise UserError("Reports are not set up on this bot.")
    rendered = await s.reports.render(s.reports.request(asked.text))
    # The table's groups are services and teams as PagerDuty named them: escaped, even inside a code block.
    table = escape(rendered.table)
    comment = f"*{escape(rendered.title)}* — asked by <@{asked.user}>\n```\n{table}```"
    try:
        await s.slack.upload_file(asked.channel, rendered.png, filename="incident-report.png", title=rendered.title,
                                  comment=comment,
                                  alt_text="MTTA and MTTR by month; revenue protection effectiveness by team")
    except IntegrationError as error:
        if error.code in CHANNEL_NOT_FOUND:
            raise UserError("I can't post in this channel: invite me (`/invite @pavedroad`) or run the report in a "
                            f"channel I'm in. The figures:\n```\n{table}```") from None
        raise
    return f"Posted the report ({rendered.incidents} incidents) in this channel."


async def follow_up(s: Services, asked: Asked) -> Reply:
    """`/incident followup <text> [@owner]`: an action item, into the review and onto the ServiceNow ticket."""
    if s.contributions is None:
        raise UserError("Follow-ups are not set up on this bot.")
    if blank(asked.text):
        raise UserError(FOLLOW_UP_USAGE)
    return await s.contributions.follow_up(user=asked.user, user_name=asked.user_name, incident=asked.on,
                                           text=asked.text)


async def follow_ups(s: Services, asked: Asked) -> Reply:
    return follow_ups_text(asked.on)


async def review(s: Services, asked: Asked) -> Reply:
    """`/incident review`: the review draft, posted in the incident's channel and attached to its ticket."""
    if s.reviews is None:
        raise UserError("Reviews are not set up on this bot.")
    return await s.reviews.ask(asked.on, user=asked.user, channel=asked.channel)


@dataclass(frozen=True)
class Pressed:
    """A click on one of the incident card's buttons."""

    user: str
    channel: str
    action_id: str
    incident_id: str
    trigger_id: str


async def card_button(s: Services, pressed: Pressed) -> Reply:
    """Resolve and Page ask in a form first; Acknowledge acts at once, once per double click."""
    incident = await s.actions.incident(pressed.channel, pressed.incident_id or None)
    prompt = BY_BUTTON.get(pressed.action_id)
    if prompt is PAGE_MESSAGE:  # none configured, on a card drawn before: said now, not after the form is filled in
        s.actions.incident_manager_policy()
    if prompt is not None:
        return await ask_or_act(prompt, s.actions, s.slack, incident, user=pressed.user, channel=pressed.channel,
                                trigger_id=pressed.trigger_id)
    # The button is `/incident ack` on its incident: a click and the command within seconds acknowledge once.
    done = await s.repeats.command_once(lambda: s.actions.acknowledge(pressed.user, incident), pressed.user, "ack",
                                        "", incident.id)
    return Outcome(ALREADY_CLICKED) if done is None else done
