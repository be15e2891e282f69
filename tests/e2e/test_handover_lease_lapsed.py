"""A replica whose lease on a handover's post lapsed (paused past it: a long GC, a VM stalled) while another took the
post over: its `save_post` is refused — the newer holder's post stands — and it must stop there. Found in review: it
went on to refresh the rota's App Homes after the refusal, work that belongs to the replica whose post was recorded
(and, with its own post not recorded, from a ledger that does not show it)."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.catalogue import Catalogue
from bot.domain.effects.slack import PostHandover
from bot.ports.handover_ledger import QUEUED, EffectHolder
from bot.services.bookkeeping import keeping
from bot.services.dispatcher import RetryPolicy
from sandbox.faults import Fault
from tests.e2e.sandbox_helpers import eventually, move_clock, open_home
from tests.helpers import StartSandbox, rows

DEV = "dev.sharma@example.com"
# The refused first attempt's retry held off for the test's length: with full jitter a 30-second backoff drew 8.1 s
# once in CI, and the retry posted while the clock's route still waited for the handover (posted, not queued).
PATIENT = RetryPolicy(max_attempts=50, base_seconds=86_400, max_seconds=86_400)


async def test_a_replica_whose_post_was_refused_does_not_refresh_the_rotas_homes(
        start_sandbox: StartSandbox, catalogue: Catalogue) -> None:
    payments_only = catalogue.model_copy(update={"rotas": [r for r in catalogue.rotas if r.id == "payments"]})
    running = await start_sandbox(payments_only, at=datetime(2026, 11, 27, 17, 29, 50, tzinfo=UTC),
                                  retry_policy=PATIENT)
    await open_home(running, DEV)
    running.sandbox.faults.add(Fault(service="slack", method="chat.postMessage", status=503, times=1))
    await move_clock(running, to="2026-11-27T17:30:05+00:00")  # claimed and queued; its first attempt refused
    [queued] = rows(running.bot.settings.db_path, "SELECT seq, created_at FROM outbox WHERE kind='post_handover'")
    key = "payments:2026-11-27T17:30:00+00:00"
    row = await running.bot.store.get(key)
    assert row is not None and row.state == QUEUED
    await eventually(lambda: running.bot.home.publishing == 0)
    # This replica's attempt, under a lease it no longer holds (another replica took the effect over).
    with keeping(EffectHolder(int(queued["seq"]), "replica-whose-lease-lapsed")):
        await running.bot.handovers.perform(PostHandover("handover:payments", "payments", key), retry=False,
                                            created_at=float(queued["created_at"]))
    row = await running.bot.store.get(key)
    assert row is not None and row.state == QUEUED, "a refused save_post recorded the post"
    assert running.bot.home.publishing == 0, "the rota's Homes were refreshed after the post was refused"
