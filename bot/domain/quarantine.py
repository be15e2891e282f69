"""What a delivery set aside because it could not be applied queues (see the Inbox port): the operators' alert, and
for what a person asked from Slack and was answered as done or on its way — a role (Take command, `/incident role`),
a status update (`/incident update`), a follow-up (`/incident followup`) — word to that person of what was not done;
and to whoever marked a key message (📌), its mark or the message read back set aside, that it did not join. (Due
reminders answer nobody: the alert alone says what happened.)
"""

from __future__ import annotations

import re

from bot.domain.alert_text import plain
from bot.domain.contributions import (
    FOLLOW_UP,
    KEY_MESSAGE,
    KEY_MESSAGE_MARKED,
    FollowUpAdded,
    KeyMessage,
    KeyMessageMarked,
)
from bot.domain.contributions import from_json as contribution_from_json
from bot.domain.coordination import ROLE_ASSIGNED, UPDATE_POSTED, RoleAssignment, StatusUpdatePosted, command_from_json
from bot.domain.effects import AlertOperators, Effect
from bot.domain.effects.slack import TellPerson

# How much of their own words a person is shown back (to post them again): the rest they still have in Slack.
QUOTED_CHARS = 1_000
# A Slack channel id, safe to write as a channel mention (`<#C…>`, which Slack shows as the channel's name).
_CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]{2,40}$")


def delivery_quarantined(reference: str, source: str, event_type: str, incident_id: str | None,
                         reason: str, body: str = "", *, again: bool = False) -> tuple[Effect, ...]:
    """The one operators' alert for a delivery set aside because it could not be applied (see the Inbox port), in
    one thread per sender and event type: a flood of deliveries the bot cannot read is one alert and its thread;
    and, for what a person did from Slack, that person told it was not done (`role_not_given`,
    `update_not_published`, `follow_up_not_recorded`, `key_message_not_added`) — once: not `again`, set aside anew
    under its reference after an operator's `pavedroad inbox retry` (found in review: a second DM, its marker new with
    each queueing)."""
    tell = _TELL.get(event_type) if source == "slack" and not again else None
    told = tell(reference, body) if tell else None
    return (_alert(reference, source, event_type, incident_id, reason), *((told,) if told else ()))


def role_not_given(reference: str, body: str) -> TellPerson | None:
    """The person whose Take command or `/incident role` was set aside: they were answered "… is now commander",
    and the seat stayed as it was. The Take command button, still on the card, takes it again (a press after a take
    set aside is recorded under a successor id), as does `/incident role`. None when the body cannot be read (the
    operators' alert says what happened)."""
    try:
        command = command_from_json(body)
    except ValueError:
        return None
    if not isinstance(command, RoleAssignment) or not command.by_slack_id:
        return None
    which = f"#{command.incident_number}" if command.incident_number is not None else "the incident"
    role = plain(command.holder.role)
    if command.vacant_only:
        what = (f"⚠️ Your Take command of {which} could not be applied (reference `{plain(reference)}`; the operators"
                f" have been told), so you are not its {role} and nobody leads it yet. To lead it, press Take command "
                f"on its card again, or run `/incident role {role} me` in its channel.")
    else:
        what = (f"⚠️ Giving {plain(command.holder.name)} the {role} role of {which} could not be applied (reference "
                f"`{plain(reference)}`; the operators have been told), so the role was not changed. To give it, run "
                f"`/incident role {role} …` again in its channel.")
    return TellPerson(f"person:{command.by_slack_id}", command.by_slack_id, what)


def update_not_published(reference: str, body: str) -> TellPerson | None:
    """The author of a status update set aside: they were answered "Your update … is on its way", and it reached
    nobody — not the incident's channel, the stakeholders, PagerDuty nor the ticket (its effects are queued with the
    decision that was never stored). Their words are quoted back, to post again. None when the body cannot be read
    or names no author."""
    try:
        command = command_from_json(body)
    except ValueError:
        return None
    if not isinstance(command, StatusUpdatePosted) or not command.update.author_slack_id:
        return None
    which = f"#{command.incident_number}" if command.incident_number is not None else "the incident"
    what = (f"⚠️ Your status update on {which} could not be published (reference `{plain(reference)}`; the operators"
            f" have been told): it did not reach the incident's channel, the stakeholders, PagerDuty or the ticket. "
            f"To publish it, post it again with `/incident update …` in its channel. It read:\n"
            f"{_quoted(command.update.message)}")
    return TellPerson(f"person:{command.update.author_slack_id}", command.update.author_slack_id, what)


