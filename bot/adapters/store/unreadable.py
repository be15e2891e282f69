"""Rows of the shared store this version cannot read, for both stores: what a rolling upgrade (or a downgrade) of
replicas sharing one store leaves for a while — an effect or a record of a kind a newer version added, or of a kind
this one knows with a field it does not — and what a corrupted row looks like. Such a row is LEFT for a replica that
can read it: never claimed, tried, killed nor quarantined here, and never in the way of the rows it can read.

- An effect of a kind this version does not know is never read: the due-effects and next-due statements ask only for
  the known kinds (`KNOWN_EFFECT`, a filter on the rows the partial indexes give, which keeps them index-served).
- An effect of a known kind whose payload this version cannot read is only found by decoding it: it is remembered by
  seq (`UnreadableEffects`, one per store object: per replica), logged once, and left out of the same statements
  from then on (`seq NOT IN` the remembered ones).

Either way the row stays pending, and once it heads its queue the effects queued behind it there (one outside
system and one incident) wait for a replica that can read it, as the outbox's order within a queue says they must;
every other queue goes on.

- A record the bot made itself from Slack (inbox source "slack") of a type this version does not know was written by
  a newer replica: the applier's read (`APPLIED_HERE`) leaves it pending, and the incident's rows stored after it
  wait behind it (the inbox applies an incident's rows in arrival order). A delivery from outside (PagerDuty,
  ServiceNow) is read as before: an event type nobody handles is 'ignored', and a malformed one is quarantined —
  nothing outside can make the bot leave a row pending.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable

from bot.domain import from_slack
from bot.domain.effects import Effect
from bot.domain.effects.kinds import EFFECT_TYPES, effect_from_row

log = logging.getLogger(__name__)


def _listed(values: frozenset[str]) -> str:
    # Literals of our own code's kinds (lowercase words and dots): no parameters to thread through every statement.
    assert all(value.replace("_", "").replace(".", "").isalnum() for value in values), values
    return ", ".join(f"'{value}'" for value in sorted(values))


# A filter on outbox rows (no alias): the effect kinds this version knows.
KNOWN_KINDS = _listed(frozenset(EFFECT_TYPES))
KNOWN_EFFECT = f"kind IN ({KNOWN_KINDS})"
# The same filter for SQLite's hot reads (the due heads, when the next is due): there `kind IN (a list)` builds a
# throwaway b-tree of the list on every run of the statement, about as much CPU as the rest of a read of one due head
# (session 12, s12effect); a CASE compares in turn and builds nothing. The same rows: `kind` is never NULL, and both
# compare as BINARY text.
KNOWN_EFFECT_CASE = ("CASE kind " + " ".join(f"WHEN {kind} THEN 1" for kind in KNOWN_KINDS.split(", "))
                     + " ELSE 0 END")
# `{skipped}`: the seqs this replica found it cannot read (placeholders, or a subquery). How many pending effects
# this replica leaves for a newer version: the queue heads it cannot read, and the effects queued behind them. A walk
# of the queues' heads (the partial index outbox_due), then a seek into outbox_queue (state, queue, seq) per head
# it cannot read: not a look at every pending effect.
# `{indexed}`: SQLite's INDEXED BY, which holds its planner to the heads' index (PostgreSQL's finds it alone).
EFFECTS_WAITING = ("SELECT count(*) FROM outbox h {indexed} JOIN outbox o ON o.state = 'pending' AND o.queue = h.queue"
                   " WHERE h.state = 'pending' AND h.head = 1"
                   f" AND (h.kind NOT IN ({KNOWN_KINDS}) OR h.seq IN ({{skipped}}))")
# A filter on inbox rows (`{alias}`: the table's alias and a dot, or nothing): a row this version reads — from
# outside, or a record from Slack of a type it knows.
READABLE_RECORD = (f"({{alias}}source != '{from_slack.SOURCE}' OR {{alias}}event_type IN"
                   f" ({_listed(from_slack.RECORD_TYPES)}))")
# A filter on pending inbox rows (no alias): one this replica applies — readable, and with no record of its incident
# before it that this version cannot read (the rows of an incident are applied in arrival order). The look for such a
# record is a seek into inbox_pending_from_slack (migration 20: the pending records from Slack, by incident), so a
# backlog of deliveries from outside costs nothing more to read.
APPLIED_HERE = (f"{READABLE_RECORD.format(alias='inbox.')} AND NOT EXISTS (SELECT 1 FROM inbox u"
                f" WHERE u.state = 'pending' AND u.source = '{from_slack.SOURCE}' AND u.incident_id = inbox.incident_id"
                f" AND u.seq < inbox.seq AND u.event_type NOT IN ({_listed(from_slack.RECORD_TYPES)}))")

# How many pending inbox rows this replica leaves for a newer version: the records it does not know, and the rows of
# their incidents stored after them. Driven from those records (a walk of inbox_pending_from_slack's rows, the
# pending records from Slack): a backlog of deliveries from outside is not read.
_UNKNOWN_RECORD = (f"state = 'pending' AND source = '{from_slack.SOURCE}'"
                   f" AND event_type NOT IN ({_listed(from_slack.RECORD_TYPES)})")
RECORDS_WAITING = (
    "SELECT (SELECT count(*) FROM (SELECT incident_id, min(seq) AS first FROM inbox"
    f" WHERE {_UNKNOWN_RECORD} AND incident_id IS NOT NULL GROUP BY incident_id) w"
    " JOIN inbox r ON r.state = 'pending' AND r.incident_id = w.incident_id AND r.seq >= w.first)"
    f" + (SELECT count(*) FROM inbox WHERE {_UNKNOWN_RECORD} AND incident_id IS NULL)")


# How many effects a replica remembers it cannot read before it looks which of them are still pending.
PRUNE_AT = 64


class UnreadableEffects:
    """The effects of a known kind whose payload this replica could not read (by seq, with why): left out of its
    claims from then on, each logged once."""

    def __init__(self) -> None:
        self._why: dict[int, str] = {}
        # Past this many remembered, the store asks which are still pending and forgets the rest (a newer replica
        # performed them): the list every claim leaves out stays as long as what is left, not all ever met.
        self._prune_at = PRUNE_AT

    @property
    def seqs(self) -> tuple[int, ...]:
        return tuple(self._why)

    @property
    def due_for_pruning(self) -> bool:
        return len(self._why) >= self._prune_at

    def keep_only(self, pending: Iterable[int]) -> None:
        """Forget those not in `pending` (the remembered seqs still pending, as the store found them)."""
        still = set(pending)
        self._why = {seq: why for seq, why in self._why.items() if seq in still}
        self._prune_at = max(PRUNE_AT, 2 * len(self._why))

    def decode(self, seq: int, kind: str, payload: str) -> Effect | None:
        """The effect in an outbox row, or None (remembered, and logged the first time) when this version cannot
        read it."""
        try:
            return effect_from_row(kind, json.loads(payload))
        except Exception as error:  # a newer version's field, one it dropped, a corrupted payload: all the same here
            if seq not in self._why:
                self._why[seq] = f"{error.__class__.__name__}: {error}"[:300]
                log.warning("effect #%s (%s) cannot be read by this version (%s): left pending for a replica that can"
                            " read it; the effects queued behind it in its queue wait for it, the others go on. See"
                            " the README's \"Rolling upgrades\"", seq, kind, self._why[seq])
            return None
