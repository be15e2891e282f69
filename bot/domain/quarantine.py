"""What a delivery set aside because it could not be applied queues (see the Inbox port): the operators' alert, and
for a role given from Slack (Take command, `/incident role`), word to the person who asked, who was told it was done.
"""

from __future__ import annotations

from bot.domain.alert_text import plain
from bot.domain.coordination import ROLE_ASSIGNED, RoleAssignment, command_from_json
from bot.domain.effects import AlertOperators, Effect, TellPerson


def delivery_quarantined(reference: str, source: str, event_type: str, incident_id: str | None,
                         reason: str, body: str = "") -> tuple[Effect, ...]:
    """The one operators' alert for a delivery set aside because it could not be applied (see the Inbox port), in
    one thread per sender and event type: a flood of deliveries the bot cannot read is one alert and its thread;
    and, for a role assignment recorded from Slack, the person who asked told it was not done (`role_not_given`)."""
    told = role_not_given(reference, body) if source == "slack" and event_type == ROLE_ASSIGNED else None
    return (_alert(reference, source, event_type, incident_id, reason), *((told,) if told else ()))


def role_not_given(reference: str, body: str) -> TellPerson | None:
    """The person whose Take command or `/incident role` was set aside: they were answered "… is now commander",
    and the seat stayed as it was. A Take command's id is one per incident, so the button cannot take the seat
    again: `/incident role` can. None when the body cannot be read (the operators' alert says what happened)."""
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
                f" have been told), so you are not its {role} and nobody leads it yet. To lead it, run "
                f"`/incident role {role} me` in its channel: the Take command button cannot take the seat any more.")
    else:
        what = (f"⚠️ Giving {plain(command.holder.name)} the {role} role of {which} could not be applied (reference "
                f"`{plain(reference)}`; the operators have been told), so the role was not changed. To give it, run "
                f"`/incident role {role} …` again in its channel.")
    return TellPerson(f"person:{command.by_slack_id}", command.by_slack_id, what)


def _alert(reference: str, source: str, event_type: str, incident_id: str | None, reason: str) -> AlertOperators:
    sender = {"pagerduty": "PagerDuty", "servicenow": "ServiceNow"}.get(source, plain(source))
    about = f", incident {plain(incident_id)}" if incident_id else ""
    return AlertOperators.grouped(f"quarantined:{source[:40]}:{event_type[:100]}", (
        f"🚨 Paved Road set aside a delivery it could not apply — reference `{reference}`: {sender} "
        f"{plain(event_type)}{about}. Reason: {plain(reason[:500])}. The deliveries after it are being applied. "
        f"`pavedroad inbox failed` lists it and the bot's logs have the details under the reference; once the cause "
        f"is fixed, `pavedroad inbox retry {reference}` applies it again."))
