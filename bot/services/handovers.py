"""On-call handovers, end to end: deciding each minute which rota's handover is due, posting it once, and
answering `/incident handover`, `/incident handover-note` and `/incident oncall <rota>`.

The decisions are the pure `bot.domain.handover`; this service feeds it the clock, the ledger (what was posted) and
PagerDuty (who was on call), has `bot.render.handover` word the post, and posts through the outbox:

- `tick(rota)` (a scheduler job per rota, every minute, and once at start-up) claims the due handover in the ledger
  and queues `PostHandover` in the same transaction — one post per rota and shift, whatever restarts or overlapping
  jobs do.
- `PostHandover` asks PagerDuty who handed over to whom. If PagerDuty cannot answer, the post goes out anyway with
  what is known and says what is missing, and `CompleteHandover` (retried patiently on PagerDuty's queue) fills the
  names in by editing the post. The post, the notes it showed and that follow-up are recorded in one transaction.
- A post that cannot go out within the grace period of its boundary (the bot or Slack down that long) is a short note
  saying so instead: the names and the shift are history by then.

A rota with no out-of-hours on-call (`out_of_hours: false`) posts no handover when an out-of-hours shift starts;
its next post (the next morning's) covers everything since its last covered shift began, and names as outgoing
whoever was on call when that covered shift ended.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Protocol

from bot.catalogue import Catalogue, Rota
from bot.domain.effects import Effect
from bot.domain.effects.pagerduty import CompleteHandover
from bot.domain.effects.slack import PostHandover
from bot.domain.events import Person
from bot.domain.handover import (
    Note,
    OnCallChange,
    Shift,
    due_handover,
    handover_report,
    next_boundary,
    out_of_hours,
    previous_boundary,
    said_late,
    shift_key,
    zone,
)
from bot.domain.incident import Incident
from bot.errors import IntegrationError, OutcomeUnknown, UserError
from bot.ports import Chat, Clock, Paging, PostedMessage, ShiftEntry
from bot.ports.handover_ledger import ROTA_REMOVED
from bot.ports.store import (
    POSTED,
    QUEUED,
    HandoverLedger,
    HandoverNote,
    HandoverRow,
    Incidents,
    Outbox,
    SlackFootprints,
)
from bot.render.format import clip, escape, link, local_time
from bot.render.handover import NAMES_LATER, handover_text, schedule_gone, shown_open, too_late_text
from bot.services.actions import guarded
from bot.services.bookkeeping import holding
from bot.services.handover_rotas import HandoverRotas, rota_gone_alert, working_hours
from bot.services.markers import LOOKBACK_SECONDS, marker_metadata
from bot.services.people import People

log = logging.getLogger(__name__)
# A handover missed while the bot was down is still posted (marked late) this long after its boundary.
GRACE = timedelta(hours=2)
EDGE = timedelta(minutes=1)
TICK = timedelta(microseconds=1)
# The pending list reports the updates still owed for incidents resolved this long before the handover, or open.
PENDING_LOOKBACK = timedelta(days=1)
# Boundaries looked through for a rota's last covered shift (a fortnight of two handovers a day).
MAX_SKIPPED = 30


class HandoverStore(HandoverLedger, Incidents, SlackFootprints, Outbox, Protocol):
    """What handovers need of the store: the ledger and its notes, the incidents a post reports and their channels,
    and the outbox (the operators told of a post no rota is left for)."""


class Handovers:
    def __init__(self, store: HandoverStore, paging: Paging, chat: Chat, people: People, catalogue: Catalogue,
                 clock: Clock, wake: Callable[[], None], grace: timedelta = GRACE,
                 homes: Callable[[str], Awaitable[None]] | None = None) -> None:
        self._store, self._paging, self._chat, self._people = store, paging, chat, people
        self._clock, self._wake, self._grace = clock, wake, grace
        # The App Home's refresh of a rota's people (AppHome.refresh_rota): their Homes show its on-call and notes.
        self._homes = homes
        self._rotas = HandoverRotas(catalogue)

    def use(self, catalogue: Catalogue) -> None:
        """Hand over by this catalogue's rotas from now on (a reload of the catalogue); the posts queued for rotas it
        removes still go out (bot/services/handover_rotas.py)."""
        self._rotas.use(catalogue)

    # -- the scheduled handover ------------------------------------------------------------------------------

    async def tick(self, rota_id: str) -> str | None:
        """Claim and queue the rota's due handover, if any; returns its shift_key when this call claimed it."""
        rota, now = self._rota(rota_id), self._clock.now()
        # What was handed over up to now: a boundary recorded later (a clock that jumped ahead, then was put right)
        # must not hold back every shift change until then.
        last = await self._store.last_boundary(rota.id, until=now)
        due = due_handover(self._rotas.times[rota.id], now, last, self._grace)
        if due is None:
            return None
        key = shift_key(rota.id, due.boundary)
        effect = None if self._skipped(rota, due.boundary) else PostHandover(f"handover:{rota.id}", rota.id, key)
        claimed = await self._store.claim(key, rota.id, due.boundary, late=due.late, effect=effect, now=now.timestamp())
        if claimed and effect is not None:
            log.info("handover %s queued%s", key, " (late)" if due.late else "")
            self._wake()
        elif claimed:  # nobody takes over, and nothing is posted: the rota's Homes still stop showing who was on
            await self._refresh_homes(rota.id)
        return key if claimed and effect is not None else None

    async def tick_all(self) -> list[str]:
        """Every rota's tick (start-up, and the sandbox's clock control); one rota's failure does not stop others."""
        queued = []
        for rota in self._rotas.rotas:
            try:
                key = await self.tick(rota.id)
            except Exception:
                log.exception("handover check for rota %s failed; the next minute tries again", rota.id)
                continue
            if key:
                queued.append(key)
        return queued

    async def tick_all_and_wait(self, within: float = 10.0) -> list[str]:
        """`tick_all`, then wait (at most `within` seconds) until the handovers it queued are posted — the sandbox's
        clock control answers after this, so a state read straight after it shows the posts."""
        queued = await self.tick_all()
        # The scheduled check may have claimed a handover due at the same moment (it runs on every clock move too):
        # wait for every rota's latest handover still queued, not only for the ones this call claimed.
        waiting = list(dict.fromkeys([*queued, *await self._still_queued()]))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while waiting and loop.time() < deadline:
            rows = [await self._store.get(key) for key in waiting]
            if all(row is not None and row.state != QUEUED for row in rows):
                break
            await asyncio.sleep(0.02)
        return queued

    async def _still_queued(self) -> list[str]:
        """Shift keys of each rota's latest handover while it is still queued (not yet posted or skipped)."""
        keys = []
        for rota in self._rotas.rotas:
            boundary = await self._store.last_boundary(rota.id)
            row = await self._store.get(shift_key(rota.id, boundary)) if boundary is not None else None
            if row is not None and row.state == QUEUED:
                keys.append(row.shift_key)
        return keys

    async def perform(self, effect: Effect, *, retry: bool, created_at: float) -> None:
        assert isinstance(effect, PostHandover | CompleteHandover)
        row = await self._store.get(effect.shift_key)
        rota, retired = self._rotas.for_post(effect.rota_id)
        if row is None or rota is None:
            log.warning("handover %s: rota %s is no longer in the catalogue; not posted", effect.shift_key,
                        effect.rota_id)
            if row is not None and isinstance(effect, PostHandover):  # settled, so nothing reads it as pending
                await self._store.let_go(row.shift_key, ROTA_REMOVED, alert=rota_gone_alert(row),
                                         now=self._clock.now().timestamp())
            return
        if retired:
            log.info("handover %s: rota %s was removed from the catalogue after its post was queued; it goes to #%s, "
                     "where it was queued for", effect.shift_key, rota.id, rota.slack_channel.lstrip("#"))
        if isinstance(effect, PostHandover):
            await self._post(rota, row, retry=retry, since=created_at - LOOKBACK_SECONDS)
        else:
            await self._complete(rota, row)

    async def _post(self, rota: Rota, row: HandoverRow, *, retry: bool, since: float) -> None:
        if row.state == POSTED:
            return
        marker = f"handover:{row.shift_key}"
        posted = await self._chat.find_posted(rota.slack_channel, marker, since) if retry else None
        # Claimed on time, the post may still go out late: it waited in the outbox (Slack down, the bot stopped). One
        # an earlier attempt posted (its answer lost) went out when its ts says, whenever this retry comes.
        sent = self._clock.now() if posted is None else datetime.fromtimestamp(float(posted.ts), UTC)
        if sent - row.boundary > self._grace:  # history, not news: a short note says so instead
            await self._too_late(rota, row, marker, posted, sent)
            return
        shift, missing = self._shift(rota, row.boundary), NAMES_LATER
        try:
            change: OnCallChange | None = await self._on_call_change(rota, shift)
        except IntegrationError as error:
            log.warning("handover %s: no on-call names from PagerDuty (%s); posting without them", row.shift_key, error)
            change = None
            if error.status == 404:  # no such schedule: the catalogue names one replaced or deleted in PagerDuty
                missing = schedule_gone(rota.schedule_ids, self._rotas.catalogue.channels.operators_channel)
        notes = await self._store.notes_for(rota.id, row.shift_key, row.boundary)
        late = said_late(row.boundary, sent, row.late)
        text = await self._text(rota, shift, change, notes, late=late, missing=missing)
        if posted is None:
            posted = await self._chat.post_message(rota.slack_channel, text, metadata=marker_metadata(marker))
        else:  # an earlier attempt posted before it could record it: that message shows what is known now
            await self._chat.update_message(posted.channel, posted.ts, text)
        follow_up = None if change else CompleteHandover(f"handover:{rota.id}", rota.id, row.shift_key)
        # Refused (this replica's lease lapsed, another took the post over): that one's Homes refresh is the one.
        if await self._store.save_post(row.shift_key, channel=posted.channel, ts=posted.ts, holder=holding(),
                                       outgoing=change.outgoing if change else None,
                                       incoming=change.incoming if change else None,
                                       notes=notes, follow_up=follow_up, now=self._clock.now().timestamp()):
            await self._refresh_homes(rota.id)  # a new shift: who is on call changed and the notes were taken

    async def _too_late(self, rota: Rota, row: HandoverRow, marker: str, posted: PostedMessage | None,
                        sent: datetime) -> None:
        """The handover could not go out within the grace period (the bot or Slack down that long): its channel gets
        a short note saying so, not names and a shift hours stale; the notes left for it wait for the next one."""
        text = too_late_text(rota.id, rota.name, row.boundary, rota.time_zone, sent, self._grace)
        if posted is None:
            posted = await self._chat.post_message(rota.slack_channel, text, metadata=marker_metadata(marker))
        else:
            await self._chat.update_message(posted.channel, posted.ts, text)
        log.warning("handover %s: not posted until %s, past the %s a handover is news; a short note said so instead",
                    row.shift_key, sent.isoformat(), self._grace)
        if await self._store.save_post(row.shift_key, channel=posted.channel, ts=posted.ts, holder=holding(),
                                       outgoing=None, incoming=None, notes=(), follow_up=None,
                                       now=self._clock.now().timestamp()):
            await self._refresh_homes(rota.id)

    async def _complete(self, rota: Rota, row: HandoverRow) -> None:
        """PagerDuty answers now (an IntegrationError here is retried by the dispatcher): edit the post."""
        if row.channel is None or row.ts is None:
            return
        shift = self._shift(rota, row.boundary)
        change = await self._on_call_change(rota, shift)
        await self._store.save_on_call(row.shift_key, change.outgoing, change.incoming)
        # The edit keeps the post's "(late)": its ts says when it went out.
        late = said_late(row.boundary, datetime.fromtimestamp(float(row.ts), UTC), row.late)
        text = await self._text(rota, shift, change, await self._store.notes_of(row.shift_key), late=late)
        await self._chat.update_message(row.channel, row.ts, text)

    # -- on demand -------------------------------------------------------------------------------------------

    async def so_far(self, rota_id: str) -> str:
        """The handover as it would read if the shift ended now (notes shown, not taken). PagerDuty unreachable:
        the text says so instead of failing."""
        rota = self._rota(rota_id)
        now = self._clock.now()
        upcoming = self._next_posted(rota, now)
        try:
            change: OnCallChange | None = await self._now_and_then(rota, now, upcoming)
        except IntegrationError as error:
            log.warning("on-demand handover for %s: PagerDuty unreachable (%s)", rota.id, error)
            change = None
        shift = Shift(self._shift(rota, now + TICK).start, now, now)
        return await self._text(rota, shift, change, await self._store.waiting_notes(rota.id), on_demand=True)

    def so_far_marker(self, rota_id: str) -> str:
        """What marks the rota's on-demand post for the shift under way: whoever asks, the commands post it once
        within a window (commands/repeats.py `post_once`), and point whoever asks next to it by this marker."""
        rota = self._rota(rota_id)
        return f"handover-so-far:{shift_key(rota.id, self._shift(rota, self._clock.now() + TICK).start)}"

    async def post_so_far(self, rota_id: str, marker: str | None = None) -> str:
        """Post the on-demand handover to the rota's channel (marked with `marker`, to be found again); it does not
        count as the shift's handover."""
        rota = self._rota(rota_id)
        text = await self.so_far(rota_id)
        posted = f"Posted the handover so far for *{rota.name}* in #{rota.slack_channel.lstrip('#')}."
        # Slack refusing it is said in words (nothing was posted: try again), not "something went wrong". An answer
        # lost (a 500, no answer) may hide a post made: looked for by its marker, and never said to be missing.
        try:
            await guarded(self._chat.post_message(rota.slack_channel, text,
                                                  metadata=marker_metadata(marker) if marker else None), "Slack",
                          acts=True)
        except OutcomeUnknown:
            if marker and await self._found(rota, marker):
                return posted
            raise OutcomeUnknown(f"Slack did not answer properly, so the handover so far may or may not be in "
                                 f"#{rota.slack_channel.lstrip('#')}. Look there before asking again.") from None
        return posted

    async def _found(self, rota: Rota, marker: str) -> bool:
        try:
            return await self._chat.find_posted(rota.slack_channel, marker,
                                                self._clock.now().timestamp() - LOOKBACK_SECONDS) is not None
        except IntegrationError:  # Slack will not show the channel now: unknown, as the post itself
            return False

    async def so_far_posted(self, rota_id: str, marker: str) -> str:
        """What to tell someone asking to post the handover so far just after someone else asked: where it is, with
        a link when Slack shows the post. Not found, it may still be being posted (and may yet fail: the next to ask
        then posts it), or be where the bot may not read, or Slack will not show the channel now: never "posted"
        then, nor an error, since the post is not this person's to retry blind."""
        rota = self._rota(rota_id)
        channel = f"#{rota.slack_channel.lstrip('#')}"
        try:
            posted = await self._chat.find_posted(rota.slack_channel, marker,
                                                  self._clock.now().timestamp() - LOOKBACK_SECONDS)
            permalink = await self._chat.permalink(posted.channel, posted.ts) if posted is not None else None
        except IntegrationError as error:  # rate-limited, unreachable: the link is a nicety
            log.info("handover so far for %s: its post could not be looked for (%s)", rota.id, error)
            posted = permalink = None
        again = f"`/incident handover {rota.id}` shows it to you alone, as of now."
        if posted is None:
            return (f"The handover so far for *{rota.name}* was asked for in {channel} a moment ago: it is there or "
                    f"on its way — once is enough for the channel. If it does not show there within a minute, ask "
                    f"again. {again}")
        where = f": {link(permalink, 'see it')}" if permalink else ""
        return f"The handover so far for *{rota.name}* was just posted in {channel}{where} — once is enough for the " \
               f"channel. {again}"

    async def leave_note(self, rota_id: str, author: str, text: str) -> str:
        rota = self._rota(rota_id)
        if not text.strip():
            raise UserError("Write the note after the command: `/incident handover-note <text>`, e.g. "
                            "`/incident handover-note watch the payments queue, it backs up after 02:00`.")
        now = self._clock.now()
        waiting = await self._store.add_note(rota.id, author, text.strip(), now)
        await self._refresh_homes(rota.id)
        when = local_time(self._next_posted(rota, now), zone(rota.time_zone))
        return f"📝 Noted for the *{rota.name}* handover at {when} ({rota.time_zone}) — {waiting} note(s) waiting."

    async def on_call_now(self, rota_id: str) -> str:
        rota = self._rota(rota_id)
        now = self._clock.now()
        upcoming = next_boundary(self._rotas.times[rota.id], now)
        try:
            change = await self._now_and_then(rota, now, upcoming)
        except IntegrationError as error:
            raise UserError(f"PagerDuty is not answering ({error.status or 'no response'}), so I cannot say who is "
                            f"on call for {rota.name}; try again in a minute, or look in PagerDuty.") from None
        # Names come from PagerDuty: escaped, so a name cannot carry a mention or a link into Slack.
        now_names = ", ".join(escape(clip(name, 200)) for _, name in change.outgoing) or "nobody"
        next_names = ", ".join(escape(clip(name, 200)) for _, name in change.incoming) or "nobody"
        when = local_time(upcoming, zone(rota.time_zone))
        return f"On call for *{rota.name}* now: {now_names}. From {when} ({rota.time_zone}): {next_names}."

    def find_rota(self, name: str) -> Rota | None:
        return self._rotas.find_rota(name)

    def rota_for(self, name: str, channel_name: str | None, *, usage: str = "handover") -> Rota:
        """The rota named (id or name), or else the one whose channel this is; a clear error otherwise."""
        return self._rotas.rota_for(name, channel_name, usage=usage)

    def rotas_of_channel(self, channel_name: str | None) -> list[Rota]:
        return self._rotas.rotas_of_channel(channel_name)

    # -- shared ----------------------------------------------------------------------------------------------

    async def _refresh_homes(self, rota_id: str) -> None:
        """Best effort, after the handover or note is recorded: a Home not refreshed never fails the handover."""
        if self._homes is None:
            return
        try:
            await self._homes(rota_id)
        except Exception:
            log.exception("App Homes of rota %s not refreshed", rota_id)

    def _skipped(self, rota: Rota, boundary: datetime) -> bool:
        """A rota with no out-of-hours on-call posts nothing when an out-of-hours shift starts."""
        local = boundary.astimezone(zone(rota.time_zone))
        return not rota.out_of_hours and out_of_hours(local, working_hours(rota))

    def _shift(self, rota: Rota, end: datetime) -> Shift:
        """The shift a handover at `end` reports on, reaching back over skipped (uncovered) boundaries."""
        times = self._rotas.times[rota.id]
        start, covered_until = previous_boundary(times, end - TICK), end
        for _ in range(MAX_SKIPPED):
            if not self._skipped(rota, start):
                break
            covered_until, start = start, previous_boundary(times, start - TICK)
        return Shift(start, end, covered_until)

    def _next_posted(self, rota: Rota, now: datetime) -> datetime:
        """The next boundary the rota will post a handover at."""
        upcoming = next_boundary(self._rotas.times[rota.id], now)
        for _ in range(MAX_SKIPPED):
            if not self._skipped(rota, upcoming):
                break
            upcoming = next_boundary(self._rotas.times[rota.id], upcoming)
        return upcoming

    async def _on_call_change(self, rota: Rota, shift: Shift) -> OnCallChange:
        entries = await self._entries(rota, shift.covered_until - EDGE, shift.end + EDGE)
        return OnCallChange(_covering(entries, shift.covered_until - TICK), _covering(entries, shift.end))

    async def _now_and_then(self, rota: Rota, now: datetime, then: datetime) -> OnCallChange:
        """Who is on call now (as outgoing) and at `then` (as incoming), in one read of the rota's schedules."""
        entries = await self._entries(rota, now, then + EDGE)
        return OnCallChange(_covering(entries, now), _covering(entries, then))

    async def _entries(self, rota: Rota, since: datetime, until: datetime) -> list[ShiftEntry]:
        """Who the rota's schedules put on call over the range (all of them: e.g. working hours and out of hours)."""
        found: list[ShiftEntry] = []
        for schedule_id in rota.schedule_ids:
            found += await self._paging.schedule_entries(schedule_id, since, until)
        return found

    async def _text(self, rota: Rota, shift: Shift, change: OnCallChange | None, notes: Sequence[HandoverNote], *,
                    late: bool = False, on_demand: bool = False, missing: str = NAMES_LATER) -> str:
        covered = sorted(self._rotas.covered.get(rota.id, set()))
        # Only what the post can show, asked of the store by service and time: the shift's incidents, those still
        # open, and those resolved within the pending list's look-back.
        incidents = await self._store.incidents_open_during(covered, min(shift.start, shift.end - PENDING_LOOKBACK),
                                                            shift.end)
        mentions: dict[str, str] = {}
        if change is not None:
            everyone = (*change.outgoing, *change.incoming)
            try:
                slack_ids = {p.pagerduty_user_id: p.slack_user_id
                             for p in await self._people.responders([uid for uid, _ in everyone])}
            except IntegrationError:  # names without mentions rather than no post
                slack_ids = {}
            mentions = {uid: slack_id for uid, _ in everyone if (slack_id := slack_ids.get(uid))}
        report = handover_report(
            rota.name, shift.start, shift.end,
            None if change is None else [Person(uid, name) for uid, name in change.outgoing],
            None if change is None else [Person(uid, name) for uid, name in change.incoming],
            incidents, [Note(n.text, n.author) for n in notes], await self._pending(
                incidents, shift.end, None if change else missing), working_hours(rota), rota.time_zone)
        # The channels of the open incidents the post lists, in one read.
        channels = await self._store.channels_of([i.id for i in shown_open(report)])
        return handover_text(report, late=late, on_demand=on_demand, mentions=mentions, channels=channels)

    async def _pending(self, incidents: Sequence[Incident], end: datetime, names_missing: str | None) -> list[str]:
        relevant = [i for i in incidents if i.resolved_at is None or i.resolved_at > end - PENDING_LOOKBACK]
        backlog = await self._store.backlog([i.id for i in relevant])
        operators = self._rotas.catalogue.channels.operators_channel
        pending = [f"#{i.number}: " + ", ".join(
            part for part in (f"{dead} Slack/ServiceNow update(s) could not be made — the platform team was "
                              f"alerted in #{operators}" if dead else "",
                              f"{waiting} ServiceNow update(s) waiting" if waiting else "") if part)
            for i in relevant for dead, waiting in [backlog.get(i.id, (0, 0))] if dead or waiting]
        if names_missing:
            pending.append(names_missing)
        return pending

    def _rota(self, rota_id: str) -> Rota:
        return self._rotas.named(rota_id)


def _covering(entries: Sequence[ShiftEntry], moment: datetime) -> tuple[tuple[str, str], ...]:
    return tuple(dict.fromkeys((e.user_id, e.name) for e in entries if e.start <= moment < e.end))
