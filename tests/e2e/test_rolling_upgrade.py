"""A rolling upgrade (or a downgrade) leaves rows in the shared store that this version cannot read: an effect of a
kind a newer version added, or of a kind it knows with a field it does not. Such a row is left pending for a replica
that can read it; it must never stop this one — the next incident still gets its channel, /readyz stays 200 and
counts what is left. (Before session 11 the dispatcher's read raised on it, and every effect of every incident
waited; and the worker quarantined a record from Slack of a type a newer version wrote.)"""

from __future__ import annotations

from typing import Any

import aiohttp

from sandbox.world import RunningSandbox
from tests.e2e.sandbox_helpers import incident_channels, trigger
from tests.newer_version import AskedByANewerVersion, RefreshCardOfANewerVersion


async def readyz(running: RunningSandbox) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as session, session.get(f"{running.url}/readyz") as response:
        body: dict[str, Any] = await response.json()
        return response.status, body


async def test_effects_a_newer_version_queued_leave_the_next_incident_its_channel(sandbox: RunningSandbox) -> None:
    now = sandbox.sandbox.clock.now().timestamp()
    await sandbox.bot.store.queue_effect(AskedByANewerVersion("PNEWER1", "from tomorrow's release"), now=now)
    await sandbox.bot.store.queue_effect(RefreshCardOfANewerVersion("PNEWER2", "compact"), now=now)
    # And a record from Slack of a type a newer version made (not quarantined: a newer replica applies it).
    assert await sandbox.bot.store.record_delivery(
        source="slack", delivery_id="newer-1", event_id="newer-1", event_type="key_message.renamed",
        incident_id="PNEWER3", occurred_at=sandbox.sandbox.clock.now().isoformat(),
        body='{"type": "key_message.renamed", "incident_id": "PNEWER3"}')
    sandbox.bot.dispatcher.wake()
    incident = await trigger(sandbox, "Checkout returns 500s", "PBASKET")
    [channel] = incident_channels(sandbox)
    assert channel["name"] == f"inc-{incident['incident_number']}-checkout-returns-500s"
    status, report = await readyz(sandbox)
    assert status == 200 and report["ready"] is True
    assert report["left_for_newer_version"] == {"effects": 2, "records": 1}
    # Left as they were, for a replica that can read them: pending, never tried nor quarantined.
    assert (report["outbox_pending"], report["outbox_dead"]) == (2, 0)
    assert (report["inbox_pending"], report["inbox_failed"]) == (1, 0)
