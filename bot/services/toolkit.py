"""The incident manager's toolkit: the use cases behind `/incident role`, `/incident update`, `/incident priority`,
the Take command button, and the reminders that a status update is due.

A role or a status update is the bot's own record (PagerDuty has no roles to hold them; the update reaches four
places): each is checked, then recorded in the inbox as a command (source "slack", see bot/domain/coordination.py)
before the person is answered, and the worker applies it in order with PagerDuty's events — its effects go out
through the outbox, once each, retried while PagerDuty or ServiceNow are down. A priority is PagerDuty's: it is set
there as the person, and the card, topic and ticket follow PagerDuty's webhook like any change made in PagerDuty.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Protocol

from bot.catalogue import Catalogue
from bot.domain.coordination import (
    COMMANDER,
    Command,
    ReminderDue,
    RoleAssignment,
    RoleHolder,
    StatusUpdate,
    StatusUpdatePosted,
    command_from_json,
    last_update_at,
    reminder_id,
    take_command_after,
    take_command_id,
)
from bot.domain.incident import Incident, Status
from bot.domain.slack_text import blank
from bot.errors import UserError
from bot.ports import Chat, Clock, Paging
from bot.ports.store import Inbox, Incidents, RecordsFromSlack, StoredRecord
from bot.render.format import clip, escape
from bot.services.actions import IncidentActions, Outcome, guarded
from bot.services.slack_inbox import record_all_from_slack, record_from_slack

_MENTION = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$")
_EMAIL = re.compile(r"^(?:<mailto:[^|>]+\|)?([^@\s<>|]+@[^@\s<>|]+\.[^@\s<>|]+?)>?$")
UPDATE_TEXT = 3_000  # what the form allows; a typed update is held to the same
# The reminders a run records in one transaction: all of them in a run of hundreds (one commit, not one each), and
# thousands in steps of this many, so that the store's thread (SQLite) or a pooled connection (PostgreSQL) is not held
# for one long transaction while webhooks wait to be stored: 500 take about 25 ms on SQLite (2,000: 110 ms), about what
# one of the worker's batches holds its thread (20 ms); on PostgreSQL their inserts go in one pipelined round trip.
REMINDERS_PER_TRANSACTION = 500
# A Take command beaten to the empty seat waits at most LOOKS times PAUSE for the winner's take to be applied,
# so as to say who leads; else "someone else", and the card says who.
TAKEN_FIRST_LOOKS, TAKEN_FIRST_PAUSE_SECONDS = 20, 0.1
# A Take command set aside (quarantined) leaves the seat empty, and a press after it is recorded under the successor of
# its id (`take_command_after`). While the cause lasts, each press sets aside one more (their alerts in one operators'
# thread); once the first take and this many successors are set aside in a row (11 takes), the button stops recording
# and says to use `/incident role`.
TAKES_SET_ASIDE_FOLLOWED = 10


class ToolkitStore(Inbox, RecordsFromSlack, Incidents, Protocol):
    """What the toolkit needs of the store: the inbox (commands are recorded there, and a Take command recorded
    first is read back) and the open incidents."""


class IncidentToolkit:
    def __init__(self, store: ToolkitStore, actions: IncidentActions, chat: Chat, paging: Paging,
                 catalogue: Catalogue, clock: Clock, wake: Callable[[], None], *, tickets: bool = False) -> None:
        """`wake`: the worker's, so a recorded command is applied at once; `tickets`: ServiceNow is configured."""
        self._store, self._actions, self._chat, self._paging = store, actions, chat, paging
        self._catalogue, self._clock, self._wake, self._tickets = catalogue, clock, wake, tickets

    @property
    def roles(self) -> list[str]:
        return list(self._catalogue.roles)

    @property
    def remind_after_minutes(self) -> int:
        return max(int(self._catalogue.status_updates.remind_after), 1)

    # -- roles -----------------------------------------------------------------------------------------------------

    async def assign_role(self, slack_user_id: str, incident: Incident, role: str, who: str, *,
                          take: bool = False) -> Outcome:
        """`take`: a Take command, on a seat seen empty — recorded only if no other take of it was (see
        `take_command_id`), and applied only if the seat is still empty then."""
        role = role.strip().lower()
        if role not in self._catalogue.roles:
            raise UserError(f"`{_shown(role)}` is not a role here. The roles are: "
                            + ", ".join(f"`{r}`" for r in self._catalogue.roles)
                            + ". E.g. `/incident role commander me`.")
        if incident.status is Status.RESOLVED:
            raise UserError(f"#{incident.number} is resolved: its roles are kept as they were.")
        await self._actions.may_act(slack_user_id, incident, "role")
        holder_id = await self._slack_user(slack_user_id, who)
        name = await guarded(self._chat.user_name(holder_id), "Slack")
        if name is None:
            raise UserError(f"I can't find {_shown(who)} in Slack, so I can't give them a role. Mention them "
                            "(`@name`), or say `me`.")
        current = next((h for h in incident.roles if h.role == role), None)
        if current is not None and current.slack_user_id == holder_id:
            return Outcome(f"{escape(name)} is already {role} of #{incident.number}.")
        by: str | None = name
        if holder_id != slack_user_id:
            by = await guarded(self._chat.user_name(slack_user_id), "Slack")
        record_id = await self._take_id(incident.id) if take else uuid.uuid4().hex
        if record_id is None:
            return Outcome(f"The last {TAKES_SET_ASIDE_FOLLOWED + 1} Take commands of #{incident.number} could not be "
                           "applied (the operators have been told), so nobody leads it yet. To lead it, "
                           f"`/incident role {COMMANDER} me`.")
        if not await self._record(RoleAssignment(record_id, incident.id, self._clock.now(),
                                                 RoleHolder(role, holder_id, name), slack_user_id, by or "someone",
                                                 vacant_only=take, incident_number=incident.number)):
            return await self._taken_first(slack_user_id, incident, record_id)
        return Outcome(f"👑 {escape(name)} is now {role} of #{incident.number}"
                       + (f", taking over from {escape(current.name)}." if current else "."))

    async def take_command(self, slack_user_id: str, incident: Incident) -> Outcome:
        """The Take command button: it offers an empty seat (on the card while nobody leads, and on the offer to a
        paged incident manager, which is never redrawn). Someone leading by the time it is clicked is not unseated
        by a stale button: the person is told who leads, and how to take over if that is what they mean."""
        current = incident.commander
        if current is not None and current.slack_user_id != slack_user_id and incident.status is not Status.RESOLVED:
            return Outcome(f"{escape(current.name)} already leads #{incident.number} as commander, so nothing was "
                           "changed. To take over from them, `/incident role commander me`.")
        return await self.assign_role(slack_user_id, incident, COMMANDER, "me", take=current is None)

    async def _take_id(self, incident_id: str) -> str | None:
        """The id to record a Take command under: one per incident (`take_command_id`), a compare-and-set on the
        empty seat; once that take was set aside, the successor of the last one set aside (`take_command_after`),
        which every replica derives alike. None past TAKES_SET_ASIDE_FOLLOWED set aside in a row."""
        record_id = take_command_id(incident_id)
        for _ in range(TAKES_SET_ASIDE_FOLLOWED + 1):
            recorded = await self._store.recorded_from_slack(record_id)
            if recorded is None or recorded.state != "failed":
                return record_id
            record_id = take_command_after(incident_id, recorded.reference or "")
        return None

    async def _taken_first(self, slack_user_id: str, incident: Incident, record_id: str) -> Outcome:
        """A Take command of the same empty seat was recorded before this one under `record_id` (one per incident,
        or per take set aside before): someone else's pressed at the same moment; this person's own, pressed again
        after the repeat window while the worker is behind (it has not filled the seat yet); or one set aside
        (quarantined) since it was looked up, which leaves the seat empty (a press after it records its successor).
        Who leads, as far as it is applied yet."""
        recorded = await self._store.recorded_from_slack(record_id)
        first = _take_in(recorded)
        number = incident.number
        if recorded is not None and recorded.state == "failed":
            whose = "Your" if first is not None and first.by_slack_id == slack_user_id else "An earlier"
            return Outcome(f"{whose} Take command of #{number} could not be applied (reference "
                           f"`{escape(recorded.reference or '?')}`; the operators have been told), so nobody leads it "
                           f"yet. To lead it, press Take command again, or `/incident role {COMMANDER} me`.")
        current = None
        for _ in range(TAKEN_FIRST_LOOKS):  # the worker applies it at once, unless its queue is long: to name them
            now = await self._store.incident(incident.id)
            if (current := now.commander if now is not None else None) is not None:
                break
            if first is not None and first.holder.slack_user_id == slack_user_id:
                break  # their own take, on its way: nothing to wait for
            await asyncio.sleep(TAKEN_FIRST_PAUSE_SECONDS)
        if current is not None and current.slack_user_id == slack_user_id:
            return Outcome(f"You already lead #{number} as commander.")
        if current is None and first is not None and first.holder.slack_user_id == slack_user_id:
            return Outcome(f"You are already the incident commander of #{number}: your first Take command is being "
                           "applied, and the card shows you in a moment. Nothing more to do.")
        leader = current.name if current is not None else first.holder.name if first is not None else None
        who = f"{escape(leader)} took" if leader is not None else "Someone else took"
        return Outcome(f"{who} command of #{number} just before you, so they lead it and nothing was "
                       "changed" + ("." if leader is not None else " (the card shows who in a moment).")
                       + " To take over from them, `/incident role commander me`.")

    async def _slack_user(self, slack_user_id: str, who: str) -> str:
        """The Slack user meant by `me`, an @mention or an email address."""
        who = who.strip()
        if who.lower() in ("me", "myself", "@me"):
            return slack_user_id
        mention = _MENTION.match(who)
        if mention:
            return mention.group(1)
        email = _EMAIL.match(who)
        if email:
            found = await guarded(self._chat.user_id_by_email(email.group(1)), "Slack")
            if found is None:
                raise UserError(f"Nobody in Slack has the email {_shown(email.group(1))}, so I can't give them a "
                                "role. Mention them (`@name`) once they have a Slack account.")
            return found
        if not who:
            raise UserError("Who should hold it? `/incident role &lt;role&gt; &lt;@someone|me&gt;`.")
        raise UserError(f"I can't tell who `{_shown(who)}` is: mention them (`@name`), give their email, or say "
                        "`me`.")

    # -- status updates --------------------------------------------------------------------------------------------

    async def publish_update(self, slack_user_id: str, incident: Incident, what: str, impact: str = "",
                             next_in_minutes: int | None = None) -> Outcome:
        what, impact = what.strip(), impact.strip()
        if blank(what):
            raise UserError("The update is empty: say what is happening, e.g. `/incident update Payments fail for "
                            "1 in 5 customers; rolling back the 10:02 deploy` — or `/incident update` alone for "
                            "the form.")
        if len(what) + len(impact) > UPDATE_TEXT:
            raise UserError(f"The update is too long for stakeholders to read ({len(what) + len(impact)} characters;"
                            f" at most {UPDATE_TEXT}). Keep it short and put details in the incident channel.")
        # PagerDuty's copy goes out as the person: someone without a PagerDuty account is told now, nothing sent.
        actor = await self._actions.identify(slack_user_id)
        await self._actions.check_may(actor, incident, "update")
        now = self._clock.now()
        # A resolved incident's update (the all-clear) promises stakeholders no next one: none will be asked for.
        due = None if incident.status is Status.RESOLVED else \
            now + timedelta(minutes=next_in_minutes or self.remind_after_minutes)
        update = StatusUpdate(id=f"update:{uuid.uuid4().hex}", at=now, author=actor.name, what=what, impact=impact,
                              next_due=due, author_slack_id=slack_user_id, author_email=actor.email)
        await self._record(StatusUpdatePosted(update.id, incident.id, now, update, incident_number=incident.number))
        return Outcome(f"📣 Your update on #{incident.number} is on its way to the incident's channel, "
                       f"#{escape(self._catalogue.stakeholders_channel_for(incident.service_id))}, PagerDuty"
                       + (" and the ServiceNow ticket." if self._tickets else ".")
                       + (f" Next one due by {due:%H:%M} UTC." if due else ""))

    # -- priority --------------------------------------------------------------------------------------------------

    async def set_priority(self, slack_user_id: str, incident: Incident, wanted: str) -> Outcome:
        priorities = await guarded(self._paging.priorities(), "PagerDuty")
        names = ", ".join(f"`{name}`" for _, name in priorities) or "none (priorities are off in this account)"
        chosen = next(((pid, name) for pid, name in priorities if name.lower() == wanted.strip().lower()), None)
        if not wanted.strip() or chosen is None:
            raise UserError((f"`{_shown(wanted)}` is not a priority in PagerDuty. " if wanted.strip() else
                             "Which priority? ") + f"The priorities are: {names}. E.g. `/incident priority P1`.")
        if incident.status is Status.RESOLVED:
            return Outcome(f"#{incident.number} is already resolved — its priority was left as it is.")
        if incident.priority == chosen[1]:
            return Outcome(f"#{incident.number} is already {escape(chosen[1])}.")
        actor = await self._actions.identify(slack_user_id)
        await self._actions.check_may(actor, incident, "priority")
        await guarded(self._paging.set_priority(incident.id, actor.email, chosen[0]), "PagerDuty", acts=True)
        return Outcome(f"🎚️ Set #{incident.number} to {escape(chosen[1])} in PagerDuty as {escape(actor.name)}; "
                       "the card, topic and ticket follow in a moment.")

    # -- reminders -------------------------------------------------------------------------------------------------

    async def remind_due(self) -> int:
        """Record a reminder for every open incident that needs status updates and whose next one is due (by the
        time its last update gave, else a whole interval after it; then every interval); each (incident, last update,
        interval) once, whoever asks and however often. Returns how many."""
        now = self._clock.now()
        every = timedelta(minutes=self._catalogue.status_updates.remind_after)
        due: list[ReminderDue] = []
        for incident in await self._store.open_incidents():
            if not self._wants_updates(incident):
                continue
            since = last_update_at(incident.status_updates, incident.triggered_at)
            # The first reminder when the last update said the next one would come (the form's choice), else a
            # whole interval after it; then every interval.
            latest = next((u for u in reversed(incident.status_updates) if u.at == since), None)
            first = latest.next_due if latest is not None and latest.next_due is not None else since + every
            if now >= first:
                interval = 1 + int((now - first) / every)
                due.append(ReminderDue(reminder_id(incident.id, since, interval), incident.id, now, since, interval))
        recorded = 0
        for start in range(0, len(due), REMINDERS_PER_TRANSACTION):
            recorded += await record_all_from_slack(self._store, due[start:start + REMINDERS_PER_TRANSACTION], now)
        if recorded:
            self._wake()
        return recorded

    def _wants_updates(self, incident: Incident) -> bool:
        named = {p.lower() for p in self._catalogue.status_updates.remind_priorities}
        return incident.urgency == "high" or (incident.priority or "").lower() in named

    async def _record(self, command: Command) -> bool:
        """False when a command of the same id was recorded before (nothing recorded now)."""
        stored = await record_from_slack(self._store, command, command.at)
        self._wake()
        return stored


def _take_in(recorded: StoredRecord | None) -> RoleAssignment | None:
    """The Take command a stored record holds (None: none stored, or one that cannot be read)."""
    try:
        command = command_from_json(recorded.body) if recorded is not None else None
    except ValueError:
        return None
    return command if isinstance(command, RoleAssignment) else None


def _shown(typed: str) -> str:
    readable = typed.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return escape(clip(" ".join(readable.split()), 100)).replace("`", "'")
