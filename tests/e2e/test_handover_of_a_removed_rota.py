"""A rota removed from the catalogue (or renamed) while its handover post waits in the outbox — Slack was down at
the shift change, and the catalogue was reloaded meanwhile. The shift did change while the rota was in the
catalogue: its post still goes to the channel it was queued for. It used to be dropped with a log line only. After
a restart, when no catalogue the bot has read names the rota, the operators are told the shift change went
unannounced."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import yaml

from bot.app.cli.main import reload_catalogue
from bot.catalogue import Catalogue
from bot.domain.handover import shift_key
from bot.ports.handover_ledger import ROTA_REMOVED
from bot.services.dispatcher import RetryPolicy
from sandbox.faults import Fault
from tests.e2e.sandbox_helpers import channel_id, handovers_in, move_clock, settle, slack_user, state
from tests.helpers import StartSandbox

DEV, CHLOE = "dev.sharma@example.com", "chloe.martin@example.com"
PATIENT = RetryPolicy(max_attempts=50, base_seconds=30, max_seconds=30)


def without_payments(catalogue: Catalogue) -> Catalogue:
    return catalogue.model_copy(update={"rotas": [r for r in catalogue.rotas if r.id != "payments"]})


async def test_a_rota_removed_by_a_reload_while_its_post_waits_still_has_it_posted(
        start_sandbox: StartSandbox, catalogue: Catalogue, tmp_path: Path) -> None:
    running = await start_sandbox(at=datetime(2026, 11, 27, 17, 29, 50, tzinfo=UTC), retry_policy=PATIENT)
    running.sandbox.faults.add(Fault(service="slack", method="chat.postMessage", status=503,
                                     until=datetime(2026, 11, 27, 17, 40, tzinfo=UTC).timestamp()))
    await move_clock(running, to="2026-11-27T17:30:05+00:00")  # claimed and queued; Slack refuses it
    path = tmp_path / "catalogue.yml"
    path.write_text(yaml.safe_dump(without_payments(catalogue).model_dump(mode="json", exclude_none=True),
                                   allow_unicode=True))
    assert await reload_catalogue(running.bot, path)
    await move_clock(running, to="2026-11-27T17:45:00+00:00")
    await settle(running)
    [post] = handovers_in(running, "team-payments")
    dev, chloe = (f"<@{slack_user(running, email)}>" for email in (DEV, CHLOE))
    assert post.splitlines()[0] == f"*Handover: Payments — {dev} → {chloe}* (late)", post
    await move_clock(running, to="2026-11-30T09:00:05+00:00")  # a removed rota hands over no more
    await settle(running)
    assert len(handovers_in(running, "team-payments")) == 1


async def test_a_post_queued_for_a_rota_gone_after_a_restart_tells_the_operators(
        start_sandbox: StartSandbox, catalogue: Catalogue) -> None:
    first = await start_sandbox(at=datetime(2026, 11, 27, 17, 29, 50, tzinfo=UTC), retry_policy=PATIENT)
    first.sandbox.faults.add(Fault(service="slack", method="chat.postMessage", status=503, times=1000))
    await move_clock(first, to="2026-11-27T17:30:05+00:00")
    await first.stop()

    again = await start_sandbox(without_payments(catalogue), at=datetime(2026, 11, 27, 17, 31, tzinfo=UTC))
    await settle(again)
    assert handovers_in(again, "team-payments") == []
    ops = channel_id(again, "paved-road-ops")
    [told] = [m["text"] for m in state(again)["slack"]["messages"] if m["channel"] == ops and "payments" in m["text"]]
    assert "not posted" in told and "17:30" in told and "no longer in the catalogue" in told, told
    # Found in review: its ledger row stayed "queued" for ever, a pending post to whatever reads the ledger.
    row = await again.bot.store.get(shift_key("payments", datetime(2026, 11, 27, 17, 30, tzinfo=UTC)))
    assert row is not None and row.state == ROTA_REMOVED, row
