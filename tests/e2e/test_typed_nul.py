"""A NUL in what a person types in Slack (`%00` in a command's form, `\\u0000` in a form's JSON) is dropped where
Slack's requests enter Bolt (commands/in_flight.py's DrainingApp), so the rest of the words are kept on every store.
SQLite keeps a NUL, PostgreSQL's text refuses it: there a follow-up or a status update with one was stored in the
inbox and then set aside when applied (inbox_failed, the person's words lost from the incident and its timeline), and
a handover note answered "something went wrong". Each case runs on both stores."""

from __future__ import annotations

from typing import Any

import psycopg

from bot.app.runtime import Bot
from bot.domain.contributions import FollowUpAdded
from bot.services.slack_inbox import record_from_slack
from sandbox.world import RunningSandbox
from tests.commands.slack_requests import went_wrong
from tests.e2e.sandbox_helpers import as_user, incident_channels, replies, settle, state, trigger
from tests.helpers import StartSandbox, rows

ASHA = "asha.patel@example.com"


def slack_records(running: RunningSandbox, database_url: str | None) -> list[str]:
    """The bodies of the inbox's records from Slack, as stored (committed data, read as the store holds it)."""
    sql = "SELECT body FROM inbox WHERE source = 'slack' ORDER BY seq"
    if database_url is None:
        return [str(row["body"]) for row in rows(running.bot.settings.db_path, sql)]
    with psycopg.connect(database_url) as connection:
        return [str(row[0]) for row in connection.execute(sql)]


async def typed(running: RunningSandbox, channel: str, text: str) -> str:
    answer = await as_user(running, "command", user=ASHA, channel=channel, text=text)
    await settle(running)
    return replies(answer)


async def nothing_set_aside(bot: Bot) -> dict[str, Any]:
    report = await bot.readiness()
    assert report["inbox_failed"] == 0 and report["failed_deliveries"] == [], report["failed_deliveries"]
    assert report["outbox_dead"] == 0, report["dead_effects"]
    return report


async def test_a_nul_typed_in_a_command_is_dropped_and_the_words_kept(start_sandbox: StartSandbox,
                                                                      database_url: str | None) -> None:
    running = await start_sandbox(database_url=database_url)
    incident = await trigger(running)
    [channel] = incident_channels(running)
    said = [await typed(running, channel["name"], "followup warm the\x00 cache"),
            await typed(running, channel["name"], "note the cache\x00 is cold"),
            await typed(running, channel["name"], "update rolling\x00 back"),
            await typed(running, channel["name"], "handover-note basket watch the\x00 cache")]
    assert not any(went_wrong(answer) for answer in said), said
    assert "warm the cache" in said[0] and "Noted for the *Basket" in said[3]
    await nothing_set_aside(running.bot)
    stored = await running.bot.store.incident(incident["id"])
    assert stored is not None
    assert [f.text for f in stored.follow_ups] == ["warm the cache"]
    assert [u.what for u in stored.status_updates] == ["rolling back"]
    timeline = [entry.text for entry in await running.bot.store.timeline(incident["id"])]
    assert any("warm the cache" in text for text in timeline), timeline
    assert any("rolling back" in text for text in timeline), timeline
    assert any("the cache is cold" in text for text in timeline), timeline
    records = slack_records(running, database_url)
    assert len(records) == 2 and not any("\\u0000" in body or "\x00" in body for body in records), records
    notes = [n["content"] for n in state(running)["pagerduty"]["notes"] if n["incident_id"] == incident["id"]]
    assert notes == ["the cache is cold"]
    handover = await typed(running, channel["name"], "handover basket")
    assert "watch the cache" in handover, handover


async def test_a_nul_typed_in_a_form_is_dropped_and_the_words_kept(start_sandbox: StartSandbox,
                                                                   database_url: str | None) -> None:
    running = await start_sandbox(database_url=database_url)
    incident = await trigger(running)
    [channel] = incident_channels(running)
    await typed(running, channel["name"], "update")  # no text: the update form opens
    view = next(v for v in state(running)["slack"]["views"] if v["callback_id"] == "incident_update_modal")
    answer = await as_user(running, "view_submission", user=ASHA, view_id=view["id"], values={
        "update_what": {"text": "Rolling\x00 back"}, "update_impact": {"text": "1 in 5\x00 card payments fail"},
        "update_next": {"choice": "30"}})
    await settle(running)
    assert not went_wrong(replies(answer)), answer
    await nothing_set_aside(running.bot)
    stored = await running.bot.store.incident(incident["id"])
    assert stored is not None
    assert [(u.what, u.impact) for u in stored.status_updates] == [("Rolling back", "1 in 5 card payments fail")]
    assert not any("\\u0000" in body for body in slack_records(running, database_url))


async def test_in_socket_mode_half_a_character_typed_in_a_form_shows_as_a_replacement(
        start_sandbox: StartSandbox) -> None:
    # Over HTTP a signed body with a lone surrogate is refused (it cannot be cleaned without breaking its
    # signature); Socket Mode's envelopes carry no signature, so there it is cleaned like a NUL: U+FFFD where it was.
    running = await start_sandbox(socket_mode=True)
    incident = await trigger(running)
    [channel] = incident_channels(running)
    await typed(running, channel["name"], "update")
    view = next(v for v in state(running)["slack"]["views"] if v["callback_id"] == "incident_update_modal")
    answer = await as_user(running, "view_submission", user=ASHA, view_id=view["id"], values={
        "update_what": {"text": "Rolling\ud83d back\x00"}, "update_impact": {"text": ""},
        "update_next": {"choice": "30"}})
    await settle(running)
    assert not went_wrong(replies(answer)), answer
    await nothing_set_aside(running.bot)
    stored = await running.bot.store.incident(incident["id"])
    assert stored is not None and [u.what for u in stored.status_updates] == ["Rolling\ufffd back"]


async def test_a_record_stored_with_a_nul_before_the_door_dropped_it_is_applied(start_sandbox: StartSandbox,
                                                                                database_url: str | None) -> None:
    # What an older version stored as typed (the record's JSON holds the NUL as \u0000): on PostgreSQL it was set
    # aside when applied; read now, its NUL is dropped as the door drops it, so it applies (or applies when retried).
    running = await start_sandbox(database_url=database_url)
    incident = await trigger(running)
    await record_from_slack(running.bot.store, FollowUpAdded(incident["id"], "f-older", "warm the\x00 cache",
                                                             "Asha Patel", running.bot.clock.now()),
                            running.bot.clock.now())
    running.bot.worker.wake()
    await settle(running)
    await nothing_set_aside(running.bot)
    stored = await running.bot.store.incident(incident["id"])
    assert stored is not None and [f.text for f in stored.follow_ups] == ["warm the cache"]
