"""The App Home tab: what a person sees when they open the app in Slack, published with `views.publish`.

Gathered for one Slack user: their PagerDuty user (Slack email → PagerDuty), the open incidents (only the open ones
are read from the store) — theirs (assigned, or holding a role) and all — with each one's channel; who is on call
now for their teams and rotas (the catalogue's `members` say whose teams and product domains they are — the
catalogue as last loaded: a reload takes effect here at once, `use`; PagerDuty's
schedules and escalation policies say who is on call); and the handover notes waiting on those rotas. Published when
they open the Home (`app_home_opened`); by `refresh_soon` when an incident that concerns them is acknowledged,
resolved or reassigned (asked by whoever stored the change, once it is stored: `Decision.homes`) or its channel opens
(asked by the channel's opening, so the Home links it); and, by `refresh_rota`, for everyone whose Home shows a rota
when a handover note is left on it or its handover is posted at a shift change — those refreshes a second later and
in the background, once per person for a burst of changes (`SETTLE_SECONDS`), by this replica's publisher (each
replica publishes what it asked for, from the shared store). A person without a PagerDuty account still gets
the open incidents, with a line saying why their own are missing. PagerDuty's answers are shared for a minute, a
failure too (bot/services/home_answers.py); PagerDuty not answering, the Home keeps what PagerDuty last said — who the
person is, and so their own incidents, who is on call — saying when it was looked up, and only what it never said is
"unknown".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Protocol

from bot.catalogue import Catalogue, Rota, Team
from bot.domain.home import HomesToRefresh, concerns, most_pressing
from bot.errors import IntegrationError
from bot.ports import Chat, Clock, Paging, PagingUser
from bot.ports.store import HandoverLedger, Incidents, SlackFootprints
from bot.render.home import (
    MOST_INCIDENTS,
    HomeContent,
    HomeIncident,
    OnCallNow,
    WaitingNote,
    home_view,
    looked_up_when,
)
from bot.services.home_answers import SharedAnswers
from bot.services.people import People

log = logging.getLogger(__name__)
_NOW = timedelta(minutes=1)  # "on call now": whoever a schedule has on call over the next minute
# A refreshed Home is published this long after the change that asked for it, so that a burst of changes (a storm's
# incidents, a batch acknowledged) publishes it once with the latest state, not once a change.
SETTLE_SECONDS = 1.0
HOME_OFF_PAUSE_SECONDS = 600  # refreshes not asked for after Slack says the app has no Home tab
# What the Home says when Slack does not say who the person is (users.info failing: rate-limited, down).
SLACK_SILENT = ("Slack did not say who you are just now (its users.info failed), so your own incidents and rotas "
                "could not be found; open the tab again in a moment.")
LOOKUP_PAUSE_SECONDS = 30.0  # people not looked up for a refresh after a lookup failed (PagerDuty or Slack down)


class HomeStore(Incidents, SlackFootprints, HandoverLedger, Protocol):
    """What the Home reads: open incidents, their channels, and the handover notes waiting."""


class AppHome:
    def __init__(self, store: HomeStore, chat: Chat, paging: Paging, people: People, catalogue: Catalogue,
                 clock: Clock, settle_seconds: float = SETTLE_SECONDS) -> None:
        self._store, self._chat, self._paging = store, chat, paging
        self._people, self._catalogue, self._clock = people, catalogue, clock
        # PagerDuty's answers for the current minute of the bot's clock ("on call now" at a minute's resolution):
        # a burst of incidents refreshing the same people's Homes asks PagerDuty once a minute, not once a Home.
        self._answers = SharedAnswers(clock)
        # Catalogue members' Slack user ids, once found (users.lookupByEmail is rate-limited harder than the rest): a
        # handover refreshing a rota's Homes twice a day asks Slack once per person, not once per refresh.
        self._slack_ids: dict[str, str] = {}
        # A burst of changes concerning the same people publishes each one's Home once (`_publish_soon`).
        self._settle = settle_seconds
        self._due: set[str] = set()  # whose Home is to be published (again)
        self._publishers: dict[str, asyncio.Task[None]] = {}
        # `refresh_soon`'s people not yet known here (PagerDuty user ids), looked up by one task at a time: a burst of
        # changes concerning them asks once, not once per change; after a failed lookup (PagerDuty or Slack down),
        # none until `_lookups_paused_until` (the event loop's time).
        self._unknown: set[str] = set()
        self._finder: asyncio.Task[None] | None = None
        # `refresh_rota`'s members not yet known in Slack (emails), looked up in the background likewise.
        self._unknown_members: set[str] = set()
        self._member_finder: asyncio.Task[None] | None = None
        self._lookups_paused_until = 0.0
        self._closed = False
        self._paused_until = 0.0  # the event loop's time until which refreshes are not asked (`not_enabled`)

    def use(self, catalogue: Catalogue) -> None:
        """Build Homes from this catalogue from now on (a reload: whose teams and rotas, the rotas a change refreshes
        the Homes of). What PagerDuty said of a rota whose schedules the reload changes, or of a team whose first
        service it changes, is forgotten: it was said of another schedule or policy."""
        old, self._catalogue = self._catalogue, catalogue
        self._answers.forget([f"rota:{r.id}" for r in catalogue.rotas
                              if (was := old.rota(r.id)) is None or was.schedule_ids != r.schedule_ids]
                             + [f"team:{t.id}" for t in catalogue.teams
                                if _first_service(old, t.id) != _first_service(catalogue, t.id)])

    async def publish(self, slack_user_id: str, *, opened: bool = False) -> None:
        """Gather and publish the Home for one Slack user. `opened`: they opened the tab themselves. What PagerDuty
        failed to answer this minute is not asked again until the minute is over, for an opening as for a refresh (in
        a rate-limit storm, each opening asking again would feed it): the Home says when it asks again. Slack not
        saying who they are, only their opening publishes the Home without their own (a refresh leaves the one they
        had)."""
        try:
            email = await self._chat.user_email(slack_user_id)
        except IntegrationError:
            if not opened:
                # A refresh: the Home last published (their own incidents and rotas in it) is worth more than one
                # without them, and nothing is gathered for it; the one saying why is for them opening the tab.
                raise
            log.warning("App Home of %s published without their own incidents and rotas: Slack did not say who they "
                        "are", slack_user_id, exc_info=True)
            content = await self.content(slack_user_id, None, slack_answered=False)
        else:
            content = await self.content(slack_user_id, email)
        await self._chat.publish_home(slack_user_id, home_view(content))

    def refresh_soon(self, homes: HomesToRefresh) -> None:
        """`refresh_for` without waiting, for a change just stored or a channel just opened: never raises, never
        blocks its caller (a webhook's answer may wait on it). Assignees this process knows in Slack are asked for at
        once; the others are looked up in the background first."""
        if self._closed or not (homes.pagerduty_user_ids or homes.slack_user_ids):
            return
        known = [self._people.remembered(p) for p in homes.pagerduty_user_ids]
        self._publish_each([*(r.slack_user_id for r in known if r is not None and r.slack_user_id),
                            *homes.slack_user_ids])
        unknown = [p for p, r in zip(homes.pagerduty_user_ids, known, strict=True) if r is None]
        if not unknown or asyncio.get_running_loop().time() < self._lookups_paused_until:
            return
        self._unknown.update(unknown)
        if self._finder is None:
            self._finder = asyncio.ensure_future(self._find_and_refresh())

    async def _find_and_refresh(self) -> None:
        """Look up the people `refresh_soon` did not know, all asked meanwhile at once, until none is left."""
        try:
            while self._unknown:
                asked, self._unknown = sorted(self._unknown), set()
                try:
                    responders = await self._people.responders(asked)
                except Exception as error:  # nobody awaits this task: logged here, and lookups rest a while
                    self._unknown.clear()
                    self._lookups_paused_until = asyncio.get_running_loop().time() + LOOKUP_PAUSE_SECONDS
                    log.warning("App Homes of %d people not refreshed: who they are in Slack could not be found "
                                "(%s); no such lookup for %.0f s", len(asked), error, LOOKUP_PAUSE_SECONDS)
                    return
                self._publish_each([r.slack_user_id for r in responders if r.slack_user_id])
        finally:
            self._finder = None

    async def refresh_for(self, pagerduty_user_ids: Sequence[str], slack_user_ids: Sequence[str] = ()) -> None:
        """Publish the Home again, `settle_seconds` from now and in the background, for these PagerDuty users who are
        in Slack, and these Slack users (role holders). Best effort: the next opening of the tab rebuilds the Home
        anyway, so a failure is logged, not raised (a RefreshHomes row an earlier version queued runs it in the
        incident's Slack queue, which a retry would hold up)."""
        try:
            responders = await self._people.responders(pagerduty_user_ids)
        except IntegrationError as error:
            log.warning("App Homes not refreshed: PagerDuty or Slack did not say who they are (%s)", error)
            return
        in_slack = [r.slack_user_id for r in responders if r.slack_user_id]
        self._publish_each([*in_slack, *slack_user_ids])

    async def refresh_rota(self, rota_id: str) -> None:
        """Publish the Home again for everyone whose Home shows this rota (a note left on it, its handover posted).
        Best effort, like `refresh_for`, and it never waits for Slack: members not yet known in Slack are looked up
        in the background (users.lookupByEmail is paced at 50 a minute for the whole app: the handover effect, or the
        note's answer, that asked must not hold a Slack lane's slot, or the person, for those lookups)."""
        if self._closed:
            return
        members = self.rota_members(rota_id)
        self._publish_each([self._slack_ids[e] for e in members if e in self._slack_ids])
        unknown = [e for e in members if e not in self._slack_ids]
        if not unknown or asyncio.get_running_loop().time() < self._lookups_paused_until:
            return
        self._unknown_members.update(unknown)
        if self._member_finder is None:
            self._member_finder = asyncio.ensure_future(self._find_members())

    async def _find_members(self) -> None:
        """Look up the rota members `refresh_rota` did not know, one at a time, publishing each one's Home as found."""
        try:
            while self._unknown_members:
                email = min(self._unknown_members)
                self._unknown_members.discard(email)
                try:
                    slack_user_id = await self._slack_id(email)
                except Exception as error:  # nobody awaits this task: logged here, and lookups rest a while
                    self._unknown_members.clear()
                    self._lookups_paused_until = asyncio.get_running_loop().time() + LOOKUP_PAUSE_SECONDS
                    log.warning("App Homes of rota members not refreshed: Slack did not say who %s is (%s); no such "
                                "lookup for %.0f s", email, error, LOOKUP_PAUSE_SECONDS)
                    return
                if slack_user_id:
                    self._publish_each([slack_user_id])
        finally:
            self._member_finder = None

    def _publish_each(self, slack_user_ids: Sequence[str]) -> None:
        for slack_user_id in dict.fromkeys(slack_user_ids):
            self._publish_soon(slack_user_id)

    def _publish_soon(self, slack_user_id: str) -> None:
        """Publish this person's Home `settle_seconds` from now, from what the store holds then: every refresh asked
        meanwhile shares that one publish (latest state wins), and one asked while it is being published gets
        another after it. Nobody waits for it: the refresh is best effort, and its effect need not hold its queue."""
        if self._closed:  # an effect finishing during shutdown: nobody would be left to publish it
            return
        if asyncio.get_running_loop().time() < self._paused_until:  # the app has no Home tab (`not_enabled`)
            return
        self._due.add(slack_user_id)
        if slack_user_id not in self._publishers:
            task = asyncio.ensure_future(self._publisher(slack_user_id))
            self._publishers[slack_user_id] = task

    async def _publisher(self, slack_user_id: str) -> None:
        try:
            while slack_user_id in self._due:
                await asyncio.sleep(self._settle)
                self._due.discard(slack_user_id)  # asked again from here on: published again after this one
                if asyncio.get_running_loop().time() < self._paused_until:
                    break
                try:
                    await self.publish(slack_user_id)
                except IntegrationError as error:
                    if error.code != "not_enabled":
                        log.warning("App Home of %s not refreshed: %s", slack_user_id, error)
                        continue
                    # Nobody's Home will publish: say so once, and ask again only after a pause (the tab may be
                    # turned on meanwhile; opening it still publishes at once).
                    if asyncio.get_running_loop().time() >= self._paused_until:  # not said by another person's
                        log.warning("App Homes not refreshed for %d minutes: the Slack app has no Home tab (Slack "
                                    "answered not_enabled; app_manifest.yml's features.app_home.home_tab_enabled "
                                    "turns it on)", HOME_OFF_PAUSE_SECONDS // 60)
                    self._paused_until = asyncio.get_running_loop().time() + HOME_OFF_PAUSE_SECONDS
                except Exception:  # nobody awaits this task: the last guard, so the next refresh still publishes
                    log.exception("App Home of %s not refreshed", slack_user_id)
        finally:
            self._due.discard(slack_user_id)
            del self._publishers[slack_user_id]

    @property
    def publishing(self) -> int:
        """How many people's Homes are due to be published or being published (each lookup under way of people not
        yet known counts as one)."""
        return len(self._publishers) + (self._finder is not None) + (self._member_finder is not None)

    async def close(self) -> None:
        """Drop the publishes not yet made (best effort: the next opening of the tab rebuilds the Home)."""
        self._closed = True
        finder = [t for t in (self._finder, self._member_finder) if t is not None]
        for task in finder:
            task.cancel()
        for task in list(self._publishers.values()):
            task.cancel()
        for task in [*finder, *self._publishers.values()]:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _slack_id(self, email: str) -> str | None:
        if email not in self._slack_ids:
            found = await self._chat.user_id_by_email(email)
            if found is None:  # not in Slack (yet): asked again next time
                return None
            self._slack_ids[email] = found
        return self._slack_ids[email]

    def rota_members(self, rota_id: str) -> list[str]:
        """The emails whose Home shows this rota: `_teams_and_rotas` inverted — the catalogue `members` of the rota's
        team and of its product domain."""
        rota = self._catalogue.rota(rota_id)
        if rota is None:
            return []
        members = [m for t in self._catalogue.teams if t.id == rota.team for m in t.members]
        members += [m for d in self._catalogue.domains if d.id == rota.domain for m in d.members]
        return list(dict.fromkeys(m.lower() for m in members))

    async def content(self, slack_user_id: str, email: str | None, *, slack_answered: bool = True) -> HomeContent:
        """What the Home shows `slack_user_id`, whose email Slack gave (None: their profile has none), unless Slack
        did not answer who they are (`slack_answered`: the open incidents need no email, shown without their own)."""
        person: PagingUser | None = None
        problem: str | None = SLACK_SILENT
        answered = False  # PagerDuty said who the person is (or that nobody is)
        if slack_answered:
            person, problem, answered = await self._person(email)
        open_incidents = await self._store.open_incidents()
        if len(open_incidents) > MOST_INCIDENTS:  # a storm: the ones the Home shows are the most pressing
            open_incidents.sort(key=most_pressing)
        mine = [i for i in open_incidents if concerns(i, person.id if person else None, slack_user_id)]
        # Channels are looked up only for the incidents the Home lists (each list is cut at MOST_INCIDENTS).
        shown = {i.id: i for i in (*mine[:MOST_INCIDENTS], *open_incidents[:MOST_INCIDENTS])}
        channels = await self._store.channels_of(list(shown))
        teams, rotas = self._teams_and_rotas(email)
        on_call = await self._on_call(teams, rotas)
        waiting = await self._store.waiting_notes_of([r.id for r in rotas])  # one store call for all the rotas
        notes = [WaitingNote(r.name, n.author, n.text) for r in rotas for n in waiting[r.id]]
        return HomeContent(
            name=person.name if person else (email or ""),  # (not their user id: "Paved Road" alone)
            mine=tuple(HomeIncident(i, channels.get(i.id)) for i in mine),
            open=tuple(HomeIncident(i, channels.get(i.id)) for i in open_incidents), on_call=tuple(on_call),
            notes=tuple(notes), now=self._clock.now(), problem=problem, mine_unknown=not answered,
            rotas_unknown=not email)

    async def _person(self, email: str | None) -> tuple[PagingUser | None, str | None, bool]:
        """(the person in PagerDuty, what could not be found and why, whether PagerDuty answered who they are: an
        answer of nobody means no incident can be assigned to them; no answer, that their own are unknown)."""
        if not email:
            return None, ("Your Slack profile shows no email address, so I can't find you in PagerDuty or the "
                          "catalogue: your own incidents and rotas are not shown."), False
        key = f"user:{email.lower()}"
        try:
            user = await self._answers.ask(key, lambda: self._paging.user_by_email(email))
        except IntegrationError:
            kept = self._answers.last_good(key)
            if kept is not None and kept.value is not None:  # who they are in PagerDuty does not change in a minute
                return kept.value, (f"PagerDuty is not answering, so what it says is as last looked up: your own "
                                    "incidents are matched to your PagerDuty account as looked up "
                                    f"{looked_up_when(kept.at, self._clock.now())}, and "
                                    "each on-call line says when; the Home asks PagerDuty again after "
                                    f"{self._answers.asked_again_at():%H:%M} UTC."), True
            return None, ("PagerDuty is not answering, so your own incidents could not be found; open the tab "
                          f"again after {self._answers.asked_again_at():%H:%M} UTC."), False
        if user is None:
            return None, (f"There is no PagerDuty user with your Slack email ({email}), so no incident can be "
                          "assigned to you. Ask your PagerDuty admin to add you with that email."), True
        return user, None, True

    def _teams_and_rotas(self, email: str | None) -> tuple[list[Team], list[Rota]]:
        """The person's teams and product domains are those whose catalogue `members` list their email; their rotas
        are those teams' and domains' rotas."""
        wanted = (email or "").lower()
        teams = [t for t in self._catalogue.teams if wanted and wanted in (m.lower() for m in t.members)]
        domains = {d.id for d in self._catalogue.domains if wanted and wanted in (m.lower() for m in d.members)}
        team_ids = {t.id for t in teams}
        rotas = [r for r in self._catalogue.rotas if r.team in team_ids or r.domain in domains]
        return teams, rotas

    async def _on_call(self, teams: Sequence[Team], rotas: Sequence[Rota]) -> list[OnCallNow]:
        """Each rota from its schedules; a team without a rota from its first service's escalation policy."""
        with_rota = {r.team for r in rotas}
        lines = list(await asyncio.gather(*(self._rota_on_call(r) for r in rotas)))
        lines += await asyncio.gather(*(self._team_on_call(t) for t in teams if t.id not in with_rota))
        return lines

    async def _rota_on_call(self, rota: Rota) -> OnCallNow:
        return await self._kept_on_call(f"rota:{rota.id}", lambda: self._ask_rota(rota))

    async def _team_on_call(self, team: Team) -> OnCallNow:
        return await self._kept_on_call(f"team:{team.id}", lambda: self._ask_team(team))

    async def _kept_on_call(self, key: str, ask: Callable[[], Awaitable[OnCallNow]]) -> OnCallNow:
        """Who is on call now; PagerDuty not answering, who it last said was, as of then (else unknown)."""
        line = await self._answers.ask(key, ask, failed=lambda answer: answer.names is None)
        kept = self._answers.last_good(key) if line.names is None else None
        return line if kept is None else replace(kept.value, label=line.label, as_of=kept.at)

    async def _ask_rota(self, rota: Rota) -> OnCallNow:
        now = self._clock.now()
        try:
            entries = [e for s in rota.schedule_ids for e in await self._paging.schedule_entries(s, now, now + _NOW)]
        except IntegrationError:
            return OnCallNow(rota.name, None)
        return OnCallNow(rota.name, tuple(dict.fromkeys(e.name for e in entries if e.start <= now < e.end)))

    async def _ask_team(self, team: Team) -> OnCallNow:
        service = _first_service(self._catalogue, team.id)
        if service is None:
            return OnCallNow(team.name, ())
        try:
            policy = await self._paging.service_escalation_policy(service)
            found = await self._paging.oncalls(policy) if policy else []
        except IntegrationError:
            return OnCallNow(team.name, None)
        return OnCallNow(team.name, tuple(dict.fromkeys(o.user.name for o in found if o.level == 1)))


def _first_service(catalogue: Catalogue, team_id: str) -> str | None:
    """The PagerDuty service whose escalation policy says who is on call for a team without a rota."""
    return next((s.pagerduty_service_id for s in catalogue.services if s.team == team_id), None)
