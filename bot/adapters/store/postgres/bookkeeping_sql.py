"""The statements that record an effect's bookkeeping (bot/ports/effect_bookkeeping.py) in PostgreSQL, shared by
the single-piece port methods (footprint.py, tickets.py) and the outcome that records them all at once (outbox.py's
`record_bookkeeping`). A leaf: it imports no other part, so each of those may import it."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from bot.adapters.store.footprint_record import footprint_record
from bot.ports.store import FootprintChange, TicketRow

TICKET_COLUMNS = tuple(TicketRow.__dataclass_fields__)
SAVE_TICKET = (f"INSERT INTO tickets ({', '.join(TICKET_COLUMNS)}) VALUES ({', '.join(['%s'] * len(TICKET_COLUMNS))})"
               " ON CONFLICT (incident_id) DO UPDATE SET "
               + ", ".join(f"{c}=excluded.{c}" for c in TICKET_COLUMNS if c != "incident_id"))
SET_TIMELINE_TS = "UPDATE timeline SET slack_ts=%s WHERE id=%s"
MARK_NOTED = "UPDATE timeline SET ticket_noted=1 WHERE id = ANY(%s)"


def footprint_upsert(incident_id: str, changes: FootprintChange) -> tuple[str, list[Any]]:
    """The statement remembering some pieces of an incident's footprint (an upsert of only those pieces, so steps
    running concurrently — on this replica or another — never overwrite each other's pieces)."""
    record = footprint_record(changes)
    columns = ["incident_id", *record]
    marks = ", ".join(["%s"] * len(columns))
    update = ", ".join(f"{c}=excluded.{c}" for c in record)
    conflict = f"DO UPDATE SET {update}" if update else "DO NOTHING"
    return (f"INSERT INTO incident_slack ({', '.join(columns)}) VALUES ({marks}) ON CONFLICT (incident_id) {conflict}",
            [incident_id, *record.values()])


def footprint_update_in_channel(incident_id: str, channel_id: str, changes: FootprintChange) -> tuple[str, list[Any]]:
    """The statement remembering some pieces of an incident's footprint only while it names channel `channel_id`
    (EffectBookkeeping.while_channel): its row count says whether it did. Under READ COMMITTED the condition is
    looked at again on the row as a transaction writing it meanwhile committed it (a move is never overwritten)."""
    record = footprint_record(changes)
    if not record:
        return "SELECT 1 FROM incident_slack WHERE incident_id=%s AND channel_id=%s", [incident_id, channel_id]
    return (f"UPDATE incident_slack SET {', '.join(f'{c}=%s' for c in record)} WHERE incident_id=%s AND channel_id=%s",
            [*record.values(), incident_id, channel_id])


def ticket_values(ticket: TicketRow) -> list[Any]:
    """SAVE_TICKET's parameters."""
    return list(asdict(ticket).values())
