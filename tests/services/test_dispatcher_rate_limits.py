"""A service refusing the bot for rate limiting (a 429) loses nothing: the refusal is not a failed attempt, the effect
waits as told and tries again however often, and it is given up on only once refused for `rate_limited_seconds`,
with an alert saying so in plain words. Against the real store, with a frozen clock and an executor that fails as
told (a stand-in for the outside world, not for the dispatcher; the sandbox's 429s are tests/e2e/test_rate_limited.py).
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.adapters.clock import SettableClock
from bot.adapters.store.sqlite.store import SqliteStore
from bot.domain.effects import AlertOperators, Effect
from bot.domain.effects.slack import RefreshCard
from bot.errors import IntegrationError
from bot.metrics import Metrics
from bot.ports.store import IncidentInSlack
from bot.services.dispatcher import Dispatcher, RetryPolicy
from tests.helpers import rows, store_one_triggered_incident

START = 1_000.0
POLICY = RetryPolicy(max_attempts=3, base_seconds=2, max_seconds=60, rate_limited_seconds=3600)


def slack_429(retry_after: float | None = 30) -> IntegrationError:
    """What the Slack adapter makes of Slack's 429 (bot/adapters/slack/failures.py)."""
    return IntegrationError("slack", "conversations.create failed: ratelimited", retryable=True, code="ratelimited",
                            status=429, retry_after=retry_after)


class World:
    """Fails the next calls as scripted (then succeeds), or always with `always`; records what was performed."""

    def __init__(self, script: list[BaseException], always: BaseException | None = None) -> None:
        self.script, self.always = script, always
        self.performed: list[tuple[str, bool]] = []

    async def perform(self, effect: Effect, *, retry: bool, created_at: float,
                      found: IncidentInSlack | None = None) -> None:
        self.performed.append((effect.kind, retry))
        if effect.kind != "open_incident_channel":
            return
        if self.script:
            raise self.script.pop(0)
        if self.always is not None:
            raise self.always

    async def after_done(self, effect: Effect) -> None:
        pass


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    s = SqliteStore(tmp_path / "d.db")
    await s.open()
    await store_one_triggered_incident(s, now=START)
    yield s
    await s.close()


def opening(tmp_path: Path) -> dict[str, Any]:
    [row] = rows(tmp_path / "d.db", "SELECT state, attempts, next_attempt_at, last_error FROM outbox"
                                    " WHERE kind='open_incident_channel'")
    return row


def effects_counted(metrics: Metrics) -> dict[str, float]:
    family = next(f for f in text_string_to_metric_families(metrics.render().decode()) if f.name == "pavedroad_effects")
    return {s.labels["outcome"]: s.value for s in family.samples
            if s.name == "pavedroad_effects_total" and s.labels["kind"] == "open_incident_channel"}


async def until_settled(d: Dispatcher, clock: SettableClock, tmp_path: Path) -> None:
    """Run what is due, then move the frozen clock to the channel's next attempt, until it is done or dead."""
    for _ in range(100):
        await d.start_due()
        await d.finish_in_flight()
        row = opening(tmp_path)
        if row["state"] != "pending":
            return
        clock.set(datetime.fromtimestamp(row["next_attempt_at"] + 0.001, UTC))
    raise AssertionError("the channel's opening neither done nor dead after 100 rounds")


async def test_rate_limited_more_often_than_the_attempts_allowed_the_effect_is_done_and_nobody_alerted(
        store: SqliteStore, tmp_path: Path) -> None:
    refusals = POLICY.max_attempts + 4
    world, clock, metrics = World([slack_429() for _ in range(refusals)]), SettableClock(
        datetime.fromtimestamp(START, UTC), frozen=True), Metrics()
    d = Dispatcher(store, world, clock, metrics, POLICY, rng=random.Random(7))
    await until_settled(d, clock, tmp_path)
    assert opening(tmp_path)["state"] == "done"
    # Each attempt after a refusal looks first for what the one before may have done (a retry).
    assert [retry for kind, retry in world.performed if kind == "open_incident_channel"] == [False] + [True] * refusals
    # Each waited as Slack said: 30 s (and the jitter), seven times.
    assert 30 * refusals <= clock.timestamp() - START <= 30.26 * refusals
    assert [r.effect for r in await store.due_effects(clock.timestamp(), 10, []) if
            isinstance(r.effect, AlertOperators)] == []
    assert await store.dead_effects() == []
    assert effects_counted(metrics) == {"rate_limited": refusals, "done": 1}


