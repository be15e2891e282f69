"""The handover ledger (the HandoverLedger port), in SQLite: which rota's shift boundaries have been handed over, and
the notes left for the next shift.

A handover row is keyed by its `shift_key` (rota + boundary instant): inserting it and queueing the post happen in one
transaction, and a second insert for the same key does nothing — so a restart in the handover minute, two scheduler
jobs firing together, or two overlapping schedules produce one post.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from bot.adapters.store.sqlite.connection import SqlitePart
from bot.adapters.store.sqlite.outbox import insert_effect
from bot.adapters.store.sqlite.outbox_claims import HOLDER
from bot.domain.effects import Effect
from bot.ports.handover_ledger import EffectHolder
from bot.ports.store import POSTED, QUEUED, SKIPPED, HandoverLedger, HandoverNote, HandoverRow, OnCallPeople


class SqliteHandoverLedger(SqlitePart, HandoverLedger):
    async def last_boundary(self, rota_id: str, until: datetime | None = None) -> datetime | None:
        # Boundaries are whole seconds in UTC, written by isoformat: compared as text, in time order ("9": any year).
        latest = "9" if until is None else until.astimezone(UTC).isoformat()
        rows = await self._run(lambda: self._query("SELECT max(boundary) AS b FROM handovers WHERE rota_id=?"
                                                   " AND boundary <= ?", (rota_id, latest)))
        value = rows[0]["b"] if rows else None
        return datetime.fromisoformat(value) if value else None

    async def claim(self, shift_key: str, rota_id: str, boundary: datetime, *, late: bool, effect: Effect | None,
                    now: float) -> bool:
        def write() -> bool:
            with self._transaction() as conn:
                cursor = conn.execute(
                    "INSERT OR IGNORE INTO handovers (shift_key, rota_id, boundary, late, state, created_at)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (shift_key, rota_id, boundary.astimezone(UTC).isoformat(), int(late),
                     SKIPPED if effect is None else QUEUED, now))
                if cursor.rowcount and effect is not None:
                    insert_effect(conn, effect, 1, now)
                return bool(cursor.rowcount)
        return await self._run(write)

    async def get(self, shift_key: str) -> HandoverRow | None:
        rows = await self._run(lambda: self._query("SELECT * FROM handovers WHERE shift_key=?", (shift_key,)))
        return _row(rows[0]) if rows else None

    async def save_post(self, shift_key: str, *, channel: str, ts: str, outgoing: OnCallPeople | None,
                        incoming: OnCallPeople | None, notes: Sequence[HandoverNote], follow_up: Effect | None,
                        now: float, holder: EffectHolder | None = None) -> bool:
        def write() -> bool:
            with self._transaction() as conn:
                # Asked in the same transaction as the write: SQLite's one writer at a time means no claim between.
                if holder is not None and conn.execute(f"SELECT 1 FROM outbox WHERE seq=? AND {HOLDER}",
                                                       (holder.seq, holder.owner, holder.owner)).fetchone() is None:
                    return False  # another replica took the effect over: its post stands
                conn.execute("UPDATE handovers SET state=?, channel=?, ts=?, outgoing=?, incoming=?, posted_at=?"
                             " WHERE shift_key=?",
                             (POSTED, channel, ts, _names(outgoing), _names(incoming), now, shift_key))
                conn.executemany("UPDATE handover_notes SET shift_key=? WHERE id=? AND shift_key IS NULL",
                                 [(shift_key, note.id) for note in notes])
                if follow_up is not None:
                    insert_effect(conn, follow_up, 1, now)
                return True
        return await self._run(write)

    async def let_go(self, shift_key: str, state: str, *, alert: Effect, now: float) -> bool:
        def write() -> bool:
            with self._transaction() as conn:
                if not conn.execute("UPDATE handovers SET state=? WHERE shift_key=? AND state=?",
                                    (state, shift_key, QUEUED)).rowcount:
                    return False
                insert_effect(conn, alert, 0, now)
                return True
        return await self._run(write)

    async def save_on_call(self, shift_key: str, outgoing: OnCallPeople, incoming: OnCallPeople) -> None:
        await self._run(lambda: self.db.execute("UPDATE handovers SET outgoing=?, incoming=? WHERE shift_key=?",
                                                (_names(outgoing), _names(incoming), shift_key)))

    # -- notes -----------------------------------------------------------------------------------------------

    async def add_note(self, rota_id: str, author: str, text: str, created_at: datetime) -> int:
        def write() -> int:
            with self._transaction() as conn:
                conn.execute("INSERT INTO handover_notes (rota_id, author, text, created_at) VALUES (?, ?, ?, ?)",
                             (rota_id, author, text, created_at.astimezone(UTC).isoformat()))
                return int(conn.execute("SELECT count(*) FROM handover_notes WHERE rota_id=? AND shift_key IS NULL",
                                        (rota_id,)).fetchone()[0])
        return await self._run(write)

    async def notes_for(self, rota_id: str, shift_key: str, before: datetime) -> list[HandoverNote]:
        return [_note(r) for r in await self._run(lambda: self._query(
            "SELECT * FROM handover_notes WHERE shift_key=?"
            " OR (rota_id=? AND shift_key IS NULL AND created_at < ?) ORDER BY id",
            (shift_key, rota_id, before.astimezone(UTC).isoformat())))]

    async def notes_of(self, shift_key: str) -> list[HandoverNote]:
        return [_note(r) for r in await self._run(lambda: self._query(
            "SELECT * FROM handover_notes WHERE shift_key=? ORDER BY id", (shift_key,)))]

    async def waiting_notes(self, rota_id: str) -> list[HandoverNote]:
        return [_note(r) for r in await self._run(lambda: self._query(
            "SELECT * FROM handover_notes WHERE rota_id=? AND shift_key IS NULL ORDER BY id", (rota_id,)))]

    async def waiting_notes_of(self, rota_ids: Sequence[str]) -> dict[str, list[HandoverNote]]:
        wanted = list(dict.fromkeys(rota_ids))

        def read() -> dict[str, list[HandoverNote]]:
            found: dict[str, list[HandoverNote]] = {rota_id: [] for rota_id in wanted}
            for row in self._query(f"SELECT * FROM handover_notes WHERE rota_id IN ({','.join('?' * len(wanted))})"
                                   " AND shift_key IS NULL ORDER BY id", wanted):
                found[row["rota_id"]].append(_note(row))
            return found
        return await self._run(read) if wanted else {}

    # -- what is still pending -------------------------------------------------------------------------------

    async def backlog(self, incident_ids: Sequence[str]) -> dict[str, tuple[int, int]]:
        if not incident_ids:
            return {}
        marks = ",".join("?" * len(incident_ids))

        def read() -> dict[str, tuple[int, int]]:
            rows = self._query(
                "SELECT incident_id, sum(state='dead') AS dead,"
                " sum(state='pending' AND queue LIKE 'servicenow:%') AS waiting"
                f" FROM outbox WHERE incident_id IN ({marks}) GROUP BY incident_id", list(incident_ids))
            return {r["incident_id"]: (int(r["dead"] or 0), int(r["waiting"] or 0)) for r in rows}
        return await self._run(read)


def _names(people: OnCallPeople | None) -> str | None:
    return None if people is None else json.dumps([list(p) for p in people])


def _row(row: dict[str, Any]) -> HandoverRow:
    def ids(value: str | None) -> tuple[tuple[str, str], ...] | None:
        return None if value is None else tuple((str(a), str(b)) for a, b in json.loads(value))
    return HandoverRow(row["shift_key"], row["rota_id"], datetime.fromisoformat(row["boundary"]), bool(row["late"]),
                       row["state"], ids(row["outgoing"]), ids(row["incoming"]), row["channel"], row["ts"])


def _note(row: dict[str, Any]) -> HandoverNote:
    return HandoverNote(row["id"], row["author"], row["text"], datetime.fromisoformat(row["created_at"]))
