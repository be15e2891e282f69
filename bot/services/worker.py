"""The worker: drains the inbox in arrival order, applies each event through the domain, and commits the new
state, timeline entries and effects with the inbox rows in one transaction per batch (so a crash replays, never
half-applies, and a burst costs one disk flush per batch rather than several per event).

A delivery that cannot be applied — content the reader cannot read (a DeliveryError), a bug in deciding, a decision
the store cannot hold — is quarantined by the inbox (state 'failed', a reason and a reference, one operators' alert)
and the worker goes on with the next: one delivery never stops the queue. An event type we do not handle is
'ignored'."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence

from bot.domain import from_slack
from bot.domain.events import IncidentEvent
from bot.domain.home import HomesToRefresh
from bot.domain.incident import ChannelPolicy, Decision, Incident, apply_event
from bot.domain.ticket_rules import TicketEvent, TicketRules, decide_ticket
from bot.errors import DeliveryError
from bot.ports import Clock, EventReader
from bot.ports.store import Inbox, InboxRow, Skip

log = logging.getLogger(__name__)


class IncidentWorker:
    def __init__(self, store: Inbox, policy: ChannelPolicy, clock: Clock,
                 on_effects: Callable[[], None], ticket_rules: TicketRules | None = None, *,
                 pagerduty: EventReader[IncidentEvent], servicenow: EventReader[TicketEvent] | None = None,
                 idle_seconds: float = 1.0, on_homes: Callable[[HomesToRefresh], None] | None = None) -> None:
        self._store, self._policy, self._clock, self._on_effects = store, policy, clock, on_effects
        # The App Homes a stored decision makes stale, asked of this process's publisher (it must not raise or wait).
        self._on_homes = on_homes
        self._ticket_rules = ticket_rules
        # The wire formats are the adapters' (bot/adapters/*/webhook.py): each source's reader is handed in.
        self._pagerduty, self._servicenow = pagerduty, servicenow
        self._wake = asyncio.Event()
        # How long an idle worker waits for a wake-up before looking at the inbox anyway (a delivery stored by
        # another replica wakes nobody here).
        self._idle_seconds = idle_seconds
        self.heartbeat = 0.0

    def wake(self) -> None:
        self._wake.set()

    def now(self) -> float:
        """The worker's clock, as the store's `now` for the decisions it stores."""
        return self._clock.now().timestamp()

    async def run(self) -> None:
        while True:
            # Cleared before the drain, not after: a delivery stored while the drain runs (after it read the pending
            # rows) wakes it again at once. Cleared after, that wake-up was lost and the delivery waited out the
            # timeout below (a second each time, several times a burst).
            self._wake.clear()
            handled = await self.drain()
            # Beats only after a drain that worked: a crash loop shows up in /readyz as a stalled worker.
            self.heartbeat = self._clock.now().timestamp()
            if not handled:
                # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancellation (stop() hangs).
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._idle_seconds):
                        await self._wake.wait()

    async def drain(self, limit: int = 256) -> int:
        """Apply up to `limit` pending inbox rows in one batch; return how many were handled. Big batches keep up
        with a burst (one transaction for many rows); the store ends a batch early rather than keep a webhook
        waiting (see the store's `apply_pending`)."""
        handled = 0

        def decide(row: InboxRow, incident: Incident | None) -> Decision | Skip:
            nonlocal handled
            handled += 1
            return self.decide(row, incident)
        decisions = await self._store.apply_pending(decide, self.now(), limit)
        await self.settle(decisions)
        return handled

    async def settle(self, decisions: Sequence[Decision]) -> None:
        """What follows decisions once they are stored (here, or by the intake on arrival): the dispatcher woken for
        their effects (a resolve's review draft is one of them, queued in the resolve's own transaction), and the
        App Homes they make stale asked for (best effort: published a moment later by whoever stored them)."""
        if any(d.effects for d in decisions):
            self._on_effects()
        if self._on_homes is not None:
            for decision in decisions:
                if decision.homes is not None:
                    self._on_homes(decision.homes)

    def decide(self, row: InboxRow, incident: Incident | None) -> Decision | Skip:
        """Pure: the event in this inbox row, applied to what we know of its incident."""
        if row.source == "servicenow":
            return self._decide_ticket(row, incident)
        if row.source == from_slack.SOURCE:
            return self._decide_from_slack(row, incident)
        try:
            event = self._pagerduty.read_event(row.body, row.event_id)
        except DeliveryError as error:  # stored (its envelope was fine), but its content cannot be read
            return Skip("failed", str(error))
        if not event.handled or event.incident_id is None:
            return Skip("ignored", "event type not handled")
        decision = apply_event(incident, event, self._policy)
        log.info("applied %s %s to incident %s: %d effect(s)", event.type, event.id, event.incident_id,
                 len(decision.effects))
        return decision

    def _decide_from_slack(self, row: InboxRow, incident: Incident | None) -> Decision | Skip:
        """Something done in Slack (a key message, a follow-up, a role, a status update) or a reminder found due,
        recorded by bot/services/slack_inbox.py."""
        try:
            record = from_slack.from_json(row.body)
        except ValueError as error:
            return Skip("failed", str(error))
        if incident is None:
            return Skip("ignored", "the incident is not known")
        return from_slack.apply_slack_record(incident, record, self._policy)

    def _decide_ticket(self, row: InboxRow, incident: Incident | None) -> Decision | Skip:
        if self._ticket_rules is None or self._servicenow is None:
            return Skip("ignored", "ServiceNow is not configured")
        try:
            event = self._servicenow.read_event(row.body, row.event_id)
        except DeliveryError as error:
            return Skip("failed", str(error))
        return decide_ticket(event, self._ticket_rules, incident, self._clock.now(), self._policy)
