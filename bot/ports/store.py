"""The store's ports: one narrow Protocol per concern, and the records they speak.

Services ask for the ports they use (a service needing several declares their intersection beside itself), never for
a concrete store; the runtime hands every service the one `Store`, which implements them all. Every port method is
one transaction: it either happens whole or not at all, and concurrent calls (several coroutines, or several
replicas sharing the database) never see half of another's work. The contract tests (tests/store/contract/) hold any
implementation to what the docstrings here promise. Times given as `now: float` are Unix seconds, from the caller's
clock, so tests and the sandbox can move time.

Some ports live in modules of their own, so that this one stays one page (`Store` includes them all): the inbox
(bot/ports/inbox.py), handovers (handover_ledger.py), the reports' history (incident_history.py, with
report_aggregates.py), people (people_cache.py), the store's health (store_health.py), what replicas share
(replicas.py) and retention (retention.py). The inbox's and the handovers' names are re-exported here too; the
others are imported from their own modules.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple, Protocol, Unpack

from bot.domain.effects import AlertOperators, Effect
from bot.domain.incident import Incident
from bot.domain.timeline import TimelineEntry

# Re-exported: the records an effect's bookkeeping keeps are used here and throughout.
from bot.ports.claims import ClaimedEffects as ClaimedEffects
from bot.ports.effect_bookkeeping import EffectBookkeeping as EffectBookkeeping
from bot.ports.effect_bookkeeping import FootprintChange as FootprintChange
from bot.ports.effect_bookkeeping import TicketRow as TicketRow

# The handover port lives in its own module; re-exported here, where the other records are imported from.
from bot.ports.handover_ledger import POSTED as POSTED
from bot.ports.handover_ledger import QUEUED as QUEUED
from bot.ports.handover_ledger import SKIPPED as SKIPPED
from bot.ports.handover_ledger import HandoverLedger as HandoverLedger
from bot.ports.handover_ledger import HandoverNote as HandoverNote
from bot.ports.handover_ledger import HandoverRow as HandoverRow
from bot.ports.handover_ledger import OnCallPeople as OnCallPeople
from bot.ports.inbox import Arrival as Arrival
from bot.ports.inbox import FailedDelivery as FailedDelivery
from bot.ports.inbox import Inbox as Inbox
from bot.ports.inbox import InboxRow as InboxRow
from bot.ports.inbox import NewDelivery as NewDelivery
from bot.ports.inbox import RecordsFromSlack as RecordsFromSlack
from bot.ports.inbox import Skip as Skip
from bot.ports.inbox import StoredRecord as StoredRecord
from bot.ports.incident_history import IncidentHistory
from bot.ports.people_cache import PeopleCache
from bot.ports.replicas import JobRuns, RateBudget
from bot.ports.retention import StoreRetention
from bot.ports.store_health import StoreHealth

# -- records ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OutboxRow:
    """An effect waiting to be performed; `attempts` counts the attempts already begun (see `Outbox.claim_effect`)."""

    seq: int
    effect: Effect
    attempts: int
    created_at: float
    # Its incident, read by the claim that took it (`Outbox.claim_due_effects`' `reads`), else None.
    found: IncidentInSlack | None = None
    # Of `attempts`, those a service refused for rate limiting (`effect_retry`'s `rate_limited_at`), and when the
    # first of the refusals since its last other failure was (None: none): the dispatcher counts the others only, and
    # bounds an unbroken run of refusals by time.
    rate_limits: int = 0
    rate_limited_since: float | None = None
    # Of `attempts`, those a service refused because it did not accept our credentials (`effect_retry`'s
    # `credentials_refused`: Slack refusing the bot's token): not counted either, and never bounded.
    credentials_refusals: int = 0
    # Its last attempt begun never recorded how it ended: claimed again once its lease ran out (its replica crashed,
    # was killed, or stalled past the lease and this one took the effect over). What it did outside is unknown.
    cut_short: bool = False


@dataclass(frozen=True)
class CardRefreshState:
    """An open incident's card as the refresh jobs see it: when a refresh of it was last queued (None: never; the
    card was last drawn when its channel opened), whether one is pending now (waiting, or being performed), and
    whether its channel's opening waits to begin (a new incident: never attempted, or only refused so far — for rate
    limiting, or our credentials — and not under way), and whether its card has been posted at all."""

    incident_id: str
    refresh_queued_at: float | None
    refresh_pending: bool
    channel_opening: bool = False
    card_drawn: bool = True  # its card is posted (False: its channel's opening never got that far)


@dataclass
class SlackFootprint:
    """What exists in Slack for one incident, remembered as soon as each piece is known."""

    incident_id: str
    channel_id: str | None = None
    channel_name: str | None = None
    card_ts: str | None = None
    card_pinned: bool = False
    topic: str | None = None
    announced_ts: str | None = None
    invited: tuple[str, ...] = ()
    unreachable: tuple[str, ...] = ()
    # The card lives in a team channel (the channel policy gave the incident no channel of its own).
    shared_channel: bool = False
    # The card as last rendered says "ServiceNow sync pending".
    sync_pending_shown: bool = False
    # Someone removed the bot from the incident's own channel (Slack answered `not_in_channel`): its topic is not
    # asked for again until the bot is invited back (`member_joined_channel`: bot/services/channel_events.py).
    bot_removed: bool = False

    def in_own_channel(self, incident: Incident) -> bool:
        """Whether the incident works in a channel of its own: not when the policy gives it none, nor while its card
        is in a team channel instead (upgraded, its own channel not open yet; Slack refusing the bot channels)."""
        return incident.dedicated_channel and not self.shared_channel


@dataclass(frozen=True)
class IncidentInSlack:
    """An incident as last decided beside what exists of it in Slack, read together in one store call (what
    performing a Slack effect starts from: `SlackFootprints.incident_in_slack`). Read `with_ticket`, also its
    ServiceNow ticket and how many effects of its ServiceNow queue wait for a retry, pending after ServiceNow failed
    them at least once (what the card says of the ticket: "sync pending" while ServiceNow lags; an effect merely
    queued or in its first attempt is not lagging — shown, its sub-second sync cost a second chat.update to take the
    words back); otherwise `ticket_queue_pending` is None."""

    incident: Incident | None
    footprint: SlackFootprint
    ticket: TicketRow | None = None
    ticket_queue_pending: int | None = None
    # A line to post, read with its incident by the claim of its PostTimelineEntry (`Incidents.timeline_entry`'s
    # answer; None when not read, or not found).
    entry: tuple[TimelineEntry, str | None] | None = None


class WorkNoteBatch(NamedTuple):
    """The next work note for a ticket (`TicketRecords.work_note_batch`). `resumed`: begun before (an earlier
    attempt may have delivered it: look in the journal for its marker); a batch begun by this call cannot have been
    sent by anyone."""

    id: str
    entries: list[TimelineEntry]
    resumed: bool


# -- ports -----------------------------------------------------------------------------------------------------


class Outbox(Protocol):
    """Effects waiting to be performed, in order within a queue (an outside system and an incident).

    An effect queued by an event is high priority when its incident is high urgency or P1; refreshes and ticket syncs
    queued by the scheduler come after everything else.

    Replicas sharing the store share the outbox: an effect is performed under a LEASE. `claim_effect` gives it to
    one `owner` (a replica's id) until `now + lease_seconds`; while that lease is live no other replica is offered
    it, nor anything queued behind it (order within a queue holds across replicas). A replica that dies mid-effect
    stops renewing: its lease expires and another replica claims the effect again (a retry: the executors look
    before they create). `effect_done`, `effect_retry` and `effect_dead` given an `owner` take effect only while that
    owner still holds the claim, so a replica that lost its lease (paused, partitioned) never undoes the work of the
    one that took the effect over; they return whether they did."""

    async def due_effects(self, now: float, limit: int, busy: Sequence[str],
                          lane: str | None = None) -> list[OutboxRow]:
        """The first pending effect of each queue not in `busy`, if due by `now` and not leased past `now`: most
        urgent first, then oldest (by index: not a scan of what is pending). A queue whose first effect is leased
        offers nothing (its later effects wait). With `lane` (one of `LANES`), only that system's effects. An effect
        this version cannot read (a newer version's kind or field) is never offered, nor due, here: it is left pending
        for a replica that can, and its queue waits for it (bot/adapters/store/unreadable.py)."""
        ...
    async def next_effect_due_at(self, lanes: Sequence[str] | None = None) -> float | None:
        """When the next queue head (of `lanes`, or all) is due, or its lease ends; None when nothing is pending."""
        ...
    async def claim_effect(self, seq: int, *, owner: str, now: float, lease_seconds: float) -> bool:
        """Take the effect for `owner` until `now + lease_seconds`, and count an attempt *before* performing it:
        after a crash mid-call, the next attempt knows it is a retry and looks for what the lost one may have done
        before doing it again. False (nothing changed) unless the effect is still pending, due by `now`, first in its
        queue and not leased past `now` by anyone: concurrent claims of one effect give it to exactly one owner."""
        ...
    async def claim_due_effects(self, now: float, room: Mapping[str, int], busy: Sequence[str], *, owner: str,
                                lease_seconds: float, reads: Mapping[str, bool] | None = None
                                ) -> ClaimedEffects[OutboxRow]:
        """`due_effects` and `claim_effect` in one call (the dispatcher's, once per wake-up instead of a read per lane
        and a claim per effect): per lane of `room`, up to that many of the lane's effects that `due_effects(now,
        room[lane], busy, lane=lane)` offers, each claimed for `owner` as `claim_effect` would. Returns, per lane
        asked for, the effects this call claimed, most urgent first (one another replica claimed meanwhile is left
        out), each with `attempts` as it was before this claim. A claimed effect whose kind is in `reads` comes with
        its incident (`found`) as `incident_in_slack(with_ticket=reads[kind])` reads it after the claim (what its
        executor starts from: one store call for both), and a PostTimelineEntry with its line (`found.entry`);
        `next_due`, per lane asked for, what `next_effect_due_at([lane])` would say after this claim."""
        ...
    async def renew_lease(self, seq: int, *, owner: str, now: float, lease_seconds: float) -> bool:
        """Extend `owner`'s lease on a pending effect to `now + lease_seconds` (a long effect renews before its
        lease ends); False when `owner` no longer holds it (another replica claimed it after the lease ended)."""
        ...
    async def release_leases(self, owner: str, keep: Sequence[int] = ()) -> int:
        """Free every lease `owner` holds but those of the effects in `keep` (by seq), so its effects are offered
        again at once; returns how many. For a replica starting under the id of its previous run (the same host and
        port: a restart), whose calls died with it; for a dispatcher stopping, once its effects under way have ended;
        and for one whose store refused an effect's outcome (`keep`: the effects still running there)."""
        ...
    async def lapse_leases(self, owner: str) -> int:
        """End now every lease `owner` holds, keeping it as the effects' last holder: a replica starting under the id
        of its previous run (a restart), whose calls died with it unanswered. Their next claims read them as cut short
        (`OutboxRow.cut_short`), as those of a lease that ran out; returns how many."""
        ...
    async def effect_done(self, seq: int, owner: str | None = None,
                          bookkeeping: EffectBookkeeping | None = None) -> bool:
        """Mark the effect done and free its lease; with `owner`, only while it holds the claim. In the same
        transaction, only if marked done here, record `bookkeeping`'s facts and queue its follow-ups (a replica that
        lost its lease records nothing over the new holder's outcome)."""
        ...
    async def effect_done_then_claim(self, seq: int, *, owner: str, bookkeeping: EffectBookkeeping | None,
                                     now: float, room: Mapping[str, int], busy: Sequence[str], lease_seconds: float,
                                     reads: Mapping[str, bool] | None = None
                                     ) -> ClaimedEffects[OutboxRow] | None:
        """`effect_done(seq, owner, bookkeeping)` then, only if done, `claim_due_effects(now, room, busy, ...)` for the
        slot the effect frees (no wake-up of the dispatcher for it); None when not done (nothing claimed). One store
        call where the store can (SQLite: one group-committed transaction, the claim in a savepoint of its own; two
        on PostgreSQL). A claim that fails (an SQL error, a due row this version cannot decode) never undoes the
        outcome: it is logged and answers nothing claimed and every lane due `now` (the caller claims); an error
        raised means the outcome was not recorded."""
        ...
    async def effect_retry(self, seq: int, next_attempt_at: float, error: str, owner: str | None = None,
                           bookkeeping: EffectBookkeeping | None = None, rate_limited_at: float | None = None,
                           failed: bool = False, credentials_refused: bool = False) -> bool:
        """Leave the effect pending, due again at `next_attempt_at`, with the error that held it up, and free its
        lease; with `owner`, only while it holds the claim. `bookkeeping`'s facts are recorded with it (only then);
        its follow-ups never (the effect is not done), but a ticket effect's `refresh_card_once_synced` queues the
        card's refresh if the card does not say "sync pending" yet (ServiceNow lags from now on). With
        `rate_limited_at`, the attempt was a service's refusal for rate limiting at that time: it is counted in the
        row's `rate_limits`, and `rate_limited_since` becomes that time unless an earlier refusal set it. With
        `failed`, the service answered otherwise (an outage, an error): the run of refusals is over and
        `rate_limited_since` is cleared, so that a later refusal is timed from itself, not from one before the failure
        (else one 429 before a long outage had the effect dead at the first 429 after it). With
        `credentials_refused`, the service refused our credentials: counted in the row's `credentials_refusals`."""
        ...
    async def effect_dead(self, seq: int, error: str, alert: AlertOperators | None, now: float,
                          owner: str | None = None, bookkeeping: EffectBookkeeping | None = None) -> bool:
        """Park the effect as dead (never tried again) and, in the same transaction, queue the operators' alert;
        with `owner`, only while it holds the claim (else neither happens). `bookkeeping`'s facts are recorded with it,
        its follow-ups never; a ticket effect's `refresh_card_once_synced` queues the card's refresh as a done one's
        does (the card says "sync pending" and nothing in the queue lags any more: the dead effect no longer does)."""
        ...
    async def dead_effects(self, incident_id: str | None = None, *, latest: int | None = None) -> list[dict[str, Any]]:
        """Dead effects (of one incident, or all), oldest first: seq, incident_id, kind, attempts, last_error. With
        `latest`, only that many of the most recent (what /readyz shows; `depths()` counts them all)."""
        ...
    async def pending_in_queue(self, queue: str) -> int: ...
    async def queue_effect(self, effect: Effect, now: float, priority: int = 1) -> None:
        """Queue one effect outside of an event (e.g. refresh the card once the ticket is known). Card refreshes are
        coalesced and yield, however queued (see CARD_RENDER_WAITING in the stores' outbox.py)."""
        ...
    async def queue_card_refreshes(self, now: float, only: Sequence[str] | None = None) -> int:
        """Queue a card refresh for every unresolved incident (or those of `only`) with no refresh or channel
        opening already pending: the card shows elapsed time and the money at stake, which no event updates, and an
        incident whose channel could not be opened gets another try. Returns how many were queued."""
        ...
    async def card_refresh_states(self) -> list[CardRefreshState]:
        """Every unresolved incident's card refresh state, by number (read by key per incident: the latest refresh
        found from the end of its outbox rows, never a scan of the outbox)."""
        ...
    async def queue_ticket_syncs(self, now: float) -> int:
        """Queue a ticket sync for every incident with a ticket and timeline lines it has not been told (lines of
        kind servicenow… are its own), unless one is already pending. Returns how many were queued."""
        ...


class Incidents(Protocol):
    """Incidents as last decided, and their timelines."""

    async def incident(self, incident_id: str) -> Incident | None: ...
    async def incident_by_number(self, number: int) -> Incident | None:
        """The incident with this PagerDuty number (the latest updated, should two share it)."""
        ...
    async def open_incidents(self) -> list[Incident]:
        """The incidents not resolved, by number (found by their status, not by reading every incident)."""
        ...
    async def incidents_open_during(self, service_ids: Sequence[str], since: datetime,
                                    until: datetime) -> list[Incident]:
        """What a handover of the shift [since, until) reports, for these services (PagerDuty ids): the incidents
        triggered in the shift, those resolved at or after `since` and those not resolved — triggered before
        `until` — by trigger time, then number. Found by service and time, however long the history."""
        ...
    async def resolved_with_own_channel(self, since: datetime, until: datetime) -> list[tuple[Incident, str]]:
        """The incidents resolved in [since, until) (and not reopened) that have a channel of their own (not a
        shared team channel), with its id, by resolve time: the channels the archiving job may archive."""
        ...
    async def timeline(self, incident_id: str) -> list[TimelineEntry]:
        """The incident's timeline in the order things happened (stored order among equal times)."""
        ...
    async def timeline_entry(self, entry_id: str) -> tuple[TimelineEntry, str | None] | None:
        """The entry, and the ts of its Slack message once posted."""
        ...
    async def set_timeline_ts(self, entry_id: str, ts: str) -> None: ...
    async def incident_report(self, incident_id: str) -> tuple[list[TimelineEntry], list[dict[str, Any]]]:
        """The timeline and the dead effects (as `Outbox.dead_effects`) of one incident, read together."""
        ...


class SlackFootprints(Protocol):
    """What exists in Slack for each incident."""

    async def footprint(self, incident_id: str) -> SlackFootprint:
        """The incident's footprint; an empty one when nothing is known."""
        ...
    async def update_footprint(self, incident_id: str, **changes: Unpack[FootprintChange]) -> None:
        """Remember some pieces of the footprint; the others are left as they are, so steps that run concurrently
        never overwrite each other. An unknown piece is a ValueError."""
        ...
    async def update_footprint_in_channel(self, incident_id: str, channel_id: str, changes: FootprintChange) -> bool:
        """`update_footprint` of `changes`, but only while the footprint names channel `channel_id` (looked at by the
        write itself: a move to a new channel written meanwhile is never overwritten); whether it wrote."""
        ...
    async def incident_in_slack(self, incident_id: str, *, with_ticket: bool = False) -> IncidentInSlack:
        """`Incidents.incident` and `footprint` read together (with `with_ticket`, `TicketRecords.ticket` and
        `Outbox.pending_in_queue` of the incident's ServiceNow queue too), in one store call."""
        ...
    async def footprint_by_channel(self, channel_id: str) -> SlackFootprint | None:
        """The footprint of the incident whose channel this is, if any."""
        ...
    async def channels_of(self, incident_ids: Sequence[str]) -> dict[str, str]:
        """The Slack channel id of each of these incidents that has one (dedicated or shared), in one read."""
        ...


class TicketRecords(Protocol):
    """Each incident's ServiceNow ticket, and which timeline lines it has been told as work notes."""

    async def ticket(self, incident_id: str) -> TicketRow | None: ...
    async def ticket_by_sys_id(self, sys_id: str) -> TicketRow | None: ...
    async def save_ticket(self, ticket: TicketRow) -> None:
        """Insert or replace the incident's ticket."""
        ...
    async def work_note_batch(self, incident_id: str) -> WorkNoteBatch:
        """The next work note to send, as (batch id, lines, resumed): a batch begun but not confirmed (the same
        lines again, after a timeout that may have delivered it; `resumed`), else a new batch of every line not yet
        told (lines of kind servicenow… excepted). The batch is recorded before it is sent, so lines arriving
        meanwhile go into the next one. An empty list: nothing to tell."""
        ...
    async def mark_noted(self, entry_ids: Sequence[str]) -> None:
        """These lines have been told; they are in no later batch."""
        ...



class Deduplication(Protocol):
    """What Slack sends twice (its retries, a double click, the same command repeated) is acted on once, across every
    replica that shares the store."""

    async def first_time(self, key: str, window_seconds: float, now: float) -> bool:
        """True, and `key` remembered for `window_seconds` from `now`, unless `key` was already seen in its window."""
        ...

    async def first_time_then_queue(self, key: str, window_seconds: float, now: float, effect: Effect,
                                    priority: int = 1) -> bool:
        """`first_time`, and in the same transaction, only if it answers True, `effect` queued (as `Outbox.queue_effect`
        queues it): what is said once a window — an operators' alert — is never claimed without being queued (two
        writes, a crash between them lost it for the window) nor queued without its claim (queued twice)."""
        ...

    async def remember(self, key: str, window_seconds: float, now: float) -> None:
        """`key` seen, for `window_seconds` from `now` whatever window it had (a request answered: its repeats are
        counted from the answer, not from a window that covered the request while it was under way)."""
        ...

    async def still_seen(self, keys: Sequence[str], now: float) -> set[str]:
        """Which of `keys` are remembered at `now` (their window not over), in one read that claims nothing: a job
        claiming many keys again and again (archiving's) claims only the others (`first_time` still decides)."""
        ...

    async def forget(self, key: str) -> None:
        """`key` not seen after all (what its first delivery asked for failed, and nothing was done): the next one
        with it is first again."""
        ...


class Store(StoreHealth, Inbox, RecordsFromSlack, Outbox, Incidents, SlackFootprints, TicketRecords, HandoverLedger,
            IncidentHistory, PeopleCache, Deduplication, JobRuns, RateBudget, StoreRetention, Protocol):
    """Every store port, as the runtime builds and hands it around; services ask for the narrow ones."""

    async def open(self) -> None:
        """Connect, and bring the schema up to date."""
        ...
    async def close(self) -> None:
        """Finish the work already asked for, then disconnect; later calls raise RuntimeError."""
        ...
