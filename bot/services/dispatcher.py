"""The outbox dispatcher: performs effects in order per incident, high urgency first, with retries.

Retry policy (bot/services/retries.py): exponential backoff with full jitter (base * 2^attempt, capped), or the
service's own Retry-After / ratelimit-reset when it gave one. After `max_attempts` (or at once, for an error retrying
cannot fix) an effect is parked as dead: visible in /metrics, /readyz and the logs, and an alert is queued for the
operators' channel; one outlasting outages is not, unless its kind went through in its lane's other queues
meanwhile (one poisoned request, not an outage: bot/services/lane_answers.py). A service's refusal for rate limiting
(a 429) is not an attempt: the effect waits as told, and is dead only once it has been refused for
`rate_limited_seconds`. Nor is a refusal of our credentials (Slack refusing the bot's token, ServiceNow its
integration user's), never dead: its lane is paused (`paused`) until they are accepted again.

Lanes: each outside system (`LANES`: Slack, ServiceNow, PagerDuty) has its own concurrency. An effect keeps its
slot while it waits for its system's rate budget (Slack's token buckets sleep inside the call), so with one shared
limit a storm's channel openings, paced at Slack's twenty a minute, held every slot and ServiceNow's tickets went at
Slack's pace. Per lane, an effect waiting for Slack holds only a Slack slot. Within a queue (an incident's effects
for one system) effects still run one at a time, in order; across queues, most urgent first.

Replicas: each effect is performed under a lease in the store, held by this dispatcher's `owner` (the replica's id) and
renewed while the call runs. An effect another replica holds is never offered here; one whose holder died is offered
once its lease runs out. If this replica loses a lease (it stalled past it, and another took the effect over), what it
then reports is refused by the store and its follow-ups are skipped: the new holder's outcome stands.

Store calls per effect: its claim (shared with the others claimed at the same wake-up) reads what its executor starts
from (`reads`: the incident, its footprint, ticket or line), and what performing it learns (footprint pieces, the
posted line's ts, the ticket, lines told, follow-ups) is kept and recorded with its outcome in one transaction
(bot/services/bookkeeping.py): a claim's share and one outcome, where each piece used to be a store call and a commit.

Stopping: the effects under way are cancelled. One cancelled after it learnt something (the card it posted, while its
pin was on the way) records it before the cancellation goes on — the facts alone, the effect left pending, due at
once — so that its next attempt (this replica started again, or another) starts from them instead of finding them
again in the outside system by name or marker, or, where it cannot, doing them again (`_keep_what_was_learnt`). One
whose outcome is being recorded as the stop comes has it recorded all the same (bot/services/outlasting.py); what
that outcome's claim took is not started, and the stop frees it (bot/services/leasing.py).

An effect whose outcome the store refused (a database restart, a blip between two claims), and the leases a loop that
ended with its store could not free, are freed at the next claim once the store answers (`Leases.free_stranded`),
rather than left waiting a lease's length: their effects are performed again (their executors find what was done).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Iterator, Mapping
from typing import Any, Protocol

from bot.domain.effects import LANES, AlertOperators, Effect
from bot.errors import IntegrationError, StoreConstraint
from bot.metrics import Metrics
from bot.ports import Clock
from bot.ports.answers import hearing
from bot.ports.handover_ledger import EffectHolder
from bot.ports.store import EffectBookkeeping, IncidentInSlack, Outbox, OutboxRow
from bot.services.bookkeeping import keeping
from bot.services.lane_answers import LaneAnswers
from bot.services.leasing import Leases
from bot.services.outlasting import carried_through, outlasting_cancellation
from bot.services.retries import Failure, counted_attempt, dead_alert, rate_limited_since, retry_outcome, retrying_as
from bot.services.retries import RetryPolicy as RetryPolicy

log = logging.getLogger(__name__)
# Long enough for a slow call and its retries inside the SDK; short enough that a dead replica's effect is taken over
# quickly. Renewed every third of it while the call runs.
LEASE_SECONDS = 60.0
# Effects in flight per lane. Slack's are mostly waiting for its budget (more would only wait longer); ServiceNow's
# calls are slow (hundreds of ms) but unpaced; PagerDuty's are few (handover names, status updates).
LANE_CONCURRENCY: dict[str, int] = {"slack": 8, "servicenow": 8, "pagerduty": 4}
# How long a stop waits for a cancelled effect's store call recording what it learnt (and then for the leases'
# release): a store that does not answer must not hang the stop; the effect's next attempt then finds those things
# again in the outside system, as after a crash.
LEARNT_RECORD_SECONDS = 5.0
# Why a cancelled effect is pending again (its last_error until its next attempt's outcome).
CANCELLED = "cancelled mid-call: the dispatcher stopped"
DEFAULT_POLICY = RetryPolicy()


class Executor(Protocol):
    """Performs one effect; raises IntegrationError when the outside system failed."""

    async def perform(self, effect: Effect, *, retry: bool, created_at: float,
                      found: IncidentInSlack | None = None) -> None:
        """`found`: the effect's incident as its claim read it (`Dispatcher`'s `reads`), else None (read it)."""
        ...
    async def after_done(self, effect: Effect) -> None:
        """Called once the effect is recorded as done (follow-ups that must see it done)."""
        ...


class Dispatcher:
    def __init__(self, store: Outbox, executor: Executor, clock: Clock, metrics: Metrics,
                 policy: RetryPolicy = DEFAULT_POLICY, concurrency: Mapping[str, int] | int | None = None,
                 policies: dict[str, RetryPolicy] | None = None, rng: random.Random | None = None,
                 owner: str | None = None, lease_seconds: float = LEASE_SECONDS,
                 reads: Mapping[str, bool] | None = None, paused: Callable[[str], bool] | None = None,
                 given_up: Callable[[Effect], Awaitable[None]] | None = None) -> None:
        self._store, self._executor, self._clock, self._metrics = store, executor, clock, metrics
        # What an effect given up on (recorded dead) leaves to settle: a raise of a page no longer held high.
        self._given_up = given_up
        # Who holds this dispatcher's leases: unique per process start, so a restarted replica is a new owner.
        self.owner = owner or uuid.uuid4().hex[:12]
        self._lease_seconds = lease_seconds
        self._leases = Leases(store, self.owner, lease_seconds, self._now)
        # The effect kinds whose incident the executor starts from: read by the claim, in the same store call.
        self._reads = dict(reads or {})
        self._paused = paused or (lambda lane: False)  # a lane whose system refuses our credentials: nothing claimed
        self._policy = policy
        # Per effect kind, else per outside system (e.g. a more patient one for ServiceNow, whose outages last longer).
        self._policies = policies or {}
        # Per lane; a single number gives every lane that many (tests that want one effect at a time).
        limits = concurrency if isinstance(concurrency, Mapping) else (
            dict.fromkeys(LANES, concurrency) if concurrency is not None else {})
        self._concurrency = {lane: max(1, limits.get(lane, LANE_CONCURRENCY[lane])) for lane in LANES}
        self._busy: dict[str, asyncio.Task[None]] = {}
        self._in_lane: dict[str, int] = dict.fromkeys(LANES, 0)
        # Of `_in_lane`, the slots held by claims under way (`_reserved`).
        self._held: dict[str, int] = dict.fromkeys(LANES, 0)
        # The lanes the loop found full at its last look only because an outcome's claim held their slots: that claim
        # may have read the store before what woke the loop (an effect queued, a slot freed), so once it is over it
        # wakes the loop if such a lane has room (`_wake_if_missed`).
        self._missed: set[str] = set()
        self._wake = asyncio.Event()
        # Effects done whose own claim settled what their slot does next (`_perform`): their end wakes nobody.
        self._settled: set[asyncio.Task[None]] = set()
        # When the sleeping loop looks again by itself (infinity while it is not sleeping: its claim under way may
        # have read the lanes before an effect's outcome changed them, so anything that outcome left due wakes it).
        self._looks_at = math.inf
        # The jitter's source: seeded by a caller that needs the delays to repeat exactly (tests).
        self._rng = rng or random.Random()
        # Whether each lane's system takes the other queues' effects while one keeps failing (a poisoned request,
        # given up after its attempts) or fails them too (an outage, outlasted).
        self._answers = LaneAnswers()
        self.heartbeat = 0.0

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        try:
            while True:
                # Cleared before the claim: a wake-up while it is under way (an effect finished, one was queued)
                # makes the loop look again at once instead of being lost until the timeout.
                self._wake.clear()
                next_due = await self._claim_and_start()
                self.heartbeat = self._clock.now().timestamp()
                await self._sleep_until(next_due)
        finally:
            under_way = list(self._busy.values())
            for task in under_way:
                task.cancel()
            await self._leases.let_go(under_way, LEARNT_RECORD_SECONDS)

    async def start_due(self) -> int:
        """Start the due effects each lane has room for; how many were started. They are read and claimed in one
        store call for all the lanes (a claim each and a read per lane were most of this replica's store calls)."""
        before = len(self._busy)
        await self._claim_and_start()
        return len(self._busy) - before

    async def _claim_and_start(self) -> float | None:
        """Claim and start what the lanes with room can take; when the next effect of a lane still with room is due
        (None: none pending). The claim says both: what it took, and when each lane's next head is due after it. A
        lane it filled is woken by its own effects finishing; one it left room in was given all that was due in it
        (its busy queues aside, which wake the loop as they finish), so there is nothing to claim before `next_due`
        or a wake-up: no second claim to find nothing, no store call to ask when to look again."""
        await self._leases.free_stranded()  # before the claim: what it frees may be claimed here at once
        self._missed = {lane for lane in LANES if self._held_by_claims((lane,))}
        room = {lane: self._room(lane) for lane in self._lanes_with_room()}
        if not room:
            return None
        # An effect's outcome claiming meanwhile leaves these slots to this claim.
        with self._leases.claims:
            with self._reserved(room):
                claimed = await self._store.claim_due_effects(self._now(), room, list(self._busy), owner=self.owner,
                                                              lease_seconds=self._lease_seconds, reads=self._reads)
            self._start(claimed)
        return min((due for lane, due in claimed.next_due.items() if due is not None and self._room(lane) > 0),
                   default=None)

    def _start(self, claimed: Mapping[str, list[OutboxRow]]) -> None:
        for lane, rows in claimed.items():
            for row in rows:
                task = asyncio.create_task(self._perform(row, lane))
                self._leases.performing(row.seq)
                self._busy[row.effect.queue] = task
                self._in_lane[lane] += 1
                task.add_done_callback(self._on_done(row, lane))

    @contextlib.contextmanager
    def _reserved(self, room: Mapping[str, int]) -> Iterator[None]:
        """Count `room`'s slots as taken while a claim for them runs: two claims under way at once (the loop's, an
        effect's outcome's) never ask for the same free slots, so a lane never runs more than its limit."""
        for lane, free in room.items():
            self._in_lane[lane] += free
            self._held[lane] += free
        try:
            yield
        finally:
            for lane, free in room.items():
                self._in_lane[lane] -= free
                self._held[lane] -= free

    def _wake_if_missed(self) -> None:
        """After an outcome's claim has started what it took: wake the loop if a lane it missed has room now (what
        woke it may be due there). A lane full again is its effects' to claim for as they end; one still held waits
        for its claim to end."""
        if any(self._room(lane) > 0 for lane in self._missed):
            self._missed = set()
            self._wake.set()
        else:
            self._missed = {lane for lane in self._missed if self._held[lane] > 0}

    def _held_by_claims(self, lanes: Iterable[str] = LANES) -> bool:
        """Whether one of `lanes` has no room only because a claim under way holds some of its slots."""
        return any(self._room(lane) <= 0 < self._room(lane) + self._held[lane] for lane in lanes)

    def _room(self, lane: str) -> int:
        return self._concurrency[lane] - self._in_lane[lane]

    def _lanes_with_room(self) -> list[str]:
        return [lane for lane in LANES if self._room(lane) > 0 and not self._paused(lane)]

    def _on_done(self, row: OutboxRow, lane: str) -> Callable[[asyncio.Task[None]], None]:
        queue = row.effect.queue

        def finished(task: asyncio.Task[None]) -> None:
            self._leases.ended(row.seq)
            if self._busy.get(queue) is task:  # else the next effect of its queue took its place (`_perform`)
                del self._busy[queue]
            self._in_lane[lane] -= 1
            if task in self._settled:
                self._settled.discard(task)
            else:
                self._wake.set()
        return finished

    async def _sleep_until(self, next_due: float | None) -> None:
        """Wait for a wake-up, or until `next_due` (at most a second: a replica's effects whose lease ran out, and
        anything queued without a wake-up, are found within it)."""
        timeout = 1.0
        if next_due is not None:
            timeout = min(max(next_due - self._clock.now().timestamp(), 0.005), 1.0)
        self._looks_at = self._clock.now().timestamp() + timeout
        try:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancellation (stop() hangs).
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._wake.wait()
        finally:
            self._looks_at = math.inf

    async def finish_in_flight(self) -> None:
        """Wait until the effects being performed now (those `start_due` began) are finished."""
        while self._busy:  # including the effects those claimed as they finished
            await asyncio.wait(set(self._busy.values()))
            await asyncio.sleep(0)  # the finished ones' callbacks take them out of `_busy`

    async def idle(self) -> bool:
        """True when nothing is in flight and nothing is pending (tests and benchmarks wait for this)."""
        return not self._busy and await self._store.next_effect_due_at() is None

    async def _perform(self, row: OutboxRow, lane: str) -> None:
        """Perform an effect this dispatcher has claimed (`row.attempts`: the attempts begun before this one). What the
        effect learns is kept and recorded with its outcome, in one store call (bot/services/bookkeeping.py), which
        also claims what the slot it frees (one in its `lane`) does next."""
        effect = row.effect
        with keeping(EffectHolder(row.seq, self.owner, row.cut_short)) as kept, hearing() as heard:
            try:
                await self._leases.held_while(row, self._executor.perform(effect, retry=row.attempts > 0,
                                                                          created_at=row.created_at, found=row.found))
            except IntegrationError as error:
                await self._failed(row, Failure.of(error), kept)
                return
            except StoreConstraint as error:  # the same write is refused every time: dead, not an outage
                await self._failed(row, Failure(str(error), False, cause="store:constraint"), kept)
                return
            except (Exception, asyncio.CancelledError) as error:
                task = asyncio.current_task()
                if isinstance(error, asyncio.CancelledError) and (task is None or task.cancelling()):
                    if kept.facts:  # stopping mid-call: no outcome, but what it learnt is not dropped
                        await self._keep_what_was_learnt(row, kept)
                    raise
                # A bug (a CancelledError nobody sent this task): the reference finds the traceback.
                reference = uuid.uuid4().hex[:8]
                log.exception("effect %s #%s failed unexpectedly (reference %s)", effect.kind, row.seq, reference)
                await self._failed(row, Failure(f"unexpected {error.__class__.__name__} (reference {reference})",
                                                True, cause=f"unexpected:{error.__class__.__name__}",
                                                unexpected=True), kept)
                return
        # Evidence that the system takes its kind only if it answered a call doing the work, not a read preparing it
        # (a line found posted already by its history needs no post).
        self._answers.done(lane, row, self._now(), answered=lane in heard)
        if not await self._done(row, lane, kept):
            return
        self._metrics.effects.labels(effect.kind, "done").inc()
        try:
            await self._executor.after_done(effect)
        except Exception:  # a follow-up (e.g. a card refresh) is worth less than the effect it follows
            log.exception("follow-up of effect %s #%s failed", effect.kind, row.seq)

    async def _done(self, row: OutboxRow, lane: str, kept: EffectBookkeeping) -> bool:
        """Record the effect done and, in the same store call, claim the due effects its slot and the other lanes'
        free slots can take (most often the next effect of its own queue, or a follow-up it queued): started here,
        they need no wake-up of the loop to claim them. The other lanes' free slots are reserved while the call runs,
        so that the loop, claiming meanwhile, never takes them too. The loop is woken only when a lane left with room
        has an effect due before the loop would look anyway. False when this replica had lost the effect's lease, or the
        store refused the call."""
        # Nothing while stranded leases are being freed (the release would free what this claims): the loop claims.
        releasing = self._leases.releasing
        free = {} if releasing else {other: self._room(other) for other in self._lanes_with_room()}
        # And this effect's own slot, free once it is recorded done — unless its lane was paused meanwhile (Slack
        # refusing the token): a paused lane takes nothing new, by this claim nor the loop's.
        room = free if self._paused(lane) or releasing else {**free, lane: free.get(lane, 0) + 1}
        # A follow-up to another lane that is left out because another claim under way holds its slots: that claim
        # may read the store before this outcome queues it, so this effect's end wakes the loop (it is not settled).
        # (One to its own lane this claim sees, or the lane's next outcome does.) Card refreshes are Slack's.
        asked = {effect.system for effect, _ in kept.follow_ups} | ({"slack"} if kept.card_refreshes else set())
        unseen = releasing or self._held_by_claims(asked - {lane})
        with self._leases.claims:
            try:
                with self._reserved(free):
                    claimed = await carried_through(self._leases.recorded(self._store.effect_done_then_claim(
                        row.seq, owner=self.owner, bookkeeping=kept or None, now=self._now(), room=room,
                        busy=[queue for queue in self._busy if queue != row.effect.queue],
                        lease_seconds=self._lease_seconds, reads=self._reads)), LEARNT_RECORD_SECONDS)
            except Exception:  # the store refused the outcome (down, a deadlock): unsettled, this effect's end wakes
                # the loop (as when lost), whose next claim frees its lease. A claim failing after a recorded outcome
                # raises nothing: the store answers "claim now" instead.
                self._leases.stranded()
                log.exception("effect %s #%s was performed but its outcome could not be recorded; it is tried again as"
                              " soon as the store answers (its executor finds what it did)", row.effect.kind, row.seq)
                return False
            if claimed is None:
                self._leases.lost(row)
                return False
            self._start(claimed)
        self._wake_if_missed()
        # Due sooner than the loop's next look, in a lane whose room this claim did not fill (a lane it filled is
        # woken by its own effects finishing): the loop must plan for it.
        sooner = any(len(claimed.get(other, [])) < slots and due is not None and due < self._looks_at
                     for other, slots in room.items() for due in (claimed.next_due.get(other),))
        task = asyncio.current_task()
        if not sooner and not unseen and task is not None:
            self._settled.add(task)
        return True

    async def _keep_what_was_learnt(self, row: OutboxRow, kept: EffectBookkeeping) -> None:
        """Record what an effect cancelled mid-call had learnt (a channel, a card's ts, a ticket): the facts alone —
        not its follow-ups, nor the card refresh a ServiceNow failure asks for — with the effect left pending, due at
        once and its lease freed, as a retry is (only while this dispatcher holds it). The store call goes on through
        the cancellation, and any that follows it, for LEARNT_RECORD_SECONDS at most."""
        effect = row.effect
        recording = self._leases.recorded(self._store.effect_retry(row.seq, self._now(), CANCELLED, owner=self.owner,
                                                                   bookkeeping=kept.facts_only()))
        if not await outlasting_cancellation(recording, LEARNT_RECORD_SECONDS):
            recording.cancel()
            log.warning("effect %s #%s for %s, cancelled mid-call: the store did not record what it learnt within"
                        " %gs; its next attempt finds it again", effect.kind, row.seq, effect.incident_id,
                        LEARNT_RECORD_SECONDS)
        elif (error := recording.exception()) is not None:
            log.warning("effect %s #%s for %s, cancelled mid-call: the store refused what it learnt; its next attempt"
                        " finds it again", effect.kind, row.seq, effect.incident_id, exc_info=error)
        elif not recording.result():
            self._leases.lost(row)
        else:
            log.info("effect %s #%s for %s, cancelled mid-call: what it learnt is recorded, the effect left pending",
                     effect.kind, row.seq, effect.incident_id)

    def _now(self) -> float:
        return self._clock.now().timestamp()

    async def _failed(self, row: OutboxRow, failure: Failure, kept: EffectBookkeeping) -> None:
        effect, now = row.effect, self._now()
        policy = self._policies.get(effect.kind) or self._policies.get(effect.system, self._policy)
        others_taken = self._answers.others_taken(effect.system, row)  # since it began failing, before this failure
        self._answers.failed(effect.system, row, failure, now)
        retry_at = policy.retry_at(row, failure, now, self._rng, others_taken)
        refused = failure.rate_limited_by is not None
        if retry_at is not None:
            log.warning("effect %s #%s for %s %s, retrying in %.1fs: %s", effect.kind, row.seq, effect.incident_id,
                        retrying_as(row, failure, now), retry_at - now, failure.error)
            if await self._record_failure(row, "retry", self._store.effect_retry(
                    row.seq, retry_at, failure.error, owner=self.owner, bookkeeping=kept or None,
                    rate_limited_at=now if refused else None, failed=not refused,
                    credentials_refused=failure.credentials_refused_by is not None)):
                self._metrics.effects.labels(effect.kind, retry_outcome(failure)).inc()
            return
        self._answers.forget(row)
        log.error("effect %s #%s for %s is dead %s: %s", effect.kind, row.seq, effect.incident_id,
                  f"after {now - rate_limited_since(row, now):.0f}s of rate limiting" if refused
                  else f"after {counted_attempt(row)} attempt(s)" + (
                      " (its kind went through for other incidents meanwhile: no outage)"
                      if others_taken and failure.outage else ""),
                  failure.error)
        # Alerts queue among themselves, not behind the failing incident's other effects.
        alert = None if isinstance(effect, AlertOperators) else AlertOperators.grouped(
            f"dead:{failure.cause}", dead_alert(row, failure, now, others_taken))
        if await self._record_failure(row, "death", self._store.effect_dead(row.seq, failure.error, alert, now,
                                                                            owner=self.owner,
                                                                            bookkeeping=kept or None)):
            self._metrics.effects.labels(effect.kind, "dead").inc()
            if self._given_up is not None:
                try:  # (a crash before it: the incident holds what the effect left, as it did before this hook)
                    await self._given_up(effect)
                except Exception:
                    log.exception("effect %s #%s for %s is dead, and what it leaves could not be settled",
                                  effect.kind, row.seq, effect.incident_id)

    async def _record_failure(self, row: OutboxRow, outcome: str, recording: Coroutine[Any, Any, bool]) -> bool:
        """Record a failed effect's retry or death; whether it stands (only then is it counted in /metrics: a death
        the store refused is tried again, and would be counted twice). The store refusing (database down, disk full)
        is logged, as in `_done` (let out of the task, nobody saw it). Nothing is lost: it is claimed again as soon as
        the store answers."""
        try:
            if await carried_through(self._leases.recorded(recording), LEARNT_RECORD_SECONDS):
                return True
            self._leases.lost(row)
        except Exception:
            self._leases.stranded()
            log.exception("effect %s #%s for %s failed, and the store refused to record its %s; it is tried again as "
                          "soon as the store answers (within %gs at most). If this repeats, check the database: is it "
                          "reachable, is its disk full?", row.effect.kind, row.seq, row.effect.incident_id, outcome,
                          self._lease_seconds)
        return False

