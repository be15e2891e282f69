"""Acting on incidents from Slack: the use cases behind `/incident`, the card's buttons and the modals.

Every change is made in PagerDuty as the acting person (their Slack email → their PagerDuty user → the From
header); the channel then follows through PagerDuty's webhooks like any other change. A reason an action cannot
proceed is a `UserError` written for that person; PagerDuty's "already acknowledged/resolved" answers are reported
as the state of things, not as failures.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar

from bot.catalogue import Catalogue
from bot.domain.incident import Incident, Status
from bot.domain.slack_text import blank, unescaped
from bot.domain.timeline import TimelineEntry
from bot.errors import IntegrationError, OutcomeUnknown, UserError
from bot.ports import CHANNEL_ARCHIVED, CHANNEL_NOT_FOUND, Chat, Clock, OnCall, Paging, PagingUser
from bot.ports.store import Incidents, SlackFootprints
from bot.render.format import TITLE_IN_TEXT, clip, code_block, escape
from bot.services.calculator import describe_service, find_service
from bot.services.slack_text import SlackText

T = TypeVar("T")
IDENTITY_SECONDS = 600
NOT_FOUND_SECONDS = 60
_MENTION = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$")
# An incident as people name it: its PagerDuty number (18 digits at most: numbers are 64-bit integers) or its id.
# What reaches the store, not what a typed word must look like to be taken for an incident (commands/parsing.py
# takes only a number or an id as PagerDuty writes it, a subset of this): the card's buttons and the forms carry a
# stored incident's id as the bot wrote it, and a forged value of this shape is answered "I don't know incident".
_NUMBER = re.compile(r"[0-9]{1,18}")
_ID = re.compile(r"[A-Za-z0-9]{1,40}")


@dataclass(frozen=True)
class Outcome:
    """What to tell the person who acted."""

    text: str


class ActionsStore(Incidents, SlackFootprints, Protocol):
    """What acting on incidents reads from the store: the incidents, and which incident a channel is for."""


class IncidentActions:
    def __init__(self, store: ActionsStore, paging: Paging, chat: Chat, catalogue: Catalogue, clock: Clock) -> None:
        self._store, self._paging, self._chat, self._catalogue, self._clock = store, paging, chat, catalogue, clock
        self._identities: dict[str, tuple[float, PagingUser | str]] = {}
        self._channels: dict[str, str] = {}
        self._slack_text = SlackText(chat)

    # -- who and which ---------------------------------------------------------------------------------------

    async def identify(self, slack_user_id: str) -> PagingUser:
        """The PagerDuty user acting for this Slack user (cached for 10 minutes), or a UserError saying why not."""
        cached = self._identities.get(slack_user_id)
        # Someone just given a PagerDuty account should not wait ten minutes: "not found" is kept for one.
        ttl = IDENTITY_SECONDS if cached and not isinstance(cached[1], str) else NOT_FOUND_SECONDS
        if cached and time.monotonic() - cached[0] < ttl:
            found = cached[1]
        else:
            found = await self._lookup_identity(slack_user_id)
            self._identities[slack_user_id] = (time.monotonic(), found)
        if isinstance(found, str):
            raise UserError(found)
        return found

    async def _lookup_identity(self, slack_user_id: str) -> PagingUser | str:
        email = await self._guard(self._chat.user_email(slack_user_id), "Slack")
        if not email:
            return ("I can't see an email address on your Slack profile, so I can't find you in PagerDuty. "
                    "Ask a Slack admin to let apps see emails, then try again — or do it in PagerDuty directly.")
        user = await self._guard(self._paging.user_by_email(email), "PagerDuty")
        if user is None:
            return (f"There is no PagerDuty user with your Slack email ({email}), so I can't act for you in "
                    "PagerDuty. Ask your PagerDuty admin to add you with that email — meanwhile, ask a responder who "
                    "has a PagerDuty account to do it. Nothing was changed.")
        return user

    async def incident(self, channel_id: str, ref: str | None, subcommand: str = "status") -> Incident:
        """The incident named by `ref` (PagerDuty number or id), or the one whose channel this is. `subcommand`: the
        command asked, for the example its refusal gives (one copied must do what was asked, not acknowledge)."""
        example = f"`/incident {subcommand} 1234`"
        if ref:
            given, ref = ref, ref.strip().lstrip("#")
            if not _ID.fullmatch(ref):  # a number or an id, nothing else, reaches the store
                raise UserError(f"`{_shown(given)}` is not an incident number or id. Give its PagerDuty number (e.g. "
                                f"{example}) or run the command inside the incident's channel.")
            found = await (self._store.incident_by_number(int(ref)) if _NUMBER.fullmatch(ref)
                           else self._store.incident(ref.upper()))
            if found is None:
                raise UserError(f"I don't know incident `{ref}`. Give its PagerDuty number (e.g. {example}) or run "
                                "the command inside the incident's channel.")
            return found
        incident_id = await self._incident_of_channel(channel_id)
        incident = await self._store.incident(incident_id) if incident_id else None
        if incident is None:
            raise UserError("This isn't an incident channel, so I don't know which incident you mean. Run the "
                            f"command in the incident's channel, or give its number: {example}.")
        return incident

    async def report(self, incident_id: str) -> tuple[list[TimelineEntry], list[dict[str, Any]]]:
        """The incident's timeline, and the Slack updates that could not be made for it (dead effects)."""
        return await self._store.incident_report(incident_id)

    def now(self) -> datetime:
        return self._clock.now()

    async def readable(self, slack_text: str) -> str:
        """A command's text (Slack markup) as PagerDuty's and ServiceNow's readers read it (services/slack_text.py)."""
        return await self._slack_text.readable(slack_text)

    async def in_incident_channel(self, channel_id: str) -> bool:
        return await self._incident_of_channel(channel_id) is not None

    async def _incident_of_channel(self, channel_id: str) -> str | None:
        # An incident channel belongs to one incident for good: remembered after the first look.
        if channel_id not in self._channels:
            footprint = await self._store.footprint_by_channel(channel_id)
            if footprint is None or footprint.shared_channel:
                return None  # a team channel with cards of several incidents implies none of them
            self._channels[channel_id] = footprint.incident_id
        return self._channels[channel_id]

    # -- actions ---------------------------------------------------------------------------------------------

    async def acknowledge(self, slack_user_id: str, incident: Incident) -> Outcome:
        if incident.status is Status.RESOLVED:
            return Outcome(f"#{incident.number} is already resolved — there is nothing left to acknowledge. "
                           "(PagerDuty's API cannot reopen a resolved incident: if it is back, declare a new one "
                           "with `/incident new`.)")
        actor = await self.identify(slack_user_id)
        await self.check_may(actor, incident, "acknowledge")
        try:
            await self._guard(self._paging.acknowledge(incident.id, actor.email), "PagerDuty", acts=True)
        except AlreadyInState as state:
            return Outcome(f"#{incident.number} {state.state}.")
        return Outcome(f"✅ Acknowledged #{incident.number} in PagerDuty as {_name(actor.name)}.")

    async def resolve(self, slack_user_id: str, incident: Incident, note: str) -> Outcome:
        if blank(note):
            raise UserError("A resolution note is needed: say what fixed it, e.g. `/incident resolve rolled back "
                            "the 10:02 deploy`.")
        if incident.status is Status.RESOLVED:  # someone else was first: the note, typed in a form now closed, back
            return Outcome(f"#{incident.number} is already resolved — your note was not added. (PagerDuty's API "
                           "cannot reopen a resolved incident: if it is back, declare a new one with `/incident new`.)"
                           f"{_your_note(note)}")
        actor = await self.identify(slack_user_id)
        await self._check_may_resolve(actor, incident)
        # Resolve first: if that fails, nothing has changed and the person is told so. The note follows, and if it
        # alone fails, the person is told exactly that.
        try:
            await self._guard(self._paging.resolve(incident.id, actor.email, note.strip()), "PagerDuty", acts=True)
        except AlreadyInState as state:
            return Outcome(f"#{incident.number} {state.state} — your note was not added.{_your_note(note)}")
        try:
            await self._guard(self._paging.add_note(incident.id, actor.email, f"Resolution: {note.strip()}"),
                              "PagerDuty", acts=True)
        except OutcomeUnknown:  # added, maybe: adding it again blind may add it twice
            return Outcome(f"✅ Resolved #{incident.number} in PagerDuty as {_name(actor.name)}; the resolution note "
                           "may or may not have been added (PagerDuty did not answer properly). Look at the "
                           f"incident's notes in PagerDuty before adding it with `/incident note`.{_your_note(note)}")
        except UserError as error:
            # Not the error's own "so nothing was changed": the incident was resolved; only the note is missing.
            why = error.why if isinstance(error, NothingChanged) else str(error).rstrip(".")
            later = isinstance(error, NothingChanged) and error.later  # refused for good: the same again fails
            advice = ("Add it with `/incident note` when PagerDuty answers again, or in PagerDuty directly." if later
                      else error.advice if isinstance(error, NothingChanged) and error.advice
                      else "Add it in PagerDuty directly.")
            return Outcome(f"✅ Resolved #{incident.number} in PagerDuty as {_name(actor.name)}, but the resolution "
                           f"note could not be added: {why}. {advice}{_your_note(note)}")
        return Outcome(f"✅ Resolved #{incident.number} in PagerDuty as {_name(actor.name)}, with your note.")

    async def add_note(self, slack_user_id: str, incident: Incident, text: str) -> Outcome:
        if blank(text):
            raise UserError("The note is empty: `/incident note <what you found or did>`.")
        actor = await self.identify(slack_user_id)
        await self.check_may(actor, incident, "note")
        await self._guard(self._paging.add_note(incident.id, actor.email, text.strip()), "PagerDuty", acts=True)
        return Outcome(f"📝 Note added to #{incident.number} in PagerDuty as {_name(actor.name)}.")

    def incident_manager_policy(self) -> str:
        """The incident-manager rota's policy; none configured: said before a form opens, not once it is sent."""
        if (manager := self._catalogue.incident_manager) is None:
            raise UserError("No incident-manager rota is configured (`incident_manager.escalation_policy_id` in "
                            "the catalogue). Ask the platform team to set it; meanwhile page them in PagerDuty.")
        return manager.escalation_policy_id

    async def page_incident_manager(self, slack_user_id: str, incident: Incident, message: str) -> Outcome:
        return await self._page(slack_user_id, incident, [("escalation_policy", self.incident_manager_policy())],
                                message or f"Incident manager needed on #{incident.number}: {incident.title}",
                                "the incident-manager rota")

    async def page(self, slack_user_id: str, incident: Incident, target: str, message: str) -> Outcome:
        kind, target_id, label = await self._responder_target(target)
        return await self._page(slack_user_id, incident, [(kind, target_id)],
                                message or f"Your help is needed on #{incident.number}: {incident.title}", label)

    async def _page(self, slack_user_id: str, incident: Incident, targets: list[tuple[str, str]], message: str,
                    label: str) -> Outcome:
        if incident.status is Status.RESOLVED:  # refused: what they wrote is quoted back (commands/answers.py)
            raise UserError(f"#{incident.number} is already resolved — nobody was paged.")
        actor = await self.identify(slack_user_id)
        await self.check_may(actor, incident, "page")
        await self._guard(self._paging.request_responders(incident.id, actor, message, targets), "PagerDuty",
                          acts=True)
        return Outcome(f"📟 Paged {_name(label)} for #{incident.number} as {_name(actor.name)}: "
                       f"“{escape(clip(message, TITLE_IN_TEXT))}”")

    async def _responder_target(self, target: str) -> tuple[str, str, str]:
        mention = _MENTION.match(target.strip())
        if mention:
            email = await self._guard(self._chat.user_email(mention.group(1)), "Slack")
            user = await self._guard(self._paging.user_by_email(email), "PagerDuty") if email else None
            if user is None:
                raise UserError(f"{target} has no PagerDuty account (no PagerDuty user with their Slack email), so "
                                "they cannot be paged. Page their team or escalation policy instead. Nothing was "
                                "changed.")
            return "user", user.id, user.name
        name = unescaped(target.strip()).lstrip("@")  # as typed: Slack sends a typed & as &amp;
        team = next((t for t in self._catalogue.teams if name.lower() in (t.id.lower(), t.name.lower())), None)
        if team is not None:
            service = next((s for s in self._catalogue.services if s.team == team.id), None)
            policy = await self._guard(self._paging.service_escalation_policy(service.pagerduty_service_id),
                                       "PagerDuty") if service else None
            if policy:
                return "escalation_policy", policy, f"team {team.name}"
        found = await self._guard(self._paging.escalation_policy_named(name), "PagerDuty")
        if found:
            return "escalation_policy", found[0], found[1]
        raise UserError(f"I can't find `{_shown(name)}` as a team in the catalogue or an escalation policy in "
                        "PagerDuty. Use a team id (e.g. `basket`), an escalation policy's name, or an @mention.")

    async def check_may_act(self, slack_user_id: str, incident_id: str, *, action: str) -> None:
        """Raise UserError if this person cannot act (no PagerDuty account) or may not take `action` (a field of the
        catalogue's `permissions`) on this incident: a form asks before it is submitted."""
        actor = await self.identify(slack_user_id)
        incident = await self._store.incident(incident_id) if _ID.fullmatch(incident_id) else None
        if incident is not None:
            await self.check_may(actor, incident, action)

    async def may_act(self, slack_user_id: str, incident: Incident, action: str) -> PagingUser | None:
        """Raise UserError if the workspace's `permissions` keep `action` to the incident's responders and this
        person is not one (or has no PagerDuty account, so cannot be told apart); the person as PagerDuty knows them
        when they had to be looked up, None when anyone may."""
        if self.open_to_anyone(action):
            return None
        actor = await self.identify(slack_user_id)
        await self.check_may(actor, incident, action)
        return actor

    def open_to_anyone(self, action: str) -> bool:
        who: str = getattr(self._catalogue.permissions, action)
        return who == "anyone"

    async def _check_may_resolve(self, actor: PagingUser, incident: Incident) -> None:
        await self.check_may(actor, incident, "resolve")

    async def check_may(self, actor: PagingUser, incident: Incident, action: str) -> None:
        """Raise UserError if the workspace's `permissions` keep this action to the incident's responders."""
        if self.open_to_anyone(action):
            return
        responders = {p.id for p in incident.assignees} | set(incident.responders)  # (asked to respond, too)
        manager = self._catalogue.incident_manager
        if manager is not None:
            responders |= {o.user.id for o in await self._guard(self._paging.oncalls(
                manager.escalation_policy_id), "PagerDuty")}
        if actor.id not in responders:
            verb = {"acknowledge": "acknowledge it", "note": "add notes", "page": "page people",
                    "resolve": "resolve it", "role": "give its roles", "update": "post its status updates",
                    "priority": "change its priority"}[action]
            raise UserError(f"Only #{incident.number}'s responders and the incident managers may {verb} here "
                            f"(this workspace's policy). Ask one of them, or do it in PagerDuty if you may.")

    async def oncall(self, what: str, channel_id: str) -> list[OnCall]:
        """Who is on call now for a service or team (catalogue id or name), or for this incident's service."""
        service_id: str | None = None
        if what:
            wanted = what.lower()
            service = next((s for s in self._catalogue.services
                            if wanted in (s.id.lower(), s.name.lower(), s.pagerduty_service_id.lower())), None)
            team = next((t for t in self._catalogue.teams if wanted in (t.id.lower(), t.name.lower())), None)
            if service is None and team is not None:
                service = next((s for s in self._catalogue.services if s.team == team.id), None)
            if service is None:
                known = "; ".join(f"{kind}: {_some([i.id for i in items])}" for kind, items in (
                    ("services", self._catalogue.services), ("teams", self._catalogue.teams),
                    ("rotas", self._catalogue.rotas)) if items)
                raise UserError(f"I don't know `{_shown(what)}`: use a service, team or rota from the catalogue "
                                f"({known}).")
            service_id = service.pagerduty_service_id
        elif await self._incident_of_channel(channel_id) is None:  # no incident implied, and none can be named
            example = self._catalogue.services[0].id if self._catalogue.services else "checkout"
            raise UserError("Who is on call for what? Outside an incident channel, name a service, team or rota: "
                            f"`/incident oncall <service|team|rota>`, e.g. `/incident oncall {example}`.")
        else:
            service_id = (await self.incident(channel_id, None)).service_id
        policy = await self._guard(self._paging.service_escalation_policy(service_id), "PagerDuty")
        if policy is None:
            raise UserError(f"PagerDuty has no escalation policy for service {service_id}.")
        return await self._guard(self._paging.oncalls(policy), "PagerDuty")

    async def service_coverage(self, name: str, channel_id: str) -> str:
        """`/incident service [name]`: a service's band, availability target, error budget and on-call cover (see
        bot/services/calculator.py). Without a name, inside an incident channel: the incident's service."""
        if not name.strip() and (current := await self._incident_of_channel(channel_id)):
            incident = await self._store.incident(current)
            service = self._catalogue.service_by_pagerduty_id(incident.service_id) if incident else None
            if service is None:
                raise UserError("This incident's service is not in the catalogue, so it has no exposure band. "
                                "Name a catalogue service: `/incident service <name>`.")
            return describe_service(self._catalogue, service)
        return describe_service(self._catalogue, find_service(self._catalogue, name))

    async def declare(self, slack_user_id: str, title: str, service_ref: str | None, urgency: str,
                      channel_id: str = "") -> Outcome:
        if blank(title):
            raise UserError("Give the incident a title: `/incident new Checkout returns 500s --service checkout`.")
        if urgency not in ("high", "low"):
            raise UserError(f"Urgency must be `high` or `low`, not `{_shown(urgency)}`.")
        if service_ref is None and channel_id and (current := await self._incident_of_channel(channel_id)):
            incident = await self._store.incident(current)
            service_ref = incident.service_id if incident else None  # a new incident on the same service
        service = self._service_for(service_ref)
        actor = await self.identify(slack_user_id)
        created = await self._guard(self._paging.create_incident(actor.email, title.strip(),
                                                                 service.pagerduty_service_id, urgency), "PagerDuty",
                                   acts=True)
        shown_title = escape(clip(title.strip(), TITLE_IN_TEXT))
        return Outcome(f"🚨 Declared #{created.get('incident_number', '?')} “{shown_title}” on {service.name} "
                       f"({urgency} urgency) as {_name(actor.name)}. Its channel opens in a moment.")

    def _service_for(self, service_ref: str | None) -> _ServiceRef:
        services = self._catalogue.services
        if service_ref:
            wanted = service_ref.lower()
            for s in services:
                if wanted in (s.id.lower(), s.name.lower(), s.pagerduty_service_id.lower()):
                    return _ServiceRef(s.pagerduty_service_id, s.name)
            raise UserError(f"I don't know the service `{_shown(service_ref)}`. Known services: "
                            + ", ".join(f"`{s.id}`" for s in services) + ".")
        raise UserError("Which service? Add `--service <name>`, e.g. `/incident new Checkout returns 500s "
                        f"--service {services[0].id if services else 'checkout'}`.")

    async def _guard(self, call: Awaitable[T], service: str, *, acts: bool = False) -> T:
        """Await an outside call; turn its failure into words for the person who acted (`acts`: see `guarded`)."""
        return await guarded(call, service, acts=acts)


