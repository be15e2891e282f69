"""The inbox's port: deliveries stored before they are answered, then applied in arrival order — by the worker, or
as they arrive when nothing of their incident stored before them is still waiting (`record_and_apply`); and the
records it speaks.
Re-exported by bot/ports/store.py, where the other store ports live."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol

from bot.domain.incident import Decision, Incident


@dataclass(frozen=True)
class InboxRow:
    """One stored delivery (a PagerDuty webhook or a ServiceNow business rule call), waiting to be applied."""

    seq: int
    source: str
    event_id: str
    event_type: str
    incident_id: str | None
    body: str


class NewDelivery(NamedTuple):
    """A delivery to store (`Inbox.record_deliveries`), as `record_delivery` takes one."""

    source: str
    delivery_id: str
    event_id: str
    event_type: str
    incident_id: str | None
    occurred_at: str
    body: str


@dataclass(frozen=True)
class Skip:
    """An inbox row that changes nothing: `state` is 'ignored' (not ours to handle) or 'failed' (its content cannot
    be read: the row is quarantined, see `Inbox.apply_pending`)."""

    state: str
    reason: str


@dataclass(frozen=True)
class FailedDelivery:
    """A delivery set aside (quarantined) because it could not be applied: `reference` names it in the operators'
    alert, the logs and `pavedroad inbox`; `received_at` is ISO 8601 (UTC)."""

    reference: str
    received_at: str
    source: str
    event_type: str
    incident_id: str | None
    reason: str


@dataclass(frozen=True)
class Arrival:
    """What `Inbox.record_and_apply` did with one delivery: `stored` is False for a duplicate (nothing written);
    `outcome` is what applying it decided — a Decision (stored with it), Skip('ignored') (marked so) — or None when
    it was left pending, for the worker to apply (or quarantine) in its turn."""

    stored: bool
    outcome: Decision | Skip | None


class Inbox(Protocol):
    """Deliveries stored before they are answered, then applied in arrival order."""

    async def record_delivery(self, *, source: str, delivery_id: str, event_id: str, event_type: str,
                              incident_id: str | None, occurred_at: str, body: str) -> bool:
        """Store one delivery durably (on return it survives a crash); False if this delivery id or event id was
        already stored for `source` (a duplicate). Deliveries arriving together may be stored together, but one that
        cannot be stored fails alone: its caller gets the error and the others are stored."""
        ...
    async def record_deliveries(self, deliveries: Sequence[NewDelivery]) -> list[bool]:
        """Store many deliveries durably in one transaction (with any stored together with them), in their order;
        for each, False if it was already stored, or is a repeat of one before it in `deliveries` (a duplicate, as
        `record_delivery` says). Should that transaction fail, they are stored one by one, and the first error is
        raised once all are tried."""
        ...
    async def record_and_apply(self, *, source: str, delivery_id: str, event_id: str, event_type: str,
                               incident_id: str | None, occurred_at: str, body: str,
                               decide: Callable[[InboxRow, Incident | None], Decision | Skip],
                               now: float) -> Arrival:
        """`record_delivery`, and the delivery applied in the same transaction when no row stored before it is still
        pending for its incident, nor one with no incident (for a delivery with no incident: no row at all), in any
        replica, and no other applier holds the inbox: one durable commit for the delivery, its decision and its
        effects, and no worker to wake. (`decide` reads only the row and its incident, so an incident's rows need
        only be applied in their own order.) Applied exactly as `apply_pending` would (`decide` sees the incident as
        stored, or as left by the deliveries stored with this one). A delivery that cannot be applied here — such a
        row pending before it, the inbox held by an applier, `decide` raising or returning Skip('failed'), its
        decision failing to store — is stored pending (its outcome None) with nothing of its applying kept, and holds
        back the deliveries of its incident (of every incident, if it has none) stored after it in the same
        transaction: the worker applies or quarantines them in order. A failure to store the delivery itself fails
        as `record_delivery` does."""
        ...
    async def apply_pending(self, decide: Callable[[InboxRow, Incident | None], Decision | Skip], now: float,
                            limit: int = 100) -> list[Decision]:
        """Apply up to `limit` pending rows in arrival order, in one transaction; return the decisions made.

        Replicas calling at once never apply a row twice, and an incident's rows are applied in arrival order whoever
        applies them: a row is read, decided and marked applied under one lock (or claim) that no other caller's
        batch can slip between.

        `decide` (pure, synchronous) sees each row with its incident as left by the earlier rows of the batch. Each
        decision's incident, timeline entry and effects are stored with the row marked applied; a row whose `decide`
        returns Skip('ignored') is marked so. A row that fails at any step — its incident cannot be read, `decide`
        raises or returns Skip('failed'), or its decision cannot be stored — is QUARANTINED alone: whatever it wrote
        is undone, it is marked 'failed' with its reason and a short reference (kept if it had one), one
        AlertOperators naming them is queued with it, and the rows behind it are applied. A quarantined row is never
        tried again unless `retry_delivery` says so. An OpenIncidentChannel effect also queues the posting of the
        incident's timeline entries stored before it (not yet posted, not already queued), in the order they
        happened. A record from Slack of a type this version does not know (a newer version's) is not read: it is
        left pending for a replica that can, with the rows of its incident stored after it
        (bot/adapters/store/unreadable.py)."""
        ...
    async def failed_deliveries(self, limit: int | None = None) -> list[FailedDelivery]:
        """The quarantined deliveries, the latest received first (at most `limit`)."""
        ...
    async def retry_delivery(self, reference: str) -> bool:
        """Set the quarantined delivery with this reference back to pending, for the worker to apply again (an old
        event is taken for what it is: the newest snapshot wins); False when no quarantined delivery has it."""
        ...
    async def commit_decision(self, inbox_seq: int, decision: Decision, now: float) -> None:
        """Store one decision (as `apply_pending` would) and mark its inbox row applied, in one transaction."""
        ...


@dataclass(frozen=True)
class StoredRecord:
    """A record from Slack as the inbox holds it (`RecordsFromSlack`): its `state` — 'pending' (not applied yet: the
    worker's queue is long, or a row before it waits), 'applied', 'ignored' or 'failed' (quarantined, under
    `reference`) — and its body."""

    state: str
    body: str
    reference: str | None = None


class RecordsFromSlack(Protocol):
    """A record the bot made from Slack read back by its id: what a Take command recorded before this one says who
    pressed it, and whether it was applied or given up (bot/services/toolkit.py)."""

    async def recorded_from_slack(self, record_id: str) -> StoredRecord | None:
        """The record from Slack (source "slack") stored under `record_id`, or None: none was, or it has been
        removed since (retention)."""
        ...
