"""Helpers any test may use: what the test bots are made of (settings, retries, a quiet time), PagerDuty v3 webhook
events built from PagerDuty's documented samples in tests/fixtures/, the signatures of PagerDuty, ServiceNow and
Slack, and a read-only look at a database's rows."""

from __future__ import annotations

import contextlib
import copy
import hashlib
import hmac
import json
import sqlite3
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from aiohttp import web
from aiohttp.test_utils import TestClient
from slack_sdk.signature import SignatureVerifier

from bot.adapters.clock import SettableClock
from bot.adapters.pagerduty.webhook import read_event
from bot.app.config import Settings
from bot.catalogue import Catalogue
from bot.domain.incident import ChannelPolicy, apply_event
from bot.ports.store import Store
from bot.services.dispatcher import RetryPolicy
from sandbox.faults import Fault
from sandbox.world import RunningSandbox

FIXTURES = Path(__file__).parent / "fixtures" / "pagerduty-webhooks-v3"
# A dozen services in three product domains, in all three exposure bands: what the provisioning tests provision.
PROVISIONING_CATALOGUE = Path(__file__).parent / "fixtures" / "provisioning" / "catalogue.yml"
WEBHOOK_SECRET = "test-webhook-secret"
FAST_RETRIES = RetryPolicy(max_attempts=6, base_seconds=0.02, max_seconds=0.2)
# A Wednesday noon in London: no rota's handover is due within its grace period, so no handover post appears in
# team channels whatever the real time of day the tests run at (the sandbox's emulators and bot share this clock).
QUIET_TIME = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)

BotClient = TestClient[web.Request, web.Application]  # a test client on the bot's HTTP app


class StartSandbox(Protocol):
    """Start the sandbox (emulators and bot) on port 0, its clock at `at`; the same `db` name restarts the bot on the
    same store; `faults` are in force before the bot starts; `database_url` makes the bot's store that PostgreSQL
    database instead. Whatever is still running is stopped after the test."""

    async def __call__(self, organisation: Catalogue | None = None, *, at: datetime = QUIET_TIME,
                       db: str = "sandbox.db", retry_policy: RetryPolicy = FAST_RETRIES,
                       socket_mode: bool = False, faults: Sequence[Fault] = (),
                       database_url: str | None = None) -> RunningSandbox: ...


def offline_settings(db_path: Path, secrets: tuple[str, ...] = (WEBHOOK_SECRET,)) -> Settings:
    """A bot whose outside services are unreachable: enough for everything up to the inbox."""
    return Settings(slack_bot_token="xoxb-test", slack_signing_secret="signing", slack_app_token=None,
                    slack_api_url="http://127.0.0.1:9/api/", slack_rate_limit_scale=0,
                    pagerduty_api_token="pd", pagerduty_webhook_secrets=secrets,
                    pagerduty_api_url="http://127.0.0.1:9", catalogue_path=Path("x"), db_path=db_path, port=0,
                    log_level="INFO")


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
    """PagerDuty's X-PagerDuty-Signature for `body`, with one secret."""
    return "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def servicenow_signature(secret: str, body: bytes) -> str:
    """The X-ServiceNow-Signature our business rule sends: HMAC-SHA256 of the raw body, hex."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def slack_signed(secret: str, body: str) -> dict[str, str]:
    """The headers Slack signs a request to the bot with, now (X-Slack-Request-Timestamp, X-Slack-Signature)."""
    timestamp = str(int(time.time()))
    signature = SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=body)
    assert signature is not None
    return {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": signature}


def rows(db_path: Path, sql: str, params: Sequence[object] = ()) -> list[dict[str, Any]]:
    """What `sql` reads from the database at `db_path`, as dicts, through a read-only connection of the test's own.

    The store is used through its ports; a test that must see a table the ports do not show (the outbox's attempts,
    a delivery's state) looks here, at committed data only, and cannot change it by mistake.
    """
    with contextlib.closing(sqlite3.connect(f"{db_path.resolve().as_uri()}?mode=ro", uri=True)) as connection:
        connection.row_factory = sqlite3.Row
        return [dict(row) for row in connection.execute(sql, tuple(params))]


def quiet_clock() -> SettableClock:
    """A clock that reads QUIET_TIME at the start and runs on, for bots built outside the sandbox: whatever the real
    hour the tests run at, no rota's handover falls due and posts (an offline bot would park it as a dead effect)."""
    return SettableClock(QUIET_TIME)


async def store_one_triggered_incident(store: Store, now: float = 1_000.0) -> None:
    """The store as a trigger leaves it: its delivery recorded, its decision (the incident, its effects) committed."""
    await store.record_delivery(source="pagerduty", delivery_id="d", event_id="e", event_type="incident.triggered",
                                incident_id="PGR0VU2", occurred_at="t", body="{}")
    await store.commit_decision(1, apply_event(None, read_event(incident_event("incident.triggered")),
                                               ChannelPolicy()), now=now)