@dataclass(frozen=True)
class _ServiceRef:
    pagerduty_service_id: str
    name: str


# What to do once Slack refuses the bot's token (the error's `credentials_refused`), in words for whoever saw it fail.
TOKEN_FIX = ("A Slack admin must reinstall the Paved Road app, and whoever runs the bot put its new Bot User OAuth "
             "Token in SLACK_BOT_TOKEN and restart it.")




class NothingChanged(UserError):
    """An outside system refused the call, or was not there to take it, so it did not act: `why` says what happened
    ("PagerDuty is not answering right now"), for answers where something else did change (a resolve whose note
    failed); the error's own text adds "so nothing was changed" and what to do."""

    def __init__(self, why: str, advice: str = "", *, later: bool = False) -> None:
        super().__init__(f"{why}, so nothing was changed." + (f" {advice}" if advice else ""))
        self.why, self.advice = why, advice
        self.later = later  # not there, or rate-limiting: the same call later may go through (a refusal would not)


class AlreadyInState(UserError):
    """PagerDuty said the incident is already in the wanted state (codes 1001/1002): the state of things, not a
    failure. `state` says which, e.g. "is already resolved in PagerDuty"."""

    def __init__(self, state: str) -> None:
        super().__init__(f"The incident {state}.")
        self.state = state


