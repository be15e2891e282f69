"""Helpers any test may use: PagerDuty v3 webhook events built from PagerDuty's documented samples in
tests/fixtures/, their signature, and a read-only look at a database's rows."""

from __future__ import annotations

import contextlib
import copy
import hashlib
import hmac
import json
import sqlite3
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent / "fixtures" / "pagerduty-webhooks-v3"


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def incident_event(event_type: str, *, status: str | None = None, occurred_at: str = "2026-11-27T10:00:00.000Z",
                   incident_id: str = "PGR0VU2", number: int = 2, title: str = "A little bump in the road",
                   event_id: str | None = None, assignees: list[tuple[str, str]] | None = None,
                   urgency: str = "high", priority: str | None = "P1", agent: str | None = "PLH1HKV",
                   created_at: str = "2026-11-27T10:00:00Z") -> dict[str, Any]:
    data = copy.deepcopy(fixture("data.incident.json"))
    default_status = {"incident.acknowledged": "acknowledged", "incident.resolved": "resolved"}.get(
        event_type, "triggered")
    data.update(id=incident_id, number=number, title=title, status=status or default_status, urgency=urgency,
                created_at=created_at)
    data["priority"] = {**data["priority"], "summary": priority} if priority else None
    if assignees is not None:
        data["assignees"] = [{"id": uid, "summary": name, "type": "user_reference"} for uid, name in assignees]
    return envelope(event_type, data, occurred_at=occurred_at, event_id=event_id, agent=agent)


def note_event(content: str, *, incident_id: str = "PGR0VU2", occurred_at: str = "2026-11-27T10:05:00.000Z",
               event_id: str | None = None) -> dict[str, Any]:
    data = copy.deepcopy(fixture("data.incident_note.json"))
    data["incident"]["id"] = incident_id
    data["content"] = content
    return envelope("incident.annotated", data, occurred_at=occurred_at, event_id=event_id)


def envelope(event_type: str, data: dict[str, Any], *, occurred_at: str, event_id: str | None = None,
             agent: str | None = "PLH1HKV") -> dict[str, Any]:
    return {"event": {
        "id": event_id or uuid.uuid4().hex, "event_type": event_type,
        "resource_type": event_type.split(".")[0], "occurred_at": occurred_at,
        "agent": {"id": agent, "summary": "Tenex Engineer", "type": "user_reference"} if agent else None,
        "client": None, "data": data}}


def sign(secret: str, body: bytes) -> str:
    return "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def rows(db_path: Path, sql: str, params: Sequence[object] = ()) -> list[dict[str, Any]]:
    """What `sql` reads from the database at `db_path`, as dicts, through a read-only connection of the test's own.

    The store is used through its ports; a test that must see a table the ports do not show (the outbox's attempts,
    a delivery's state) looks here, at committed data only, and cannot change it by mistake.
    """
    with contextlib.closing(sqlite3.connect(f"{db_path.resolve().as_uri()}?mode=ro", uri=True)) as connection:
        connection.row_factory = sqlite3.Row
        return [dict(row) for row in connection.execute(sql, tuple(params))]
