"""Review of session 26's Slack-outage commits (45689d0, 8d41f2a) as an SRE at 3 a.m. sees them: the bot's own retry
policy (RetryPolicy.for_slack, PRODUCTION, wired as bot/app/runtime.py wires it) must outlast Slack's outages without
letting a bug of the bot's own hold an incident's Slack queue, and the operators' alert about it, for an hour.

The dispatcher runs against the real store; its executor is a stand-in for the outside world (Slack answering 503, a
bug raising), as in tests/services/test_dispatcher.py: what is under test is how the dispatcher retries and parks."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.adapters.clock import SettableClock
from bot.adapters.store.sqlite.store import SqliteStore
from bot.domain.effects import Effect
from bot.domain.effects.slack import PostHandover
from bot.errors import IntegrationError
from bot.metrics import Metrics
from bot.ports.store import IncidentInSlack
from bot.services.dispatcher import Dispatcher
from bot.services.handovers import GRACE
from bot.services.retries import PRODUCTION
from tests.helpers import rows


class World:
    """Fails every call with what `failure` makes (Slack down, or a bug), and records what was performed."""

    def __init__(self, failure: type[BaseException] | IntegrationError) -> None:
        self.failure = failure
        self.performed: list[str] = []

    async def perform(self, effect: Effect, *, retry: bool, created_at: float,
                      found: IncidentInSlack | None = None) -> None:
        self.performed.append(effect.kind)
        if isinstance(self.failure, IntegrationError):
            raise self.failure
        raise self.failure("'channel'")

    async def after_done(self, effect: Effect) -> None:
        pass


def production_dispatcher(store: SqliteStore, world: World, clock: SettableClock) -> Dispatcher:
    """The dispatcher as `pavedroad serve` builds it for Slack's effects (bot/app/runtime.py): PRODUCTION, Slack's
    effects under `for_slack`, a handover post `lasting` its grace."""
    return Dispatcher(store, world, clock, Metrics(), PRODUCTION,
                      policies={PostHandover.kind: PRODUCTION.lasting(GRACE), "slack": PRODUCTION.for_slack()},
                      rng=random.Random(7))


def outbox(db_path: Path) -> list[dict[str, Any]]:
    return rows(db_path, "SELECT kind, state, attempts, queue FROM outbox ORDER BY seq")


async def fail_for(store: SqliteStore, db_path: Path, failure: type[BaseException] | IntegrationError, minutes: int,
                   queue_handover: bool = False) -> tuple[list[dict[str, Any]], World]:
    """Let `minutes` pass, the dispatcher trying what is due every 10 seconds, every call failing as told."""
    clock = SettableClock(datetime.fromtimestamp(1_000, UTC), frozen=True)
    if queue_handover:
        while due := await store.due_effects(now=1_000.0, limit=10, busy=[]):  # the incident's effects out of the way
            for row in due:
                await store.effect_done(row.seq)
        await store.queue_effect(PostHandover("handover:payments", "payments", "payments:2026-11-27T17:30"), 1_000.0)
    world = World(failure)
    d = production_dispatcher(store, world, clock)
    for _ in range(6 * minutes):
        await d.start_due()
        await d.finish_in_flight()
        clock.advance(timedelta(seconds=10))
    return outbox(db_path), world


async def test_a_slack_outage_of_half_an_hour_kills_no_effect_under_the_bots_own_policy(
        store: SqliteStore, db_path: Path) -> None:
    """What 8d41f2a is for (kept true by the fix below): Slack answering 503 for half an hour, the incident's channel
    opening is retried throughout, nothing dead, no alert."""
    outage = IntegrationError("slack", "conversations.create failed: Slack answered 503", retryable=True, status=503)
    effects, _ = await fail_for(store, db_path, outage, minutes=30)
    assert [e for e in effects if e["state"] == "dead"] == []
    assert [e for e in effects if e["kind"] == "alert_operators"] == []


async def test_a_bug_in_a_slack_effect_is_dead_after_its_attempts_not_retried_for_an_hour(
        store: SqliteStore, db_path: Path) -> None:
    """A bug of the bot's own (a KeyError while opening an incident's channel — Slack answering normally) is no
    outage: README says the hour of retries is for "a Slack effect failing as an outage fails (a 5xx, no answer)".
    Under the bot's own policy (for_slack), every retryable failure was retried for an hour, a bug included (the
    dispatcher counts an unexpected exception as retryable): the incident's Slack queue — its card, every line, its
    reminders, the stakeholders' update — was held behind it for an hour, and the operators' alert that names the bug
    came an hour late instead of after its 8 attempts' few minutes."""
    effects, world = await fail_for(store, db_path, KeyError, minutes=30)
    [opening] = [e for e in effects if e["kind"] == "open_incident_channel"]
    assert opening["state"] == "dead", f"a bug retried for half an hour ({opening['attempts']} attempts so far)"
    assert any(e["kind"] == "alert_operators" for e in effects), "the operators were never told of the bug"
    assert "post_timeline_entry" in world.performed, "the incident's lines were held behind the bug"


async def test_a_bug_in_a_handover_post_alerts_within_minutes_not_after_its_two_hour_grace(
        store: SqliteStore, db_path: Path) -> None:
    """The same for a handover post (retried through its 2-hour grace since 45689d0, for Slack's outages): a bug in
    it kept the rota's shift change unposted, and the operators unaware, for two hours — the alert that tells them to
    have the engineers hand over by hand came when the shift was two hours in."""
    effects, _ = await fail_for(store, db_path, KeyError, minutes=30, queue_handover=True)
    [post] = [e for e in effects if e["kind"] == "post_handover"]
    assert post["state"] == "dead", f"a bug in a handover post retried for half an hour ({post['attempts']} attempts)"
    assert any(e["kind"] == "alert_operators" for e in effects)


async def test_an_outage_outlasted_is_tried_at_most_every_half_backoff_cap_whatever_retry_after_says(
        store: SqliteStore, db_path: Path) -> None:
    """Slack answering 503 with `Retry-After: 1` for half an hour: past its 8 attempts an effect was tried again as
    soon as Slack asked — every second, for an hour, for every waiting effect — hammering Slack as it recovers (found
    in review). Outlasting an outage, it is tried every 2.5 to 5 minutes (half to whole `max_seconds`)."""
    outage = IntegrationError("slack", "conversations.create failed: Slack answered 503", retryable=True, status=503,
                              retry_after=1)
    effects, world = await fail_for(store, db_path, outage, minutes=30)
    [opening] = [e for e in effects if e["kind"] == "open_incident_channel"]
    assert opening["state"] != "dead"
    # Its 8 attempts at Slack's word (every second: the dispatcher looks every 10 s here), then half an hour at most
    # every 2.5 minutes: about 8 + 12, nowhere near one a look (180).
    assert world.performed.count("open_incident_channel") <= 8 + 13, world.performed.count("open_incident_channel")