def follow_up_not_recorded(reference: str, body: str) -> TellPerson | None:
    """Whoever added a follow-up set aside: they were answered "Follow-up recorded", and it is on no list, review or
    ticket. Their words are quoted back. None when the body cannot be read or names nobody (older records)."""
    try:
        event = contribution_from_json(body)
    except ValueError:
        return None
    if not isinstance(event, FollowUpAdded) or not event.added_by_id:
        return None
    which = f"#{event.incident_number}" if event.incident_number is not None else "the incident"
    what = (f"⚠️ Your follow-up for {which} could not be recorded (reference `{plain(reference)}`; the operators have"
            f" been told): it is not on the incident's follow-ups, its review or its ticket. To record it, add it "
            f"again with `/incident followup …` in its channel. It read:\n{_quoted(event.text)}")
    return TellPerson(f"person:{event.added_by_id}", event.added_by_id, what)


def key_message_not_added(reference: str, body: str) -> TellPerson | None:
    """Whoever marked a message with 📌, its mark (`KeyMessageMarked`: the message never read) or the message read
    back (`KeyMessage`) set aside: the 📌 stays on the message in Slack, and it is not among the incident's key
    messages — not on its timeline, its review or its ticket. Marking it again adds nothing (a message's mark is one
    inbox row, the one set aside); an operator's `pavedroad inbox retry` adds it, and `/incident note` puts its words
    on the timeline (and so the ticket) meanwhile. The message's words are quoted back once read. None when the body
    cannot be read or names nobody (a read recorded before the marker's id was)."""
    try:
        event = contribution_from_json(body)
    except ValueError:
        return None
    if not isinstance(event, KeyMessage | KeyMessageMarked):
        return None
    marker = event.marked_by_id if isinstance(event, KeyMessage) else event.marked_by
    if not marker:
        return None
    where = f"<#{event.channel}>" if _CHANNEL_ID.match(event.channel) else "the incident's channel"
    whose = f"{plain(event.author)}'s message" if isinstance(event, KeyMessage) else "The message"
    what = (f"⚠️ {whose} you marked with 📌 in {where} could not be added to the incident's key messages (reference "
            f"`{plain(reference)}`; the operators have been told): it is not on its timeline, its review or its ticket."
            f" Marking it again adds nothing (it is the same mark); the operators can add it once the cause is fixed"
            f" (`/incident timeline` shows it then). To put its words on the timeline yourself, post them with "
            f"`/incident note …` in its channel.")
    if isinstance(event, KeyMessage):
        what += f" It read:\n{_quoted(event.text)}"
    return TellPerson(f"person:{marker}", marker, what)


def _quoted(text: str) -> str:
    """A person's own words in a quote, as they typed them (escaped: a mention in them notifies nobody again)."""
    clipped = text if len(text) <= QUOTED_CHARS else text[:QUOTED_CHARS - 1] + "…"
    return "\n".join(f"> {plain(line)}" for line in clipped.splitlines() or [""])


_TELL = {ROLE_ASSIGNED: role_not_given, UPDATE_POSTED: update_not_published, FOLLOW_UP: follow_up_not_recorded,
         KEY_MESSAGE_MARKED: key_message_not_added, KEY_MESSAGE: key_message_not_added}


def _alert(reference: str, source: str, event_type: str, incident_id: str | None, reason: str) -> AlertOperators:
    sender = {"pagerduty": "PagerDuty", "servicenow": "ServiceNow"}.get(source, plain(source))
    about = f", incident {plain(incident_id)}" if incident_id else ""
    return AlertOperators.grouped(f"quarantined:{source[:40]}:{event_type[:100]}", (
        f"🚨 Paved Road set aside a delivery it could not apply — reference `{reference}`: {sender} "
        f"{plain(event_type)}{about}. Reason: {plain(reason[:500])}. The deliveries after it are being applied. "
        f"`pavedroad inbox failed` lists it and the bot's logs have the details under the reference; once the cause "
        f"is fixed, `pavedroad inbox retry {reference}` applies it again."))
