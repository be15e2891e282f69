"""`pavedroad inbox failed` and `pavedroad inbox retry <ref>`: the quarantined deliveries of a bot's database, read
while the bot runs, and one set back to pending; the same --db / $PAVEDROAD_DB conventions as `pavedroad report`."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from pathlib import Path

import pytest

from bot.adapters.store.sqlite.migrations import MIGRATIONS
from bot.adapters.store.sqlite.store import SqliteStore
from bot.app.cli.main import main
from bot.app.runtime import Bot
from tests.helpers import WEBHOOK_SECRET, BotClient, incident_event, rows, sign


async def quarantine(bot: Bot, client: BotClient, incident_id: str) -> str:
    """A delivery with `data.number` 1e30, sent to the running bot and quarantined by it; its reference."""
    event = incident_event("incident.triggered", incident_id=incident_id)
    event["event"]["data"]["number"] = 1e30
    body = json.dumps(event).encode()
    response = await client.post("/pagerduty/webhook", data=body, headers={
        "Content-Type": "application/json", "X-PagerDuty-Signature": sign(WEBHOOK_SECRET, body)})
    assert response.status == 202
    await bot.settle(10)
    [failed] = [f for f in await bot.store.failed_deliveries() if f.incident_id == incident_id]
    return failed.reference


async def test_failed_lists_each_quarantined_delivery_while_the_bot_runs(
        offline_bot: tuple[Bot, BotClient], capsys: pytest.CaptureFixture[str]) -> None:
    bot, client = offline_bot
    first, second = await quarantine(bot, client, "PFIRST1"), await quarantine(bot, client, "PSECOND")
    assert main(["inbox", "failed", "--db", str(bot.settings.db_path)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split() == ["reference", "received", "source", "event", "type", "incident", "reason"]
    assert lines[1].startswith(second) and lines[2].startswith(first)  # the latest first
    received = [r["received_at"] for r in rows(bot.settings.db_path, "SELECT received_at FROM inbox ORDER BY seq")]
    for line, incident, at in ((lines[1], "PSECOND", received[1]), (lines[2], "PFIRST1", received[0])):
        assert f"pagerduty  incident.triggered  {incident}" in line and at in line
        assert line.split(incident, 1)[1].strip()  # the reason
    assert "2 quarantined deliveries" in out and "pavedroad inbox retry <reference>" in out


async def test_retry_sets_the_delivery_back_to_pending_and_the_running_bot_applies_it(
        offline_bot: tuple[Bot, BotClient], capsys: pytest.CaptureFixture[str]) -> None:
    bot, client = offline_bot
    reference = await quarantine(bot, client, "PHUGE01")
    assert main(["inbox", "retry", reference, "--db", str(bot.settings.db_path)]) == 0
    assert f"Delivery {reference} is pending again" in capsys.readouterr().out
    await bot.settle(10)  # still a number beyond 64 bits: set aside again, under the same reference
    [again] = await bot.store.failed_deliveries()
    assert again.reference == reference


async def test_retry_of_an_unknown_reference_exits_2_and_says_so(
        offline_bot: tuple[Bot, BotClient], capsys: pytest.CaptureFixture[str]) -> None:
    bot, _client = offline_bot
    assert main(["inbox", "retry", "deadbeef", "--db", str(bot.settings.db_path)]) == 2
    err = capsys.readouterr().err
    assert "no quarantined delivery has the reference 'deadbeef'" in err and "pavedroad inbox failed" in err


async def test_failed_says_when_there_is_none_and_reads_pavedroad_db_by_default(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    store = SqliteStore(tmp_path / "bot.db")
    await store.open()
    await store.close()
    monkeypatch.setenv("PAVEDROAD_DB", str(tmp_path / "bot.db"))
    assert main(["inbox", "failed"]) == 0
    assert f"No quarantined deliveries in {tmp_path / 'bot.db'}." in capsys.readouterr().out


@pytest.mark.parametrize("command", ["failed", "retry"])
def test_a_missing_database_exits_2_and_is_not_created(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                       command: str) -> None:
    args = ["inbox", command, *(["abcd1234"] if command == "retry" else []), "--db", str(tmp_path / "nope.db")]
    assert main(args) == 2
    assert f"no database at {tmp_path / 'nope.db'}" in capsys.readouterr().err
    assert not (tmp_path / "nope.db").exists()


def test_a_file_that_is_not_the_bots_database_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    other = tmp_path / "other.db"
    with contextlib.closing(sqlite3.connect(other)) as conn:
        conn.execute("CREATE TABLE notes (text TEXT)")
    assert main(["inbox", "failed", "--db", str(other)]) == 2
    assert "cannot read the inbox" in capsys.readouterr().err


@pytest.mark.parametrize("schema", ["CREATE TABLE notes (text TEXT)", ""], ids=["another_apps", "empty"])
def test_retry_refuses_a_database_that_is_not_the_bots_and_leaves_it_untouched(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], schema: str) -> None:
    """A wrong --db (another application's SQLite file, or an empty one) was migrated, the bot's tables added to it,
    before the reference was looked for."""
    wrong = tmp_path / "wrong.db"
    with contextlib.closing(sqlite3.connect(wrong)) as conn:
        if schema:
            conn.execute(schema)
    before = wrong.read_bytes()
    assert main(["inbox", "retry", "abcd1234", "--db", str(wrong)]) == 2
    assert wrong.read_bytes() == before
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith(f"pavedroad inbox retry: {wrong} is not the bot's database") and "--db" in line, line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["wrong.db"]  # no journal or WAL left beside it


async def test_deliveries_failed_before_references_existed_get_one_and_can_be_retried(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A database from before migration 11, with a row marked failed the old way: it gets a reference."""
    db = tmp_path / "old.db"
    with contextlib.closing(sqlite3.connect(db, isolation_level=None)) as conn:
        for number, script in enumerate(MIGRATIONS[:10], start=1):
            conn.executescript(f"BEGIN;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;")
        conn.execute("INSERT INTO inbox (source, delivery_id, event_id, event_type, incident_id, occurred_at,"
                     " received_at, body, state, error) VALUES ('pagerduty', 'D1', 'E1', 'incident.triggered', 'Q1',"
                     " '2026-11-27T10:00:00Z', '2026-11-27T10:00:01Z', '{}', 'failed', 'KeyError (reference 1)')")
    store = SqliteStore(db)
    await store.open()
    [failed] = await store.failed_deliveries()
    await store.close()
    assert len(failed.reference) == 8 and failed.reason == "KeyError (reference 1)"
    assert main(["inbox", "retry", failed.reference, "--db", str(db)]) == 0
    assert [r["state"] for r in rows(db, "SELECT state FROM inbox")] == ["pending"]
    capsys.readouterr()