async def guarded(call: Awaitable[T], service: str, *, acts: bool = False) -> T:
    """Await an outside call for someone acting in Slack; its failure becomes words for them (a UserError).
    `acts`: the call changes something (acknowledges, pages, notes): one that failed without a clear answer may have
    done it all the same (OutcomeUnknown). A look-up (who someone is, who is on call) changed nothing however it
    failed, and one failing before the action means the action was never sent."""
    try:
        return await call
    except IntegrationError as error:
        raise _for_people(error, service, acts) from None


def _for_people(error: IntegrationError, service: str, acts: bool) -> UserError:
    if error.code == "1001":
        return AlreadyInState("is already resolved in PagerDuty")
    if error.code == "1002":
        return AlreadyInState("is already acknowledged in PagerDuty")
    if error.rate_limited:
        return NothingChanged(f"{service} is rate-limiting us right now", "Try again in a minute.", later=True)
    if error.credentials_refused and error.service == "slack":  # every call fails alike until the token is replaced
        return NothingChanged(f"{service} no longer accepts the bot's token (the app was uninstalled or its token "
                              "revoked)", f"{TOKEN_FIX} Meanwhile, do it in PagerDuty directly.")
    if acts and error.outcome_unknown:  # no answer, or a 500/502/504: it may have acted; a retry may act twice
        return OutcomeUnknown(f"{service} did not answer properly, so it may or may not have done it. Look at the "
                              f"incident in {service} before trying again.")
    if error.retryable:
        # Slack failing a look-up (who you are) or a post: "do it in Slack directly" would mean nothing.
        elsewhere = "" if service == "Slack" else f", or do it in {service} directly"
        return NothingChanged(f"{service} is not answering right now", f"Try again in a minute{elsewhere}.",
                              later=True)
    # (A channel's codes only: the workspace's access rules refuse other calls too, a look-up of who typed it.)
    if error.service == "slack" and error.code in CHANNEL_NOT_FOUND + CHANNEL_ARCHIVED:
        return NothingChanged(f"Slack refused it: I can't post in that channel (`{error.code}`)",
                              "Invite me there (`/invite @pavedroad`) and try again; if the channel is archived or "
                              "gone, ask its owner, or the platform team to change the catalogue.")
    if error.status in (401, 403):
        return NothingChanged(f"{service} refused the bot's credentials or permissions",
                              "Tell the platform team (the bot's API key may have been revoked); meanwhile do it in "
                              f"{service} directly.")
    reason = error.detail.split(": ", 1)[-1]  # the service's own words, without our method and path
    return NothingChanged(f"{service} refused it ({escape(clip(reason, 300))})")


def _some(ids: list[str], shown: int = 8) -> str:
    """The first few catalogue ids, and how many more: the whole list of 75 services would bury the answer."""
    listed = ", ".join(f"`{_shown(i)}`" for i in ids[:shown])
    return listed + (f" and {len(ids) - shown} more" if len(ids) > shown else "")


def _your_note(note: str) -> str:
    """A note that was not added, quoted back whole: after a form, nothing else holds what the person wrote."""
    return f"\n\nYour note, to add again:\n{code_block(note.strip())}"


def _name(name: str) -> str:
    """A name from PagerDuty (a person, an escalation policy) in a Slack answer: escaped, and short."""
    return escape(clip(name, 200))


def _shown(typed: str) -> str:
    """What someone typed (Slack sends it escaped), shown back as typed inside `code`: short, escaped, no backtick."""
    return escape(clip(" ".join(unescaped(typed).split()), 100)).replace("`", "'")
