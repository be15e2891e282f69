"""The handover ledger (the HandoverLedger port), in PostgreSQL: which rota's shift boundaries have been handed
over, and the notes left for the next shift.

A handover row is keyed by its `shift_key` (rota + boundary instant): inserting it and queueing the post happen in one
transaction, and a second insert for the same key does nothing (ON CONFLICT DO NOTHING, which the primary key makes
safe across replicas) — so a restart in the handover minute, two scheduler jobs firing together, or two overlapping
schedules produce one post.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from bot.adapters.store.postgres.connection import PostgresPart
from bot.adapters.store.postgres.outbox import insert_effect
from bot.adapters.store.postgres.outbox_claims import HOLDER
from bot.domain.effects import Effect
from bot.ports.handover_ledger import EffectHolder
from bot.ports.store import POSTED, QUEUED, SKIPPED, HandoverLedger, HandoverNote, HandoverRow, OnCallPeople


class PostgresHandoverLedger(PostgresPart, HandoverLedger):
    async def last_boundary(self, rota_id: str, until: datetime | None = None) -> datetime | None:
        # Boundaries are whole seconds in UTC, written by isoformat: compared as text, in time order ("9": any year).
        latest = "9" if until is None else until.astimezone(UTC).isoformat()
        value = await self._value("SELECT max(boundary) FROM handovers WHERE rota_id=%s AND boundary <= %s",
                                  (rota_id, latest))
        return datetime.fromisoformat(value) if value else None

    async def claim(self, shift_key: str, rota_id: str, boundary: datetime, *, late: bool, effect: Effect | None,
                    now: float) -> bool:
        async with self._transaction() as conn:
            cursor = await conn.execute(
                b"INSERT INTO handovers (shift_key, rota_id, boundary, late, state, created_at)"
                b" VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (shift_key) DO NOTHING",
                (shift_key, rota_id, boundary.astimezone(UTC).isoformat(), int(late),
                 SKIPPED if effect is None else QUEUED, now))
            claimed = cursor.rowcount == 1
            if claimed and effect is not None:
                await insert_effect(conn, effect, 1, now)
        return claimed

    async def get(self, shift_key: str) -> HandoverRow | None:
        rows = await self._query("SELECT * FROM handovers WHERE shift_key=%s", (shift_key,))
        return _row(rows[0]) if rows else None

    async def save_post(self, shift_key: str, *, channel: str, ts: str, outgoing: OnCallPeople | None,
                        incoming: OnCallPeople | None, notes: Sequence[HandoverNote], follow_up: Effect | None,
                        now: float, holder: EffectHolder | None = None) -> bool:
        async with self._transaction() as conn:
            if holder is not None:
                # The effect's row locked while the post is recorded: a claim by another replica waits until this
                # commits (and then takes over a post recorded), or this finds the effect no longer the holder's.
                held = await conn.execute(f"SELECT 1 FROM outbox WHERE seq=%s AND {HOLDER} FOR UPDATE".encode(),
                                          (holder.seq, holder.owner, holder.owner))
                if await held.fetchone() is None:
                    return False  # another replica took the effect over: its post stands
            await conn.execute(b"UPDATE handovers SET state=%s, channel=%s, ts=%s, outgoing=%s, incoming=%s,"
                               b" posted_at=%s WHERE shift_key=%s",
                               (POSTED, channel, ts, _names(outgoing), _names(incoming), now, shift_key))
            if notes:
                await conn.execute(b"UPDATE handover_notes SET shift_key=%s WHERE id = ANY(%s) AND shift_key IS NULL",
                                   (shift_key, [note.id for note in notes]))
            if follow_up is not None:
                await insert_effect(conn, follow_up, 1, now)
        return True

    async def let_go(self, shift_key: str, state: str, *, alert: Effect, now: float) -> bool:
        async with self._transaction() as conn:
            cursor = await conn.execute(b"UPDATE handovers SET state=%s WHERE shift_key=%s AND state=%s",
                                        (state, shift_key, QUEUED))
            if cursor.rowcount != 1:
                return False
            await insert_effect(conn, alert, 0, now)
        return True

    async def save_on_call(self, shift_key: str, outgoing: OnCallPeople, incoming: OnCallPeople) -> None:
        await self._execute("UPDATE handovers SET outgoing=%s, incoming=%s WHERE shift_key=%s",
                            (_names(outgoing), _names(incoming), shift_key))

    # -- notes -----------------------------------------------------------------------------------------------

    async def add_note(self, rota_id: str, author: str, text: str, created_at: datetime) -> int:
        async with self._transaction() as conn:
            await conn.execute(b"INSERT INTO handover_notes (rota_id, author, text, created_at)"
                               b" VALUES (%s, %s, %s, %s)",
                               (rota_id, author, text, created_at.astimezone(UTC).isoformat()))
            cursor = await conn.execute(b"SELECT count(*) AS n FROM handover_notes WHERE rota_id=%s"
                                        b" AND shift_key IS NULL", (rota_id,))
            row = await cursor.fetchone()
        return int(row["n"]) if row else 0

    async def notes_for(self, rota_id: str, shift_key: str, before: datetime) -> list[HandoverNote]:
        return [_note(r) for r in await self._query(
            "SELECT * FROM handover_notes WHERE shift_key=%s"
            " OR (rota_id=%s AND shift_key IS NULL AND created_at < %s) ORDER BY id",
            (shift_key, rota_id, before.astimezone(UTC).isoformat()))]

    async def notes_of(self, shift_key: str) -> list[HandoverNote]:
        return [_note(r) for r in await self._query(
            "SELECT * FROM handover_notes WHERE shift_key=%s ORDER BY id", (shift_key,))]

    async def waiting_notes(self, rota_id: str) -> list[HandoverNote]:
        return [_note(r) for r in await self._query(
            "SELECT * FROM handover_notes WHERE rota_id=%s AND shift_key IS NULL ORDER BY id", (rota_id,))]

    async def waiting_notes_of(self, rota_ids: Sequence[str]) -> dict[str, list[HandoverNote]]:
        found: dict[str, list[HandoverNote]] = {rota_id: [] for rota_id in rota_ids}
        if found:
            for row in await self._query("SELECT * FROM handover_notes WHERE rota_id = ANY(%s) AND shift_key IS NULL"
                                         " ORDER BY id", (list(found),)):
                found[row["rota_id"]].append(_note(row))
        return found

    # -- what is still pending -------------------------------------------------------------------------------

    async def backlog(self, incident_ids: Sequence[str]) -> dict[str, tuple[int, int]]:
        if not incident_ids:
            return {}
        rows = await self._query(
            "SELECT incident_id, count(*) FILTER (WHERE state='dead') AS dead,"
            " count(*) FILTER (WHERE state='pending' AND queue LIKE 'servicenow:%%') AS waiting"
            " FROM outbox WHERE incident_id = ANY(%s) GROUP BY incident_id", (list(incident_ids),))
        return {r["incident_id"]: (int(r["dead"] or 0), int(r["waiting"] or 0)) for r in rows}


def _names(people: OnCallPeople | None) -> str | None:
    return None if people is None else json.dumps([list(p) for p in people])


def _row(row: dict[str, Any]) -> HandoverRow:
    def ids(value: str | None) -> tuple[tuple[str, str], ...] | None:
        return None if value is None else tuple((str(a), str(b)) for a, b in json.loads(value))
    return HandoverRow(row["shift_key"], row["rota_id"], datetime.fromisoformat(row["boundary"]), bool(row["late"]),
                       row["state"], ids(row["outgoing"]), ids(row["incoming"]), row["channel"], row["ts"])


def _note(row: dict[str, Any]) -> HandoverNote:
    return HandoverNote(row["id"], row["author"], row["text"], datetime.fromisoformat(row["created_at"]))
