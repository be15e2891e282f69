"""The SlackFootprints port: each piece of an incident's Slack footprint is remembered on its own, so steps running
at the same time never undo each other, and an incident is found by its channel."""

from __future__ import annotations

import asyncio

import pytest

from bot.domain.effects.servicenow import SyncTicket
from bot.ports.store import FootprintChange, IncidentInSlack, SlackFootprint, Store, TicketRow
from tests.store.contract.builders import commit, trigger


async def test_an_unknown_incident_has_an_empty_footprint(store: Store) -> None:
    assert await store.footprint("Q1") == SlackFootprint("Q1")
    assert await store.footprint_by_channel("C1") is None


async def test_pieces_remembered_at_the_same_time_are_all_kept(store: Store) -> None:
    await asyncio.gather(store.update_footprint("Q1", channel_id="C1", channel_name="inc-1-db"),
                         store.update_footprint("Q1", topic="Database down"),
                         store.update_footprint("Q1", card_ts="1.1", card_pinned=True),
                         store.update_footprint("Q1", invited=["U1", "U2"], unreachable=("P9",)),
                         store.update_footprint("Q1", announced_ts="2.2", sync_pending_shown=True),
                         store.update_footprint("Q1", bot_removed=True))
    assert await store.footprint("Q1") == SlackFootprint(
        "Q1", channel_id="C1", channel_name="inc-1-db", card_ts="1.1", card_pinned=True, topic="Database down",
        announced_ts="2.2", invited=("U1", "U2"), unreachable=("P9",), sync_pending_shown=True, bot_removed=True)
    assert (await store.incident_in_slack("Q1")).footprint.bot_removed
    assert await store.footprint("Q2") == SlackFootprint("Q2")


async def test_a_piece_can_be_forgotten_or_changed(store: Store) -> None:
    # A card in a team channel, then the incident gets a channel of its own (the executor's upgrade).
    await store.update_footprint("Q1", channel_id="CTEAM", card_ts="1.1", shared_channel=True, card_pinned=True)
    await store.update_footprint("Q1", shared_channel=False, channel_id=None, card_ts=None, card_pinned=False)
    assert await store.footprint("Q1") == SlackFootprint("Q1")


async def test_an_incident_is_found_by_its_channel(store: Store) -> None:
    await store.update_footprint("Q1", channel_id="C1", topic="one")
    await store.update_footprint("Q2", channel_id="C2", topic="two")
    found = await store.footprint_by_channel("C2")
    assert found is not None and (found.incident_id, found.topic) == ("Q2", "two")


async def test_an_unknown_piece_is_refused(store: Store) -> None:
    built: FootprintChange = {"topic": "x"}
    built["colour"] = "red"  # type: ignore[typeddict-unknown-key]  # e.g. a key built at run time
    with pytest.raises(ValueError, match="colour"):
        await store.update_footprint("Q1", **built)
    assert await store.footprint("Q1") == SlackFootprint("Q1")


async def test_an_incident_is_read_with_its_footprint_and_ticket_in_one_call(store: Store) -> None:
    assert await store.incident_in_slack("Q1", with_ticket=True) == IncidentInSlack(
        None, SlackFootprint("Q1"), None, 0)
    opened = trigger("Q1", number=7)
    await commit(store, opened)
    await store.update_footprint("Q1", channel_id="C1", card_ts="1.1", sync_pending_shown=True)
    await store.queue_effect(SyncTicket("Q1"), now=100.0)
    await store.queue_effect(SyncTicket("Q2"), now=100.0)  # another incident's queue
    found = await store.incident_in_slack("Q1")
    assert found == IncidentInSlack(await store.incident("Q1"), await store.footprint("Q1"))
    assert found.incident == opened.incident and found.ticket_queue_pending is None
    with_ticket = await store.incident_in_slack("Q1", with_ticket=True)
    assert (with_ticket.incident, with_ticket.footprint) == (found.incident, found.footprint)
    assert (with_ticket.ticket, with_ticket.ticket_queue_pending) == (None, 0)
    ticket = TicketRow("Q1", "sys1", "INC0001", "https://sn/INC0001", "2", 1)
    await store.save_ticket(ticket)
    assert await store.incident_in_slack("Q1", with_ticket=True) == IncidentInSlack(
        found.incident, found.footprint, ticket, 0)


async def test_a_ticket_queue_lags_only_with_an_effect_servicenow_failed(store: Store) -> None:
    """What the card says "sync pending" for: a ServiceNow effect retried after a failure, not one merely queued or
    in its first attempt (ServiceNow answers those within the second; shown, they cost a chat.update to undo)."""
    await commit(store, trigger("Q1"))
    for _ in range(2):
        await store.queue_effect(SyncTicket("Q1"), now=100.0)
    [sync] = (await store.claim_due_effects(100.0, {"servicenow": 1}, [], owner="replica-a",
                                            lease_seconds=30.0))["servicenow"]
    assert (await store.incident_in_slack("Q1", with_ticket=True)).ticket_queue_pending == 0  # queued, in flight
    assert await store.effect_retry(sync.seq, 200.0, "ServiceNow answered 503", owner="replica-a")
    assert (await store.incident_in_slack("Q1", with_ticket=True)).ticket_queue_pending == 1
    [again] = (await store.claim_due_effects(200.0, {"servicenow": 1}, [], owner="replica-a",
                                             lease_seconds=30.0))["servicenow"]
    assert again.seq == sync.seq  # its retry in flight: still lagging until it is done
    assert (await store.incident_in_slack("Q1", with_ticket=True)).ticket_queue_pending == 1
    assert await store.effect_done(sync.seq, owner="replica-a")
    assert (await store.incident_in_slack("Q1", with_ticket=True)).ticket_queue_pending == 0
