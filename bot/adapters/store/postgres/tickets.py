"""Each incident's ServiceNow ticket, and which timeline lines it has been told (the TicketRecords port), in
PostgreSQL.

A timeline line carries the work-note batch it was put in (`ticket_batch`) and whether the ticket has it
(`ticket_noted`): a batch is recorded before it is sent, so a retry after a timeout resends the very same lines.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import psycopg

from bot.adapters.store.postgres.bookkeeping_sql import MARK_NOTED, SAVE_TICKET, ticket_values
from bot.adapters.store.postgres.connection import PostgresPart
from bot.adapters.store.postgres.incidents import TIMELINE_ORDER, entry_from_row
from bot.errors import StoreConstraint
from bot.ports.effect_bookkeeping import ticket_taken
from bot.ports.store import TicketRecords, TicketRow, WorkNoteBatch

# Timeline lines the ticket has not been told; the ServiceNow ones came from the ticket itself.
UNTOLD = "incident_id=%s AND ticket_noted=0 AND kind NOT LIKE 'servicenow%%'"


class PostgresTicketRecords(PostgresPart, TicketRecords):
    async def ticket(self, incident_id: str) -> TicketRow | None:
        rows = await self._query("SELECT * FROM tickets WHERE incident_id=%s", (incident_id,))
        return TicketRow(**rows[0]) if rows else None

    async def ticket_by_sys_id(self, sys_id: str) -> TicketRow | None:
        rows = await self._query("SELECT * FROM tickets WHERE sys_id=%s", (sys_id,))
        return TicketRow(**rows[0]) if rows else None

    async def save_ticket(self, ticket: TicketRow) -> None:
        try:
            await self._execute(SAVE_TICKET, ticket_values(ticket))
        except psycopg.errors.UniqueViolation:
            # The ticket is another incident's (its sys_id is unique): the row's fault, refused the same every time.
            # (Anything else refusing the write — a full disk, a trigger — stays the store's failure.)
            owner = await self.ticket_by_sys_id(ticket.sys_id)
            if owner is None or owner.incident_id == ticket.incident_id:
                raise
            raise StoreConstraint(ticket_taken(ticket, owner)) from None

    async def work_note_batch(self, incident_id: str) -> WorkNoteBatch:
        async with self._transaction() as conn:
            # The incident's untold lines are locked first: two replicas asking at once agree on one batch.
            await conn.execute(f"SELECT 1 FROM timeline WHERE {UNTOLD} FOR UPDATE".encode(), (incident_id,))
            cursor = await conn.execute(f"SELECT ticket_batch FROM timeline WHERE {UNTOLD} AND ticket_batch IS NOT"
                                        f" NULL {TIMELINE_ORDER} LIMIT 1".encode(), (incident_id,))
            open_batch = await cursor.fetchone()
            batch = open_batch["ticket_batch"] if open_batch else uuid.uuid4().hex[:12]
            if not open_batch:
                await conn.execute(f"UPDATE timeline SET ticket_batch=%s WHERE {UNTOLD}".encode(),
                                   (batch, incident_id))
            cursor = await conn.execute(f"SELECT * FROM timeline WHERE {UNTOLD} AND ticket_batch=%s"
                                        f" {TIMELINE_ORDER}".encode(), (incident_id, batch))
            entries = [entry_from_row(r) for r in await cursor.fetchall()]
        return WorkNoteBatch(batch, entries, resumed=open_batch is not None)

    async def mark_noted(self, entry_ids: Sequence[str]) -> None:
        if entry_ids:
            await self._execute(MARK_NOTED, (list(entry_ids),))
