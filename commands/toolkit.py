"""The incident manager's commands in Slack: `/incident role`, `/incident update`, `/incident priority`, the Take
command button (on the card and in the offer to a paged incident manager), the reminder's "Post an update" button
and the update form. Each handler calls one use case of bot/services/toolkit.py.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from slack_bolt.async_app import AsyncAck

from bot.domain.incident import Incident
from bot.domain.slack_text import blank, readable
from bot.errors import IntegrationError, UserError
from bot.render import status_updates as render
from bot.render.roles import OPEN_UPDATE_FORM, TAKE_COMMAND
from bot.services.actions import Outcome
from bot.services.toolkit import UPDATE_TEXT, IncidentToolkit
from commands.answers import Reply, answer, privately_in, through_response_url
from commands.form_checks import check_then_act
from commands.handlers import Asked, Services
from commands.in_flight import InFlight, Work, channel_of, user_of
from commands.modals import EXPIRED_TRIGGER_CODES
from commands.repeats import ALREADY_CLICKED

Listener = Callable[..., Awaitable[None]]


def _toolkit(s: Services) -> IncidentToolkit:
    if s.toolkit is None:
        raise UserError("Roles, status updates and priorities are not set up on this bot.")
    return s.toolkit


async def role(s: Services, asked: Asked) -> Reply:
    """`/incident role` lists the roles; `/incident role <role> <@someone|me>` assigns one."""
    toolkit = _toolkit(s)
    words = asked.text.split(maxsplit=1)
    if not words:
        return render.roles_text(asked.on, toolkit.roles)
    return await toolkit.assign_role(asked.user, asked.on, words[0], words[1] if len(words) > 1 else "")


async def update(s: Services, asked: Asked) -> Reply:
    """`/incident update <text>` publishes at once; without text, the form asks for the three parts."""
    text = (await s.actions.readable(asked.text)).strip()
    if not text:
        return await open_update_form(s, asked.on, asked.channel, asked.trigger_id)
    return await _toolkit(s).publish_update(asked.user, asked.on, text)  # refused, its text is quoted back


async def priority(s: Services, asked: Asked) -> Reply:
    return await _toolkit(s).set_priority(asked.user, asked.on, readable(asked.text))


async def open_update_form(s: Services, incident: Incident, channel: str, trigger_id: str) -> Reply:
    toolkit = _toolkit(s)
    try:
        await s.slack.open_modal(trigger_id, render.update_modal(incident, channel, toolkit.remind_after_minutes))
    except IntegrationError as error:
        if error.code in EXPIRED_TRIGGER_CODES:
            raise UserError("The form took too long to open (Slack allows 3 seconds). Please run the command or "
                            "click the button again.") from None
        raise
    return []


async def button(s: Services, user: str, channel: str, action: dict[str, Any], trigger_id: str) -> Reply:
    """Take command (acts once per double click), or open the update form."""
    incident = await s.actions.incident(channel, str(action.get("value") or "") or None)
    if action.get("action_id") == OPEN_UPDATE_FORM:
        return await open_update_form(s, incident, channel, trigger_id)
    done = await s.repeats.click_once(lambda: _toolkit(s).take_command(user, incident), user, TAKE_COMMAND,
                                      incident.id)
    return Outcome(ALREADY_CLICKED) if done is None else done


@dataclass(frozen=True)
class UpdateForm:
    """The update form as submitted."""

    user: str
    channel: str
    incident_id: str
    what: str
    impact: str
    next_in_minutes: int | None

    @classmethod
    def read(cls, body: dict[str, Any], view: dict[str, Any]) -> UpdateForm:
        values = view["state"]["values"]
        meta = json.loads(view.get("private_metadata") or "{}")
        choice = ((values.get(render.NEXT) or {}).get("choice") or {}).get("selected_option")
        minutes = str(choice.get("value") or "") if isinstance(choice, dict) else ""  # an object, unless forged
        return cls(str(body["user"]["id"]), str(meta.get("channel_id") or ""), str(meta.get("incident_id") or ""),
                   _typed(values, render.WHAT), _typed(values, render.IMPACT),
                   int(minutes) if minutes.isascii() and minutes.isdigit() and 0 < int(minutes) <= 24 * 60
                   else None)  # isdigit() alone passes "²", which int() refuses

    @property
    def typed(self) -> str:
        """Both parts as written, to quote back when the form has closed without them being used."""
        return f"{self.what}\n\n{self.impact}" if self.impact else self.what


def _typed(values: dict[str, Any], block: str) -> str:
    return str(((values.get(block) or {}).get("text") or {}).get("value") or "").strip()


def register(app: Any, services: Services, in_flight: InFlight) -> None:
    """The buttons and the form's submission (the subcommands are entries of commands/table.py); each says while its
    work is under way (commands/in_flight.py), as every listener does."""
    clicked = _button_clicked(services, in_flight)
    for action_id in (TAKE_COMMAND, OPEN_UPDATE_FORM):
        app.action(action_id)(clicked)
    app.view(render.UPDATE_MODAL)(_update_submitted(services, in_flight))


def _button_clicked(services: Services, in_flight: InFlight) -> Listener:
    async def toolkit_button_clicked(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        channel = channel_of(body)
        with in_flight.under_way(Work(f"button {action.get('action_id')}", user_of(body),
                                      str(action.get("value") or ""), channel)):
            await ack()  # before the click is read: one missing a field fails after the ack (logged), not as a 500
            user = str(body["user"]["id"])
            await answer(through_response_url(services.slack, str(body["response_url"])),
                         button(services, user, channel, action, str(body["trigger_id"])))
    return toolkit_button_clicked


def _update_submitted(services: Services, in_flight: InFlight) -> Listener:
    async def update_submitted(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        # Answered within Slack's deadline however slow PagerDuty or Slack is: a late refusal comes privately.
        form = UpdateForm.read(body, view)
        with in_flight.under_way(Work(f"form {render.UPDATE_MODAL}", form.user, form.incident_id, form.channel)):
            await check_then_act(ack, _update_errors(services, form), lambda: _publish(services, form),
                                 privately_in(services.slack, form.channel, form.user), form.typed)
    return update_submitted


async def _update_errors(s: Services, form: UpdateForm) -> dict[str, str]:
    if problem := _typed_problem(form):
        return problem
    try:  # someone PagerDuty does not know, or who may not post updates, is told in the form, text kept
        await s.actions.check_may_act(form.user, form.incident_id, action="update")
    except UserError as error:
        return {render.WHAT: str(error)[:2000]}
    return {}


def _typed_problem(form: UpdateForm) -> dict[str, str]:
    """What is wrong with what was typed, shown in the form so that none of it is lost: nothing said, or more than
    an update may hold (each field takes 3,000 characters; an update, 3,000 in all)."""
    if blank(form.what):  # (spaces or invisible characters alone, a zero-width space pasted: nothing said)
        return {render.WHAT: "Say what is happening: stakeholders read this first."}
    typed = len(form.what) + len(form.impact)
    if typed > UPDATE_TEXT:
        return {render.IMPACT if form.impact else render.WHAT: (
            f"An update is at most {UPDATE_TEXT} characters in all, with what is happening; this one is {typed} "
            "characters. Keep it short and put the details in the incident channel.")}
    return {}


async def _publish(s: Services, form: UpdateForm) -> Reply:
    async def publish() -> Reply:
        incident = await s.actions.incident(form.channel, form.incident_id or None)
        return await _toolkit(s).publish_update(form.user, incident, form.what, form.impact, form.next_in_minutes)
    done = await s.repeats.submission_once(publish, form.user, render.UPDATE_MODAL, form.what + form.impact,
                                           form.incident_id)
    return [] if done is None else done
