"""The statements that record an effect's bookkeeping (bot/ports/effect_bookkeeping.py) in SQLite, shared by the
single-piece port methods (footprint.py, tickets.py) and the outcome that records them all at once (outbox.py's
`record_bookkeeping`). A leaf: it imports no other part, so each of those may import it."""

from __future__ import annotations

from typing import Any

from bot.adapters.store.footprint_record import footprint_record
from bot.ports.store import FootprintChange, TicketRow

SET_TIMELINE_TS = "UPDATE timeline SET slack_ts=? WHERE id=?"


def footprint_upsert(incident_id: str, changes: FootprintChange) -> tuple[str, tuple[Any, ...]]:
    """The statement remembering some pieces of an incident's footprint (an upsert of only those pieces)."""
    record = footprint_record(changes)
    columns = ["incident_id", *record]
    update = ", ".join(f"{c}=excluded.{c}" for c in record)
    return (f"INSERT INTO incident_slack ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
            f" ON CONFLICT (incident_id) {f'DO UPDATE SET {update}' if update else 'DO NOTHING'}",
            (incident_id, *record.values()))


def footprint_update_in_channel(incident_id: str, channel_id: str,
                                changes: FootprintChange) -> tuple[str, tuple[Any, ...]]:
    """The statement remembering some pieces of an incident's footprint only while it names channel `channel_id`
    (EffectBookkeeping.while_channel): its row count says whether it did."""
    record = footprint_record(changes)
    if not record:
        return "SELECT 1 FROM incident_slack WHERE incident_id=? AND channel_id=?", (incident_id, channel_id)
    return (f"UPDATE incident_slack SET {', '.join(f'{c}=?' for c in record)} WHERE incident_id=? AND channel_id=?",
            (*record.values(), incident_id, channel_id))


SAVE_TICKET = ("INSERT INTO tickets (incident_id, sys_id, number, link, state, channel_told) VALUES (?, ?, ?, ?, ?, ?)"
               " ON CONFLICT (incident_id) DO UPDATE SET sys_id=excluded.sys_id, number=excluded.number,"
               " link=excluded.link, state=excluded.state, channel_told=excluded.channel_told")


def ticket_values(ticket: TicketRow) -> tuple[Any, ...]:
    """SAVE_TICKET's parameters."""
    return (ticket.incident_id, ticket.sys_id, ticket.number, ticket.link, ticket.state, ticket.channel_told)


def mark_noted_sql(count: int) -> str:
    """Marks `count` timeline entries (the parameters: their ids) as told to the ticket."""
    return f"UPDATE timeline SET ticket_noted=1 WHERE id IN ({','.join('?' * count)})"
