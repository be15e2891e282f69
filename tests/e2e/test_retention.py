"""Retention through the running bot: the hourly "prune-store" job, on the sandbox's clock, prunes the inbox rows
applied and the outbox effects done more than `retention.days` ago — and nothing that is still work (a quarantined
delivery, an effect waiting for its retry) — while the incidents and their timelines, the history, stay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.app.runtime import Bot
from bot.app.scheduler import RETENTION_MINUTES
from bot.services.dispatcher import RetryPolicy
from sandbox.faults import Fault
from sandbox.world import RunningSandbox
from tests.e2e.sandbox_helpers import act, deliver, eventually, settle, trigger
from tests.helpers import StartSandbox, incident_event, rows

ASHA = "asha.patel@example.com"


def count(db: Path, sql: str) -> int:
    return int(rows(db, f"SELECT count(*) AS n FROM {sql}")[0]["n"])


async def prune_store(bot: Bot) -> dict[str, int]:
    """The scheduled job as the scheduler runs it (claimed for its slot, on the bot's clock)."""
    assert bot.scheduler is not None
    job = bot.scheduler.get_job("prune-store")
    assert job is not None and job.trigger.interval == timedelta(minutes=RETENTION_MINUTES)
    pruned: dict[str, int] = await job.func()
    return pruned


async def test_the_job_prunes_settled_bookkeeping_past_retention_and_keeps_the_history_and_the_work(
        start_sandbox: StartSandbox) -> None:
    # Slow retries: an effect that fails stays pending, waiting for its retry, through the test.
    running: RunningSandbox = await start_sandbox(retry_policy=RetryPolicy(max_attempts=50, base_seconds=600,
                                                                            max_seconds=600))
    # The inbox's received_at is the store's own (wall) clock: the sandbox's clock starts from it, so that moving it
    # on moves both.
    running.sandbox.clock.set(datetime.now(UTC))
    db = running.bot.settings.db_path
    resolved = await trigger(running, "Checkout returns 500s", "PBASKET")
    await act(running, resolved["id"], "acknowledge", user=ASHA)
    await act(running, resolved["id"], "resolve", user=ASHA)
    # A delivery the bot cannot apply: quarantined, for an operator to look at.
    poison = incident_event("incident.triggered", incident_id="PHUGE01", title="Number beyond 64 bits")
    poison["event"]["data"]["number"] = 1e30
    assert await deliver(running, poison) == 202
    still_open = await trigger(running, "Basket page slow", "PBASKET")
    await settle(running)
    # Slack fails the open incident's card refresh: it waits, pending, for its retry.
    running.sandbox.faults.add(Fault(service="slack", method="chat.update", status=500, times=1000))
    running.sandbox.clock.advance(timedelta(minutes=5))  # the scheduled refresh comes five minutes on
    assert await running.bot.refresh_open_cards() == 1
    await eventually(lambda: count(db, "outbox WHERE kind='refresh_card' AND state='pending' AND attempts > 0") == 1)

    settled = count(db, "inbox WHERE state='applied'")
    done = count(db, "outbox WHERE state='done'")
    history = (count(db, "incidents"), count(db, "timeline"))
    # The four PagerDuty events (three of one incident, one of the other; ServiceNow's business rule does not send
    # the bot's own updates back) and a note's worth of work per incident, at least.
    assert settled >= 4 and done >= 10
    # Within the retention window nothing is pruned.
    running.sandbox.clock.advance(timedelta(days=29))
    assert (await prune_store(running.bot))["inbox"] == 0
    assert count(db, "inbox WHERE state='applied'") == settled

    running.sandbox.clock.advance(timedelta(days=2))  # 31 days on: past the default `retention.days` of 30
    pruned = await prune_store(running.bot)
    assert (pruned["inbox"], pruned["outbox"]) == (settled, done)
    assert count(db, "inbox WHERE state='applied'") == 0 and count(db, "outbox WHERE state='done'") == 0
    # The work is kept: the quarantined delivery, the refresh waiting for its retry.
    assert [r["incident_id"] for r in rows(db, "SELECT incident_id FROM inbox")] == ["PHUGE01"]
    assert [(r["kind"], r["incident_id"]) for r in rows(db, "SELECT kind, incident_id FROM outbox")] == [
        ("refresh_card", still_open["id"])]
    # The history is kept whole, and the incidents read as before.
    assert (count(db, "incidents"), count(db, "timeline")) == history
    incident = await running.bot.store.incident(resolved["id"])
    assert incident is not None and incident.status.value == "resolved"
    assert len(await running.bot.store.timeline(resolved["id"])) >= 3
    # Counted in the metrics, per table.
    assert f'pavedroad_store_pruned_rows_total{{table="inbox"}} {float(settled)}' in \
        running.bot.metrics.render().decode()
    # The next run finds nothing left to prune.
    running.sandbox.clock.advance(timedelta(minutes=RETENTION_MINUTES))
    assert (await prune_store(running.bot))["inbox"] == 0
