"""The one path that asks for a resolution note or a message for the incident manager before acting.

`/incident resolve` and `/incident page-im` without text, and the card's Resolve and Page buttons, open the same
form; its submission acts through the same `Prompt`. A refusal about the person (a blank note, not allowed to
resolve) is shown in the form itself, so what they typed is not lost; one found only after Slack's deadline (a slow
PagerDuty: commands/form_checks.py) is told privately, with what they typed quoted back.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from bot.domain.incident import Incident, Status
from bot.domain.slack_text import blank
from bot.errors import IntegrationError, UserError
from bot.ports import Interactions
from bot.render import replies as render
from bot.render.card import PAGE_INCIDENT_MANAGER, RESOLVE
from bot.services.actions import IncidentActions, Outcome
from commands.answers import Reply
from commands.repeats import Repeats

EXPIRED_TRIGGER_CODES = ("expired_trigger_id", "invalid_trigger_id", "exchanged_trigger_id")


@dataclass(frozen=True)
class Prompt:
    """Something asked for in a form before acting."""

    button: str                                     # the card's button that asks for it
    form_id: str                                    # the form's callback_id
    field: str                                      # the form's input block
    form: Callable[[Incident, str], dict[str, Any]]  # the form for an incident, answered in a channel
    act: Callable[[IncidentActions, str, Incident, str], Awaitable[Outcome]]
    resolving: bool                                 # resolving may be kept to responders and incident managers
    when_resolved: str                              # said instead of opening the form on a resolved incident


RESOLUTION = Prompt(RESOLVE, render.RESOLVE_MODAL, "resolution", render.resolve_modal, IncidentActions.resolve,
                    resolving=True, when_resolved="there is nothing left to resolve. (PagerDuty's API cannot reopen a "
                    "resolved incident: if it is back, declare a new one with `/incident new`.)")
PAGE_MESSAGE = Prompt(PAGE_INCIDENT_MANAGER, render.PAGE_IM_MODAL, "message", render.page_im_modal,
                      IncidentActions.page_incident_manager, resolving=False, when_resolved="nobody was paged.")
PROMPTS = (RESOLUTION, PAGE_MESSAGE)
BY_BUTTON = {p.button: p for p in PROMPTS}
BY_FORM = {p.form_id: p for p in PROMPTS}


async def ask_or_act(prompt: Prompt, actions: IncidentActions, slack: Interactions, incident: Incident, *,
                     user: str, channel: str, trigger_id: str, text: str = "") -> Reply:
    """With the text given, act on it; without, ask for it in the form (the answer comes with its submission)."""
    if text:
        return await prompt.act(actions, user, incident, text)
    if incident.status is Status.RESOLVED:  # a form refused only once submitted loses what was typed into it
        return Outcome(f"#{incident.number} is already resolved — {prompt.when_resolved}")
    try:
        await slack.open_modal(trigger_id, prompt.form(incident, channel))
    except IntegrationError as error:
        if error.code in EXPIRED_TRIGGER_CODES:
            raise UserError("The form took too long to open (Slack allows 3 seconds). Please run the command or "
                            "click the button again.") from None
        raise
    return []


@dataclass(frozen=True)
class Submission:
    prompt: Prompt
    user: str
    channel: str
    incident_id: str
    text: str


def read_submission(body: dict[str, Any], view: dict[str, Any]) -> Submission:
    prompt = BY_FORM[str(view["callback_id"])]
    values = view["state"]["values"].get(prompt.field) or {}
    meta = json.loads(view.get("private_metadata") or "{}")
    return Submission(prompt, str(body["user"]["id"]), str(meta.get("channel_id") or ""),
                      str(meta.get("incident_id") or ""), str((values.get("text") or {}).get("value") or "").strip())


async def form_errors(submission: Submission, actions: IncidentActions) -> dict[str, str]:
    """What to show in the form instead of acting: nothing written, or why this person may not act."""
    field = submission.prompt.field
    if blank(submission.text):  # zero-width spaces too: they say nothing
        return {field: "Please write something here."}
    try:
        await actions.check_may_act(submission.user, submission.incident_id,
                                    action="resolve" if submission.prompt.resolving else "page")
    except UserError as error:
        return {field: str(error)[:2000]}
    return {}


async def act_on(submission: Submission, actions: IncidentActions, slack: Interactions, repeats: Repeats) -> Reply:
    """Act on a submitted form, once: the same form sent again within a few seconds is not acted on twice (unless
    the first failed)."""
    async def act() -> Reply:
        incident = await actions.incident(submission.channel, submission.incident_id or None)
        return await ask_or_act(submission.prompt, actions, slack, incident, user=submission.user,
                                channel=submission.channel, trigger_id="", text=submission.text)
    done = await repeats.submission_once(act, submission.user, submission.prompt.form_id, submission.text,
                                         submission.incident_id)
    return [] if done is None else done