async def test_a_failure_after_refusals_is_counted_from_the_first_failure(store: SqliteStore, tmp_path: Path) -> None:
    # Refusals then an outage: the outage's 503s (with a Retry-After: still failures) have all the attempts to
    # themselves, and the effect is dead after the policy's three of them.
    outage = IntegrationError("slack", "conversations.create failed: service_unavailable", retryable=True,
                              code="service_unavailable", status=503, retry_after=5)
    world = World([slack_429() for _ in range(5)], always=outage)
    clock = SettableClock(datetime.fromtimestamp(START, UTC), frozen=True)
    d = Dispatcher(store, world, clock, Metrics(), POLICY, rng=random.Random(7))
    await until_settled(d, clock, tmp_path)
    row = opening(tmp_path)
    assert (row["state"], row["attempts"]) == ("dead", 5 + POLICY.max_attempts)
    [alert] = [r.effect for r in await store.due_effects(clock.timestamp(), 10, []) if
               isinstance(r.effect, AlertOperators)]
    assert isinstance(alert, AlertOperators)
    assert f"after {POLICY.max_attempts} attempt(s): `slack: conversations.create failed: service_unavailable`" in \
        alert.text


async def test_the_bots_own_try_again_at_once_is_an_attempt(store: SqliteStore, tmp_path: Path) -> None:
    # retry_after=0 without a status (the executor moving to a new channel): not the service's refusal.
    again = IntegrationError("slack", "moved to a new channel", retryable=True, retry_after=0)
    world, clock = World([], always=again), SettableClock(datetime.fromtimestamp(START, UTC), frozen=True)
    d = Dispatcher(store, world, clock, Metrics(), POLICY, rng=random.Random(7))
    await until_settled(d, clock, tmp_path)
    assert (opening(tmp_path)["state"], opening(tmp_path)["attempts"]) == ("dead", POLICY.max_attempts)


async def test_refused_for_longer_than_the_policy_allows_it_is_dead_with_an_alert_saying_so(
        store: SqliteStore, tmp_path: Path) -> None:
    # Slack says "in ten minutes" every time: the refusals at 0, 10, …, 50 minutes are waited out; the one at an
    # hour is the last.
    world, clock = World([], always=slack_429(retry_after=600)), SettableClock(
        datetime.fromtimestamp(START, UTC), frozen=True)
    metrics = Metrics()
    d = Dispatcher(store, world, clock, metrics, POLICY, rng=random.Random(7))
    await until_settled(d, clock, tmp_path)
    row = opening(tmp_path)
    assert (row["state"], row["attempts"]) == ("dead", 7)
    assert POLICY.rate_limited_seconds <= clock.timestamp() - START < POLICY.rate_limited_seconds + 600
    assert effects_counted(metrics) == {"rate_limited": 6, "dead": 1}
    [alert] = [r.effect for r in await store.due_effects(clock.timestamp(), 10, []) if
               isinstance(r.effect, AlertOperators)]
    assert isinstance(alert, AlertOperators)
    assert alert.text.startswith("🚨 Paved Road gave up trying to open incident channel for incident PGR0VU2: Slack "
                                 "refused it as rate-limited (HTTP 429, \"too many requests\") for 60 minutes, "
                                 "since 00:16 UTC")
    assert "check what spends the same Slack budget" in alert.text
    assert (await store.dead_effects())[0]["last_error"] == "slack: conversations.create failed: ratelimited"


async def test_an_outage_after_an_hour_of_refusals_still_has_its_attempts(store: SqliteStore, tmp_path: Path) -> None:
    # The time bound is the refusals' alone: a failure of another kind is judged by the attempts, however long the
    # effect was refused before it.
    outage = IntegrationError("slack", "service_unavailable", retryable=True, status=503)
    world = World([slack_429(retry_after=3_000), slack_429(retry_after=3_000), outage], always=None)
    clock = SettableClock(datetime.fromtimestamp(START, UTC), frozen=True)
    d = Dispatcher(store, world, clock, Metrics(), POLICY, rng=random.Random(7))
    await until_settled(d, clock, tmp_path)
    assert opening(tmp_path)["state"] == "done"
    assert clock.timestamp() - START > POLICY.rate_limited_seconds
    assert await store.dead_effects() == []


async def test_a_refusal_after_a_long_outage_is_timed_from_itself_not_from_one_before_the_outage(
        store: SqliteStore, tmp_path: Path) -> None:
    # Refused once, then an outage outlasting the time bound (its failures counted as attempts, within the policy's),
    # then refused again: the service refused it once before the outage and once after, not for an hour and more, so
    # the effect waits as told and is done.
    outage = IntegrationError("slack", "service_unavailable", retryable=True, status=503, retry_after=3_000)
    world = World([slack_429(retry_after=60), outage, outage, slack_429(retry_after=30)])
    clock = SettableClock(datetime.fromtimestamp(START, UTC), frozen=True)
    d = Dispatcher(store, world, clock, Metrics(), POLICY, rng=random.Random(7))
    await until_settled(d, clock, tmp_path)
    assert opening(tmp_path)["state"] == "done"
    assert clock.timestamp() - START > POLICY.rate_limited_seconds
    assert await store.dead_effects() == []


def token_refused() -> IntegrationError:
    """What the Slack adapter makes of Slack refusing the bot's token (bot/adapters/slack/failures.py)."""
    return IntegrationError("slack", "conversations.create failed: token_revoked", retryable=False,
                            code="token_revoked", status=200, credentials_refused=True)


