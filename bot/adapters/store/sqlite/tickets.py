"""Each incident's ServiceNow ticket, and which timeline lines it has been told (the TicketRecords port), in SQLite.

A timeline line carries the work-note batch it was put in (`ticket_batch`) and whether the ticket has it
(`ticket_noted`): a batch is recorded before it is sent, so a retry after a timeout resends the very same lines.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Sequence

from bot.adapters.store.sqlite.bookkeeping_sql import SAVE_TICKET, mark_noted_sql, ticket_values
from bot.adapters.store.sqlite.connection import SqlitePart
from bot.adapters.store.sqlite.incidents import TIMELINE_ORDER, entry_from_row
from bot.errors import StoreConstraint
from bot.ports.effect_bookkeeping import ticket_taken
from bot.ports.store import TicketRecords, TicketRow, WorkNoteBatch

# Timeline lines the ticket has not been told; the ServiceNow ones came from the ticket itself.
UNTOLD = "incident_id=? AND ticket_noted=0 AND kind NOT LIKE 'servicenow%'"

class SqliteTicketRecords(SqlitePart, TicketRecords):
    async def ticket(self, incident_id: str) -> TicketRow | None:
        rows = await self._run(lambda: self._query("SELECT * FROM tickets WHERE incident_id=?", (incident_id,)))
        return TicketRow(**rows[0]) if rows else None

    async def ticket_by_sys_id(self, sys_id: str) -> TicketRow | None:
        rows = await self._run(lambda: self._query("SELECT * FROM tickets WHERE sys_id=?", (sys_id,)))
        return TicketRow(**rows[0]) if rows else None

    async def save_ticket(self, ticket: TicketRow) -> None:
        def write() -> None:
            # Light (connection.py): a ticket forgotten with the machine is found again by its correlation id.
            with self._transaction(light=True) as conn:
                conn.execute(SAVE_TICKET, ticket_values(ticket))
        try:
            await self._run(write)
        except sqlite3.IntegrityError:
            # The ticket is another incident's (its sys_id is unique): the row's fault, refused the same every time.
            # (Anything else refusing the write — a full disk, a trigger — stays the store's failure.)
            owner = await self.ticket_by_sys_id(ticket.sys_id)
            if owner is None or owner.incident_id == ticket.incident_id:
                raise
            raise StoreConstraint(ticket_taken(ticket, owner)) from None

    async def work_note_batch(self, incident_id: str) -> WorkNoteBatch:
        def work(conn: sqlite3.Connection) -> WorkNoteBatch:
            open_batch = conn.execute(f"SELECT ticket_batch FROM timeline WHERE {UNTOLD} AND ticket_batch IS NOT"
                                      f" NULL {TIMELINE_ORDER} LIMIT 1", (incident_id,)).fetchone()
            batch = open_batch[0] if open_batch else uuid.uuid4().hex[:12]
            if not open_batch:
                conn.execute(f"UPDATE timeline SET ticket_batch=? WHERE {UNTOLD}", (batch, incident_id))
            rows = conn.execute(f"SELECT * FROM timeline WHERE {UNTOLD} AND ticket_batch=? {TIMELINE_ORDER}",
                                (incident_id, batch))
            columns = [c[0] for c in rows.description]
            entries = [entry_from_row(dict(zip(columns, r, strict=True))) for r in rows.fetchall()]
            return WorkNoteBatch(batch, entries, resumed=open_batch is not None)
        # Durable (the batch is on disk before its note goes out: a retry resends the very same lines), and
        # group-committed with the effects finished meanwhile (connection.py): one trip and one fsync for them all.
        return await self._connection.group_commit(work)

    async def mark_noted(self, entry_ids: Sequence[str]) -> None:
        def write() -> None:
            # Light: the effect that told the ticket is marked done (durably) after this, which carries it to disk.
            with self._transaction(light=True) as conn:
                conn.execute(mark_noted_sql(len(entry_ids)), list(entry_ids))
        if entry_ids:
            await self._run(write)