async def test_a_token_refused_on_the_last_attempt_waits_however_long_and_goes_on(store: SqliteStore,
                                                                                 tmp_path: Path) -> None:
    # Two failures, then Slack refuses the bot's token on the effect's last attempt, and goes on refusing it for a
    # day and more (the admin reinstalls the app on Monday): no attempt spent, never dead, nobody alerted for it (the
    # operators were told of the token itself); once the token is accepted, the last attempt is made and succeeds.
    outage = IntegrationError("slack", "service_unavailable", retryable=True, status=503)
    refusals = 5
    script: list[BaseException] = [outage] * (POLICY.max_attempts - 1)
    world = World(script + [token_refused() for _ in range(refusals)])
    clock, metrics = SettableClock(datetime.fromtimestamp(START, UTC), frozen=True), Metrics()
    d = Dispatcher(store, world, clock, metrics, POLICY, rng=random.Random(7))
    for _ in range(POLICY.max_attempts - 1 + refusals):
        await d.start_due()
        await d.finish_in_flight()
        row = opening(tmp_path)
        assert row["state"] == "pending", row
        # Its next try backs off (up to max_seconds); the test lets hours pass between tries.
        assert row["next_attempt_at"] - clock.timestamp() <= POLICY.max_seconds
        clock.set(datetime.fromtimestamp(row["next_attempt_at"] + 6 * 3600, UTC))
    assert clock.timestamp() - START > 24 * 3600
    await until_settled(d, clock, tmp_path)
    assert opening(tmp_path)["state"] == "done"
    assert await store.dead_effects() == []
    assert [r.effect for r in await store.due_effects(clock.timestamp(), 10, []) if
            isinstance(r.effect, AlertOperators)] == []
    assert effects_counted(metrics) == {"retry": POLICY.max_attempts - 1, "credentials_refused": refusals, "done": 1}


async def test_an_opening_refused_once_still_goes_ahead_of_pending_card_refreshes(store: SqliteStore,
                                                                                 tmp_path: Path) -> None:
    # The dispatcher takes a lane's due effects most urgent first (the outbox's priority, then its order), whatever
    # their attempts: the channel's opening, refused once as rate-limited, goes before the card refreshes queued
    # meanwhile for other incidents, one slot for them all.
    world = World([slack_429(retry_after=30)])
    clock = SettableClock(datetime.fromtimestamp(START, UTC), frozen=True)
    d = Dispatcher(store, world, clock, Metrics(), POLICY, concurrency=1, rng=random.Random(7))
    assert await d.start_due() == 1
    await d.finish_in_flight()
    for incident in ("PCARD1", "PCARD2", "PCARD3"):
        await store.queue_effect(RefreshCard(incident), now=START + 1)
    clock.set(datetime.fromtimestamp(opening(tmp_path)["next_attempt_at"] + 0.001, UTC))
    await until_settled(d, clock, tmp_path)
    await d.finish_in_flight()  # and the refreshes its outcome's claim started
    kinds = [kind for kind, _ in world.performed]
    # (The incident's timeline line, queued behind its opening, has the urgent priority too.)
    assert kinds[:2] == ["open_incident_channel"] * 2 and sorted(kinds[2:]) == [
        "post_timeline_entry"] + ["refresh_card"] * 3, kinds


async def test_a_token_refused_a_thousand_times_and_more_still_waits_for_its_next_try(store: SqliteStore,
                                                                                    tmp_path: Path) -> None:
    # Nothing bounds a token's refusals (it waits for a person), and each one backs off by every try: Slack refusing
    # the token off and on for days (its own outages say invalid_auth) runs them past a thousand. The effect still
    # waits, up to max_seconds, for its next try (2 ** 1024 seconds, as a float, was an OverflowError: no try again).
    [row] = await store.due_effects(START, 10, [], lane="slack")
    for _ in range(1100):
        assert await store.claim_effect(row.seq, owner="earlier", now=START, lease_seconds=60)
        assert await store.effect_retry(row.seq, START, "token_revoked", owner="earlier", failed=True,
                                        credentials_refused=True)
    world = World([], always=token_refused())
    clock = SettableClock(datetime.fromtimestamp(START, UTC), frozen=True)
    policy = RetryPolicy()  # the bot's own (base_seconds a float)
    d = Dispatcher(store, world, clock, Metrics(), policy, rng=random.Random(7))
    assert await d.start_due() >= 1
    await d.finish_in_flight()
    [after] = rows(tmp_path / "d.db", "SELECT state, attempts, credentials_refusals, next_attempt_at, lease_owner"
                                      " FROM outbox WHERE kind='open_incident_channel'")
    assert after["state"] == "pending" and after["lease_owner"] is None, after
    assert after["attempts"] == after["credentials_refusals"] == 1101, after
    assert START < after["next_attempt_at"] <= START + policy.max_seconds, after
